/** overload_manager config: Envoy's fields and defaults, and every unsupported or inconsistent part an error naming its field. */
import { describe, expect, test } from "vitest";
import type { Bootstrap } from "../../../core/config/bootstrap.ts";
import { ConfigError } from "../../../core/config/errors.ts";
import { loadBootstrap } from "../../../core/config/load.ts";

const HEAP_TYPE = "type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig";
const CX_TYPE = "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig";
const heap = { name: "envoy.resource_monitors.fixed_heap", typed_config: { "@type": HEAP_TYPE, max_heap_size_bytes: 1000 } };
const connections = { name: "envoy.resource_monitors.global_downstream_max_connections", typed_config: { "@type": CX_TYPE, max_active_downstream_connections: "10" } };
const stopRequests = (trigger: object = { threshold: { value: 0.9 } }) => ({
  name: "envoy.overload_actions.stop_accepting_requests",
  triggers: [{ name: "envoy.resource_monitors.fixed_heap", ...trigger }],
});

function load(overloadManager: object): Bootstrap {
  return loadBootstrap(JSON.stringify({ overload_manager: overloadManager }), "json");
}

function problems(overloadManager: object): string[] {
  try {
    load(overloadManager);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("config loaded but should have been rejected");
}

const SCALE_TYPE = "type.googleapis.com/envoy.config.overload.v3.ScaleTimersOverloadActionConfig";
const reduceTimeouts = (typedConfig?: object) => ({
  name: "envoy.overload_actions.reduce_timeouts",
  triggers: [{ name: "envoy.resource_monitors.fixed_heap", scaled: { scaling_threshold: 0.5, saturation_threshold: 0.9 } }],
  ...(typedConfig ? { typed_config: typedConfig } : {}),
});

describe("overload_manager config", () => {
  test("monitors, actions and triggers; refresh_interval defaults to 1 s", () => {
    expect(load({ resource_monitors: [heap, connections], actions: [stopRequests({ scaled: { scaling_threshold: 0.5, saturation_threshold: 0.9 } })] }).overloadManager).toEqual({
      refreshIntervalMs: 1000,
      resourceMonitors: [
        { name: "envoy.resource_monitors.fixed_heap", maxHeapSizeBytes: 1000 },
        { name: "envoy.resource_monitors.global_downstream_max_connections", maxActiveDownstreamConnections: 10 },
      ],
      actions: [{ name: "envoy.overload_actions.stop_accepting_requests", triggers: [{ resource: "envoy.resource_monitors.fixed_heap", type: "scaled", scalingThreshold: 0.5, saturationThreshold: 0.9 }] }],
    });
    expect(load({ refreshInterval: "0.25s", resourceMonitors: [heap] }).overloadManager?.refreshIntervalMs).toBe(250);
  });

  test("unsupported monitors, actions and fields are errors naming them", () => {
    expect(problems({ resource_monitors: [{ name: "envoy.resource_monitors.cpu_utilization", typed_config: {} }] }).join("\n")).toMatch(
      /overload_manager\.resource_monitors\[0\]\.name: envoy\.resource_monitors\.cpu_utilization is an Envoy resource monitor that polyvoy does not support yet/,
    );
    expect(load({ resource_monitors: [heap], actions: [{ ...stopRequests(), name: "envoy.overload_actions.shrink_heap" }] }).overloadManager?.actions[0]?.name).toBe("envoy.overload_actions.shrink_heap");
    expect(problems({ resource_monitors: [heap], actions: [{ ...stopRequests(), name: "envoy.overload_actions.reset_high_memory_stream" }] }).join("\n")).toMatch(
      /overload_manager\.actions\[0\]\.name: envoy\.overload_actions\.reset_high_memory_stream is an Envoy overload action that polyvoy does not support yet \(it needs per-stream buffer accounting/,
    );
    expect(problems({ resource_monitors: [heap], buffer_factory_config: {} }).join("\n")).toMatch(/overload_manager.*buffer_factory_config/);
    expect(problems({ resource_monitors: [{ ...heap, typed_config: { ...heap.typed_config, extra: 1 } }] }).join("\n")).toMatch(/resource_monitors\[0\]\.typed_config.*extra/);
    expect(problems({ resource_monitors: [{ ...heap, typed_config: { "@type": HEAP_TYPE, max_heap_size_bytes: 0 } }] }).join("\n")).toMatch(/max_heap_size_bytes/);
    expect(problems({ resource_monitors: [heap], actions: [{ ...stopRequests(), typed_config: {} }] }).join("\n")).toMatch(
      /actions\[0\]\.typed_config.*Overload action "envoy.overload_actions.stop_accepting_requests" has an unexpected value for the typed_config field/,
    );
  });

  test("Envoy's consistency checks", () => {
    expect(problems({ resource_monitors: [] }).join("\n")).toMatch(/resource_monitors/);
    expect(problems({ resource_monitors: [heap, heap] }).join("\n")).toMatch(/Duplicate resource monitor envoy.resource_monitors.fixed_heap/);
    expect(problems({ resource_monitors: [heap], actions: [stopRequests(), stopRequests()] }).join("\n")).toMatch(/Duplicate overload action envoy.overload_actions.stop_accepting_requests/);
    expect(problems({ resource_monitors: [connections], actions: [stopRequests()] }).join("\n")).toMatch(
      /Unknown trigger resource envoy.resource_monitors.fixed_heap for overload action envoy.overload_actions.stop_accepting_requests/,
    );
    expect(problems({ resource_monitors: [heap], actions: [stopRequests({ scaled: { scaling_threshold: 0.9, saturation_threshold: 0.5 } })] }).join("\n")).toMatch(
      /scaling_threshold must be less than saturation_threshold/,
    );
    expect(problems({ resource_monitors: [heap], actions: [stopRequests({ threshold: { value: 1.5 } })] }).join("\n")).toMatch(/threshold\.value/);
    expect(problems({ resource_monitors: [heap], actions: [stopRequests({})] }).join("\n")).toMatch(/must set one of threshold, scaled/);
    expect(problems({ resource_monitors: [connections], actions: [{ ...stopRequests(), triggers: [{ name: connections.name, threshold: { value: 0.5 } }] }] }).join("\n")).toMatch(
      /proactive resource monitor.*cannot trigger/,
    );
    expect(problems({ refresh_interval: "0s", resource_monitors: [heap] }).join("\n")).toMatch(/refresh_interval.*greater than 0s/);
  });

  test("reduce_timeouts: timer_scale_factors by timer type", () => {
    const action = load({
      resource_monitors: [heap],
      actions: [
        reduceTimeouts({
          "@type": SCALE_TYPE,
          timer_scale_factors: [
            { timer: "HTTP_DOWNSTREAM_CONNECTION_IDLE", min_timeout: "2s" },
            { timer: "HTTP_DOWNSTREAM_STREAM_IDLE", min_scale: { value: 25 } },
          ],
        }),
      ],
    }).overloadManager!.actions[0]!;
    expect([...action.timerMinimums!]).toEqual([
      ["HTTP_DOWNSTREAM_CONNECTION_IDLE", { type: "absolute", ms: 2000 }],
      ["HTTP_DOWNSTREAM_STREAM_IDLE", { type: "scaled", fraction: 0.25 }],
    ]);
    const withFactors = (factors: object[]) => problems({ resource_monitors: [heap], actions: [reduceTimeouts({ "@type": SCALE_TYPE, timer_scale_factors: factors })] }).join("\n");
    expect(problems({ resource_monitors: [heap], actions: [reduceTimeouts()] }).join("\n")).toMatch(/actions\[0\]\.typed_config/);
    expect(withFactors([])).toMatch(/timer_scale_factors/);
    expect(withFactors([{ timer: "TRANSPORT_SOCKET_CONNECT", min_timeout: "1s" }])).toMatch(/timer_scale_factors\[0\]\.timer: TRANSPORT_SOCKET_CONNECT is an Envoy value that polyvoy does not support yet/);
    expect(withFactors([{ timer: "HTTP_DOWNSTREAM_STREAM_FLUSH", min_timeout: "1s" }])).toMatch(/HTTP_DOWNSTREAM_STREAM_FLUSH is an Envoy value that polyvoy does not support yet \(polyvoy has no stream_flush_timeout/);
    expect(withFactors([{ timer: "UNSPECIFIED", min_timeout: "1s" }])).toMatch(/"UNSPECIFIED" is not a value of envoy\.config\.overload\.v3\.ScaleTimersOverloadActionConfig\.TimerType/);
    expect(withFactors([{ timer: "HTTP_DOWNSTREAM_STREAM_IDLE" }])).toMatch(/must set one of min_timeout, min_scale/);
    expect(
      withFactors([
        { timer: "HTTP_DOWNSTREAM_STREAM_IDLE", min_timeout: "1s" },
        { timer: "HTTP_DOWNSTREAM_STREAM_IDLE", min_scale: { value: 10 } },
      ]),
    ).toMatch(/Found duplicate entry for timer type HTTP_DOWNSTREAM_STREAM_IDLE/);
  });
});
