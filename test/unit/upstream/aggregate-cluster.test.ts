/**
 * The aggregate cluster (core/upstream/aggregate-cluster.ts, Envoy's
 * source/extensions/clusters/aggregate/cluster.cc) on the memory runtime: its clusters'
 * priority levels linearized in list order, the load going to the first levels with
 * healthy hosts, names with no cluster skipped until CDS adds them, an aggregate among
 * them adding nothing, the host's own cluster serving its pools, and a retry's
 * previous_priorities mapping attempted hosts to the linearized levels.
 */
import { describe, expect, test } from "vitest";
import type { ClusterConfig } from "../../../core/config/bootstrap.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { Timers } from "../../../core/event/timers.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { ClusterManager } from "../../../core/upstream/cluster-manager.ts";
import { HealthFlag, type Host } from "../../../core/upstream/host.ts";
import type { LoadBalancer, LoadBalancerContext } from "../../../core/upstream/load-balancer.ts";
import { PreviousPrioritiesRetryPriority } from "../../../core/upstream/previous-priorities-retry-priority.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

const runtime = new MemoryRuntime({ seed: 1 });
const DISPATCHER = { runtime, timers: new Timers(runtime) };

/** A STATIC cluster with one locality per priority, each with these ports. */
function staticCluster(name: string, ...priorities: number[][]): Record<string, unknown> {
  return {
    name,
    connect_timeout: "1s",
    load_assignment: {
      cluster_name: name,
      endpoints: priorities.map((ports, priority) => ({ priority, lb_endpoints: ports.map((port) => ({ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } })) })),
    },
  };
}

function aggregate(name: string, clusters: string[]): Record<string, unknown> {
  return {
    name,
    connect_timeout: "1s",
    lb_policy: "CLUSTER_PROVIDED",
    cluster_type: { name: "envoy.clusters.aggregate", typed_config: { "@type": "type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig", clusters } },
  };
}

/** The clusters as the config loader makes them (with cds_config, so a name may wait for CDS). */
function configs(...clusters: Record<string, unknown>[]): ClusterConfig[] {
  const cds = { cds_config: { path_config_source: { path: "/cds.yaml" } } };
  return loadBootstrap(JSON.stringify({ dynamic_resources: cds, static_resources: { clusters } }), "json").clusters;
}

const picks = (lb: LoadBalancer, n: number, context?: LoadBalancerContext): string[] => Array.from({ length: n }, () => String(lb.chooseHost(context)?.port));

function count(list: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of list) counts[item] = (counts[item] ?? 0) + 1;
  return counts;
}

function fail(manager: ClusterManager, cluster: string, ...ports: number[]): void {
  const c = manager.get(cluster)!;
  for (const host of c.hosts) if (ports.includes(host.port)) host.healthFlagSet(HealthFlag.FailedActiveHc);
  c.prioritySet.refreshHealth();
}

function recover(manager: ClusterManager, cluster: string): void {
  const c = manager.get(cluster)!;
  for (const host of c.hosts) host.healthFlagClear(HealthFlag.FailedActiveHc);
  c.prioritySet.refreshHealth();
}

describe("aggregate cluster", () => {
  test("the clusters' non-empty levels are linearized in list order; all the load goes to the first healthy one", () => {
    const manager = new ClusterManager(configs(aggregate("agg", ["a", "b"]), staticCluster("a", [1], [], [2]), staticCluster("b", [3, 4])), new StatsStore(), DISPATCHER);
    const agg = manager.get("agg")!;
    // a's empty priority 1 adds no level (Envoy's linearizePrioritySet skips empty host sets).
    expect(agg.aggregate!.priorities).toEqual([
      { cluster: "a", priority: 0 },
      { cluster: "a", priority: 2 },
      { cluster: "b", priority: 0 },
    ]);
    expect(count(picks(agg.loadBalancer, 20))).toEqual({ "1": 20 });
  });

  test("the load moves down the levels as hosts fail, by overprovisioned availability, and back as they recover", () => {
    const manager = new ClusterManager(configs(aggregate("agg", ["a", "b"]), staticCluster("a", [1, 2]), staticCluster("b", [3])), new StatsStore(), DISPATCHER);
    const lb = manager.get("agg")!.loadBalancer;
    // Half of a's hosts healthy: 50 % × 1.4 = 70 % of the load stays on a, 30 % goes to b.
    fail(manager, "a", 1);
    const split = count(picks(lb, 2000));
    expect(split["1"]).toBeUndefined();
    expect(split["2"]! / 2000).toBeGreaterThan(0.65);
    expect(split["2"]! / 2000).toBeLessThan(0.75);
    expect(split["3"]! / 2000).toBeGreaterThan(0.25);
    fail(manager, "a", 2);
    expect(count(picks(lb, 20))).toEqual({ "3": 20 });
    recover(manager, "a");
    expect(count(picks(lb, 20))).toEqual({ "1": 10, "2": 10 });
  });

  test("the chosen cluster's own balancer picks the host, with its own policy", () => {
    const manager = new ClusterManager(configs(aggregate("agg", ["a"]), { ...staticCluster("a", [1, 2, 3]), lb_policy: "ROUND_ROBIN" }), new StatsStore(), DISPATCHER);
    expect(picks(manager.get("agg")!.loadBalancer, 6)).toEqual(picks(manager.get("a")!.loadBalancer, 6));
  });

  test("a name with no cluster adds no level until CDS adds it; a removed cluster's levels go", async () => {
    const manager = new ClusterManager(configs(aggregate("agg", ["a", "b"]), staticCluster("b", [3])), new StatsStore(), DISPATCHER);
    const agg = manager.get("agg")!;
    expect(agg.aggregate!.priorities.map((p) => p.cluster)).toEqual(["b"]);
    expect(count(picks(agg.loadBalancer, 5))).toEqual({ "3": 5 });
    await manager.addOrUpdateCluster(configs(staticCluster("a", [1]))[0]!, { addedViaApi: true });
    expect(agg.aggregate!.priorities.map((p) => p.cluster)).toEqual(["a", "b"]);
    expect(count(picks(agg.loadBalancer, 5))).toEqual({ "1": 5 });
    // Replaced: the new cluster's hosts.
    await manager.addOrUpdateCluster(configs(staticCluster("a", [5]))[0]!, { addedViaApi: true });
    expect(count(picks(agg.loadBalancer, 5))).toEqual({ "5": 5 });
    expect(manager.removeCluster("a", { viaApi: true })).toBe(true);
    expect(agg.aggregate!.priorities.map((p) => p.cluster)).toEqual(["b"]);
    expect(count(picks(agg.loadBalancer, 5))).toEqual({ "3": 5 });
    expect(manager.removeCluster("b")).toBe(true);
    expect(agg.loadBalancer.chooseHost(undefined)).toBeUndefined();
  });

  test("an aggregate named by an aggregate adds no hosts (as in Envoy, whose aggregate has an empty priority set)", () => {
    // A static config naming one is refused (config test); CDS can still deliver one.
    const clusters = [...configs(aggregate("outer", ["inner", "b"]), staticCluster("b", [3])), ...configs(aggregate("inner", ["a"]), staticCluster("a", [1]))];
    const manager = new ClusterManager(clusters, new StatsStore(), DISPATCHER);
    expect(manager.get("outer")!.aggregate!.priorities.map((p) => p.cluster)).toEqual(["b"]);
    expect(count(picks(manager.get("outer")!.loadBalancer, 5))).toEqual({ "3": 5 });
  });

  test("the chosen host's pools are its own cluster's (its protocol, circuit breakers, connection stats)", () => {
    const manager = new ClusterManager(configs(aggregate("agg", ["a"]), staticCluster("a", [1])), new StatsStore(), DISPATCHER);
    const agg = manager.get("agg")!;
    const host = agg.loadBalancer.chooseHost(undefined)!;
    const pool = manager.httpConnPool(agg, host) as unknown as { cluster: { name: string } };
    expect(pool.cluster.name).toBe("a");
    expect(manager.httpConnPool(manager.get("a")!, host)).toBe(pool);
  });

  test("previous_priorities excludes the attempted hosts' linearized levels, not their own priorities", () => {
    const manager = new ClusterManager(configs(aggregate("agg", ["a", "b"]), staticCluster("a", [1], [2]), staticCluster("b", [3])), new StatsStore(), DISPATCHER);
    const lb = manager.get("agg")!.loadBalancer;
    const retryPriority = new PreviousPrioritiesRetryPriority(1);
    const context: LoadBalancerContext = { determinePriorityLoad: (set, original, priorityOf) => retryPriority.determinePriorityLoad(set, original, priorityOf) };
    const b3 = manager.get("b")!.hosts[0]!;
    // b's host is at priority 0 of b, level 2 of the aggregate: level 0 keeps the load.
    retryPriority.onHostAttempted(b3);
    expect(count(picks(lb, 10, context))).toEqual({ "1": 10 });
    const a1: Host = manager.get("a")!.hosts[0]!;
    retryPriority.onHostAttempted(a1);
    expect(count(picks(lb, 10, context))).toEqual({ "2": 10 });
  });
});
