/**
 * layered_runtime's rtds_layer from a real management server on every runtime, black-box:
 * test/support's control plane serves the Runtime resource over ADS. The layer is read
 * before the listeners start (over the static layer), a pushed one replaces it whole,
 * and an invalid one (a list value) is NACKed (runtime.<name>.update_rejected) with the values kept.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { adminStats } from "../support/tls-probe.ts";
import { RUNTIME, XdsControlPlane } from "../support/xds-control-plane.ts";
import { eventually, xdsCluster } from "../support/xds-resources.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

/** A Runtime resource as protobufjs writes it: layer is a google.protobuf.Struct ({fields: {key: Value}}, its bundled camelCase names). */
function runtimeResource(name: string, fields: Record<string, unknown>): Record<string, unknown> {
  return { name, layer: struct(fields) };
}

function struct(fields: Record<string, unknown>): Record<string, unknown> {
  return { fields: Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, protoValue(value)])) };
}

function protoValue(value: unknown): Record<string, unknown> {
  if (typeof value === "number") return { numberValue: value };
  if (typeof value === "boolean") return { boolValue: value };
  if (typeof value === "string") return { stringValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(protoValue) } };
  return { structValue: struct(value as Record<string, unknown>) };
}

describe.each(RUNTIMES)("rtds_layer from a management server on %s", (runtime) => {
  let proxy: ProxyProcess;
  let controlPlane: XdsControlPlane;
  let adminPort: number;

  beforeAll(async () => {
    adminPort = await freePort();
    controlPlane = new XdsControlPlane();
    const cpPort = await controlPlane.start();
    controlPlane.setSnapshot(RUNTIME, "r1", [runtimeResource("some_runtime", { limit: 7, feature: { enabled: true } })]);
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      dynamic_resources: { ads_config: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds_cluster" } }] } },
      static_resources: { clusters: [xdsCluster(cpPort)] },
      layered_runtime: {
        layers: [
          { name: "base", static_layer: { limit: 1 } },
          { name: "rtds", rtds_layer: { name: "some_runtime", rtds_config: { ads: {}, resource_api_version: "V3" } } },
        ],
      },
    }, 0);
    // The admin listens first; /ready answers 200 once the server is initialized (its RTDS layer read).
    await proxy.waitForLog(/listening on/g, 1);
    await eventually(() => fetch(`http://127.0.0.1:${adminPort}/ready`).then((r) => r.status), (status) => status === 200);
  });

  afterAll(async () => {
    await proxy?.stop();
    await controlPlane?.stop();
  });

  async function entries(): Promise<Record<string, { final_value: string }>> {
    return ((await (await fetch(`http://127.0.0.1:${adminPort}/runtime`)).json()) as { entries: Record<string, { final_value: string }> }).entries;
  }

  test("the layer over ADS, read at start over the static layer; a push replaces it; an invalid layer (a list value) is NACKed and the values kept", async () => {
    const first = await entries();
    expect(first["limit"]?.final_value).toBe("7");
    expect(first["feature.enabled"]?.final_value).toBe("true");
    expect(controlPlane.requestsOf(RUNTIME).some((r) => r.service === "ads" && r.versionInfo === "r1" && r.resourceNames.join() === "some_runtime" && r.errorDetail === undefined)).toBe(true);

    controlPlane.setSnapshot(RUNTIME, "r2", [runtimeResource("some_runtime", { limit: 9 })]);
    expect(await eventually(async () => (await entries())["limit"]?.final_value, (v) => v === "9")).toBe("9");
    expect((await entries())["feature.enabled"]).toBeUndefined();

    controlPlane.setSnapshot(RUNTIME, "r3", [runtimeResource("some_runtime", { limit: [1, 2] })]);
    const nack = await eventually(async () => controlPlane.requestsOf(RUNTIME).find((r) => r.errorDetail !== undefined), (r) => r !== undefined);
    expect(nack?.versionInfo).toBe("r2");
    expect((await adminStats(adminPort)).get("runtime.some_runtime.update_rejected")).toBe(1);
    expect((await entries())["limit"]?.final_value).toBe("9");
  });
});
