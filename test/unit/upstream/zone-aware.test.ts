/**
 * Zone aware routing (Envoy's ZoneAwareLoadBalancerBase, load_balancer_impl.cc): with a
 * local cluster, priority 0 picks stay in the node's locality as far as the upstream's
 * share of hosts there covers the local fleet's share, the rest go to localities with
 * capacity to spare.
 */
import { describe, expect, test } from "vitest";
import type { LbPolicyName, LoadBalancingConfig } from "../../../core/config/bootstrap.ts";
import { DEFAULT_LOAD_BALANCING } from "../../../core/config/lb-policy-schema.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { Host, type Locality } from "../../../core/upstream/host.ts";
import { localityKey, PrioritySet } from "../../../core/upstream/host-set.ts";
import { createLoadBalancer } from "../../../core/upstream/load-balancer-factory.ts";
import { RuntimeLoader } from "../../../core/runtime/runtime-loader.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

const zone = (z: string): Locality => ({ region: "r", zone: z, subZone: "" });
const LOCAL = localityKey(zone("z1"));

/** A priority set with `counts[i]` hosts in zone z{i+1}, the node's zone (z1) first. */
function hostsIn(counts: number[], port0: number): { set: PrioritySet; byZone: Host[][] } {
  const byZone = counts.map((n, z) => Array.from({ length: n }, (_, i) => new Host("10.0.0.1", port0 + 100 * z + i, { locality: zone(`z${z + 1}`) })));
  const all = byZone.flat();
  const set = new PrioritySet();
  set.updateHosts(0, all, all, [], { localLocality: LOCAL });
  return { set, byZone };
}

function setup(upstream: number[], local: number[] | undefined, config: Partial<LoadBalancingConfig> = {}, policy: LbPolicyName = "ROUND_ROBIN", layeredRuntime?: RuntimeLoader) {
  const runtime = new MemoryRuntime({ seed: 21 });
  const { set, byZone } = hostsIn(upstream, 1000);
  const localSet = local ? hostsIn(local, 5000).set : undefined;
  const store = new StatsStore();
  const lb = createLoadBalancer({ ...DEFAULT_LOAD_BALANCING, ...config, policy }, set, store.scope("cluster.c."), () => runtime.random(), { localPrioritySet: localSet, ...(layeredRuntime ? { layeredRuntime } : {}) });
  const stat = (name: string) => (store.get(`cluster.c.${name}`) as { value: number } | undefined)?.value ?? 0;
  /** The share of `n` picks per zone. */
  const shares = (n = 6000) => {
    const counts = byZone.map(() => 0);
    for (let i = 0; i < n; i++) {
      const host = lb.chooseHost(undefined)!;
      counts[byZone.findIndex((hosts) => hosts.includes(host))]!++;
    }
    return counts.map((c) => c / n);
  };
  return { lb, stat, shares, set };
}

describe("zone aware routing", () => {
  test("the local zone has at least the fleet's share of upstream hosts: every pick stays local (lb_zone_routing_all_directly)", () => {
    const { stat, shares } = setup([2, 2, 2], [1, 1, 1]);
    expect(shares()).toEqual([1, 0, 0]);
    expect(stat("lb_zone_routing_all_directly")).toBe(6000);
    expect(stat("lb_recalculate_zone_structures")).toBeGreaterThan(0);
  });

  test("too few upstream hosts in the local zone: that share stays (sampled), the rest goes where upstream capacity exceeds the fleet's", () => {
    // Upstream z1 1/6 (1666), z2 3/6 (5000), z3 2/6 (3333); the fleet z1 2/4 (5000), z2 1/4, z3 1/4 (2500).
    // Local: 1666 × 10000 / 5000 = 3332 of 10000; residual capacity z2 2500, z3 833.
    const { stat, shares } = setup([1, 3, 2], [2, 1, 1]);
    const [z1, z2, z3] = shares(20_000);
    expect(z1).toBeCloseTo(0.3332, 1);
    expect(z2).toBeCloseTo(0.6668 * (2500 / 3333), 1);
    expect(z3).toBeCloseTo(0.6668 * (833 / 3333), 1);
    expect(stat("lb_zone_routing_sampled") + stat("lb_zone_routing_cross_zone")).toBe(20_000);
  });

  test("fewer healthy upstream hosts than min_cluster_size (6): no zone routing (lb_zone_cluster_too_small)", () => {
    const { stat, shares } = setup([2, 2, 1], [1, 1, 1]);
    const [z1] = shares();
    expect(z1).toBeCloseTo(0.4, 1);
    expect(stat("lb_zone_cluster_too_small")).toBeGreaterThan(0);
    expect(stat("lb_zone_routing_all_directly")).toBe(0);
  });

  test("min_cluster_size and routing_enabled from zone_aware_lb_config", () => {
    expect(setup([2, 2, 1], [1, 1, 1], { zoneMinClusterSize: 5 }).shares()).toEqual([1, 0, 0]);
    const half = setup([2, 2, 2], [1, 1, 1], { zoneRoutingEnabled: 50 }).shares();
    // Half the picks stay local; the other half is plain round robin (a third local).
    expect(half[0]).toBeCloseTo(0.5 + 0.5 / 3, 1);
  });

  test("upstream.zone_routing.enabled (per pick) and upstream.zone_routing.min_cluster_size (when the hosts change) override the config", () => {
    const values = new RuntimeLoader(new MemoryRuntime({ seed: 4 }), { layers: [{ kind: "admin", name: "admin" }] });
    const { shares, set } = setup([2, 2, 2], [1, 1, 1], {}, "ROUND_ROBIN", values);
    expect(shares()).toEqual([1, 0, 0]);
    values.mergeValues(new Map([["upstream.zone_routing.enabled", "0"]]));
    expect(shares()[0]).toBeCloseTo(1 / 3, 1);
    values.mergeValues(new Map([["upstream.zone_routing.enabled", ""], ["upstream.zone_routing.min_cluster_size", "7"]]));
    // Read by earlyExitNonLocalityRouting: it applies once the hosts change, as in Envoy.
    expect(shares()).toEqual([1, 0, 0]);
    set.updateHosts(0, set.hostSetsPerPriority[0]!.hosts, set.hostSetsPerPriority[0]!.hosts, [], { localLocality: LOCAL });
    expect(shares()[0]).toBeCloseTo(1 / 3, 1);
  });

  test("no local cluster, or a hash balancer: plain balancing", () => {
    expect(setup([2, 2, 2], undefined).shares()[0]).toBeCloseTo(1 / 3, 1);
    const ring = setup([2, 2, 2], [1, 1, 1], {}, "RING_HASH");
    expect(ring.shares()[0]).toBeCloseTo(1 / 3, 1);
    expect(ring.stat("lb_recalculate_zone_structures")).toBe(0);
  });
});

describe("cluster_manager.local_cluster_name", () => {
  const yaml = (local: string, priority = 0) => `node: { locality: { region: r, zone: z1 } }
cluster_manager: { local_cluster_name: ${local} }
static_resources:
  clusters:
  - name: fleet
    load_assignment:
      cluster_name: fleet
      endpoints: [{ priority: ${priority}, lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } } }] }]
`;
  test("names a defined cluster", () => {
    expect(loadBootstrap(yaml("fleet"), "yaml").localClusterName).toBe("fleet");
    expect(() => loadBootstrap(yaml("nope"), "yaml")).toThrow(/local cluster 'nope' must be defined/);
  });

  test("whose endpoints are all priority 0", () => {
    expect(() => loadBootstrap(yaml("fleet", 1), "yaml")).toThrow(/Unexpected non-zero priority for local cluster 'fleet'/);
  });
});

describe("through the cluster manager", () => {
  test("the node's locality and the local cluster reach every cluster's balancer", async () => {
    const { ClusterManager } = await import("../../../core/upstream/cluster-manager.ts");
    const endpoints = (zones: string[], port0: number) =>
      zones.map((z, i) => ({ locality: { region: "r", zone: z }, lb_endpoints: [0, 1].map((j) => ({ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port0 + 10 * i + j } } } })) }));
    const bootstrap = loadBootstrap(
      JSON.stringify({
        node: { locality: { region: "r", zone: "z2" } },
        cluster_manager: { local_cluster_name: "fleet" },
        static_resources: {
          clusters: [
            { name: "fleet", load_assignment: { cluster_name: "fleet", endpoints: endpoints(["z1", "z2", "z3"], 100) } },
            { name: "backend", load_assignment: { cluster_name: "backend", endpoints: endpoints(["z1", "z2", "z3"], 200) } },
          ],
        },
      }),
      "json",
    );
    const runtime = new MemoryRuntime({ seed: 2 });
    // The constructor uses only the dispatcher's runtime.
    const manager = new ClusterManager(bootstrap.clusters, new StatsStore(), { runtime } as never, undefined, undefined, { clusterName: "fleet", locality: { region: "r", zone: "z2", subZone: "" } });
    const backend = manager.get("backend")!;
    // z2, the node's zone, leads the per-locality lists.
    expect(backend.prioritySet.hostSetsPerPriority[0]!.hostsPerLocality[0]![0]!.locality.zone).toBe("z2");
    for (let i = 0; i < 20; i++) expect(backend.loadBalancer.chooseHost(undefined)!.locality.zone).toBe("z2");
  });
});
