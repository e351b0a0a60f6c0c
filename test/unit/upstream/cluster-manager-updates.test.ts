/**
 * The cluster manager's run-time updates (core/upstream/cluster-manager.ts) on the memory
 * runtime, through a started server: clusters warming side by side, a newer update
 * replacing one still warming (Envoy's warming_clusters_), static clusters locked against CDS (Envoy's blockUpdate),
 * a removal while a cluster warms, EDS weight and health changes applied in place, and a
 * retry after its cluster was replaced going to the new cluster (Envoy's doRetry).
 */
import { afterEach, describe, expect, test } from "vitest";
import type { ClusterConfig } from "../../../core/config/bootstrap.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import type { Server } from "../../../core/server.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer, type UpstreamHandler } from "../../memory/support/http-peers.ts";
import { startProxy } from "../../memory/support/proxy.ts";

const PROXY = 10000;
const A = 8080;
const B = 8081;

let runtime: MemoryRuntime;
let upstreams: MemoryHttpServer[] = [];

afterEach(() => {
  for (const upstream of upstreams) upstream.close();
  upstreams = [];
});

/** One cluster as the config loader makes it from Envoy's YAML-as-JSON. */
function clusterConfig(doc: Record<string, unknown>): ClusterConfig {
  const bootstrap = loadBootstrap(JSON.stringify({ static_resources: { clusters: [{ connect_timeout: "1s", ...doc }] } }), "json");
  return bootstrap.clusters[0]!;
}

const staticCluster = (name: string, port: number, extra: Record<string, unknown> = {}) =>
  clusterConfig({
    name,
    type: "STATIC",
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
    ...extra,
  });

const healthChecked = { health_checks: [{ timeout: "1s", interval: "1s", no_traffic_interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: "/healthz" } }] };

async function setup(handlers: Record<number, UpstreamHandler>, config?: object, files?: Record<string, string>): Promise<Server> {
  runtime = new MemoryRuntime({ seed: 1, ...(files ? { files } : {}) });
  for (const [port, handler] of Object.entries(handlers)) upstreams.push(await MemoryHttpServer.listen(runtime, Number(port), handler));
  return startProxy(runtime, config ?? httpProxyConfig({ listenPort: PROXY, clusters: { a: [A] }, routes: [{ match: { prefix: "/" }, cluster: "a" }] }));
}

/** Run the memory runtime's timers (virtual `ms` in steps) while promises settle, until `work` is done. */
async function drive<T>(work: Promise<T>, ms = 5000): Promise<T> {
  let done = false;
  const result = work.finally(() => (done = true));
  for (let t = 0; t < ms && !done; t += 10) {
    runtime.advance(10);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return result;
}

/** Let `ms` of virtual time pass, in steps, with promises settling between them. */
async function elapse(ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    runtime.advance(10);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

function get(path: string): MemoryHttpClient {
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request("GET", path);
  return client;
}

const stat = (server: Server, name: string) => (server.stats.get(name) as { value: number } | undefined)?.value ?? 0;

describe("ClusterManager updates", () => {
  test("a newer update of a cluster still warming replaces the warming one (it never serves; its health checks stop)", async () => {
    let checks = 0;
    const server = await setup({
      [A]: (req, res) => {
        if (req.path === "/healthz") checks++;
        res.respond(200, "a");
      },
    });
    const manager = server.clusterManager;
    const first = manager.addOrUpdateCluster(staticCluster("a", A, { ...healthChecked, per_connection_buffer_limit_bytes: 1000 }));
    const second = manager.addOrUpdateCluster(staticCluster("a", A, { ...healthChecked, per_connection_buffer_limit_bytes: 2000 }));
    expect(await drive(Promise.all([first, second]))).toEqual([false, true]);
    expect(manager.get("a")!.config.perConnectionBufferLimitBytes).toBe(2000);
    expect(stat(server, "cluster_manager.cluster_modified")).toBe(2);
    checks = 0;
    await elapse(10_000);
    // One health checker (the last cluster's) at 1 s: about 10 checks, not 20.
    expect(checks).toBeGreaterThanOrEqual(9);
    expect(checks).toBeLessThanOrEqual(11);
  });

  test("CDS cannot update or remove a static cluster (Envoy's blockUpdate: skipped); it can its own", async () => {
    const server = await setup({ [A]: (_req, res) => res.respond(200, "a"), [B]: (_req, res) => res.respond(200, "b") });
    const manager = server.clusterManager;
    const before = manager.get("a");
    expect(await drive(manager.addOrUpdateCluster(staticCluster("a", B), { addedViaApi: true }))).toBe(false);
    expect(manager.get("a")).toBe(before);
    expect(manager.removeCluster("a", { viaApi: true })).toBe(false);
    expect(manager.get("a")).toBe(before);
    expect(await drive(manager.addOrUpdateCluster(staticCluster("c", B), { addedViaApi: true }))).toBe(true);
    expect(await drive(manager.addOrUpdateCluster(staticCluster("c", A), { addedViaApi: true }))).toBe(true);
    expect(manager.removeCluster("c", { viaApi: true })).toBe(true);
    expect(manager.get("c")).toBeUndefined();
    // A reload (static) may still replace a static cluster.
    expect(await drive(manager.addOrUpdateCluster(staticCluster("a", B)))).toBe(true);
    expect(manager.get("a")).not.toBe(before);
  });

  test("clusters warm side by side: one that never warms holds back only itself, and a newer update replaces it", async () => {
    const server = await setup({ [A]: (_req, res) => res.respond(200, "a"), [B]: (_req, res) => res.respond(200, "b") });
    const manager = server.clusterManager;
    // EDS from a server that does not exist, waiting forever (initial_fetch_timeout 0s): it never warms.
    const edsForever = () =>
      clusterConfig({
        name: "c",
        type: "EDS",
        eds_cluster_config: { eds_config: { api_config_source: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "nowhere" } }] }, initial_fetch_timeout: "0s", resource_api_version: "V3" } },
      });
    const stuck = manager.updateCluster(edsForever(), { addedViaApi: true });
    expect(stuck.changed).toBe(true);
    let stuckSettled: boolean | undefined;
    void stuck.warmed.then((v) => (stuckSettled = v));
    await elapse(2000);
    expect(stuckSettled).toBeUndefined();
    expect(stat(server, "cluster_manager.warming_clusters")).toBe(1);
    // Another cluster warms and serves meanwhile.
    expect(await drive(manager.addOrUpdateCluster(staticCluster("d", B, healthChecked), { addedViaApi: true }))).toBe(true);
    expect(manager.get("d")).toBeDefined();
    expect(manager.get("c")).toBeUndefined();
    // The same config again is no change; a new one for "c" replaces the warming one.
    expect(manager.updateCluster(edsForever(), { addedViaApi: true }).changed).toBe(false);
    expect(await drive(manager.addOrUpdateCluster(staticCluster("c", A), { addedViaApi: true }))).toBe(true);
    expect(stuckSettled).toBe(false);
    expect(manager.get("c")!.config.type).toBe("STATIC");
    expect(stat(server, "cluster_manager.warming_clusters")).toBe(0);
    expect(stat(server, "cluster_manager.cluster_added")).toBe(3);
    expect(stat(server, "cluster_manager.cluster_modified")).toBe(1);
  });

  test("a cluster removed while it warms is never added", async () => {
    const server = await setup({ [A]: (_req, res) => res.respond(200, "a"), [B]: (_req, res) => res.respond(200, "b") });
    const manager = server.clusterManager;
    const adding = manager.addOrUpdateCluster(staticCluster("c", B, healthChecked));
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(manager.removeCluster("c")).toBe(true);
    expect(await drive(adding)).toBe(false);
    expect(manager.get("c")).toBeUndefined();
    expect(stat(server, "cluster_manager.warming_clusters")).toBe(0);
  });

  test("a retry after its cluster was replaced goes to the new cluster (no pool opens on the old host)", async () => {
    let server!: Server;
    let replaced: Promise<boolean> | undefined;
    server = await setup(
      {
        [A]: (_req, res) => {
          // The first attempt fails; meanwhile the cluster is replaced by one on B.
          replaced ??= server.clusterManager.addOrUpdateCluster(staticCluster("a", B));
          res.respond(503, "a");
        },
        [B]: (_req, res) => res.respond(200, "b"),
      },
      httpProxyConfig({ listenPort: PROXY, clusters: { a: [A] }, routes: [{ match: { prefix: "/" }, action: { route: { cluster: "a", retry_policy: { retry_on: "5xx", num_retries: 1 } } } }] }),
    );
    const client = get("/");
    await elapse(1000);
    expect(await replaced).toBe(true);
    expect(client.responses.map((r) => r.text())).toEqual(["b"]);
    expect(upstreams[0]!.accepted).toBe(1);
  });
});

describe("EDS updates", () => {
  const CLA = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
  const eds = (version: string, weight: number, health = "HEALTHY") =>
    JSON.stringify({
      version_info: version,
      resources: [
        {
          "@type": CLA,
          cluster_name: "svc",
          endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: A } } }, load_balancing_weight: weight, health_status: health }] }],
        },
      ],
    });

  test("a new weight or health status changes the host in place: same Host, its pool and connection kept", async () => {
    const config = httpProxyConfig({ listenPort: PROXY, clusters: {}, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }) as { static_resources: { clusters: object[] } };
    config.static_resources.clusters.push({ name: "backend", type: "EDS", connect_timeout: "1s", eds_cluster_config: { service_name: "svc", eds_config: { path_config_source: { path: "/xds/eds.json" }, resource_api_version: "V3" } } });
    const server = await setup({ [A]: (_req, res) => res.respond(200, "a") }, config, { "/xds/eds.json": eds("1", 1) });
    const cluster = server.clusterManager.get("backend")!;
    const host = cluster.hosts[0]!;
    const client = get("/");
    runtime.runDue();
    expect(client.responses.map((r) => r.text())).toEqual(["a"]);
    runtime.files.set("/xds/eds.json", eds("2", 7));
    await elapse(1500);
    expect(cluster.hosts[0]).toBe(host);
    expect(host.weight).toBe(7);
    runtime.files.set("/xds/eds.json", eds("3", 7, "DEGRADED"));
    await elapse(1500);
    expect(cluster.hosts[0]).toBe(host);
    expect(host.healthFlagsText()).toBe("/degraded_eds_health");
    expect((server.stats.get("cluster.backend.update_success") as { value: number }).value).toBe(3);
    // The kept-alive upstream connection is the same: the pool was not drained.
    client.request("GET", "/");
    runtime.runDue();
    expect(client.responses.map((r) => r.text())).toEqual(["a", "a"]);
    expect(upstreams[0]!.accepted).toBe(1);
  });
});

describe("google_grpc internal clusters", () => {
  test("one removed by a sweep while its code loads is built again for the call waiting on it", async () => {
    const server = await setup({ [A]: () => ({ status: 200 }) });
    const manager = server.clusterManager;
    const config = staticCluster("google_grpc:127.0.0.1:8080", A);
    const ready = manager.internalCluster(config);
    expect(ready).toBeInstanceOf(Promise);
    // A sweep before the code loaded (no config names it at that moment).
    expect(manager.removeInternalClustersExcept(new Set())).toEqual([config.name]);
    await drive(ready!);
    expect(manager.getInternal(config.name)).toBeDefined();
    expect(manager.hasInternalClusters).toBe(true);
    await server.shutdown();
  });
});
