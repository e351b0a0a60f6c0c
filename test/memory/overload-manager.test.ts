/** overload_manager on the memory runtime: monitors sampled on the refresh timer, actions tripped and cleared, the global connection limit. */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "./support/http-peers.ts";
import { startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const ADMIN = 9901;
const UPSTREAM = 8080;
const HEAP = "envoy.resource_monitors.fixed_heap";
const CONNECTIONS = "envoy.resource_monitors.global_downstream_max_connections";
const STOP_REQUESTS = "envoy.overload_actions.stop_accepting_requests";

let runtime: MemoryRuntime;
let server: Server;
let upstream: MemoryHttpServer;

const fixedHeap = (max: number) => ({
  name: HEAP,
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig", max_heap_size_bytes: max },
});
const maxConnections = (max: number) => ({
  name: CONNECTIONS,
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
    max_active_downstream_connections: max,
  },
});
const onHeap = (name: string, trigger: object) => ({ name, triggers: [{ name: HEAP, ...trigger }] });

async function setup(overloadManager: object, hcm?: Record<string, unknown>): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  // /slow is never answered.
  upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (request, response) => request.path === "/slow" || response.respond(200, request.path));
  const config = httpProxyConfig({ listenPort: PROXY, clusters: { backend: [UPSTREAM] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], hcm });
  server = await startProxy(runtime, {
    ...config,
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: ADMIN } } },
    overload_manager: { refresh_interval: "0.5s", ...overloadManager },
  });
}

function stat(name: string): number | undefined {
  return (server.stats.get(name) as { value: number } | undefined)?.value;
}

/** One request on a new connection; its status (0 when the connection closed without an answer). */
function get(path = "/", port = PROXY): { status: number; body: string; headers: readonly [string, string][]; client: MemoryHttpClient } {
  const client = new MemoryHttpClient(runtime, port);
  client.request("GET", path);
  runtime.runDue();
  const response = client.responses[0];
  return { status: response?.status ?? 0, body: response?.text() ?? "", headers: response?.headers ?? [], client };
}

afterEach(() => upstream?.close());

describe("overload_manager: fixed_heap and stop_accepting_requests", () => {
  test("heap over the threshold trips the action at the next refresh; under it clears it", async () => {
    await setup({ resource_monitors: [fixedHeap(1000)], actions: [onHeap(STOP_REQUESTS, { threshold: { value: 0.9 } })] });
    expect(stat(`overload.${STOP_REQUESTS}.active`)).toBe(0);
    runtime.heapBytes = 950;
    // Not sampled before the refresh interval passes.
    expect(get().status).toBe(200);
    runtime.advance(500);
    expect(stat(`overload.${HEAP}.pressure`)).toBe(95);
    expect(stat(`overload.${STOP_REQUESTS}.active`)).toBe(1);
    expect(stat(`overload.${STOP_REQUESTS}.scale_percent`)).toBe(100);
    const refused = get("/refused");
    expect(refused.status).toBe(503);
    expect(refused.body).toBe("envoy overloaded");
    expect(stat("http.ingress_http.downstream_rq_overload_close")).toBe(1);
    // A request with a body, refused at its head: 503, and nothing reaches the upstream.
    const post = new MemoryHttpClient(runtime, PROXY);
    post.request("POST", "/body", { body: "0123456789" });
    runtime.runDue();
    expect(post.responses.map((r) => [r.status, r.text()])).toEqual([[503, "envoy overloaded"]]);
    expect(stat("http.ingress_http.downstream_rq_overload_close")).toBe(2);
    expect(stat("http.ingress_http.downstream_rq_active")).toBe(0);
    // The admin is not shed (Envoy's null overload manager).
    expect(get("/ready", ADMIN).status).toBe(200);
    runtime.heapBytes = 500;
    runtime.advance(500);
    expect(stat(`overload.${HEAP}.pressure`)).toBe(50);
    expect(stat(`overload.${STOP_REQUESTS}.active`)).toBe(0);
    expect(get("/after").status).toBe(200);
    expect(upstream.requests.map((r) => r.path)).toEqual(["/", "/after"]);
    expect(stat(`overload.${HEAP}.failed_updates`)).toBe(0);
    expect(stat(`overload.${HEAP}.skipped_updates`)).toBe(0);
  });

  test("a scaled trigger sheds that fraction of requests and reports scale_percent", async () => {
    await setup({ resource_monitors: [fixedHeap(1000)], actions: [onHeap(STOP_REQUESTS, { scaled: { scaling_threshold: 0.5, saturation_threshold: 0.9 } })] });
    runtime.heapBytes = 750;
    runtime.advance(500);
    expect(stat(`overload.${STOP_REQUESTS}.scale_percent`)).toBe(62);
    expect(stat(`overload.${STOP_REQUESTS}.active`)).toBe(0);
    const statuses = Array.from({ length: 200 }, () => get().status);
    const shed = statuses.filter((s) => s === 503).length;
    expect(shed).toBeGreaterThan(85);
    expect(shed).toBeLessThan(165);
    expect(statuses.filter((s) => s !== 503 && s !== 200)).toEqual([]);
    runtime.heapBytes = 950;
    runtime.advance(500);
    expect(stat(`overload.${STOP_REQUESTS}.active`)).toBe(1);
    expect(get().status).toBe(503);
  });

  test("disable_http_keepalive: responses close their connections while it is active", async () => {
    await setup({ resource_monitors: [fixedHeap(1000)], actions: [onHeap("envoy.overload_actions.disable_http_keepalive", { threshold: { value: 0.8 } })] });
    const before = get();
    expect(before.client.closed).toBe(false);
    runtime.heapBytes = 900;
    runtime.advance(500);
    const during = get();
    expect(during.status).toBe(200);
    expect(during.headers).toContainEqual(["connection", "close"]);
    expect(during.client.closed).toBe(true);
    expect(stat("http.ingress_http.downstream_cx_overload_disable_keepalive")).toBe(1);
  });
});

describe("overload_manager: connections", () => {
  test("global_downstream_max_connections: the connection past the limit is closed at once; a closed one makes room", async () => {
    await setup({ resource_monitors: [maxConnections(2)] });
    const a = new MemoryHttpClient(runtime, PROXY);
    const b = new MemoryHttpClient(runtime, PROXY);
    runtime.runDue();
    const c = get("/c");
    expect(c.status).toBe(0);
    expect(c.client.closed).toBe(true);
    expect(stat("listener.127.0.0.1_10000.downstream_global_cx_overflow")).toBe(1);
    expect(stat(`overload.${CONNECTIONS}.failed_updates`)).toBe(1);
    // The admin listener ignores the global limit.
    expect(get("/ready", ADMIN).status).toBe(200);
    b.socket.close();
    runtime.runDue();
    a.request("GET", "/a");
    runtime.runDue();
    expect(a.responses.map((r) => r.status)).toEqual([200]);
    expect(get("/d").status).toBe(200);
    expect(upstream.requests.map((r) => r.path)).toEqual(["/a", "/d"]);
  });

  test("reject_incoming_connections closes new connections while active", async () => {
    await setup({ resource_monitors: [fixedHeap(1000)], actions: [onHeap("envoy.overload_actions.reject_incoming_connections", { threshold: { value: 0.5 } })] });
    runtime.heapBytes = 600;
    runtime.advance(500);
    const refused = get();
    expect(refused.status).toBe(0);
    expect(refused.client.closed).toBe(true);
    expect(stat("listener.127.0.0.1_10000.downstream_cx_overload_reject")).toBe(1);
    runtime.heapBytes = 100;
    runtime.advance(500);
    expect(get().status).toBe(200);
  });

  test("stop_accepting_connections stops the listener; it listens again on the same address when it clears", async () => {
    await setup({ resource_monitors: [fixedHeap(1000)], actions: [onHeap("envoy.overload_actions.stop_accepting_connections", { threshold: { value: 0.5 } })] });
    const kept = new MemoryHttpClient(runtime, PROXY);
    runtime.runDue();
    runtime.heapBytes = 600;
    runtime.advance(500);
    const refused = get();
    expect(refused.status).toBe(0);
    expect(refused.client.closeError?.code).toBe("ECONNREFUSED");
    // Connections already accepted go on.
    kept.request("GET", "/kept");
    runtime.runDue();
    expect(kept.responses.map((r) => r.status)).toEqual([200]);
    runtime.heapBytes = 100;
    runtime.advance(500);
    runtime.runDue();
    expect(get().status).toBe(200);
  });
});

describe("overload_manager: reduce_timeouts", () => {
  const reduceTimeouts = {
    name: "envoy.overload_actions.reduce_timeouts",
    triggers: [{ name: HEAP, scaled: { scaling_threshold: 0.5, saturation_threshold: 0.9 } }],
    typed_config: {
      "@type": "type.googleapis.com/envoy.config.overload.v3.ScaleTimersOverloadActionConfig",
      timer_scale_factors: [
        { timer: "HTTP_DOWNSTREAM_CONNECTION_IDLE", min_timeout: "2s" },
        { timer: "HTTP_DOWNSTREAM_STREAM_IDLE", min_scale: { value: 20 } },
      ],
    },
  };
  const hcm = { stream_idle_timeout: "10s", common_http_protocol_options: { idle_timeout: "10s" } };

  /** A request the upstream never answers, on a new connection. */
  function slow(): MemoryHttpClient {
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/slow");
    runtime.runDue();
    return client;
  }

  test("saturated: the stream idle timeout is min_scale of its own, the connection idle timeout min_timeout", async () => {
    await setup({ resource_monitors: [fixedHeap(1000)], actions: [reduceTimeouts] }, hcm);
    runtime.heapBytes = 950;
    runtime.advance(500);
    expect(stat("overload.envoy.overload_actions.reduce_timeouts.active")).toBe(1);
    const client = slow();
    runtime.advance(1999);
    expect(client.responses).toHaveLength(0);
    runtime.advance(1);
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[504, "stream timeout"]]);
    client.socket.close();
    runtime.runDue();
    // An idle connection that carried a request: idle after 2 s, then drained (5 s).
    const idle = get("/a").client;
    runtime.advance(1999);
    expect(stat("http.ingress_http.downstream_cx_idle_timeout")).toBe(0);
    runtime.advance(1);
    expect(stat("http.ingress_http.downstream_cx_idle_timeout")).toBe(1);
    runtime.advance(5000);
    expect(idle.ended).toBe(true);
  });

  test("scaling: between the thresholds, the timeout is as far from the configured one toward the minimum", async () => {
    await setup({ resource_monitors: [fixedHeap(1000)], actions: [reduceTimeouts] }, hcm);
    runtime.heapBytes = 750;
    runtime.advance(500);
    expect(stat("overload.envoy.overload_actions.reduce_timeouts.scale_percent")).toBe(62);
    const client = slow();
    // 2 s + (10 s − 2 s) × (1 − 0.625)
    runtime.advance(4999);
    expect(client.responses).toHaveLength(0);
    runtime.advance(1);
    expect(client.responses.map((r) => r.status)).toEqual([504]);
  });

  test("timers already armed follow a change of the scale, both ways", async () => {
    await setup({ resource_monitors: [fixedHeap(1000)], actions: [reduceTimeouts] }, hcm);
    const client = slow();
    // At t=500 the heap saturates: the stream, idle since t=0, now has 2 s in all.
    runtime.heapBytes = 950;
    runtime.advance(500);
    runtime.advance(1499);
    expect(client.responses).toHaveLength(0);
    runtime.advance(1);
    expect(client.responses.map((r) => r.status)).toEqual([504]);
    // Saturated, then clear again before the 2 s pass: the full 10 s apply.
    const other = slow();
    runtime.heapBytes = 100;
    runtime.advance(500);
    expect(stat("overload.envoy.overload_actions.reduce_timeouts.active")).toBe(0);
    runtime.advance(9499);
    expect(other.responses).toHaveLength(0);
    runtime.advance(1);
    expect(other.responses.map((r) => r.status)).toEqual([504]);
  });

  test("HTTP_DOWNSTREAM_CONNECTION_MAX: max_connection_duration scaled to min_scale", async () => {
    const action = {
      ...reduceTimeouts,
      typed_config: { ...reduceTimeouts.typed_config, timer_scale_factors: [{ timer: "HTTP_DOWNSTREAM_CONNECTION_MAX", min_scale: { value: 10 } }] },
    };
    await setup({ resource_monitors: [fixedHeap(1000)], actions: [action] }, { common_http_protocol_options: { max_connection_duration: "10s" } });
    runtime.heapBytes = 950;
    runtime.advance(500);
    const client = get("/a").client;
    runtime.advance(999);
    expect(stat("http.ingress_http.downstream_cx_max_duration_reached")).toBe(0);
    runtime.advance(1);
    expect(stat("http.ingress_http.downstream_cx_max_duration_reached")).toBe(1);
    client.socket.close();
  });

  test("not configured: timeouts as they are", async () => {
    await setup({ resource_monitors: [fixedHeap(1000)], actions: [onHeap(STOP_REQUESTS, { threshold: { value: 0.99 } })] }, hcm);
    runtime.heapBytes = 950;
    runtime.advance(500);
    const client = slow();
    runtime.advance(9999);
    expect(client.responses).toHaveLength(0);
    runtime.advance(1);
    expect(client.responses.map((r) => r.status)).toEqual([504]);
  });
});
