/** The envoy.filters.http.health_check filter (core/http/filters/health-check.ts) in a proxy on the memory runtime. */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "./support/http-peers.ts";
import { startProxy } from "./support/proxy.ts";
import type { HttpMessage } from "./support/http-wire.ts";

const PROXY = 10000;
const UPSTREAM = 8080;

let runtime: MemoryRuntime;
let server: Server;
let upstream: MemoryHttpServer | undefined;
let upstreamStatus = 200;
let upstreamSeen = 0;

afterEach(() => {
  upstream?.close();
  upstream = undefined;
});

async function proxy(filterConfig: Record<string, unknown>, clusters: Record<string, number[]> = { backend: [UPSTREAM] }): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  upstreamStatus = 200;
  upstreamSeen = 0;
  upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (_req, res) => {
    upstreamSeen++;
    res.respond(upstreamStatus, "from upstream");
  });
  const config = httpProxyConfig({
    listenPort: PROXY,
    clusters,
    routes: [{ match: { prefix: "/" }, cluster: "backend" }],
    hcm: {
      http_filters: [
        {
          name: "envoy.filters.http.health_check",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck",
            headers: [{ name: ":path", string_match: { exact: "/healthz" } }],
            ...filterConfig,
          },
        },
        { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
      ],
    },
  });
  (config as { node?: object }).node = { id: "n1", cluster: "front" };
  server = await startProxy(runtime, config);
}

async function get(path: string): Promise<HttpMessage> {
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request("GET", path);
  await runtime.settle();
  return client.responses[0]!;
}

function header(message: HttpMessage, name: string): string | undefined {
  return message.headers.find(([n]) => n === name)?.[1];
}

describe("health_check filter", () => {
  test("answers a matching request itself: 200, then 503 once /healthcheck/fail is in effect; other requests then carry x-envoy-immediate-health-check-fail", async () => {
    await proxy({ pass_through_mode: false });
    const ok = await get("/healthz");
    expect(ok.status).toBe(200);
    expect(header(ok, "x-envoy-upstream-healthchecked-cluster")).toBe("front");
    expect(upstreamSeen).toBe(0);
    const other = await get("/other");
    expect(other.text()).toBe("from upstream");
    expect(header(other, "x-envoy-immediate-health-check-fail")).toBeUndefined();
    server.failHealthcheck(true);
    expect((await get("/healthz")).status).toBe(503);
    const during = await get("/other");
    expect(during.status).toBe(200);
    expect(header(during, "x-envoy-immediate-health-check-fail")).toBe("true");
    server.failHealthcheck(false);
    expect((await get("/healthz")).status).toBe(200);
  });

  test("pass_through_mode sends the check to the upstream (its status answers) unless the server is failed", async () => {
    await proxy({ pass_through_mode: true });
    upstreamStatus = 500;
    expect((await get("/healthz")).status).toBe(500);
    expect(upstreamSeen).toBe(1);
    server.failHealthcheck(true);
    expect((await get("/healthz")).status).toBe(503);
    expect(upstreamSeen).toBe(1);
  });

  test("a check passed through is not charged to the cluster's response stats (Envoy's chargeUpstreamCode skips health checks); another request is", async () => {
    await proxy({ pass_through_mode: true });
    const stat = (name: string) => (server.stats.get(`cluster.backend.${name}`) as { value: number } | undefined)?.value ?? 0;
    expect((await get("/healthz")).status).toBe(200);
    expect([stat("upstream_rq_200"), stat("upstream_rq_completed"), stat("external.upstream_rq_200")]).toEqual([0, 0, 0]);
    expect((await get("/other")).status).toBe(200);
    expect([stat("upstream_rq_200"), stat("upstream_rq_completed"), stat("external.upstream_rq_200")]).toEqual([1, 1, 1]);
  });

  test("cache_time: the upstream's answer is reused for that long", async () => {
    await proxy({ pass_through_mode: true, cache_time: "2s" });
    upstreamStatus = 503;
    expect((await get("/healthz")).status).toBe(503);
    upstreamStatus = 200;
    expect((await get("/healthz")).status).toBe(503);
    expect(upstreamSeen).toBe(1);
    await runtime.settle(2_000);
    expect((await get("/healthz")).status).toBe(200);
    expect(upstreamSeen).toBe(2);
  });

  test("cache_time as Envoy's HealthCheckCacheManager: cleared every cache_time from config load, whenever the answer came; the filter's own 503 is cached too", async () => {
    await proxy({ pass_through_mode: true, cache_time: "2s" });
    await runtime.settle(1_500);
    expect((await get("/healthz")).status).toBe(200);
    upstreamStatus = 503;
    expect((await get("/healthz")).status).toBe(200);
    expect(upstreamSeen).toBe(1);
    // The clearing at 2 s, 0.5 s after that answer came: the next check goes upstream.
    await runtime.settle(600);
    expect((await get("/healthz")).status).toBe(503);
    expect(upstreamSeen).toBe(2);
    // Past the clearing at 4 s: the filter's own 503 while failed is cached, and answers after /healthcheck/ok until the next clearing.
    await runtime.settle(2_000);
    upstreamStatus = 200;
    server.failHealthcheck(true);
    expect((await get("/healthz")).status).toBe(503);
    server.failHealthcheck(false);
    expect((await get("/healthz")).status).toBe(503);
    expect(upstreamSeen).toBe(2);
    await runtime.settle(2_000);
    expect((await get("/healthz")).status).toBe(200);
    expect(upstreamSeen).toBe(3);
  });

  test("cluster_min_healthy_percentages: 503 when too few hosts are healthy, or the cluster is unknown", async () => {
    await proxy({ pass_through_mode: false, cluster_min_healthy_percentages: { backend: { value: 50 } } }, { backend: [UPSTREAM, 8081] });
    expect((await get("/healthz")).status).toBe(200);
    const { HealthFlag } = await import("../../core/upstream/host.ts");
    const cluster = server.clusterManager.get("backend")!;
    cluster.hosts[0]!.healthFlagSet(HealthFlag.FailedActiveHc);
    cluster.prioritySet.refreshHealth();
    expect((await get("/healthz")).status).toBe(200);
    cluster.hosts[1]!.healthFlagSet(HealthFlag.FailedActiveHc);
    cluster.prioritySet.refreshHealth();
    expect((await get("/healthz")).status).toBe(503);
  });
});
