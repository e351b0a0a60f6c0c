/**
 * Runtime keys read where Envoy reads them (core/runtime/runtime-keys.ts), in a proxy on
 * the memory runtime: a static layer's values, and admin-layer overrides taking effect on
 * the next request.
 */
import { afterEach, describe, expect, test } from "vitest";
import { loadBootstrap } from "../../core/config/load.ts";
import { Logger } from "../../core/log.ts";
import { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer, type UpstreamHandler } from "./support/http-peers.ts";
import { filterProxy, PROXY_PORT, type FilterProxy } from "./support/filter-proxy.ts";

const FAULT = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";
const fault = (fields: Record<string, unknown>) => ({ name: "envoy.filters.http.fault", typed_config: { "@type": FAULT, ...fields } });
const RATE_LIMIT = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
const STATS = "http.ingress_http.fault.";

const runtime = (staticLayer: Record<string, unknown> = {}) => ({
  layered_runtime: { layers: [{ name: "static", static_layer: staticLayer }, { name: "admin", admin_layer: {} }] },
});

let proxy: FilterProxy | undefined;
afterEach(() => {
  proxy?.close();
  proxy = undefined;
});

function override(key: string, value: string): void {
  proxy!.server.layeredRuntime.mergeValues(new Map([[key, value]]));
}

describe("runtime keys", () => {
  test("fault: fault.http.abort.abort_percent and .http_status override the config; removing the override restores it", async () => {
    proxy = await filterProxy([fault({ abort: { http_status: 503, percentage: { numerator: 0 } } })], { bootstrap: runtime({ fault: { http: { abort: { abort_percent: 100 } } } }) });
    expect((await proxy.request("GET", "/")).status).toBe(503);
    override("fault.http.abort.http_status", "418");
    expect((await proxy.request("GET", "/")).status).toBe(418);
    // A FractionalPercent of 0 in the admin layer turns the fault off again.
    override("fault.http.abort.abort_percent", "{numerator: 0}");
    expect((await proxy.request("GET", "/")).status).toBe(200);
    override("fault.http.abort.abort_percent", "");
    expect((await proxy.request("GET", "/")).status).toBe(418);
    expect(proxy.counter(STATS + "aborts_injected")).toBe(3);
  });

  test("fault: the *_runtime fields rename the keys; a downstream cluster's own keys replace the filter's", async () => {
    proxy = await filterProxy([fault({ abort: { http_status: 503, percentage: { numerator: 0 } }, abort_percent_runtime: "my.abort" })], {
      bootstrap: runtime({ my: { abort: 100 }, fault: { http: { abort: { abort_percent: 100 }, edge: { abort: { abort_percent: 0, http_status: 429 } } } } }),
    });
    expect((await proxy.request("GET", "/")).status).toBe(503);
    // The downstream cluster's percentage (0) wins over my.abort (100).
    expect((await proxy.request("GET", "/", { headers: { "x-envoy-downstream-service-cluster": "edge" } })).status).toBe(200);
    override("fault.http.edge.abort.abort_percent", "100");
    expect((await proxy.request("GET", "/", { headers: { "x-envoy-downstream-service-cluster": "edge" } })).status).toBe(429);
  });

  test("fault: fault.http.delay.fixed_duration_ms and fault.http.max_active_faults", async () => {
    proxy = await filterProxy([fault({ delay: { fixed_delay: "5s", percentage: { numerator: 100 } } })], { bootstrap: runtime({ "fault.http.delay.fixed_duration_ms": 200 }) });
    const client = new MemoryHttpClient(proxy.runtime, PROXY_PORT);
    client.request("GET", "/");
    await proxy.runtime.settle(199);
    expect(client.responses).toHaveLength(0);
    await proxy.runtime.settle(1);
    expect(client.responses[0]?.status).toBe(200);
    override("fault.http.max_active_faults", "0");
    expect((await proxy.request("GET", "/")).status).toBe(200);
    expect(proxy.counter(STATS + "faults_overflow")).toBe(1);
    expect(proxy.counter(STATS + "delays_injected")).toBe(1);
  });

  test("local_ratelimit: filter_enabled's runtime_key turns the limit on and off", async () => {
    const filter = {
      name: "envoy.filters.http.local_ratelimit",
      typed_config: {
        "@type": RATE_LIMIT,
        stat_prefix: "rl",
        token_bucket: { max_tokens: 1, fill_interval: "60s" },
        filter_enabled: { default_value: { numerator: 0 }, runtime_key: "rl.enabled" },
        filter_enforced: { default_value: { numerator: 100 }, runtime_key: "rl.enforced" },
      },
    };
    proxy = await filterProxy([filter], { bootstrap: runtime() });
    for (let i = 0; i < 3; i++) expect((await proxy.request("GET", "/")).status).toBe(200);
    override("rl.enabled", "100");
    expect((await proxy.request("GET", "/")).status).toBe(200);
    expect((await proxy.request("GET", "/")).status).toBe(429);
    override("rl.enforced", "0");
    expect((await proxy.request("GET", "/")).status).toBe(200);
  });

  test("route runtime_fraction: the runtime's value for runtime_key decides which route matches", async () => {
    proxy = await filterProxy([], {
      bootstrap: runtime({ routing: { canary: 0 } }),
      routes: [
        { match: { prefix: "/", runtime_fraction: { default_value: { numerator: 100 }, runtime_key: "routing.canary" } }, action: { direct_response: { status: 299 } } },
        { match: { prefix: "/" }, cluster: "backend" },
      ],
    });
    expect((await proxy.request("GET", "/")).status).toBe(200);
    override("routing.canary", "100");
    expect((await proxy.request("GET", "/")).status).toBe(299);
  });
});

describe("runtime keys of listeners", () => {
  test("envoy.resource_limits.listener.<name>.connection_limit: connections over it are closed at once and counted as downstream_cx_overflow", async () => {
    proxy = await filterProxy([], { bootstrap: runtime() });
    const name = proxy.server.bootstrap.listeners[0]!.name;
    override(`envoy.resource_limits.listener.${name}.connection_limit`, "1");
    const first = new MemoryHttpClient(proxy.runtime, PROXY_PORT);
    await proxy.runtime.settle();
    const second = new MemoryHttpClient(proxy.runtime, PROXY_PORT);
    await proxy.runtime.settle();
    expect(first.closed).toBe(false);
    expect(second.closed).toBe(true);
    expect(proxy.counter("listener.127.0.0.1_10000.downstream_cx_overflow")).toBe(1);
    first.request("GET", "/");
    await proxy.runtime.settle();
    expect(first.responses[0]?.status).toBe(200);
  });
});

describe("runtime keys of the cluster manager", () => {
  const PROXY = 10000;
  const PORTS = [8081, 8082, 8083];
  let upstreams: MemoryHttpServer[] = [];
  afterEach(() => {
    for (const upstream of upstreams) upstream.close();
    upstreams = [];
  });

  async function cluster(handlers: UpstreamHandler[], clusterExtra: Record<string, unknown>, staticLayer: Record<string, unknown>) {
    const memory = new MemoryRuntime({ seed: 1 });
    for (const [i, handler] of handlers.entries()) upstreams.push(await MemoryHttpServer.listen(memory, PORTS[i]!, handler));
    const config = httpProxyConfig({ listenPort: PROXY, clusters: { backend: PORTS.slice(0, handlers.length) }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], clusterExtra });
    const server = new Server(memory, loadBootstrap(JSON.stringify({ ...config, ...runtime(staticLayer) }), "json"), new Logger(memory, "warn"));
    await server.start();
    const send = async (n: number) => {
      const client = new MemoryHttpClient(memory, PROXY);
      for (let i = 0; i < n; i++) client.request("GET", `/${i}`);
      await memory.settle();
      return client.responses.map((r) => r.text());
    };
    const stat = (name: string) => (server.stats.get(name) as { value: number } | undefined)?.value;
    return { server, send, stat };
  }
  const ok = (name: string): UpstreamHandler => (_req, res) => res.respond(200, name);
  const failing: UpstreamHandler = (_req, res) => res.respond(500, "bad");

  test("outlier detection: outlier_detection.consecutive_5xx and .enforcing_consecutive_5xx override the cluster's settings, read when used", async () => {
    const { server, send, stat } = await cluster([ok("a"), failing], { outlier_detection: { max_ejection_percent: 100 } }, { outlier_detection: { consecutive_5xx: 2, enforcing_consecutive_5xx: 0 } });
    // Two 500s from b: detected (the runtime's threshold of 2, not the config's 5) but not enforced.
    await send(4);
    expect(stat("cluster.backend.outlier_detection.ejections_detected_consecutive_5xx")).toBe(1);
    expect(stat("cluster.backend.outlier_detection.ejections_enforced_total")).toBe(0);
    server.layeredRuntime.mergeValues(new Map([["outlier_detection.enforcing_consecutive_5xx", "100"]]));
    await send(4);
    expect(stat("cluster.backend.outlier_detection.ejections_enforced_consecutive_5xx")).toBe(1);
    expect(new Set(await send(4))).toEqual(new Set(["a"]));
  });
});
