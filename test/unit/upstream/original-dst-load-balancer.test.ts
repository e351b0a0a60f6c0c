/**
 * OriginalDstLoadBalancer (core/upstream/original-dst-cluster.ts) on its own: Envoy's
 * `ip:port` parsing, the bound on hosts, the port override on a restored local address.
 */
import { describe, expect, test } from "vitest";
import { PrioritySet } from "../../../core/upstream/host-set.ts";
import { Host } from "../../../core/upstream/host.ts";
import { OriginalDstLoadBalancer, parseIpAndPort } from "../../../core/upstream/original-dst-cluster.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { originalDstConfig } from "../../../core/config/original-dst-cluster-schema.ts";

const header = (value: string) => ({ downstreamHeaders: () => ({ get: (name: string) => (name === "x-envoy-original-dst-host" ? value : undefined) }) });

describe("parseIpAndPort (Envoy's parseInternetAddressAndPortNoThrow)", () => {
  test("IPv4 and bracketed IPv6, the IP in canonical text", () => {
    expect(parseIpAndPort("10.1.2.3:80")).toEqual({ address: "10.1.2.3", port: 80 });
    expect(parseIpAndPort("[::1]:8080")).toEqual({ address: "::1", port: 8080 });
    expect(parseIpAndPort("[2001:DB8:0:0::1]:1")).toEqual({ address: "2001:db8::1", port: 1 });
    expect(parseIpAndPort("1.2.3.4:0")).toEqual({ address: "1.2.3.4", port: 0 });
  });

  test("anything else is no address", () => {
    for (const bad of ["", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:-1", "::1:80", "[::1]", "host:80", "1.2.3.04:80", "[1.2.3.4]:80", "1.2.3.4:8 0"]) expect(parseIpAndPort(bad), bad).toBeUndefined();
  });
});

describe("OriginalDstLoadBalancer", () => {
  test("holds at most maxHosts hosts: a new destination past it gets none, a known one still its host", () => {
    const set = new PrioritySet();
    const lb = new OriginalDstLoadBalancer({ cleanupIntervalMs: 5000, httpHeaderName: "x-envoy-original-dst-host" }, set, new StatsStore().scope("cluster.c."), 2);
    const first = lb.chooseHost(header("10.0.0.1:80"))!;
    const second = lb.chooseHost(header("10.0.0.2:80"))!;
    first.stats.cxActive = second.stats.cxActive = 1;
    expect(lb.chooseHost(header("10.0.0.3:80"))).toBeUndefined();
    expect(lb.chooseHost(header("10.0.0.1:80"))).toBe(first);
    expect(set.allHosts().map(String)).toEqual(["10.0.0.1:80", "10.0.0.2:80"]);
    first.stats.cxActive = second.stats.cxActive = 0;
    // Unpicked for a whole interval and unused: both go, and room is made.
    lb.cleanup();
    lb.cleanup();
    expect(set.allHosts()).toEqual([]);
    expect(lb.chooseHost(header("10.0.0.3:80"))?.toString()).toBe("10.0.0.3:80");
  });

  test("a restored local address (proxy_protocol), its port overridden; an unrestored one is no destination", () => {
    const lb = new OriginalDstLoadBalancer({ cleanupIntervalMs: 5000, portOverride: 9000 }, new PrioritySet(), new StatsStore().scope("cluster.c."));
    const connection = (restored: boolean) => ({ downstreamConnection: () => ({ localAddress: { address: "::1", port: 443, family: 6 as const }, localAddressRestored: restored, dynamicMetadata: undefined }) });
    expect(lb.chooseHost(connection(false))).toBeUndefined();
    expect(lb.chooseHost(connection(true))?.toString()).toBe("[::1]:9000");
    expect(lb.chooseHost(undefined)).toBeUndefined();
  });
});

describe("OriginalDstLoadBalancer when full", () => {
  test("idle hosts make room whether picked lately or not; with every host in use a new destination is refused and counted", () => {
    const set = new PrioritySet();
    const store = new StatsStore();
    const lb = new OriginalDstLoadBalancer({ cleanupIntervalMs: 5000, httpHeaderName: "x-envoy-original-dst-host" }, set, store.scope("cluster.c."), 2, "c");
    const first = lb.chooseHost(header("10.0.0.1:80"))!;
    const second = lb.chooseHost(header("10.0.0.2:80"))!;
    first.stats.cxActive = 1;
    second.stats.rqActive = 1;
    expect(lb.chooseHost(header("10.0.0.3:80"))).toBeUndefined();
    expect(lb.hostOverflow.value).toBe(1);
    // The second's request ends: picked since the last cleanup, yet idle — it goes for the new one.
    second.stats.rqActive = 0;
    expect(lb.chooseHost(header("10.0.0.3:80"))?.hostname).toBe("c10.0.0.3:80");
    expect(set.allHosts().map(String)).toEqual(["10.0.0.1:80", "10.0.0.3:80"]);
    expect(lb.hostOverflow.value).toBe(1);
  });
});

describe("cleanup_interval", () => {
  test("whole milliseconds, at least 1", () => {
    expect(originalDstConfig(undefined, 2.7).cleanupIntervalMs).toBe(2);
    expect(originalDstConfig(undefined, 0.001).cleanupIntervalMs).toBe(1);
    expect(originalDstConfig(undefined, undefined).cleanupIntervalMs).toBe(5000);
  });
});

describe("adding a destination", () => {
  test("appends to the host set, each new host's health read once: no rebuild of the whole set per add", () => {
    const set = new PrioritySet();
    const lb = new OriginalDstLoadBalancer({ cleanupIntervalMs: 5000, httpHeaderName: "x-envoy-original-dst-host" }, set, new StatsStore().scope("cluster.c."), 4096);
    const updates: number[] = [];
    set.addMemberUpdateCallback((added, removed) => updates.push(added.length, removed.length));
    // The rebuild read every host's health on each add: n(n+1)/2 reads for n adds.
    const health = Host.prototype.health;
    let reads = 0;
    Host.prototype.health = function (this: Host) {
      reads++;
      return health.call(this);
    };
    try {
      for (let i = 0; i < 4096; i++) lb.chooseHost(header(`10.${i >> 8}.${i & 255}.1:80`));
    } finally {
      Host.prototype.health = health;
    }
    expect(reads).toBe(4096);
    // The balancers' view: every host, healthy, in the one locality's lists, each add told once.
    const level = set.hostSetsPerPriority[0]!;
    expect([level.hosts.length, level.healthyHosts.length, level.hostsPerLocality[0]!.length, level.healthyHostsPerLocality[0]!.length, level.excludedHosts.length]).toEqual([4096, 4096, 4096, 4096, 0]);
    expect(level.hosts[4095]!.toString()).toBe("10.15.255.1:80");
    expect(updates.length).toBe(2 * 4096);
    expect(updates.every((n, i) => n === (i % 2 === 0 ? 1 : 0))).toBe(true);
    // A removal (cleanup) rebuilds, and adds after it append again to a list of the set's own.
    lb.cleanup();
    lb.cleanup();
    expect(level.hosts.length).toBe(0);
    lb.chooseHost(header("10.0.0.1:80"));
    lb.chooseHost(header("10.0.0.2:80"));
    expect([level.hosts.map(String), level.healthyHostsPerLocality[0]!.map(String)]).toEqual([["10.0.0.1:80", "10.0.0.2:80"], ["10.0.0.1:80", "10.0.0.2:80"]]);
  });
});
