/**
 * Consistent hashing with bounded loads (hash_balance_factor; Envoy's
 * BoundedLoadHashingLoadBalancer): an overloaded host's keys spill to other hosts, in
 * an order fixed by the key, and go back once the load falls.
 */
import { describe, expect, test } from "vitest";
import type { LbPolicyName } from "../../../core/config/bootstrap.ts";
import { DEFAULT_LOAD_BALANCING } from "../../../core/config/lb-policy-schema.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { Host } from "../../../core/upstream/host.ts";
import { PrioritySet } from "../../../core/upstream/host-set.ts";
import { createLoadBalancer } from "../../../core/upstream/load-balancer-factory.ts";
import { Mt19937 } from "../../../core/util/mt19937.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

test("Mt19937 is std::mt19937: 3499211612 first and 4123659995 as the 10000th output for the default seed 5489", () => {
  const twister = new Mt19937(5489);
  expect(twister.next()).toBe(3499211612);
  for (let i = 2; i < 10_000; i++) twister.next();
  expect(twister.next()).toBe(4123659995);
  // Only the low 32 bits of a 64-bit seed count, as std::mt19937's seed().
  expect(new Mt19937(0x1_0000_1571n).next()).toBe(3499211612);
});

function setup(policy: LbPolicyName, hashBalanceFactor: number) {
  const runtime = new MemoryRuntime({ seed: 3 });
  const set = new PrioritySet();
  const hosts = [1, 2, 3, 4].map((port) => new Host("10.0.0.1", port));
  set.updateHosts(0, hosts, hosts, []);
  const store = new StatsStore();
  const config = { ...DEFAULT_LOAD_BALANCING, policy, hashBalanceFactor, ...(policy === "MAGLEV" ? { tableSize: 65537 } : {}) };
  const lb = createLoadBalancer(config, set, store.scope("cluster.c."), () => runtime.random());
  const active = store.gauge("cluster.c.upstream_rq_active");
  return { hosts, lb, active };
}

const KEY = { computeHashKey: () => 0x1234_5678_9abc_def0n };

describe.each(["RING_HASH", "MAGLEV"] as const)("%s with hash_balance_factor", (policy) => {
  test("a key's host takes it while within its slots: ceil(ceil((active + 1) × factor / 100) × its share)", () => {
    const { hosts, lb, active } = setup(policy, 150);
    const home = lb.chooseHost(KEY)!;
    // 8 active in all: slots = ceil(ceil(9 × 1.5) / 4) = ceil(14 / 4) = 4.
    active.set(8);
    home.stats.rqActive = 4;
    expect(lb.chooseHost(KEY)).toBe(home);
    // One more and it is over: the key spills, always to the same other host.
    home.stats.rqActive = 5;
    const spill = lb.chooseHost(KEY)!;
    expect(spill).not.toBe(home);
    expect(hosts).toContain(spill);
    for (let i = 0; i < 5; i++) expect(lb.chooseHost(KEY)).toBe(spill);
    // Load back down: home again.
    home.stats.rqActive = 0;
    expect(lb.chooseHost(KEY)).toBe(home);
  });

  test("every host over its slots: the least overloaded one", () => {
    const { hosts, lb, active } = setup(policy, 100);
    active.set(39);
    // slots = ceil(40 / 4) = 10 each.
    hosts.forEach((host, i) => (host.stats.rqActive = [20, 30, 11, 25][i]!));
    expect(lb.chooseHost(KEY)).toBe(hosts[2]);
  });

  test("without hash_balance_factor the key's host takes it however loaded", () => {
    const { lb, active } = setup(policy, 0);
    const home = lb.chooseHost(KEY)!;
    active.set(100);
    home.stats.rqActive = 100;
    expect(lb.chooseHost(KEY)).toBe(home);
  });
});

describe("hash_balance_factor in the config", () => {
  const lbOf = (fields: string) => loadBootstrap(`static_resources:\n  clusters:\n  - name: c\n${fields}`, "yaml").clusters[0]!.loadBalancing;

  test("common_lb_config.consistent_hashing_lb_config and the typed Maglev and RingHash policies", () => {
    expect(lbOf(`    lb_policy: RING_HASH\n    common_lb_config: { consistent_hashing_lb_config: { hash_balance_factor: 125 } }\n`)?.hashBalanceFactor).toBe(125);
    const typed = (type: string) =>
      lbOf(
        `    load_balancing_policy: { policies: [ { typed_extension_config: { name: x, typed_config: { "@type": type.googleapis.com/envoy.extensions.load_balancing_policies.${type}, consistent_hashing_lb_config: { hash_balance_factor: { value: 200 }, use_hostname_for_hashing: true } } } } ] }\n`,
      );
    expect(typed("maglev.v3.Maglev")).toMatchObject({ policy: "MAGLEV", hashBalanceFactor: 200, useHostnameForHashing: true });
    expect(typed("ring_hash.v3.RingHash")).toMatchObject({ policy: "RING_HASH", hashBalanceFactor: 200 });
  });

  test("below 100 is refused, as Envoy's validation (gte: 100)", () => {
    expect(() => lbOf(`    lb_policy: MAGLEV\n    common_lb_config: { consistent_hashing_lb_config: { hash_balance_factor: 99 } }\n`)).toThrow(/hash_balance_factor/);
  });
});
