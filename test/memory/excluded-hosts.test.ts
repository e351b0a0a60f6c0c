/**
 * Hosts out of load balancing without being removed (Envoy's excluded hosts,
 * upstream_impl.cc): an endpoint's DRAINING health_status, hosts not yet health checked
 * under ignore_new_hosts_until_first_hc, and hosts DNS dropped while health checking
 * still passes them (/pending_dynamic_removal, ignore_health_on_host_removal).
 */
import { afterEach, describe, expect, test } from "vitest";
import { clustersAsJson, clustersAsText } from "../../core/admin/clusters.ts";
import { loadBootstrap } from "../../core/config/load.ts";
import { Logger } from "../../core/log.ts";
import { Server } from "../../core/server.ts";
import type { Cluster } from "../../core/upstream/cluster.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer, type UpstreamHandler } from "./support/http-peers.ts";

const PROXY = 10000;
const PORT = 8080;
const NAME = "backend.svc";

let runtime: MemoryRuntime;
let server: Server;
let upstreams: MemoryHttpServer[] = [];

afterEach(() => {
  for (const upstream of upstreams) upstream.close();
  upstreams = [];
});

type ClusterJson = Record<string, unknown> & { load_assignment: { endpoints: { lb_endpoints: Record<string, unknown>[] }[] } };

function config(ports: number[], clusterExtra: Record<string, unknown> = {}): { static_resources: { clusters: ClusterJson[] } } {
  const c = httpProxyConfig({ listenPort: PROXY, clusters: { backend: ports }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }) as { static_resources: { clusters: ClusterJson[] } };
  Object.assign(c.static_resources.clusters[0]!, clusterExtra);
  return c;
}

async function start(bootstrap: object): Promise<void> {
  server = new Server(runtime, loadBootstrap(JSON.stringify(bootstrap), "json"), new Logger(runtime, "error"));
  const started = server.start();
  await runtime.settle();
  await started;
}

function cluster(): Cluster {
  return server.clusterManager.get("backend")!;
}

function stat(name: string): number {
  return (server.stats.get(`cluster.backend.${name}`) as { value: number } | undefined)?.value ?? 0;
}

/** `n` GETs, one after another; the bodies (each upstream answers with its name). */
async function gets(n: number): Promise<string[]> {
  const bodies: string[] = [];
  for (let i = 0; i < n; i++) {
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    await runtime.settle();
    bodies.push(client.responses[0] ? `${client.responses[0].status} ${client.responses[0].text()}` : "none");
    client.socket.close();
  }
  return bodies;
}

/** Answers /healthz with healthz() (undefined: never) and anything else with 200 and its name. */
function upstream(name: string, healthz: () => number | undefined = () => 200): UpstreamHandler {
  return (req, res) => {
    if (req.path !== "/healthz") return res.respond(200, name);
    const status = healthz();
    if (status !== undefined) res.respond(status, "");
  };
}

const HEALTH_CHECKS = [{ timeout: "1s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, no_traffic_interval: "1s", http_health_check: { path: "/healthz" } }];

describe("health_status DRAINING", () => {
  test("a draining endpoint is unhealthy and excluded: it gets no requests and does not push its level into panic", async () => {
    runtime = new MemoryRuntime({ seed: 3 });
    const ports = [8081, 8082, 8083];
    for (const [i, port] of ports.entries()) upstreams.push(await MemoryHttpServer.listen(runtime, port, upstream(`u${i}`)));
    const bootstrap = config(ports);
    const endpoints = bootstrap.static_resources.clusters[0]!.load_assignment.endpoints[0]!.lb_endpoints;
    endpoints[1]!.health_status = "DRAINING";
    endpoints[2]!.health_status = "DRAINING";
    await start(bootstrap);
    // 1 healthy of 3 would be 33 %, under the 50 % panic threshold; of the 1 not excluded, 100 %.
    expect(new Set(await gets(20))).toEqual(new Set(["200 u0"]));
    expect(stat("lb_healthy_panic")).toBe(0);
    expect(stat("membership_excluded")).toBe(2);
    expect(stat("membership_healthy")).toBe(1);
    expect(stat("membership_total")).toBe(3);
    expect(clustersAsText([cluster()])).toContain("backend::127.0.0.1:8082::health_flags::/eds_status_draining\n");
    const json = JSON.parse(clustersAsJson([cluster()])) as { cluster_statuses: { host_statuses: { health_status: Record<string, unknown> }[] }[] };
    expect(json.cluster_statuses[0]!.host_statuses[1]!.health_status).toEqual({ eds_health_status: "DRAINING" });
  });

  test("a level of only draining hosts is in panic, as in Envoy: it balances over all its hosts, the draining one too", async () => {
    runtime = new MemoryRuntime({ seed: 3 });
    upstreams.push(await MemoryHttpServer.listen(runtime, 8081, upstream("u0")));
    const bootstrap = config([8081]);
    bootstrap.static_resources.clusters[0]!.load_assignment.endpoints[0]!.lb_endpoints[0]!.health_status = "DRAINING";
    await start(bootstrap);
    expect(await gets(1)).toEqual(["200 u0"]);
    expect(stat("lb_healthy_panic")).toBe(1);
  });
});

function dnsConfig(clusterExtra: Record<string, unknown>): object {
  const bootstrap = config([PORT], { type: "STRICT_DNS", dns_lookup_family: "V4_ONLY", dns_refresh_rate: "10s", ...clusterExtra });
  (bootstrap.static_resources.clusters[0]!.load_assignment.endpoints[0]!.lb_endpoints[0] as { endpoint: { address: { socket_address: { address: string } } } }).endpoint.address.socket_address.address = NAME;
  return bootstrap;
}

async function upstreamAt(address: string, healthz?: () => number | undefined): Promise<void> {
  upstreams.push(await MemoryHttpServer.listen(runtime, PORT, upstream(address, healthz), address));
}

describe("hosts DNS drops while health checking passes them", () => {
  test("stay, flagged /pending_dynamic_removal and still balanced to, until a check fails them; then the next answer removes them", async () => {
    runtime = new MemoryRuntime({ seed: 5 });
    let bHealth = 200;
    await upstreamAt("10.0.0.1");
    await upstreamAt("10.0.0.2", () => bHealth);
    runtime.setDnsAnswer(NAME, ["10.0.0.1", "10.0.0.2"]);
    await start(dnsConfig({ health_checks: HEALTH_CHECKS }));
    await runtime.settle(10);
    expect(cluster().hosts.map((h) => h.healthFlagsText())).toEqual(["healthy", "healthy"]);

    runtime.setDnsAnswer(NAME, ["10.0.0.1"]);
    await runtime.settle(10_000);
    expect(cluster().hosts.map((h) => `${h.address} ${h.healthFlagsText()}`)).toEqual(["10.0.0.1 healthy", "10.0.0.2 /pending_dynamic_removal"]);
    expect(clustersAsText([cluster()])).toContain("backend::10.0.0.2:8080::health_flags::/pending_dynamic_removal\n");
    expect(new Set(await gets(10))).toEqual(new Set(["200 10.0.0.1", "200 10.0.0.2"]));
    expect(stat("membership_total")).toBe(2);

    // Failed by its check, it is still a member until the next answer.
    bHealth = 503;
    await runtime.settle(1000);
    expect(cluster().hosts.map((h) => `${h.address} ${h.healthFlagsText()}`)).toEqual(["10.0.0.1 healthy", "10.0.0.2 /failed_active_hc/pending_dynamic_removal"]);
    await runtime.settle(9000);
    expect(cluster().hosts.map((h) => h.address)).toEqual(["10.0.0.1"]);
    expect(stat("membership_total")).toBe(1);
  });

  test("a host that comes back in an answer while kept is an ordinary member again", async () => {
    runtime = new MemoryRuntime({ seed: 5 });
    await upstreamAt("10.0.0.1");
    await upstreamAt("10.0.0.2");
    runtime.setDnsAnswer(NAME, ["10.0.0.1", "10.0.0.2"]);
    await start(dnsConfig({ health_checks: HEALTH_CHECKS }));
    await runtime.settle(10);
    const kept = cluster().hosts[1]!;
    runtime.setDnsAnswer(NAME, ["10.0.0.1"]);
    await runtime.settle(10_000);
    expect(kept.healthFlagsText()).toBe("/pending_dynamic_removal");
    runtime.setDnsAnswer(NAME, ["10.0.0.1", "10.0.0.2"]);
    await runtime.settle(10_000);
    expect(cluster().hosts[1]).toBe(kept);
    expect(kept.healthFlagsText()).toBe("healthy");
  });

  test("ignore_health_on_host_removal: removed at once", async () => {
    runtime = new MemoryRuntime({ seed: 5 });
    await upstreamAt("10.0.0.1");
    await upstreamAt("10.0.0.2");
    runtime.setDnsAnswer(NAME, ["10.0.0.1", "10.0.0.2"]);
    await start(dnsConfig({ health_checks: HEALTH_CHECKS, ignore_health_on_host_removal: true }));
    await runtime.settle(10);
    runtime.setDnsAnswer(NAME, ["10.0.0.1"]);
    await runtime.settle(10_000);
    expect(cluster().hosts.map((h) => h.address)).toEqual(["10.0.0.1"]);
    expect(new Set(await gets(5))).toEqual(new Set(["200 10.0.0.1"]));
  });

  test("without health checks a dropped host goes at once", async () => {
    runtime = new MemoryRuntime({ seed: 5 });
    await upstreamAt("10.0.0.1");
    await upstreamAt("10.0.0.2");
    runtime.setDnsAnswer(NAME, ["10.0.0.1", "10.0.0.2"]);
    await start(dnsConfig({}));
    await runtime.settle(10);
    runtime.setDnsAnswer(NAME, ["10.0.0.1"]);
    await runtime.settle(10_000);
    expect(cluster().hosts.map((h) => h.address)).toEqual(["10.0.0.1"]);
  });
});

describe("common_lb_config.ignore_new_hosts_until_first_hc", () => {
  /** One healthy host, then DNS adds two whose health checks never answer. */
  async function addUncheckedHosts(clusterExtra: Record<string, unknown>): Promise<void> {
    runtime = new MemoryRuntime({ seed: 9 });
    await upstreamAt("10.0.0.1");
    await upstreamAt("10.0.0.2", () => undefined);
    await upstreamAt("10.0.0.3", () => undefined);
    runtime.setDnsAnswer(NAME, ["10.0.0.1"]);
    await start(dnsConfig({ health_checks: [{ ...HEALTH_CHECKS[0], timeout: "5s" }], ...clusterExtra }));
    await runtime.settle(10);
    runtime.setDnsAnswer(NAME, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    await runtime.settle(10_000);
  }

  test("a host DNS adds is excluded (/pending_active_hc) until its first check: no panic meanwhile", async () => {
    await addUncheckedHosts({ common_lb_config: { ignore_new_hosts_until_first_hc: true } });
    expect(cluster().hosts.map((h) => h.healthFlagsText())).toEqual(["healthy", "/failed_active_hc/pending_active_hc", "/failed_active_hc/pending_active_hc"]);
    expect(stat("membership_excluded")).toBe(2);
    expect(new Set(await gets(10))).toEqual(new Set(["200 10.0.0.1"]));
    expect(stat("lb_healthy_panic")).toBe(0);
    // The first check (a timeout) ends the exclusion: 1 healthy of 3 is panic.
    await runtime.settle(5000);
    expect(cluster().hosts.map((h) => h.healthFlagsText())).toEqual(["healthy", "/failed_active_hc/active_hc_timeout", "/failed_active_hc/active_hc_timeout"]);
    expect(stat("membership_excluded")).toBe(0);
  });

  test("without it, the unchecked hosts count as unhealthy members at once (panic: all hosts get requests)", async () => {
    await addUncheckedHosts({});
    expect(cluster().hosts.map((h) => h.healthFlagsText())).toEqual(["healthy", "/failed_active_hc", "/failed_active_hc"]);
    await gets(6);
    expect(stat("lb_healthy_panic")).toBeGreaterThan(0);
  });
});
