import { describe, expect, test } from "vitest";
import { RuntimeLoader } from "../../../core/runtime/runtime-loader.ts";
import type { LbPolicyName, LoadBalancingConfig } from "../../../core/config/bootstrap.ts";
import { DEFAULT_LOAD_BALANCING } from "../../../core/config/lb-policy-schema.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { HealthFlag, Host, type Locality } from "../../../core/upstream/host.ts";
import { localityKey, PrioritySet } from "../../../core/upstream/host-set.ts";
import type { LoadBalancer, LoadBalancerContext } from "../../../core/upstream/load-balancer.ts";
import { createLoadBalancer } from "../../../core/upstream/load-balancer-factory.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

const PICKS = 10_000;

/** Chi-square critical values at p = 0.001 by degrees of freedom: a correct balancer fails these once in a thousand seeds. */
const CHI2_999: Record<number, number> = { 1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 5: 20.52 };

function chiSquare(observed: number[], expectedShares: number[]): number {
  const total = observed.reduce((a, b) => a + b, 0);
  const sum = expectedShares.reduce((a, b) => a + b, 0);
  let chi = 0;
  for (let i = 0; i < observed.length; i++) {
    const expected = (total * expectedShares[i]!) / sum;
    chi += (observed[i]! - expected) ** 2 / expected;
  }
  return chi;
}

function expectDistribution(observed: number[], shares: number[]): void {
  expect(chiSquare(observed, shares), `observed ${observed.join("/")} for shares ${shares.join("/")}`).toBeLessThan(CHI2_999[observed.length - 1]!);
}

interface Setup {
  set: PrioritySet;
  lb: LoadBalancer;
  store: StatsStore;
}

function host(port: number, options: { weight?: number; locality?: Locality; priority?: number } = {}): Host {
  return new Host("10.0.0.1", port, options);
}

function setup(policy: LbPolicyName, byPriority: Host[][], config: Partial<LoadBalancingConfig> = {}, localityWeights?: Map<string, number>, seed = 7): Setup {
  const runtime = new MemoryRuntime({ seed });
  const set = new PrioritySet();
  byPriority.forEach((hosts, priority) => set.updateHosts(priority, hosts, hosts, [], localityWeights ? { localityWeights } : {}));
  const store = new StatsStore();
  const lb = createLoadBalancer({ ...DEFAULT_LOAD_BALANCING, ...config, policy }, set, store.scope("cluster.c."), () => runtime.random());
  return { set, lb, store };
}

function countPicks(lb: LoadBalancer, hosts: Host[], n = PICKS, context?: () => LoadBalancerContext | undefined): number[] {
  const counts = hosts.map(() => 0);
  for (let i = 0; i < n; i++) {
    const chosen = lb.chooseHost(context?.());
    const index = hosts.indexOf(chosen!);
    expect(index, `picked ${chosen}`).toBeGreaterThanOrEqual(0);
    counts[index]!++;
  }
  return counts;
}

/** A context whose hash is a fresh random 64-bit key each time (ring hash and Maglev over many keys). */
function randomKeys(seed: number): () => LoadBalancerContext {
  const runtime = new MemoryRuntime({ seed });
  const word = () => BigInt(Math.floor(runtime.random() * 2 ** 32));
  return () => {
    const key = (word() << 32n) | word();
    return { computeHashKey: () => key };
  };
}

const ports = (n: number, weights?: number[]) => Array.from({ length: n }, (_, i) => host(1000 + i, weights ? { weight: weights[i]! } : {}));

describe("distribution over 10,000 picks (chi-square, p = 0.001)", () => {
  test("ROUND_ROBIN, equal weights: plain rotation, exactly even", () => {
    const hosts = ports(4);
    const { lb } = setup("ROUND_ROBIN", [hosts]);
    const first = lb.chooseHost(undefined)!;
    const start = hosts.indexOf(first);
    for (let i = 1; i < 8; i++) expect(lb.chooseHost(undefined)).toBe(hosts[(start + i) % 4]);
    expect(countPicks(lb, hosts)).toEqual([2500, 2500, 2500, 2500]);
  });

  test("ROUND_ROBIN, weights 1:2:3:4 through the EDF schedule", () => {
    const hosts = ports(4, [1, 2, 3, 4]);
    const { lb } = setup("ROUND_ROBIN", [hosts]);
    const counts = countPicks(lb, hosts);
    expectDistribution(counts, [1, 2, 3, 4]);
    // EDF is deterministic: within one of the exact share.
    counts.forEach((c, i) => expect(Math.abs(c - (PICKS * (i + 1)) / 10)).toBeLessThanOrEqual(1));
  });

  test("RANDOM: uniform, host weights not considered (as Envoy)", () => {
    const hosts = ports(5, [1, 1, 1, 1, 10]);
    const { lb } = setup("RANDOM", [hosts]);
    expectDistribution(countPicks(lb, hosts), [1, 1, 1, 1, 1]);
  });

  test("LEAST_REQUEST, equal weights and no requests in flight: P2C spreads evenly", () => {
    const hosts = ports(4);
    const { lb } = setup("LEAST_REQUEST", [hosts]);
    expectDistribution(countPicks(lb, hosts), [1, 1, 1, 1]);
  });

  test("LEAST_REQUEST, weights 1:3: EDF with weight / (active + 1)", () => {
    const hosts = ports(2, [1, 3]);
    const { lb } = setup("LEAST_REQUEST", [hosts]);
    expectDistribution(countPicks(lb, hosts), [1, 3]);
    // Active requests scale a host's weight down: 3 / (2 + 1) = 1 against 1 / 1.
    hosts[1]!.stats.rqActive = 2;
    expectDistribution(countPicks(lb, hosts), [1, 1]);
  });

  test("RING_HASH over random keys follows the hosts' share of the ring", () => {
    const hosts = ports(4);
    const { lb } = setup("RING_HASH", [hosts], { minimumRingSize: 65536 });
    expectDistribution(countPicks(lb, hosts, PICKS, randomKeys(3)), [1, 1, 1, 1]);
  });

  test("RING_HASH, weights 1:3", () => {
    const hosts = ports(2, [1, 3]);
    const { lb } = setup("RING_HASH", [hosts], { minimumRingSize: 65536 });
    expectDistribution(countPicks(lb, hosts, PICKS, randomKeys(4)), [1, 3]);
  });

  test("MAGLEV over random keys", () => {
    const hosts = ports(4);
    const { lb } = setup("MAGLEV", [hosts]);
    expectDistribution(countPicks(lb, hosts, PICKS, randomKeys(5)), [1, 1, 1, 1]);
  });

  test("MAGLEV, weights 1:2:1", () => {
    const hosts = ports(3, [1, 2, 1]);
    const { lb } = setup("MAGLEV", [hosts]);
    expectDistribution(countPicks(lb, hosts, PICKS, randomKeys(6)), [1, 2, 1]);
  });

  test("ring hash and Maglev with no hash pick at random (as Envoy)", () => {
    for (const policy of ["RING_HASH", "MAGLEV"] as const) {
      const hosts = ports(3);
      const { lb } = setup(policy, [hosts], { minimumRingSize: 65536 });
      expectDistribution(countPicks(lb, hosts), [1, 1, 1]);
    }
  });
});

describe("consistent hashing: a host added moves about 1/(N+1) of the keys", () => {
  for (const policy of ["RING_HASH", "MAGLEV"] as const) {
    test(policy, () => {
      const hosts = ports(4);
      const { set, lb } = setup(policy, [hosts]);
      const keys = Array.from({ length: PICKS }, randomKeys(9));
      const before = keys.map((key) => lb.chooseHost(key));
      const added = host(2000);
      set.updateHosts(0, [...hosts, added], [added], []);
      const after = keys.map((key) => lb.chooseHost(key));
      let moved = 0;
      let movedElsewhere = 0;
      for (let i = 0; i < keys.length; i++) {
        if (before[i] === after[i]) continue;
        moved++;
        if (after[i] !== added) movedElsewhere++;
      }
      // The new host takes 1/(4+1) = 20 % of the keys.
      const toNew = (moved - movedElsewhere) / keys.length;
      expect(toNew).toBeGreaterThan(0.17);
      expect(toNew).toBeLessThan(0.23);
      if (policy === "MAGLEV") {
        // Maglev's "minimal disruption": little else moves.
        expect(moved / keys.length).toBeLessThan(0.25);
      } else {
        // Envoy's ring keeps its size (minimum_ring_size 1024): with a fifth host each host
        // has 205 points instead of 256, and the arcs of the points dropped move too.
        expect(moved / keys.length).toBeLessThan(0.35);
      }
    });
  }
});

describe("Envoy's own ring and table (ring_hash_lb_test.cc, maglev_lb_test.cc)", () => {
  const envoyHosts = (first: number) => Array.from({ length: 6 }, (_, i) => new Host("127.0.0.1", first + i));
  const keyed = (key: bigint): LoadBalancerContext => ({ computeHashKey: () => key });

  test("RING_HASH, xxHash, minimum_ring_size 12", () => {
    const hosts = envoyHosts(90);
    const { lb, store } = setup("RING_HASH", [hosts], { minimumRingSize: 12 });
    expect(lb.chooseHost(keyed(0n))).toBe(hosts[4]);
    expect(lb.chooseHost(keyed(0xffff_ffff_ffff_ffffn))).toBe(hosts[4]);
    expect(lb.chooseHost(keyed(3551244743356806947n))).toBe(hosts[5]);
    expect(lb.chooseHost(keyed(3551244743356806948n))).toBe(hosts[3]);
    expect(lb.chooseHost(keyed(16117243373044804880n))).toBe(hosts[0]);
    expect(store.gauge("cluster.c.ring_hash_lb.size").value).toBe(12);
    expect(store.gauge("cluster.c.ring_hash_lb.min_hashes_per_host").value).toBe(2);
    expect(store.gauge("cluster.c.ring_hash_lb.max_hashes_per_host").value).toBe(2);
  });

  test("RING_HASH, MURMUR_HASH_2", () => {
    const hosts = envoyHosts(80);
    const { lb } = setup("RING_HASH", [hosts], { minimumRingSize: 12, hashFunction: "MURMUR_HASH_2" });
    expect(lb.chooseHost(keyed(0n))).toBe(hosts[5]);
    expect(lb.chooseHost(keyed(1358027074129602068n))).toBe(hosts[5]);
    expect(lb.chooseHost(keyed(1358027074129602069n))).toBe(hosts[3]);
    expect(lb.chooseHost(keyed(10150910876324007730n))).toBe(hosts[2]);
  });

  test("MAGLEV, table_size 7", () => {
    const hosts = envoyHosts(90);
    const { lb, store } = setup("MAGLEV", [hosts], { tableSize: 7 });
    const expected = [2, 4, 0, 1, 5, 0, 3];
    for (let i = 0; i < 21; i++) expect(lb.chooseHost(keyed(BigInt(i)))).toBe(hosts[expected[i % 7]!]);
    expect(store.gauge("cluster.c.maglev_lb.min_entries_per_host").value).toBe(1);
    expect(store.gauge("cluster.c.maglev_lb.max_entries_per_host").value).toBe(2);
  });
});

describe("priorities, health and panic (LoadBalancerBase)", () => {
  const unhealthy = (h: Host) => h.healthFlagSet(HealthFlag.FailedEdsHealth);

  test("all of priority 0 unhealthy: everything fails over to priority 1", () => {
    const p0 = ports(2);
    const p1 = [host(3000, { priority: 1 }), host(3001, { priority: 1 })];
    const { set, lb } = setup("ROUND_ROBIN", [p0, p1]);
    expect(countPicks(lb, [...p0, ...p1], 1000)).toEqual([500, 500, 0, 0]);
    p0.forEach(unhealthy);
    set.refreshHealth();
    expect(countPicks(lb, [...p0, ...p1], 1000)).toEqual([0, 0, 500, 500]);
  });

  test("half of priority 0 healthy: 50 % × 1.4 = 70 % stays there, 30 % goes to priority 1", () => {
    for (const policy of ["ROUND_ROBIN", "RANDOM", "LEAST_REQUEST", "RING_HASH", "MAGLEV"] as const) {
      const p0 = ports(2);
      const p1 = [host(3000, { priority: 1 })];
      const { set, lb } = setup(policy, [p0, p1]);
      unhealthy(p0[1]!);
      set.refreshHealth();
      const counts = countPicks(lb, [...p0, ...p1]);
      expect(counts[1], policy).toBe(0);
      expectDistribution([counts[0]!, counts[2]!], [70, 30]);
    }
  });

  test("overprovisioning_factor 100: availability is the healthy share itself", () => {
    const p0 = ports(2);
    const p1 = [host(3000, { priority: 1 })];
    const runtime = new MemoryRuntime({ seed: 3 });
    const set = new PrioritySet();
    set.updateHosts(0, p0, p0, [], { overprovisioningFactor: 100 });
    set.updateHosts(1, p1, p1, [], { overprovisioningFactor: 100 });
    const lb = createLoadBalancer(undefined, set, new StatsStore().scope("cluster.c."), () => runtime.random());
    unhealthy(p0[1]!);
    set.refreshHealth();
    const counts = countPicks(lb, [...p0, ...p1]);
    expectDistribution([counts[0]!, counts[2]!], [50, 50]);
  });

  test("degraded hosts take load only after healthy ones everywhere", () => {
    const p0 = ports(2);
    const p1 = [host(3000, { priority: 1 })];
    const { set, lb } = setup("ROUND_ROBIN", [p0, p1]);
    p0.forEach((h) => h.healthFlagSet(HealthFlag.DegradedEdsHealth));
    set.refreshHealth();
    // P0 has no healthy host: P1 (100 % healthy) takes everything before P0's degraded hosts.
    expect(countPicks(lb, [...p0, ...p1], 100)).toEqual([0, 0, 100]);
    unhealthy(p1[0]!);
    set.refreshHealth();
    expect(countPicks(lb, [...p0, ...p1], 100)).toEqual([50, 50, 0]);
  });

  test("panic: under 50 % healthy, every host of the level is used; lb_healthy_panic counts it", () => {
    const hosts = ports(4);
    const { set, lb, store } = setup("ROUND_ROBIN", [hosts]);
    hosts.slice(1).forEach(unhealthy);
    set.refreshHealth();
    expect(countPicks(lb, hosts, 400)).toEqual([100, 100, 100, 100]);
    expect(store.counter("cluster.c.lb_healthy_panic").value).toBe(400);
  });

  test("healthy_panic_threshold 0 disables panic; 20 % lets 25 % healthy stay out of panic", () => {
    for (const threshold of [0, 20]) {
      const hosts = ports(4);
      const { set, lb, store } = setup("ROUND_ROBIN", [hosts], { healthyPanicThreshold: threshold });
      hosts.slice(1).forEach(unhealthy);
      set.refreshHealth();
      expect(countPicks(lb, hosts, 100)).toEqual([100, 0, 0, 0]);
      expect(store.counter("cluster.c.lb_healthy_panic").value).toBe(0);
    }
  });

  test("upstream.healthy_panic_threshold: the runtime's value replaces the configured threshold when the hosts change", () => {
    const hosts = ports(4);
    const runtime = new RuntimeLoader({ random: () => 0 }, { layers: [{ kind: "admin", name: "admin" }] });
    const set = new PrioritySet();
    set.updateHosts(0, hosts, hosts, [], {});
    const store = new StatsStore();
    const memory = new MemoryRuntime({ seed: 7 });
    const lb = createLoadBalancer({ ...DEFAULT_LOAD_BALANCING, policy: "ROUND_ROBIN" }, set, store.scope("cluster.c."), () => memory.random(), { layeredRuntime: runtime });
    runtime.mergeValues(new Map([["upstream.healthy_panic_threshold", "20"]]));
    hosts.slice(1).forEach(unhealthy);
    set.refreshHealth();
    // 25 % healthy is over 20 %: no panic, only the healthy host.
    expect(countPicks(lb, hosts, 100)).toEqual([100, 0, 0, 0]);
    runtime.mergeValues(new Map([["upstream.healthy_panic_threshold", ""]]));
    set.refreshHealth();
    expect(countPicks(lb, hosts, 100)).toEqual([25, 25, 25, 25]);
  });

  test("LEAST_REQUEST active_request_bias: its runtime_key's value is read when the hosts change", () => {
    const hosts = ports(2, [1, 3]);
    const runtime = new RuntimeLoader({ random: () => 0 }, { layers: [{ kind: "admin", name: "admin" }] });
    const set = new PrioritySet();
    set.updateHosts(0, hosts, hosts, [], {});
    const memory = new MemoryRuntime({ seed: 7 });
    const config = { ...DEFAULT_LOAD_BALANCING, policy: "LEAST_REQUEST" as const, activeRequestBias: 1, activeRequestBiasSet: true, activeRequestBiasRuntimeKey: "lb.bias" };
    const lb = createLoadBalancer(config, set, new StatsStore().scope("cluster.c."), () => memory.random(), { layeredRuntime: runtime });
    // Host 1 busy: with bias 1 its weight 3 / (5 + 1) falls under host 0's 1 / 1.
    hosts[1]!.stats.rqActive = 5;
    set.refreshHealth();
    const busy = countPicks(lb, hosts, 100);
    expect(busy[0]!).toBeGreaterThan(busy[1]!);
    // Bias 0: active requests no longer count, the weights 1:3 decide.
    runtime.mergeValues(new Map([["lb.bias", "0"]]));
    set.refreshHealth();
    const weighted = countPicks(lb, hosts, 100);
    expect(weighted[1]!).toBeGreaterThan(weighted[0]!);
  });

  test("panic disabled and no healthy host at all: no host (503 UH)", () => {
    const hosts = ports(2);
    const { set, lb } = setup("ROUND_ROBIN", [hosts], { healthyPanicThreshold: 0 });
    hosts.forEach(unhealthy);
    set.refreshHealth();
    expect(lb.chooseHost(undefined)).toBeUndefined();
  });

  test("fail_traffic_on_panic: a level in panic gives no host", () => {
    const hosts = ports(4);
    const { set, lb } = setup("ROUND_ROBIN", [hosts], { failTrafficOnPanic: true });
    hosts.slice(1).forEach(unhealthy);
    set.refreshHealth();
    expect(lb.chooseHost(undefined)).toBeUndefined();
  });

  test("every level in panic: load by host count", () => {
    const p0 = ports(1);
    const p1 = [host(3000, { priority: 1 }), host(3001, { priority: 1 }), host(3002, { priority: 1 })];
    const { set, lb } = setup("RANDOM", [p0, p1]);
    [...p0, ...p1].forEach(unhealthy);
    set.refreshHealth();
    const counts = countPicks(lb, [...p0, ...p1]);
    expectDistribution(counts, [1, 1, 1, 1]);
  });
});

describe("locality weighted balancing", () => {
  const east: Locality = { region: "us-east", zone: "a", subZone: "" };
  const west: Locality = { region: "us-west", zone: "b", subZone: "" };
  const weights = new Map([
    [localityKey(east), 1],
    [localityKey(west), 3],
  ]);

  test("locality weights 1:3 split the load, whatever the host counts", () => {
    for (const policy of ["ROUND_ROBIN", "RANDOM", "LEAST_REQUEST", "RING_HASH", "MAGLEV"] as const) {
      const hosts = [host(1, { locality: east }), host(2, { locality: east }), host(3, { locality: east }), host(4, { locality: west })];
      const { lb } = setup(policy, [hosts], { localityWeighted: true, minimumRingSize: 65536 }, weights);
      const counts = countPicks(lb, hosts, PICKS, policy === "RING_HASH" || policy === "MAGLEV" ? randomKeys(11) : undefined);
      expectDistribution([counts[0]! + counts[1]! + counts[2]!, counts[3]!], [1, 3]);
    }
  });

  test("a locality's weight shrinks with its availability (× 1.4, capped at 1)", () => {
    const hosts = [host(1, { locality: east }), host(2, { locality: east }), host(3, { locality: west }), host(4, { locality: west })];
    const { set, lb } = setup("ROUND_ROBIN", [hosts], { localityWeighted: true }, new Map([[localityKey(east), 1], [localityKey(west), 1]]));
    hosts[3]!.healthFlagSet(HealthFlag.FailedActiveHc);
    set.refreshHealth();
    // west: 1 × min(1, 1.4 × 1/2) = 0.7 against east's 1.
    const counts = countPicks(lb, hosts);
    expect(counts[3]).toBe(0);
    expectDistribution([counts[0]! + counts[1]!, counts[2]!], [1, 0.7]);
  });

  test("without locality_weighted_lb_config, locality weights are ignored", () => {
    const hosts = [host(1, { locality: east }), host(2, { locality: west })];
    const { lb } = setup("ROUND_ROBIN", [hosts], {}, weights);
    expect(countPicks(lb, hosts, 100)).toEqual([50, 50]);
  });
});

describe("LEAST_REQUEST and retries", () => {
  test("P2C never picks the busiest of two hosts", () => {
    const hosts = ports(2);
    const { lb } = setup("LEAST_REQUEST", [hosts]);
    hosts[0]!.stats.rqActive = 5;
    const counts = countPicks(lb, hosts, 1000);
    // Both draws land on the busy host a quarter of the time; otherwise the idle one wins.
    expectDistribution(counts, [1, 3]);
  });

  test("choice_count equal to the host count... picks the least loaded nearly always", () => {
    const hosts = ports(3);
    const { lb } = setup("LEAST_REQUEST", [hosts], { choiceCount: 10 });
    hosts[0]!.stats.rqActive = 3;
    hosts[1]!.stats.rqActive = 1;
    const counts = countPicks(lb, hosts, 1000);
    expect(counts[2]).toBeGreaterThan(980);
  });

  test("shouldSelectAnotherHost: the pick is retried hostSelectionRetryCount times", () => {
    const hosts = ports(3);
    const { lb } = setup("ROUND_ROBIN", [hosts]);
    const rejected = new Set([hosts[0], hosts[1]]);
    const context: LoadBalancerContext = { shouldSelectAnotherHost: (h) => rejected.has(h), hostSelectionRetryCount: () => 3 };
    for (let i = 0; i < 10; i++) expect(lb.chooseHost(context)).toBe(hosts[2]);
  });
});

describe("a priority set without any host set yet (discovery still running)", () => {
  for (const policy of ["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "RING_HASH", "MAGLEV"] as const) {
    test(`${policy}: no host, then the hosts discovery adds`, () => {
      const { set, lb } = setup(policy, []);
      expect(lb.chooseHost(undefined)).toBeUndefined();
      const hosts = ports(2);
      set.updateHosts(0, hosts, hosts, []);
      expect(hosts).toContain(lb.chooseHost(undefined));
    });
  }
});
