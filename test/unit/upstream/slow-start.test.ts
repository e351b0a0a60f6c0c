/**
 * slow_start_config for ROUND_ROBIN and LEAST_REQUEST (Envoy's EdfLoadBalancerBase,
 * load_balancer_impl.cc): a host new to the cluster (or newly passing its health check)
 * ramps from min_weight_percent of its weight to all of it over slow_start_window, as
 * (t / window) ^ (1 / aggression). On the memory runtime's clock, so the ramp is exact.
 */
import { describe, expect, test } from "vitest";
import type { LbPolicyName, LoadBalancingConfig, SlowStartConfig } from "../../../core/config/bootstrap.ts";
import { DEFAULT_LOAD_BALANCING } from "../../../core/config/lb-policy-schema.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { HealthFlag, Host } from "../../../core/upstream/host.ts";
import { PrioritySet } from "../../../core/upstream/host-set.ts";
import type { LoadBalancer } from "../../../core/upstream/load-balancer.ts";
import { createLoadBalancer } from "../../../core/upstream/load-balancer-factory.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

const WINDOW = 10_000;

function setup(policy: LbPolicyName, slowStart: Partial<SlowStartConfig> = {}, extra: Partial<LoadBalancingConfig> = {}) {
  const runtime = new MemoryRuntime({ seed: 11 });
  const set = new PrioritySet();
  const old = new Host("10.0.0.1", 80);
  set.updateHosts(0, [old], [old], []);
  const config: LoadBalancingConfig = { ...DEFAULT_LOAD_BALANCING, ...extra, policy, slowStart: { windowMs: WINDOW, aggression: 1, minWeightPercent: 10, ...slowStart } };
  const lb = createLoadBalancer(config, set, new StatsStore().scope("cluster.c."), () => runtime.random(), { now: () => runtime.now() });
  // The first host's own window (it entered at the balancer's creation) passes.
  runtime.advance(2 * WINDOW);
  const added = new Host("10.0.0.2", 80);
  set.updateHosts(0, [old, added], [added], []);
  return { runtime, set, lb, old, added };
}

/** The share of `n` picks that went to `host`. */
function share(lb: LoadBalancer, host: Host, n = 2000): number {
  let hits = 0;
  for (let i = 0; i < n; i++) if (lb.chooseHost(undefined) === host) hits++;
  return hits / n;
}

describe("slow_start_config", () => {
  for (const policy of ["ROUND_ROBIN", "LEAST_REQUEST"] as const) {
    test(`${policy}: a new host's weight ramps linearly from min_weight_percent (10 %) to its full weight over the window`, () => {
      const { runtime, lb, added } = setup(policy);
      // t = 0: weight max(1 ms / 10 s, 0.1) = 0.1 against 1 — 1/11 of the picks.
      expect(share(lb, added)).toBeCloseTo(1 / 11, 1);
      runtime.advance(WINDOW / 2); // 0.5 against 1: a third
      expect(share(lb, added)).toBeCloseTo(1 / 3, 1);
      runtime.advance(WINDOW / 2); // out of the window: even
      expect(share(lb, added)).toBeCloseTo(1 / 2, 1);
    });
  }

  test("aggression 2 ramps faster at first: (t / window) ^ (1 / 2)", () => {
    const { runtime, lb, added } = setup("ROUND_ROBIN", { aggression: 2 });
    runtime.advance(WINDOW / 4); // sqrt(0.25) = 0.5 against 1
    expect(share(lb, added)).toBeCloseTo(1 / 3, 1);
  });

  test("aggression's runtime_key is read at each pick (Envoy's aggression_runtime_)", () => {
    const runtime = new MemoryRuntime({ seed: 11 });
    const set = new PrioritySet();
    const old = new Host("10.0.0.1", 80);
    set.updateHosts(0, [old], [old], []);
    let aggression = 1;
    const layeredRuntime = { getInteger: (_key: string | undefined, value: number) => value, getDouble: (key: string | undefined, value: number) => (key === "agg" ? aggression : value) };
    const config: LoadBalancingConfig = { ...DEFAULT_LOAD_BALANCING, policy: "ROUND_ROBIN", slowStart: { windowMs: WINDOW, aggression: 1, aggressionRuntimeKey: "agg", minWeightPercent: 10 } };
    const lb = createLoadBalancer(config, set, new StatsStore().scope("c."), () => runtime.random(), { now: () => runtime.now(), layeredRuntime });
    runtime.advance(2 * WINDOW);
    const added = new Host("10.0.0.2", 80);
    set.updateHosts(0, [old, added], [added], []);
    runtime.advance(WINDOW / 4); // linear: 0.25 against 1
    expect(share(lb, added)).toBeCloseTo(1 / 5, 1);
    aggression = 2; // sqrt(0.25) = 0.5 against 1
    expect(share(lb, added)).toBeCloseTo(1 / 3, 1);
  });

  test("min_weight_percent sets where the ramp starts", () => {
    const { lb, added } = setup("ROUND_ROBIN", { minWeightPercent: 50 });
    expect(share(lb, added)).toBeCloseTo(1 / 3, 1);
  });

  test("the ramp scales load_balancing_weight", () => {
    const runtime = new MemoryRuntime({ seed: 11 });
    const set = new PrioritySet();
    const old = new Host("10.0.0.1", 80, { weight: 2 });
    set.updateHosts(0, [old], [old], []);
    const lb = createLoadBalancer({ ...DEFAULT_LOAD_BALANCING, slowStart: { windowMs: WINDOW, aggression: 1, minWeightPercent: 10 } }, set, new StatsStore().scope("c."), () => runtime.random(), { now: () => runtime.now() });
    runtime.advance(2 * WINDOW);
    const added = new Host("10.0.0.2", 80, { weight: 4 });
    set.updateHosts(0, [old, added], [added], []);
    runtime.advance(WINDOW / 2); // 4 × 0.5 = 2 against 2
    expect(share(lb, added)).toBeCloseTo(1 / 2, 1);
  });

  test("a host returning to health through its health check starts a new window from that check", () => {
    const { runtime, set, lb, added } = setup("ROUND_ROBIN");
    runtime.advance(2 * WINDOW);
    expect(share(lb, added)).toBeCloseTo(1 / 2, 1);
    added.healthFlagSet(HealthFlag.FailedActiveHc);
    set.refreshHealth();
    runtime.advance(1000);
    // The health checker records the passing check's time, then the cluster refreshes health.
    added.healthFlagClear(HealthFlag.FailedActiveHc);
    added.lastHcPassTime = runtime.now();
    set.refreshHealth();
    expect(share(lb, added)).toBeCloseTo(1 / 11, 1);
  });

  test("without slow_start_config, a new host takes its full share at once", () => {
    const runtime = new MemoryRuntime({ seed: 11 });
    const set = new PrioritySet();
    const old = new Host("10.0.0.1", 80);
    set.updateHosts(0, [old], [old], []);
    const lb = createLoadBalancer(undefined, set, new StatsStore().scope("c."), () => runtime.random(), { now: () => runtime.now() });
    runtime.advance(2 * WINDOW);
    const added = new Host("10.0.0.2", 80);
    set.updateHosts(0, [old, added], [added], []);
    expect(share(lb, added)).toBeCloseTo(1 / 2, 2);
  });
});

describe("slow_start_config in the config", () => {
  const cluster = (fields: string) =>
    loadBootstrap(`static_resources:\n  clusters:\n  - name: c\n${fields}`, "yaml").clusters[0]!.loadBalancing;

  test("round_robin_lb_config and least_request_lb_config, with Envoy's defaults", () => {
    expect(cluster(`    round_robin_lb_config: { slow_start_config: { slow_start_window: 30s } }\n`)?.slowStart).toEqual({ windowMs: 30_000, aggression: 1, minWeightPercent: 10 });
    expect(
      cluster(`    lb_policy: LEAST_REQUEST\n    least_request_lb_config: { slow_start_config: { slow_start_window: 5s, aggression: { default_value: 2, runtime_key: k }, min_weight_percent: { value: 25 } } }\n`)?.slowStart,
    ).toEqual({ windowMs: 5000, aggression: 2, aggressionRuntimeKey: "k", minWeightPercent: 25 });
  });

  test("the typed RoundRobin and LeastRequest policies", () => {
    const lb = cluster(
      `    load_balancing_policy: { policies: [ { typed_extension_config: { name: rr, typed_config: { "@type": type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin, slow_start_config: { slow_start_window: 1s } } } } ] }\n`,
    );
    expect(lb?.slowStart).toEqual({ windowMs: 1000, aggression: 1, minWeightPercent: 10 });
  });

  test("an aggression not above 0 is refused by name", () => {
    expect(() => cluster(`    round_robin_lb_config: { slow_start_config: { slow_start_window: 1s, aggression: { default_value: 0, runtime_key: k } } }\n`)).toThrow(/aggression must be greater than 0\.0/);
  });
});
