/**
 * STRICT_DNS and LOGICAL_DNS discovery on the memory runtime: its DNS table answers,
 * changes its answers and fails on demand, on a virtual clock, so refresh rates, TTLs
 * and backoff are exact and requests in flight during a change can be watched.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import type { Cluster } from "../../core/upstream/cluster.ts";
import type { Host } from "../../core/upstream/host.ts";
import { clustersAsText } from "../../core/admin/clusters.ts";
import { runMain } from "../../core/main.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer, type UpstreamResponse } from "./support/http-peers.ts";
import { startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const PORT = 8080;
const NAME = "backend.svc";

let runtime: MemoryRuntime;
let server: Server;
const upstreams: MemoryHttpServer[] = [];

/** An upstream at `address`:8080 answering with its own address. */
async function upstreamAt(address: string): Promise<MemoryHttpServer> {
  const upstream = await MemoryHttpServer.listen(runtime, PORT, (_req, res) => res.respond(200, address), address);
  upstreams.push(upstream);
  return upstream;
}

function dnsConfig(type: "STRICT_DNS" | "LOGICAL_DNS", clusterExtra: object = {}, routeAction: object = {}): object {
  const route = { match: { prefix: "/" }, cluster: "backend", action: { route: { cluster: "backend", ...routeAction } } };
  const config = httpProxyConfig({ listenPort: PROXY, clusters: { backend: [PORT] }, routes: [route] }) as {
    static_resources: { clusters: Record<string, unknown>[] };
  };
  const cluster = config.static_resources.clusters[0]!;
  Object.assign(cluster, { type, dns_lookup_family: "V4_ONLY", ...clusterExtra });
  (cluster.load_assignment as { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string } } } }[] }[] }).endpoints[0]!.lb_endpoints[0]!.endpoint.address.socket_address.address = NAME;
  return config;
}

async function setup(type: "STRICT_DNS" | "LOGICAL_DNS", answer: string[], clusterExtra: object = {}, ttlSeconds?: number, dnsDelayMs?: number, routeAction: object = {}): Promise<void> {
  runtime = new MemoryRuntime({ seed: 7, ...(dnsDelayMs ? { dnsDelayMs } : {}) });
  runtime.setDnsAnswer(NAME, answer, ttlSeconds);
  server = await startProxy(runtime, dnsConfig(type, clusterExtra, routeAction), "info");
}

function cluster(): Cluster {
  return server.clusterManager.get("backend")!;
}

function addresses(): string[] {
  return cluster().hosts.map((host) => host.address);
}

/** A cluster stat's value (counter or gauge). */
function counter(name: string): number {
  return (server.stats.get(`cluster.backend.${name}`) as { value: number } | undefined)?.value ?? 0;
}

/** One GET through the proxy; its status and body once the proxy answered. */
async function get(): Promise<{ status: number; body: string }> {
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request("GET", "/");
  await runtime.settle();
  const response = client.responses[0];
  if (!response) throw new Error("no response");
  client.socket.close();
  return { status: response.status, body: response.text() };
}

afterEach(() => {
  for (const upstream of upstreams.splice(0)) upstream.close();
});

describe("STRICT_DNS", () => {
  test("auto_host_rewrite: the upstream's Host is the DNS name the host was resolved from", async () => {
    await setup("STRICT_DNS", ["10.0.0.1"], {}, undefined, undefined, { auto_host_rewrite: true });
    const hosts: string[] = [];
    upstreams.push(await MemoryHttpServer.listen(runtime, PORT, (req, res) => (hosts.push(req.headers.find(([n]) => n.toLowerCase() === "host")?.[1] ?? ""), res.respond(200, "ok")), "10.0.0.1"));
    await runtime.settle(10);
    expect((await get()).status).toBe(200);
    expect(hosts).toEqual([NAME]);
  });

  test("wait_for_warm_on_init: false: a request before the first answer gets 503 no healthy upstream; after it, every address is a host", async () => {
    // The resolver takes 100 ms to answer; start-up does not wait for it, so the listener accepts meanwhile.
    await setup("STRICT_DNS", ["10.0.0.1", "10.0.0.2"], { wait_for_warm_on_init: false }, undefined, 100);
    await upstreamAt("10.0.0.1");
    await upstreamAt("10.0.0.2");
    expect(addresses()).toEqual([]);
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runDue();
    expect(client.responses[0]?.status).toBe(503);
    expect(client.responses[0]?.text()).toBe("no healthy upstream");
    client.socket.close();

    await runtime.settle(100);
    expect(addresses()).toEqual(["10.0.0.1", "10.0.0.2"]);
    expect(cluster().hosts.map((h) => h.hostname)).toEqual([NAME, NAME]);
    const bodies = [(await get()).body, (await get()).body].sort();
    expect(bodies).toEqual(["10.0.0.1", "10.0.0.2"]);
    expect(counter("update_attempt")).toBe(1);
    expect(counter("update_success")).toBe(1);
    expect(counter("membership_total")).toBe(2);
    expect(clustersAsText([cluster()])).toContain(`backend::10.0.0.2:8080::hostname::${NAME}\n`);
  });

  test("refreshes every dns_refresh_rate: hosts are added and removed, a host whose address stays is the same object", async () => {
    await setup("STRICT_DNS", ["10.0.0.1"], { dns_refresh_rate: "2s" });
    await runtime.settle();
    const first = cluster().hosts[0]!;
    first.stats.rqTotal = 5; // stats that must survive refreshes

    runtime.setDnsAnswer(NAME, ["10.0.0.2", "10.0.0.1"]);
    await runtime.settle(1999);
    expect(addresses()).toEqual(["10.0.0.1"]);
    await runtime.settle(1);
    expect(addresses()).toEqual(["10.0.0.2", "10.0.0.1"]);
    expect(cluster().hosts[1]).toBe(first);
    expect(first.stats.rqTotal).toBe(5);
    expect(counter("membership_change")).toBe(2);

    // Same addresses again: nothing rebuilt.
    await runtime.settle(2000);
    expect(counter("update_no_rebuild")).toBe(1);
    expect(counter("membership_change")).toBe(2);

    runtime.setDnsAnswer(NAME, ["10.0.0.2", "10.0.0.2"]);
    await runtime.settle(2000);
    expect(addresses()).toEqual(["10.0.0.2"]);
    expect(counter("update_attempt")).toBe(4);
    expect(counter("update_success")).toBe(4);
    expect(counter("membership_change")).toBe(3);
    expect(runtime.dnsQueries.get(NAME)).toBe(4);
  });

  test("a request in flight on a host that DNS removed completes; the next goes to the new address", async () => {
    await setup("STRICT_DNS", ["10.0.0.1"]);
    let held: UpstreamResponse | undefined;
    upstreams.push(await MemoryHttpServer.listen(runtime, PORT, (_req, res) => (held = res), "10.0.0.1"));
    await upstreamAt("10.0.0.2");
    await runtime.settle();
    const slow = new MemoryHttpClient(runtime, PROXY);
    slow.request("GET", "/slow");
    await runtime.settle();
    expect(held).toBeDefined();

    runtime.setDnsAnswer(NAME, ["10.0.0.2"]);
    await runtime.settle(5000);
    expect(addresses()).toEqual(["10.0.0.2"]);
    expect((await get()).body).toBe("10.0.0.2");

    held!.respond(200, "late but whole");
    await runtime.settle();
    expect(slow.responses[0]?.status).toBe(200);
    expect(slow.responses[0]?.text()).toBe("late but whole");
    // The removed host's pool drained: its connection closed after the response.
    expect(upstreams[0]!.connections.size).toBe(0);
  });

  test("a name without addresses leaves the cluster without hosts (503 UH, one warning), and comes back", async () => {
    await setup("STRICT_DNS", ["10.0.0.1"]);
    await upstreamAt("10.0.0.1");
    await runtime.settle();
    expect((await get()).status).toBe(200);

    runtime.setDnsAnswer(NAME, []);
    await runtime.settle(5000);
    expect(addresses()).toEqual([]);
    const refused = await get();
    expect(refused).toMatchObject({ status: 503, body: "no healthy upstream" });
    // As Envoy's resolvers: NXDOMAIN/NODATA is a completed query with no records.
    expect(counter("update_success")).toBe(2);
    await runtime.settle(10_000);
    expect(runtime.logText.match(/\[warning\].*backend\.svc resolves to no IPv4 address/g)).toHaveLength(1);

    runtime.setDnsAnswer(NAME, ["10.0.0.1"]);
    await runtime.settle(5000);
    expect(addresses()).toEqual(["10.0.0.1"]);
    expect(runtime.logText).toContain("backend.svc resolves again (10.0.0.1)");
    expect((await get()).status).toBe(200);
  });

  test("a failed lookup keeps the hosts it had, counts update_failure and retries at the refresh rate", async () => {
    await setup("STRICT_DNS", ["10.0.0.1"]);
    await upstreamAt("10.0.0.1");
    await runtime.settle();
    runtime.setDnsFailure(NAME, "EAI_AGAIN");
    await runtime.settle(15_000);
    expect(counter("update_failure")).toBe(3);
    expect(addresses()).toEqual(["10.0.0.1"]);
    expect((await get()).status).toBe(200);
    expect(runtime.logText.match(/\[warning\].*backend\.svc does not resolve \(EAI_AGAIN/g)).toHaveLength(1);
  });

  test("dns_failure_refresh_rate: retries back off (jittered, doubling to max_interval) and reset after a success", async () => {
    await setup("STRICT_DNS", ["10.0.0.1"], { dns_refresh_rate: "60s", dns_failure_refresh_rate: { base_interval: "1s", max_interval: "4s" } });
    await runtime.settle();
    runtime.setDnsFailure(NAME);
    await runtime.settle(60_000);
    expect(counter("update_failure")).toBe(1);
    // Each wait is below its interval: 1 s, 2 s, 4 s, 4 s, … — so within 11 s at least 4 more attempts.
    await runtime.settle(11_000);
    const attempts = counter("update_attempt");
    expect(attempts).toBeGreaterThanOrEqual(6);
    expect(counter("update_failure")).toBe(attempts - 1);
    runtime.setDnsAnswer(NAME, ["10.0.0.1"]);
    const successes = counter("update_success");
    while (counter("update_success") === successes) await runtime.settle(100);
    const successAt = counter("update_attempt");
    // Back on the 60 s refresh rate (the success came less than 100 ms ago).
    await runtime.settle(59_800);
    expect(counter("update_attempt")).toBe(successAt);
    await runtime.settle(300);
    expect(counter("update_attempt")).toBe(successAt + 1);
  });

  test("respect_dns_ttl refreshes after the answer's TTL; without a TTL, at dns_refresh_rate", async () => {
    await setup("STRICT_DNS", ["10.0.0.1"], { respect_dns_ttl: true }, 30);
    await runtime.settle();
    await runtime.settle(29_999);
    expect(runtime.dnsQueries.get(NAME)).toBe(1);
    await runtime.settle(1);
    expect(runtime.dnsQueries.get(NAME)).toBe(2);
    // No TTL (an /etc/hosts name, a runtime that cannot tell): dns_refresh_rate.
    runtime.setDnsAnswer(NAME, ["10.0.0.1"]);
    await runtime.settle(30_000);
    expect(runtime.dnsQueries.get(NAME)).toBe(3);
    await runtime.settle(5000);
    expect(runtime.dnsQueries.get(NAME)).toBe(4);
  });

  test("dns_jitter adds up to its length to each refresh", async () => {
    await setup("STRICT_DNS", ["10.0.0.1"], { dns_refresh_rate: "1s", dns_jitter: "1s" });
    await runtime.settle();
    await runtime.settle(9999);
    // Ten seconds: refreshes 1–2 s apart, so between 5 and 10 of them.
    const queries = runtime.dnsQueries.get(NAME)! - 1;
    expect(queries).toBeGreaterThanOrEqual(5);
    expect(queries).toBeLessThan(10);
  });

  test("shutdown stops the refreshes: no timer is left", async () => {
    await setup("STRICT_DNS", ["10.0.0.1"]);
    await runtime.settle();
    await server.shutdown();
    const queries = runtime.dnsQueries.get(NAME);
    await runtime.settle(60_000);
    expect(runtime.dnsQueries.get(NAME)).toBe(queries);
    expect(runtime.pendingTimers).toBe(0);
  });
});

describe("LOGICAL_DNS", () => {
  test("one host at the first address; when the name moves, the host moves with it and new connections follow", async () => {
    await setup("LOGICAL_DNS", ["10.0.0.1", "10.0.0.2"]);
    await upstreamAt("10.0.0.1");
    await upstreamAt("10.0.0.2");
    await runtime.settle();
    expect(addresses()).toEqual(["10.0.0.1"]);
    const host: Host = cluster().hosts[0]!;
    expect(host.hostname).toBe(NAME);
    expect((await get()).body).toBe("10.0.0.1");

    runtime.setDnsAnswer(NAME, ["10.0.0.2"]);
    await runtime.settle(5000);
    expect(cluster().hosts).toEqual([host]);
    expect(host.address).toBe("10.0.0.2");
    expect(counter("membership_change")).toBe(1);
    // As Envoy's LogicalHost: a connection already open stays where it is — the pooled
    // one still reaches 10.0.0.1 …
    expect((await get()).body).toBe("10.0.0.1");
    // … and a new connection goes to the name's new address.
    server.clusterManager.httpConnPool(cluster(), host).drainConnections();
    expect((await get()).body).toBe("10.0.0.2");
    expect(clustersAsText([cluster()])).toContain(`backend::10.0.0.2:8080::hostname::${NAME}\n`);
  });

  test("a refresh with the same address is an update_success and an update_no_rebuild (Envoy's DNS implementation, on by default since 1.39: enable_new_dns_implementation)", async () => {
    await setup("LOGICAL_DNS", ["10.0.0.1"]);
    await runtime.settle();
    await runtime.settle(10_000);
    expect(counter("update_attempt")).toBe(3);
    expect(counter("update_success")).toBe(3);
    expect(counter("update_no_rebuild")).toBe(2);
  });

  test("an answer without addresses is a failure and keeps the last address", async () => {
    await setup("LOGICAL_DNS", ["10.0.0.1"]);
    await upstreamAt("10.0.0.1");
    await runtime.settle();
    runtime.setDnsAnswer(NAME, []);
    await runtime.settle(5000);
    expect(counter("update_failure")).toBe(1);
    expect(addresses()).toEqual(["10.0.0.1"]);
    expect((await get()).status).toBe(200);
  });

  test("a name that never resolves: 503 no healthy upstream, the proxy keeps serving", async () => {
    await setup("LOGICAL_DNS", []);
    await runtime.settle(10_000);
    expect(addresses()).toEqual([]);
    expect(await get()).toMatchObject({ status: 503, body: "no healthy upstream" });
    expect(counter("update_failure")).toBe(3);
  });
});

describe("STATIC", () => {
  test("an endpoint's hostname shows in /clusters, as for DNS hosts", async () => {
    runtime = new MemoryRuntime();
    const config = httpProxyConfig({ listenPort: PROXY, clusters: { backend: [PORT] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }) as {
      static_resources: { clusters: { load_assignment: { endpoints: { lb_endpoints: { endpoint: Record<string, unknown> }[] }[] } }[] };
    };
    config.static_resources.clusters[0]!.load_assignment.endpoints[0]!.lb_endpoints[0]!.endpoint.hostname = "api.internal";
    server = await startProxy(runtime, config);
    expect(clustersAsText([cluster()])).toContain(`backend::127.0.0.1:${PORT}::hostname::api.internal\n`);
  });
});

describe("runMain", () => {
  test("--mode validate does not resolve (as Envoy); serving does, at once", async () => {
    const path = "/etc/polyvoy/envoy.json";
    const validating = new MemoryRuntime({ files: { [path]: JSON.stringify(dnsConfig("STRICT_DNS")) } });
    await runMain(validating, ["-c", path, "--mode", "validate"]);
    expect(validating.exitCode).toBe(0);
    expect(validating.dnsQueries.size).toBe(0);

    const serving = new MemoryRuntime({ files: { [path]: JSON.stringify(dnsConfig("STRICT_DNS")) } });
    const main = runMain(serving, ["-c", path]);
    await serving.settle();
    await main;
    expect(serving.dnsQueries.get(NAME)).toBe(1);
    serving.raise("SIGTERM");
    await serving.settle();
    expect(serving.exitCode).toBe(0);
  });
});
