import { describe, expect, test } from "vitest";
import { HealthFlag, Host } from "../../../core/upstream/host.ts";
import { PrioritySet } from "../../../core/upstream/host-set.ts";
import { RoundRobinLoadBalancer } from "../../../core/upstream/round-robin.ts";
import { ClusterLbStats } from "../../../core/upstream/lb-stats.ts";
import { DEFAULT_LOAD_BALANCING } from "../../../core/config/lb-policy-schema.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";

/** A round robin balancer whose random start is 0: the first pick is the first host. */
function roundRobin(set: PrioritySet): RoundRobinLoadBalancer {
  return new RoundRobinLoadBalancer({ prioritySet: set, stats: new ClusterLbStats(new StatsStore().scope("cluster.c.")), random: () => 0, config: DEFAULT_LOAD_BALANCING });
}

function balancerOver(hosts: Host[]): RoundRobinLoadBalancer {
  const set = new PrioritySet();
  set.updateHosts(0, hosts, hosts, []);
  return roundRobin(set);
}

describe("RoundRobinLoadBalancer", () => {
  test("picks hosts in order and wraps around", () => {
    const hosts = [new Host("10.0.0.1", 1), new Host("10.0.0.2", 2), new Host("10.0.0.3", 3)];
    const lb = balancerOver(hosts);
    const chosen = Array.from({ length: 7 }, () => lb.chooseHost(undefined));
    expect(chosen).toEqual([hosts[0], hosts[1], hosts[2], hosts[0], hosts[1], hosts[2], hosts[0]]);
    expect(chosen[0]).toBe(hosts[0]); // the very Host objects, not copies
  });

  test("a single host is picked every time", () => {
    const host = new Host("10.0.0.1", 80);
    const lb = balancerOver([host]);
    expect([lb.chooseHost(undefined), lb.chooseHost(undefined), lb.chooseHost(undefined)]).toEqual([host, host, host]);
  });

  test("no hosts gives undefined, repeatedly", () => {
    const lb = balancerOver([]);
    expect(lb.chooseHost(undefined)).toBeUndefined();
    expect(lb.chooseHost(undefined)).toBeUndefined();
  });

  test("unhealthy hosts are skipped; with none healthy, every host of priority 0 is used (panic)", () => {
    const hosts = [new Host("10.0.0.1", 1), new Host("10.0.0.2", 2)];
    const set = new PrioritySet();
    set.updateHosts(0, hosts, hosts, []);
    const lb = roundRobin(set);
    hosts[0]!.healthFlagSet(HealthFlag.FailedActiveHc);
    set.refreshHealth();
    expect([lb.chooseHost(undefined), lb.chooseHost(undefined)]).toEqual([hosts[1], hosts[1]]);
    expect(hosts[0]!.healthFlagsText()).toBe("/failed_active_hc");
    hosts[1]!.healthFlagSet(HealthFlag.FailedOutlierCheck);
    set.refreshHealth();
    const picks = new Set([lb.chooseHost(undefined), lb.chooseHost(undefined)]);
    expect(picks).toEqual(new Set(hosts));
  });

  test("Host prints as address:port, IPv6 in brackets", () => {
    expect(new Host("10.0.0.1", 8080).toString()).toBe("10.0.0.1:8080");
    expect(new Host("::1", 443).toString()).toBe("[::1]:443");
  });
});
