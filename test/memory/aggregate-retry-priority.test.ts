/**
 * retry_priority previous_priorities over an aggregate cluster, through the proxy on the
 * memory runtime: each retry moves to the next level of the concatenated list — into the
 * next cluster, and past its levels already tried — as Envoy's aggregate maps attempted
 * hosts to their linearized levels (hostToLinearizedPriority).
 */
import { afterEach, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "./support/http-peers.ts";
import { startProxy } from "./support/proxy.ts";

const PROXY = 10000;
let runtime: MemoryRuntime;
let server: Server;
let upstreams: MemoryHttpServer[] = [];

afterEach(() => {
  for (const upstream of upstreams) upstream.close();
  upstreams = [];
});

const PREVIOUS_PRIORITIES = {
  name: "envoy.retry_priorities.previous_priorities",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig", update_frequency: 1 },
};

const endpoint = (port: number) => ({ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } });

/**
 * agg = [a, b]: a's priority 0 (8081) and b's priority 0 (8082) answer 503, b's priority 1
 * (8083) 200 — levels 0, 1 and 2 of the aggregate.
 */
/** b (clusters[1]) gets its priority 1 (8083); agg = [a, b] is added. */
function addAggregate(clusters: Record<string, unknown>[]): void {
  (clusters[1]!.load_assignment as { endpoints: object[] }).endpoints.push({ priority: 1, lb_endpoints: [endpoint(8083)] });
  clusters.push({
    name: "agg",
    connect_timeout: "1s",
    lb_policy: "CLUSTER_PROVIDED",
    cluster_type: { name: "envoy.clusters.aggregate", typed_config: { "@type": "type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig", clusters: ["a", "b"] } },
  });
}

async function setup(retryPolicy: Record<string, unknown>): Promise<void> {
  runtime = new MemoryRuntime({ seed: 4 });
  upstreams.push(await MemoryHttpServer.listen(runtime, 8081, (_req, res) => res.respond(503, "a")));
  upstreams.push(await MemoryHttpServer.listen(runtime, 8082, (_req, res) => res.respond(503, "b0")));
  upstreams.push(await MemoryHttpServer.listen(runtime, 8083, (_req, res) => res.respond(200, "b1")));
  const config = httpProxyConfig({
    listenPort: PROXY,
    clusters: { a: [8081], b: [8082] },
    routes: [{ match: { prefix: "/" }, action: { route: { cluster: "agg", retry_policy: retryPolicy } } }],
  }) as { static_resources: { clusters: Record<string, unknown>[] } };
  addAggregate(config.static_resources.clusters);
  server = await startProxy(runtime, config);
}

async function get(): Promise<string> {
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request("GET", "/");
  await runtime.settle(1000);
  const response = client.responses[0];
  client.socket.close();
  return response ? `${response.status} ${response.text()}` : "none";
}

const RETRY = { retry_on: "5xx", num_retries: 2, retry_back_off: { base_interval: "0.001s" } };
const stat = (name: string) => (server.stats.get(name) as { value: number } | undefined)?.value ?? 0;

test("previous_priorities: a's level, then b's priority 0, then b's priority 1 (level 2), which answers", async () => {
  await setup({ ...RETRY, retry_priority: PREVIOUS_PRIORITIES });
  for (let i = 0; i < 3; i++) expect(await get()).toBe("200 b1");
  // The retries are counted on the route's cluster, the aggregate; the requests on the clusters that served them.
  expect(stat("cluster.agg.upstream_rq_retry")).toBe(6);
  expect(stat("cluster.a.upstream_rq_total")).toBe(3);
  expect(stat("cluster.b.upstream_rq_total")).toBe(6);
});

test("without it, every attempt goes to level 0 (a), which takes all the load", async () => {
  await setup(RETRY);
  for (let i = 0; i < 3; i++) expect(await get()).toBe("503 a");
});

test("the async client's retries too: ext_authz's http_service on an aggregate walks a, b's priority 0, b's priority 1", async () => {
  runtime = new MemoryRuntime({ seed: 4 });
  const attempts: string[] = [];
  upstreams.push(await MemoryHttpServer.listen(runtime, 8081, (_req, res) => (attempts.push("a"), res.respond(503, "a"))));
  upstreams.push(await MemoryHttpServer.listen(runtime, 8082, (_req, res) => (attempts.push("b0"), res.respond(503, "b0"))));
  upstreams.push(await MemoryHttpServer.listen(runtime, 8083, (_req, res) => (attempts.push("b1"), res.respond(200, "ok"))));
  upstreams.push(await MemoryHttpServer.listen(runtime, 8084, (_req, res) => res.respond(200, "app")));
  const config = httpProxyConfig({
    listenPort: PROXY,
    clusters: { a: [8081], b: [8082], app: [8084] },
    routes: [{ match: { prefix: "/" }, cluster: "app" }],
    hcm: {
      http_filters: [
        {
          name: "envoy.filters.http.ext_authz",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
            http_service: {
              server_uri: { uri: "http://agg", cluster: "agg", timeout: "1s" },
              retry_policy: { num_retries: 2, retry_back_off: { base_interval: "0.001s" }, retry_priority: PREVIOUS_PRIORITIES },
            },
          },
        },
        { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
      ],
    },
  }) as { static_resources: { clusters: Record<string, unknown>[] } };
  addAggregate(config.static_resources.clusters);
  server = await startProxy(runtime, config);
  expect(await get()).toBe("200 app");
  expect(attempts).toEqual(["a", "b0", "b1"]);
});
