import { StatsStore } from "../../../core/stats/stats-store.ts";
import { describe, expect, test } from "vitest";
import type { ClusterConfig } from "../../../core/config/bootstrap.ts";
import { ClusterManager } from "../../../core/upstream/cluster-manager.ts";
import type { LoadBalancer } from "../../../core/upstream/load-balancer.ts";
import { Timers } from "../../../core/event/timers.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { loadBootstrap } from "../../../core/config/load.ts";

/** The event loop the pools would run on (none is made in these tests). */
const runtime = new MemoryRuntime({ seed: 1 });
const DISPATCHER = { runtime, timers: new Timers(runtime) };

/** The next `n` picks, as address:port strings. */
const picks = (lb: LoadBalancer, n: number): (string | undefined)[] =>
  Array.from({ length: n }, () => lb.chooseHost(undefined)?.toString());

function cluster(name: string, ports: number[]): ClusterConfig {
  return {
    name,
    type: "STATIC",
    connectTimeoutMs: 5000,
    lbPolicy: "ROUND_ROBIN",
    perConnectionBufferLimitBytes: 1 << 20,
    endpoints: [{ priority: 0, lbEndpoints: ports.map((port) => ({ address: { address: "127.0.0.1", port }, loadBalancingWeight: 1 })) }],
    circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
  };
}

describe("ClusterManager", () => {
  test("looks clusters up by name; unknown names give undefined", () => {
    const manager = new ClusterManager([cluster("a", [1]), cluster("b", [2, 3])], new StatsStore(), DISPATCHER);
    expect(manager.get("a")?.name).toBe("a");
    expect(manager.get("b")?.hosts.map(String)).toEqual(["127.0.0.1:2", "127.0.0.1:3"]);
    expect(manager.get("c")).toBeUndefined();
  });

  test("each cluster balances round robin over its endpoints, independently of the others", () => {
    const manager = new ClusterManager([cluster("a", [1, 2, 3]), cluster("b", [7, 8])], new StatsStore(), DISPATCHER);
    const a = manager.get("a")!.loadBalancer;
    const b = manager.get("b")!.loadBalancer;
    // Envoy's round robin starts at a random host, then goes in order.
    const firstA = picks(a, 2);
    const startA = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"].indexOf(firstA[0]!);
    const inOrderA = (i: number) => `127.0.0.1:${((startA + i) % 3) + 1}`;
    expect(firstA).toEqual([inOrderA(0), inOrderA(1)]);
    const firstB = picks(b, 3);
    expect(firstB[2]).toBe(firstB[0]);
    expect(new Set(firstB)).toEqual(new Set(["127.0.0.1:7", "127.0.0.1:8"]));
    expect(picks(a, 3)).toEqual([inOrderA(2), inOrderA(3), inOrderA(4)]);
  });

  test("a cluster with no endpoints yields no host", () => {
    const manager = new ClusterManager([cluster("empty", [])], new StatsStore(), DISPATCHER);
    expect(manager.get("empty")!.loadBalancer.chooseHost(undefined)).toBeUndefined();
  });

  test("the same cluster object is returned on every lookup, so the rotation is shared", () => {
    const manager = new ClusterManager([cluster("a", [1, 2])], new StatsStore(), DISPATCHER);
    expect(manager.get("a")).toBe(manager.get("a"));
    const [first] = picks(manager.get("a")!.loadBalancer, 1);
    expect(picks(manager.get("a")!.loadBalancer, 1)).toEqual([first === "127.0.0.1:1" ? "127.0.0.1:2" : "127.0.0.1:1"]);
  });
});

describe("ClusterManager: a CDS cluster taken while start-up's initialize runs", () => {
  const strictDns = (name: string, host: string, extra: Record<string, unknown> = {}): ClusterConfig =>
    loadBootstrap(
      JSON.stringify({
        static_resources: {
          clusters: [{ name, type: "STRICT_DNS", connect_timeout: "1s", load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: host, port_value: 80 } } } }] }] }, ...extra }],
        },
      }),
      "json",
    ).clusters[0]!;

  /** Run virtual time in steps while promises settle. */
  async function elapse(rt: MemoryRuntime, ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 10) {
      rt.advance(10);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  // A CDS file watched from before initialize() can change while the static clusters are
  // still being initialized (here: a STRICT_DNS one whose code and event log are awaited):
  // the new cluster warms on its own (Envoy's ClusterManagerImpl::addOrUpdateCluster after
  // init), and initialize() must not start its discovery a second time.
  test.each([
    ["as initialize() starts", 0],
    ["while the static clusters warm (their first DNS answer)", 1],
  ])("its discovery starts once (%s): one DNS query, one refresh timer", async (_when, waitMs) => {
    const rt = new MemoryRuntime({ seed: 1, dnsDelayMs: 50 });
    rt.setDnsAnswer("static.example", ["127.0.0.1"]);
    rt.setDnsAnswer("cds.example", ["127.0.0.2"]);
    const manager = new ClusterManager([strictDns("static", "static.example")], new StatsStore(), { runtime: rt, timers: new Timers(rt) });
    const initialized = manager.initialize();
    if (waitMs > 0) await elapse(rt, waitMs);
    const update = manager.updateCluster(strictDns("cds", "cds.example", { dns_refresh_rate: "1s" }), { addedViaApi: true });
    expect(update.changed).toBe(true);
    await elapse(rt, 200);
    await initialized;
    await expect(update.warmed).resolves.toBe(true);
    expect(rt.dnsQueries.get("cds.example")).toBe(1);
    // One refresh chain (a second start would run two, and stop() could end only one).
    await elapse(rt, 1000);
    expect(rt.dnsQueries.get("cds.example")).toBe(2);
    manager.shutdown();
    await elapse(rt, 3000);
    expect(rt.dnsQueries.get("cds.example")).toBe(2);
  });
  test("one warmed before start-up's clusters started has one health checker: none checks after shutdown", async () => {
    const rt = new MemoryRuntime({ seed: 1 });
    const stats = new StatsStore();
    const check = (extra: Record<string, unknown> = {}) => ({
      health_checks: [{ timeout: "1s", interval: "1s", no_traffic_interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {}, ...extra }],
    });
    const staticConfig = loadBootstrap(
      JSON.stringify({
        static_resources: {
          clusters: [{ name: "static", type: "STATIC", connect_timeout: "1s", load_assignment: { cluster_name: "static", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 81 } } } }] }] }, ...check({ event_log_path: "/var/log/hc" }) }],
        },
      }),
      "json",
    ).clusters[0]!;
    const manager = new ClusterManager([staticConfig], stats, { runtime: rt, timers: new Timers(rt) });
    // The static cluster's event log opens slowly: the CDS cluster warms and serves meanwhile.
    let openLog!: () => void;
    const opened = new Promise<void>((resolve) => (openLog = resolve));
    const initialized = manager.initialize(async () => {
      await opened;
      return { append: () => {} };
    });
    const update = manager.updateCluster(strictDns("cds", "cds.example", { type: "STATIC", load_assignment: { cluster_name: "cds", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.2", port_value: 82 } } } }] }] }, ...check() }), { addedViaApi: true });
    await elapse(rt, 100);
    await expect(update.warmed).resolves.toBe(true);
    openLog();
    await elapse(rt, 100);
    await initialized;
    manager.shutdown();
    const attempts = (stats.get("cluster.cds.health_check.attempt") as { value: number }).value;
    await elapse(rt, 5000);
    expect((stats.get("cluster.cds.health_check.attempt") as { value: number }).value).toBe(attempts);
  });
});

describe("ClusterManager: a cluster start-up waits on, stopped before its first health checks end", () => {
  async function elapse(rt: MemoryRuntime, ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 10) {
      rt.advance(10);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  /** `promise`, or a rejection with `message` once `ms` of real time passed. */
  async function withinRealTime<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)));
    try {
      return await Promise.race([promise, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Cluster "c": one host whose connections never complete, a 30-s health check; `extra` fields added. */
  const checkedCluster = (extra: Record<string, unknown> = {}): ClusterConfig =>
    loadBootstrap(
      JSON.stringify({
        static_resources: {
          clusters: [
            {
              name: "c",
              type: "STATIC",
              connect_timeout: "1s",
              load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 81 } } } }] }] },
              health_checks: [{ timeout: "30s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {} }],
              ...extra,
            },
          ],
        },
      }),
      "json",
    ).clusters[0]!;

  // initialize() waits for each cluster's first round of health checks (Envoy's cluster
  // warming); a cluster removed (or replaced) by CDS while that round is in flight is waited
  // on no more, or the listeners would never bind.
  test("removed by CDS while its first check is in flight: initialize() still resolves", async () => {
    const rt = new MemoryRuntime({ seed: 1, faults: { connect: "blackhole" } });
    const manager = new ClusterManager([], new StatsStore(), { runtime: rt, timers: new Timers(rt) });
    // A CDS file read before initialize().
    manager.updateCluster(checkedCluster(), { addedViaApi: true });
    let done = false;
    const initialized = manager.initialize().then(() => (done = true));
    await elapse(rt, 100);
    expect(done).toBe(false);
    expect(manager.removeCluster("c", { viaApi: true })).toBe(true);
    await elapse(rt, 1000);
    expect(done).toBe(true);
    await initialized;
    manager.shutdown();
  });

  test("a TLS cluster removed while its TLS context is made: its checks never start, initialize() resolves", async () => {
    const rt = new MemoryRuntime({ seed: 1, faults: { connect: "blackhole" } });
    const config = checkedCluster({
      transport_socket: { name: "envoy.transport_sockets.tls", typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", sni: "x" } },
    });
    // A TLS capability whose contexts are made at once (the memory runtime has none).
    Object.assign(rt, { tls: { connect: (options: never) => rt.connect(options), clientContext: () => ({}), serverContext: () => ({}) } });
    const stats = new StatsStore();
    const manager = new ClusterManager([], stats, { runtime: rt, timers: new Timers(rt) });
    manager.updateCluster(config, { addedViaApi: true });
    const cluster = manager.get("c")!;
    // The moment the manager starts the cluster, whose TLS context is then being made (its
    // code is a dynamic import: a real load, however busy the machine, not a count of ticks).
    const contextBeingMade = new Promise<void>((resolve) => {
      const initialize = cluster.initialize.bind(cluster);
      cluster.initialize = (...args) => {
        const initializing = initialize(...args);
        resolve();
        return initializing;
      };
    });
    const initialized = manager.initialize();
    await contextBeingMade;
    expect(cluster.healthChecker).toBeUndefined();
    expect(manager.removeCluster("c", { viaApi: true })).toBe(true);
    // The memory clock stands still: a check started anyway would hold initialize() forever
    // (its connection never completes), so this resolving is the proof, within a real deadline.
    await withinRealTime(initialized, 10_000, "initialize() still pending 10 s after the cluster was removed");
    expect(cluster.healthChecker).toBeUndefined();
    expect((stats.get("cluster.c.health_check.attempt") as { value: number } | undefined)?.value ?? 0).toBe(0);
    manager.shutdown();
  });
});

describe("ClusterManager: auto_sni's pools, one per SNI name", () => {
  test("a name's pool left without connections or streams is dropped when another name needs one", () => {
    const manager = new ClusterManager([cluster("a", [1])], new StatsStore(), DISPATCHER);
    const a = manager.get("a")!;
    const host = a.hosts[0]!;
    const first = manager.httpConnPool(a, host, "one.test");
    expect(manager.httpConnPool(a, host, "one.test")).toBe(first);
    // Many names, none with a connection: each earlier pool is gone when the next is made.
    for (let i = 0; i < 512; i++) manager.httpConnPool(a, host, `name${i}.test`);
    expect(manager.httpConnPool(a, host, "one.test")).not.toBe(first);
  });
});
