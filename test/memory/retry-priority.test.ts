/**
 * retry_priority (envoy.retry_priorities.previous_priorities) through the proxy on the
 * memory runtime: a retry leaves the priority whose host failed for the next one.
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

/** Priority 0: two hosts answering 503; priority 1: one answering 200. */
async function setup(retryPolicy: Record<string, unknown>): Promise<void> {
  runtime = new MemoryRuntime({ seed: 4 });
  upstreams.push(await MemoryHttpServer.listen(runtime, 8081, (_req, res) => res.respond(503, "p0a")));
  upstreams.push(await MemoryHttpServer.listen(runtime, 8082, (_req, res) => res.respond(503, "p0b")));
  upstreams.push(await MemoryHttpServer.listen(runtime, 8083, (_req, res) => res.respond(200, "p1")));
  const config = httpProxyConfig({
    listenPort: PROXY,
    clusters: { backend: [8081, 8082] },
    routes: [{ match: { prefix: "/" }, cluster: "backend", action: { route: { cluster: "backend", retry_policy: retryPolicy } } }],
  }) as { static_resources: { clusters: { load_assignment: { endpoints: object[] } }[] } };
  config.static_resources.clusters[0]!.load_assignment.endpoints.push({
    priority: 1,
    lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 8083 } } } }],
  });
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

const RETRY = { retry_on: "5xx", num_retries: 1, retry_back_off: { base_interval: "0.001s" } };

test("previous_priorities: the retry after a 503 from priority 0 goes to priority 1", async () => {
  await setup({ ...RETRY, retry_priority: PREVIOUS_PRIORITIES });
  for (let i = 0; i < 4; i++) expect(await get()).toBe("200 p1");
  expect((server.stats.get("cluster.backend.upstream_rq_retry") as { value: number }).value).toBe(4);
});

test("without it, the retry stays on priority 0 (which takes all the load) and fails again", async () => {
  await setup(RETRY);
  for (let i = 0; i < 4; i++) expect(await get()).toMatch(/^503 p0/);
});
