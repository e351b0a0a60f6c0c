/**
 * The dynamic forward proxy's DNS cache (core/upstream/dns-cache.ts) on the memory runtime,
 * its resolver and timers: Envoy's DnsCacheImpl behaviour and dns_cache.<name>.* stats —
 * a host loaded once and then served from the cache, max_hosts, failures and the query
 * timeout, refreshes that move or keep the address, host_ttl removal, the pending-request
 * circuit breaker — and the cache manager's one-settings-per-name rule.
 */
import { describe, expect, test } from "vitest";
import { DnsCache, MAX_LOOKUPS_IN_FLIGHT, normalizeHostForDfp, type DnsHostInfo } from "../../../core/upstream/dns-cache.ts";
import { parseAuthority } from "../../../core/http/parse-authority.ts";
import { DnsCacheManager } from "../../../core/upstream/dns-cache-manager.ts";
import { DynamicForwardProxyLoadBalancer } from "../../../core/upstream/dynamic-forward-proxy-cluster.ts";
import { PrioritySet } from "../../../core/upstream/host-set.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import type { DnsCacheSettings } from "../../../core/config/bootstrap.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

const SETTINGS: DnsCacheSettings = { name: "c", lookupFamily: "V4_ONLY", refreshRateMs: 60_000, minRefreshRateMs: 5000, hostTtlMs: 300_000, maxHosts: 1024, maxPendingRequests: 1024, queryTimeoutMs: 5000 };

/** Let settled answers' callbacks run (the port's resolve is a promise). */
const flush = () => new Promise<void>((r) => setTimeout(r, 0));

function setup(settings: Partial<DnsCacheSettings> = {}, dnsDelayMs = 0) {
  const runtime = new MemoryRuntime({ dnsDelayMs });
  const store = new StatsStore();
  const cache = new DnsCache({ ...SETTINGS, ...settings }, runtime, store.scope("dns_cache.c."));
  const stat = (name: string) => store.counter(`dns_cache.c.${name}`).value;
  const gauge = (name: string) => store.gauge(`dns_cache.c.${name}`).value;
  const answers: DnsHostInfo[] = [];
  const waiter = { onLoadDnsCacheComplete: (info: DnsHostInfo) => answers.push(info) };
  return { runtime, cache, stat, gauge, answers, waiter };
}

describe("the cache's key (Envoy's normalizeHostForDfp, parseAuthority)", () => {
  test("the authority's port, else the default; names lower-cased; IPv6 in brackets", () => {
    expect(normalizeHostForDfp("Example.COM", 80)).toBe("example.com:80");
    expect(normalizeHostForDfp("example.com:8443", 443)).toBe("example.com:8443");
    expect(normalizeHostForDfp("[::1]", 443)).toBe("[::1]:443");
    expect(normalizeHostForDfp("[::1]:8080", 443)).toBe("[::1]:8080");
    expect(parseAuthority("a:b:c")).toMatchObject({ host: "a:b:c", port: undefined });
    expect(parseAuthority("a:99999")).toMatchObject({ host: "a:99999", port: undefined });
  });

  test("brackets are dropped only around an IP address; a bracketed name is resolved as written", async () => {
    expect(parseAuthority("[::1]:8080")).toEqual({ host: "[::1]", port: 8080, hostToResolve: "::1", isIpAddress: true });
    expect(parseAuthority("[127.0.0.1]")).toEqual({ host: "[127.0.0.1]", port: undefined, hostToResolve: "127.0.0.1", isIpAddress: true });
    expect(parseAuthority("[localhost]:19901")).toEqual({ host: "[localhost]", port: 19901, hostToResolve: "[localhost]", isIpAddress: false });
    // What follows `]` stays part of the host unless it is `:port`.
    expect(parseAuthority("[::1]evil.test")).toMatchObject({ host: "[::1]evil.test", port: undefined, hostToResolve: "[::1]evil.test" });
    expect(parseAuthority("[::1]:80x")).toMatchObject({ host: "[::1]:80x", port: undefined, isIpAddress: false });
    const { runtime, cache, answers, waiter } = setup();
    runtime.setDnsAnswer("internal.corp", ["10.0.0.1"]);
    cache.loadDnsCacheEntry("[internal.corp]:80", 80, waiter);
    cache.loadDnsCacheEntry("[::1]junk", 80, waiter);
    await flush();
    expect(answers.map((a) => [a.resolvedHost, a.address])).toEqual([
      ["[internal.corp]", undefined],
      ["[::1]junk", undefined],
    ]);
    expect(runtime.dnsQueries.get("internal.corp")).toBeUndefined();
  });
});

describe("DnsCache", () => {
  test("a new host waits for its first answer, then is in the cache; stats as Envoy's", async () => {
    const { runtime, cache, stat, gauge, answers, waiter } = setup();
    runtime.setDnsAnswer("svc.test", ["10.0.0.1"]);
    const first = cache.loadDnsCacheEntry("svc.test:8080", 80, waiter);
    expect(first.status).toBe("Loading");
    // A second request for the same host waits on the same query.
    expect(cache.loadDnsCacheEntry("SVC.test:8080", 80, { onLoadDnsCacheComplete: (info) => answers.push(info) }).status).toBe("Loading");
    await flush();
    expect(answers.map((a) => a.address)).toEqual(["10.0.0.1", "10.0.0.1"]);
    const again = cache.loadDnsCacheEntry("svc.test:8080", 80, waiter);
    expect(again.status === "InCache" && again.info.address).toBe("10.0.0.1");
    expect(runtime.dnsQueries.get("svc.test")).toBe(1);
    expect([stat("dns_query_attempt"), stat("dns_query_success"), stat("host_added"), stat("host_address_changed"), gauge("num_hosts")]).toEqual([1, 1, 1, 1, 1]);
  });

  test("max_hosts: a new host past it is Overflow (host_overflow); a cancelled wait hears nothing", async () => {
    const { runtime, cache, stat, answers, waiter } = setup({ maxHosts: 1 });
    runtime.setDnsAnswer("a.test", ["10.0.0.1"]);
    const loading = cache.loadDnsCacheEntry("a.test", 80, waiter);
    expect(cache.loadDnsCacheEntry("b.test", 80, waiter).status).toBe("Overflow");
    expect(stat("host_overflow")).toBe(1);
    if (loading.status === "Loading") loading.cancel();
    await flush();
    expect(answers).toEqual([]);
  });

  test("no address: an empty answer and a failed lookup say why; the query timeout gives up", async () => {
    const { runtime, cache, stat, answers, waiter } = setup();
    runtime.setDnsFailure("down.test", "EAI_AGAIN");
    cache.loadDnsCacheEntry("nowhere.test", 80, waiter);
    cache.loadDnsCacheEntry("down.test", 80, waiter);
    await flush();
    expect(answers.map((a) => [a.address, a.details])).toEqual([
      [undefined, "no_addresses"],
      [undefined, "EAI_AGAIN"],
    ]);
    expect([stat("dns_query_success"), stat("dns_query_failure")]).toEqual([1, 1]);
    // Resolved once (without an address), it is in the cache: the next request fails at once.
    const next = cache.loadDnsCacheEntry("nowhere.test", 80, waiter);
    expect(next.status === "InCache" && next.info.address).toBeUndefined();

    const slow = setup({ queryTimeoutMs: 1000 }, 3000);
    slow.runtime.setDnsAnswer("slow.test", ["10.0.0.9"]);
    slow.cache.loadDnsCacheEntry("slow.test", 80, slow.waiter);
    slow.runtime.advance(1000);
    await flush();
    expect(slow.answers.map((a) => [a.address, a.details])).toEqual([[undefined, "resolve_timeout"]]);
    expect([slow.stat("dns_query_timeout"), slow.stat("dns_query_failure")]).toEqual([1, 1]);
    // The late answer is dropped.
    slow.runtime.advance(2000);
    await flush();
    expect(slow.stat("dns_query_success")).toBe(0);
  });

  test("refreshes: a new address moves the cluster's host; a failure keeps the address", async () => {
    const { runtime, cache, stat, waiter } = setup({ minRefreshRateMs: 1000 });
    const set = new PrioritySet();
    const lb = new DynamicForwardProxyLoadBalancer(cache, set, 80);
    lb.start();
    runtime.setDnsAnswer("svc.test", ["10.0.0.1"]);
    cache.loadDnsCacheEntry("svc.test", 80, waiter);
    await flush();
    const request = { downstreamHeaders: () => ({ get: () => undefined, authority: "svc.test" }) };
    expect(String(lb.chooseHost(request))).toBe("10.0.0.1:80");
    runtime.setDnsAnswer("svc.test", ["10.0.0.2"]);
    runtime.advance(1000);
    await flush();
    expect(String(lb.chooseHost(request))).toBe("10.0.0.2:80");
    expect(stat("host_address_changed")).toBe(2);
    runtime.setDnsFailure("svc.test");
    runtime.advance(1000);
    await flush();
    expect(String(lb.chooseHost(request))).toBe("10.0.0.2:80");
    expect(set.allHosts()).toHaveLength(1);
    // A name the cache does not hold has no host.
    expect(lb.chooseHost({ downstreamHeaders: () => ({ get: () => undefined, authority: "other.test" }) })).toBeUndefined();
  });

  test("host_ttl: a host unused that long is removed at its next refresh, from the cluster too; a used one stays", async () => {
    const { runtime, cache, stat, gauge, waiter } = setup({ minRefreshRateMs: 1000, hostTtlMs: 2500 });
    const set = new PrioritySet();
    const lb = new DynamicForwardProxyLoadBalancer(cache, set, 80);
    lb.start();
    runtime.setDnsAnswer("a.test", ["10.0.0.1"]);
    runtime.setDnsAnswer("b.test", ["10.0.0.2"]);
    cache.loadDnsCacheEntry("a.test", 80, waiter);
    cache.loadDnsCacheEntry("b.test", 80, waiter);
    await flush();
    expect(set.allHosts()).toHaveLength(2);
    for (let i = 0; i < 4; i++) {
      runtime.advance(1000);
      // b is picked each second (the router's pick touches it).
      lb.chooseHost({ downstreamHeaders: () => ({ get: () => undefined, authority: "b.test" }) });
      await flush();
    }
    expect(set.allHosts().map(String)).toEqual(["10.0.0.2:80"]);
    expect([stat("host_removed"), gauge("num_hosts")]).toEqual([1, 1]);
  });

  test("at most MAX_LOOKUPS_IN_FLIGHT lookups at the resolver; queued ones wait, their queued time counted in dns_query_timeout", async () => {
    expect(MAX_LOOKUPS_IN_FLIGHT).toBe(2);
    // Names whose answers take 10 s: past the 5 s timeout the resolver still holds them.
    const { runtime, cache, stat, answers, waiter } = setup({ queryTimeoutMs: 5000 }, 10_000);
    for (const name of ["a", "b", "c", "d"]) runtime.setDnsAnswer(`${name}.test`, ["10.0.0.1"]);
    cache.loadDnsCacheEntry("a.test", 80, waiter);
    cache.loadDnsCacheEntry("b.test", 80, waiter);
    cache.loadDnsCacheEntry("c.test", 80, waiter);
    expect([...runtime.dnsQueries.keys()]).toEqual(["a.test", "b.test"]);
    runtime.advance(5000);
    await flush();
    // c timed out while queued, never asked; all three fail with resolve_timeout.
    expect(answers.map((a) => [a.resolvedHost, a.details])).toEqual([
      ["a.test", "resolve_timeout"],
      ["b.test", "resolve_timeout"],
      ["c.test", "resolve_timeout"],
    ]);
    expect([stat("dns_query_timeout"), stat("dns_query_attempt")]).toEqual([3, 3]);
    expect(runtime.dnsQueries.has("c.test")).toBe(false);
    // The timed-out lookups still hold their slots: d waits until they answer (at 10 s).
    runtime.advance(1000);
    cache.loadDnsCacheEntry("d.test", 80, waiter);
    runtime.advance(3999);
    await flush();
    expect(runtime.dnsQueries.has("d.test")).toBe(false);
    runtime.advance(1);
    await flush();
    expect(runtime.dnsQueries.get("d.test")).toBe(1);
  });

  test("dns_failure_refresh_rate: each host has its own backoff (Envoy's PrimaryHostInfo::failure_backoff_strategy_)", async () => {
    const { runtime, cache, waiter } = setup({ hostTtlMs: 1e9, failureRefreshRate: { baseIntervalMs: 1000, maxIntervalMs: 1_000_000 } });
    runtime.setDnsFailure("a.test", "EAI_AGAIN");
    runtime.setDnsFailure("b.test", "EAI_AGAIN");
    cache.loadDnsCacheEntry("a.test", 80, waiter);
    await flush();
    // a fails again and again: its backoff grows past 100 s.
    while ((runtime.dnsQueries.get("a.test") ?? 0) < 9) {
      runtime.advance(1000);
      await flush();
    }
    // b's first failure retries within the base interval, whatever a's backoff is.
    cache.loadDnsCacheEntry("b.test", 80, waiter);
    await flush();
    runtime.advance(1000);
    await flush();
    expect(runtime.dnsQueries.get("b.test")).toBe(2);
  });

  describe("the next refresh (Envoy's finishResolve)", () => {
    /** Queries of `name` once `ms` more virtual ms have passed. */
    async function queriesAfter(runtime: MemoryRuntime, name: string, ms: number): Promise<number> {
      runtime.advance(ms);
      await flush();
      return runtime.dnsQueries.get(name) ?? 0;
    }

    test("an answer with addresses: after its first address's TTL, at least dns_min_refresh_rate; dns_refresh_rate plays no part", async () => {
      const { runtime, cache, waiter } = setup({ refreshRateMs: 1000, minRefreshRateMs: 5000, hostTtlMs: 1e9 });
      runtime.setDnsAnswer("long.test", ["10.0.0.1"], 30);
      runtime.setDnsAnswer("short.test", ["10.0.0.2"], 2);
      cache.loadDnsCacheEntry("long.test", 80, waiter);
      cache.loadDnsCacheEntry("short.test", 80, waiter);
      await flush();
      // The TTL (2 s) is below the minimum: 5 s.
      expect(await queriesAfter(runtime, "short.test", 4999)).toBe(1);
      expect(await queriesAfter(runtime, "short.test", 1)).toBe(2);
      // The TTL (30 s) is above it: 30 s.
      expect(await queriesAfter(runtime, "long.test", 24_999)).toBe(1);
      expect(await queriesAfter(runtime, "long.test", 1)).toBe(2);
    });

    test("an answer with addresses but no TTL the runtime can tell (deno, /etc/hosts): dns_min_refresh_rate", async () => {
      const { runtime, cache, waiter } = setup({ refreshRateMs: 60_000, minRefreshRateMs: 2000, hostTtlMs: 1e9 });
      runtime.setDnsAnswer("hosts.test", ["10.0.0.1"]);
      cache.loadDnsCacheEntry("hosts.test", 80, waiter);
      await flush();
      expect(await queriesAfter(runtime, "hosts.test", 1999)).toBe(1);
      expect(await queriesAfter(runtime, "hosts.test", 1)).toBe(2);
    });

    test("an answer without addresses: dns_refresh_rate", async () => {
      const { runtime, cache, waiter } = setup({ refreshRateMs: 20_000, minRefreshRateMs: 5000, hostTtlMs: 1e9 });
      runtime.setDnsAnswer("empty.test", [], 5);
      cache.loadDnsCacheEntry("empty.test", 80, waiter);
      await flush();
      expect(await queriesAfter(runtime, "empty.test", 19_999)).toBe(1);
      expect(await queriesAfter(runtime, "empty.test", 1)).toBe(2);
    });

    test("a failure: dns_refresh_rate without dns_failure_refresh_rate, else its backoff from base_interval", async () => {
      const { runtime, cache, waiter } = setup({ refreshRateMs: 20_000, minRefreshRateMs: 5000, hostTtlMs: 1e9 });
      runtime.setDnsFailure("down.test", "EAI_AGAIN");
      cache.loadDnsCacheEntry("down.test", 80, waiter);
      await flush();
      expect(await queriesAfter(runtime, "down.test", 19_999)).toBe(1);
      expect(await queriesAfter(runtime, "down.test", 1)).toBe(2);
      // With dns_failure_refresh_rate the first retry is within base_interval (jittered), not at dns_refresh_rate.
      const backoff = setup({ refreshRateMs: 20_000, minRefreshRateMs: 5000, hostTtlMs: 1e9, failureRefreshRate: { baseIntervalMs: 3000, maxIntervalMs: 30_000 } });
      backoff.runtime.setDnsFailure("down.test", "EAI_AGAIN");
      backoff.cache.loadDnsCacheEntry("down.test", 80, backoff.waiter);
      await flush();
      expect(await queriesAfter(backoff.runtime, "down.test", 3000)).toBe(2);
    });
  });

  test("dns_cache_circuit_breaker.max_pending_requests: over it, dns_rq_pending_overflow", () => {
    const { cache, stat, gauge } = setup({ maxPendingRequests: 1 });
    const release = cache.canCreateDnsRequest();
    expect(release).toBeDefined();
    expect(cache.canCreateDnsRequest()).toBeUndefined();
    expect([stat("dns_rq_pending_overflow"), gauge("circuit_breakers.rq_pending_open")]).toEqual([1, 1]);
    release!();
    release!();
    expect(cache.canCreateDnsRequest()).toBeDefined();
  });
});

describe("DnsCacheManager", () => {
  test("one cache per name; the same name with other settings is refused (Envoy's message)", () => {
    const runtime = new MemoryRuntime();
    const manager = new DnsCacheManager(runtime, new StatsStore());
    const cache = manager.getCache(SETTINGS);
    expect(manager.getCache({ ...SETTINGS })).toBe(cache);
    expect(() => manager.getCache({ ...SETTINGS, maxHosts: 3 })).toThrow("config specified DNS cache 'c' with different settings");
    expect(manager.getCache({ ...SETTINGS, name: "d" })).not.toBe(cache);
  });
});

describe("preresolve_hostnames (Envoy's DnsCacheImpl constructor)", () => {
  test("each is loaded as the cache is made: host_added and the query before any request; a request then finds it InCache", async () => {
    const runtime = new MemoryRuntime({});
    runtime.setDnsAnswer("pre.test", ["10.0.0.7"]);
    const store = new StatsStore();
    const cache = new DnsCache({ ...SETTINGS, lookupFamily: "AUTO", preresolveHostnames: [{ address: "Pre.test", port: 8080 }, { address: "::1", port: 443 }, { address: "localhost:81", port: 80 }] }, runtime, store.scope("dns_cache.c."));
    expect(store.counter("dns_cache.c.host_added").value).toBe(3);
    expect(store.counter("dns_cache.c.dns_query_attempt").value).toBe(3);
    await flush();
    expect(cache.getHost("pre.test:8080")?.address).toBe("10.0.0.7");
    expect(cache.getHost("[::1]:443")?.address).toBe("::1");
    // An address with its own port keeps it (normalizeHostForDfp).
    expect(cache.getHost("localhost:81")?.address).toBeDefined();
    const result = cache.loadDnsCacheEntry("pre.test:8080", 80, { onLoadDnsCacheComplete: () => undefined });
    expect(result.status).toBe("InCache");
    expect(store.counter("dns_cache.c.dns_query_attempt").value).toBe(3);
    cache.stop();
  });

  test("a lookup a request waits for goes ahead of queued preresolve lookups nobody waits for", async () => {
    const runtime = new MemoryRuntime({ dnsDelayMs: 1000 });
    for (const name of ["p1", "p2", "p3", "p4", "wanted"]) runtime.setDnsAnswer(`${name}.test`, ["10.0.0.1"]);
    const store = new StatsStore();
    const preresolveHostnames = ["p1", "p2", "p3", "p4"].map((name) => ({ address: `${name}.test`, port: 80 }));
    const cache = new DnsCache({ ...SETTINGS, preresolveHostnames }, runtime, store.scope("dns_cache.c."));
    expect([...runtime.dnsQueries.keys()]).toEqual(["p1.test", "p2.test"]);
    const answers: string[] = [];
    cache.loadDnsCacheEntry("wanted.test", 80, { onLoadDnsCacheComplete: (info) => answers.push(`${info.resolvedHost} ${info.address}`) });
    // p1 and p2 answer: the request's lookup takes the first free slot, before p3 and p4.
    runtime.advance(1000);
    await flush();
    expect([...runtime.dnsQueries.keys()]).toEqual(["p1.test", "p2.test", "wanted.test", "p3.test"]);
    runtime.advance(1000);
    await flush();
    expect(answers).toEqual(["wanted.test 10.0.0.1"]);
    cache.stop();
  });
});
