/**
 * The dynamic forward proxy's DNS cache (Envoy's DnsCacheImpl,
 * source/extensions/common/dynamic_forward_proxy/dns_cache_impl.cc): the hosts requests
 * named, each resolved through the port's resolver when first asked for and again on its
 * refresh schedule, until it goes unused for `host_ttl`. Shared by name between the
 * dynamic_forward_proxy HTTP filter, which waits for a new host's first answer, and the
 * dynamic_forward_proxy cluster, which makes a host of every address the cache learns.
 *
 * A host is keyed `host:port` as the request's authority gives it (the port from the
 * authority, else the cluster's default: 443 with TLS, else 80). One address per host,
 * as Envoy's cache keeps (the first of the answer in the lookup family's order); once a
 * host has an address it keeps it through failed or empty refreshes.
 */
import type { DnsCacheSettings } from "../config/bootstrap.ts";
import type { ComponentLogger } from "../log.ts";
import type { PortError, ResolvedAddress, ResolveFamily, Runtime, TimerHandle } from "../port.ts";
import type { Counter } from "../stats/counter.ts";
import type { Gauge } from "../stats/gauge.ts";
import type { StatsScope } from "../stats/stats-store.ts";
import { FixedBackOffStrategy, JitteredExponentialBackOffStrategy, type BackOffStrategy } from "./backoff-strategy.ts";
import { parseAuthority } from "../http/parse-authority.ts";
import { selectFamily } from "./dns-resolve-target.ts";

/** Envoy's ALL_DNS_CACHE_STATS (dns_cache_impl.h), under `dns_cache.<name>.`. */
export class DnsCacheStats {
  readonly dnsQueryAttempt: Counter;
  readonly dnsQuerySuccess: Counter;
  readonly dnsQueryFailure: Counter;
  readonly dnsQueryTimeout: Counter;
  readonly hostAddressChanged: Counter;
  readonly hostAdded: Counter;
  readonly hostRemoved: Counter;
  readonly hostOverflow: Counter;
  readonly dnsRqPendingOverflow: Counter;
  /** Loads from a key-value store: key_value_config is refused, so it stays 0 (made so dashboards find it). */
  readonly cacheLoad: Counter;
  readonly numHosts: Gauge;
  /** The dns_cache_circuit_breaker's gauges (Envoy's circuit_breakers.rq_pending_open and remaining). */
  readonly rqPendingOpen: Gauge;
  readonly rqPendingRemaining: Gauge;

  constructor(scope: StatsScope) {
    this.dnsQueryAttempt = scope.counter("dns_query_attempt");
    this.dnsQuerySuccess = scope.counter("dns_query_success");
    this.dnsQueryFailure = scope.counter("dns_query_failure");
    this.dnsQueryTimeout = scope.counter("dns_query_timeout");
    this.hostAddressChanged = scope.counter("host_address_changed");
    this.hostAdded = scope.counter("host_added");
    this.hostRemoved = scope.counter("host_removed");
    this.hostOverflow = scope.counter("host_overflow");
    this.dnsRqPendingOverflow = scope.counter("dns_rq_pending_overflow");
    this.cacheLoad = scope.counter("cache_load");
    this.numHosts = scope.gauge("num_hosts");
    this.rqPendingOpen = scope.gauge("circuit_breakers.rq_pending_open");
    this.rqPendingRemaining = scope.gauge("circuit_breakers.rq_pending_remaining");
  }
}

/** What the cache knows of one host (Envoy's DnsHostInfo). */
export interface DnsHostInfo {
  /** The name (or IP literal) resolved, without the port. */
  readonly resolvedHost: string;
  readonly port: number;
  /** The address last resolved, if any answer ever had one. */
  readonly address: string | undefined;
  /** Why the host has no address: Envoy's details (`resolve_timeout`, or the resolver's reason). */
  readonly details: string;
}

/** Told of hosts with a (new) address and of hosts removed (Envoy's DnsCache::UpdateCallbacks): the cluster. */
export interface DnsCacheUpdateCallbacks {
  onDnsHostAddOrUpdate(key: string, info: DnsHostInfo): void;
  onDnsHostRemove(key: string): void;
}

/** Told when a host being loaded has its first answer (Envoy's LoadDnsCacheEntryCallbacks): the filter. */
export interface LoadDnsCacheEntryCallbacks {
  onLoadDnsCacheComplete(info: DnsHostInfo): void;
}

export type LoadDnsCacheEntryResult =
  | { readonly status: "InCache"; readonly info: DnsHostInfo }
  | { readonly status: "Loading"; readonly cancel: () => void }
  | { readonly status: "Overflow" };

/** One host of the cache (Envoy's PrimaryHostInfo with its DnsHostInfoImpl). */
class PrimaryHost implements DnsHostInfo {
  address: string | undefined = undefined;
  details = "not_resolved";
  firstResolveComplete = false;
  lastUsed: number;
  refreshTimer: TimerHandle | undefined;
  timeoutTimer: TimerHandle | undefined;
  /** The query in flight, by number: an answer for an older one (timed out) is dropped. */
  query = 0;
  inFlight = false;
  /** The lookup waiting for a free slot (MAX_LOOKUPS_IN_FLIGHT), if the query is queued. */
  queuedLookup: (() => void) | undefined;
  readonly pending = new Set<LoadDnsCacheEntryCallbacks>();

  constructor(
    readonly resolvedHost: string,
    readonly port: number,
    now: number,
    /** This host's refresh backoff after failures (Envoy's PrimaryHostInfo::failure_backoff_strategy_). */
    readonly backOff: BackOffStrategy,
  ) {
    this.lastUsed = now;
  }
}

/**
 * The cache's key for an authority (Envoy's DnsHostInfo::normalizeHostForDfp): the host,
 * lower-cased (names are case-insensitive, RFC 4343), with its port or the default one.
 */
export function normalizeHostForDfp(authority: string, defaultPort: number): string {
  const { host, port } = parseAuthority(authority);
  return `${host.toLowerCase()}:${port ?? defaultPort}`;
}

/**
 * Lookups one cache has at the resolver at once; more wait in order. The runtimes'
 * getaddrinfo runs on a small thread pool (libuv's 4 threads under Node), and a name that
 * never answers keeps its thread after dns_query_timeout gave up on it, so without a cap a
 * few such names would starve every other lookup (and file I/O) of the process.
 */
export const MAX_LOOKUPS_IN_FLIGHT = 2;

export class DnsCache {
  private readonly hosts = new Map<string, PrimaryHost>();
  private readonly updateCallbacks = new Set<DnsCacheUpdateCallbacks>();
  readonly stats: DnsCacheStats;
  /** Lookups at the resolver, whose promise has not settled (timed out or not). */
  private lookupsInFlight = 0;
  /** Queries waiting for a lookup slot, oldest first: at most one per host, so max_hosts bounds it. */
  private readonly lookupQueue: PrimaryHost[] = [];
  private readonly queryFamily: ResolveFamily;
  private pendingRequests = 0;
  private stopped = false;

  constructor(
    readonly settings: DnsCacheSettings,
    private readonly runtime: Runtime,
    /** `dns_cache.<name>.` */
    scope: StatsScope,
    private readonly log?: ComponentLogger,
  ) {
    this.stats = new DnsCacheStats(scope);
    this.stats.rqPendingRemaining.set(settings.maxPendingRequests);
    this.queryFamily = settings.lookupFamily === "V4_ONLY" ? "v4" : settings.lookupFamily === "V6_ONLY" ? "v6" : "all";
    // preresolve_hostnames: loaded now, as Envoy's DnsCacheImpl constructor does; nothing
    // waits for them (a failure only loses the head start), and each ages out by host_ttl
    // like any other host. The schema keeps them within max_hosts. A bare IPv6 address
    // (`::1`) is bracketed first, so its last `:` is not taken for a port; unlike Envoy,
    // whose normalizeHostForDfp (hostHasPort) reads `::1` as host `:` with port 1.
    for (const { address, port } of settings.preresolveHostnames ?? []) {
      const ipv6Literal = !address.startsWith("[") && address.indexOf(":") !== address.lastIndexOf(":");
      const authority = ipv6Literal ? `[${address}]` : address;
      const key = normalizeHostForDfp(authority, port);
      if (!this.hosts.has(key)) this.startCacheLoad(key, authority, port);
    }
  }

  get size(): number {
    return this.hosts.size;
  }

  /**
   * Envoy's canCreateDnsRequest: a request may wait for an answer while fewer than
   * dns_cache_circuit_breaker.max_pending_requests do. The release function, or undefined
   * (counted in dns_rq_pending_overflow).
   */
  canCreateDnsRequest(): (() => void) | undefined {
    if (this.pendingRequests >= this.settings.maxPendingRequests) {
      this.stats.dnsRqPendingOverflow.inc();
      return undefined;
    }
    this.setPending(this.pendingRequests + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.setPending(this.pendingRequests - 1);
    };
  }

  private setPending(count: number): void {
    this.pendingRequests = count;
    this.stats.rqPendingOpen.set(count >= this.settings.maxPendingRequests ? 1 : 0);
    this.stats.rqPendingRemaining.set(this.settings.maxPendingRequests - count);
  }

  /**
   * Envoy's loadDnsCacheEntry: a host resolved at least once is InCache (and marked used);
   * a new one starts loading unless the cache holds max_hosts already (Overflow, counted
   * in host_overflow); one still loading makes the caller wait too. `callbacks` hear of the
   * first answer unless the caller cancels first.
   */
  loadDnsCacheEntry(authority: string, defaultPort: number, callbacks: LoadDnsCacheEntryCallbacks): LoadDnsCacheEntryResult {
    const key = normalizeHostForDfp(authority, defaultPort);
    let host = this.hosts.get(key);
    if (host?.firstResolveComplete) {
      host.lastUsed = this.runtime.now();
      return { status: "InCache", info: host };
    }
    if (!host) {
      if (this.hosts.size >= this.settings.maxHosts) {
        if (this.log?.debugOn) this.log.debug(`DNS cache overflow for host '${key}'`);
        this.stats.hostOverflow.inc();
        return { status: "Overflow" };
      }
      host = this.startCacheLoad(key, authority, defaultPort);
    }
    const pending = host.pending;
    pending.add(callbacks);
    return { status: "Loading", cancel: () => pending.delete(callbacks) };
  }

  /** The host of `key` once it has an address (Envoy's getHost), marked used. */
  getHost(key: string): DnsHostInfo | undefined {
    const host = this.hosts.get(key);
    return host?.address === undefined ? undefined : host;
  }

  /** Mark a host used (the cluster's pick: Envoy's DnsHostInfo::touch). */
  touch(key: string): void {
    const host = this.hosts.get(key);
    if (host) host.lastUsed = this.runtime.now();
  }

  /** Envoy's addUpdateCallbacks: hosts with an address are told at once (the cluster's startPreInit iterates them). */
  addUpdateCallbacks(callbacks: DnsCacheUpdateCallbacks): () => void {
    this.updateCallbacks.add(callbacks);
    for (const [key, host] of this.hosts) if (host.address !== undefined) callbacks.onDnsHostAddOrUpdate(key, host);
    return () => this.updateCallbacks.delete(callbacks);
  }

  /** No more queries or timers (shutdown); waiting requests stay until their streams end. */
  stop(): void {
    this.stopped = true;
    this.lookupQueue.length = 0;
    for (const host of this.hosts.values()) this.clearTimers(host);
  }

  /** Envoy's prepareDnsRefreshStrategy, one per host: the failure rate's jittered backoff, else the refresh rate. */
  private newBackOff(): BackOffStrategy {
    const failure = this.settings.failureRefreshRate;
    return failure
      ? new JitteredExponentialBackOffStrategy(failure.baseIntervalMs, failure.maxIntervalMs, () => this.runtime.random())
      : new FixedBackOffStrategy(this.settings.refreshRateMs);
  }

  private startCacheLoad(key: string, authority: string, defaultPort: number): PrimaryHost {
    const { hostToResolve, port } = parseAuthority(authority);
    const host = new PrimaryHost(hostToResolve.toLowerCase(), port ?? defaultPort, this.runtime.now(), this.newBackOff());
    this.hosts.set(key, host);
    this.stats.hostAdded.inc();
    this.stats.numHosts.set(this.hosts.size);
    this.startResolve(key, host);
    return host;
  }

  private startResolve(key: string, host: PrimaryHost): void {
    if (this.stopped) return;
    this.stats.dnsQueryAttempt.inc();
    if (this.log?.debugOn) this.log.debug(`starting main thread resolve for host='${key}' dns='${host.resolvedHost}' port='${host.port}'`);
    const query = ++host.query;
    host.inFlight = true;
    // dns_query_timeout: an answer later than it is dropped and the query counted failed
    // (Envoy's onResolveTimeout). It runs from here, so time queued for a slot counts too.
    host.timeoutTimer = this.runtime.setTimeout(() => {
      host.timeoutTimer = undefined;
      if (host.query !== query || !host.inFlight) return;
      this.dequeue(host);
      this.stats.dnsQueryTimeout.inc();
      this.finishResolve(key, host, query, undefined, "resolve_timeout");
    }, this.settings.queryTimeoutMs);
    host.queuedLookup = () => {
      host.queuedLookup = undefined;
      this.lookupsInFlight++;
      // The slot is held until the resolver answers, even after a timeout: its thread is busy till then.
      const done = () => {
        this.lookupsInFlight--;
        this.startQueuedLookups();
      };
      this.runtime.resolve(host.resolvedHost, this.queryFamily, { ttl: true }).then(
        (answers) => {
          done();
          this.finishResolve(key, host, query, answers, "");
        },
        (err: unknown) => {
          done();
          this.finishResolve(key, host, query, undefined, failureDetails(err));
        },
      );
    };
    this.lookupQueue.push(host);
    this.startQueuedLookups();
  }

  /**
   * Start queued lookups while a slot is free. A lookup a request waits for goes first, so
   * preresolve and refresh lookups, which nobody waits for, cannot keep a request's first
   * lookup behind them; otherwise in order.
   */
  private startQueuedLookups(): void {
    while (!this.stopped && this.lookupsInFlight < MAX_LOOKUPS_IN_FLIGHT && this.lookupQueue.length > 0) {
      const waitedFor = this.lookupQueue.findIndex((host) => host.pending.size > 0);
      const [next] = this.lookupQueue.splice(waitedFor >= 0 ? waitedFor : 0, 1);
      next!.queuedLookup?.();
    }
  }

  private dequeue(host: PrimaryHost): void {
    if (host.queuedLookup === undefined) return;
    host.queuedLookup = undefined;
    const at = this.lookupQueue.indexOf(host);
    if (at >= 0) this.lookupQueue.splice(at, 1);
  }

  /**
   * Envoy's finishResolve: counts the answer, keeps a new first address (a failed or
   * empty answer leaves the last one), tells the cluster of a change and the waiting
   * requests of the first answer, then schedules the next refresh.
   */
  private finishResolve(key: string, host: PrimaryHost, query: number, answers: ResolvedAddress[] | undefined, failure: string): void {
    if (this.stopped || host.query !== query || !host.inFlight || this.hosts.get(key) !== host) return;
    host.inFlight = false;
    if (host.timeoutTimer !== undefined) this.runtime.clearTimeout(host.timeoutTimer);
    host.timeoutTimer = undefined;
    const first = !host.firstResolveComplete;
    const addresses = answers ? selectFamily(answers, this.settings.lookupFamily) : [];
    if (answers === undefined) this.stats.dnsQueryFailure.inc();
    else this.stats.dnsQuerySuccess.inc();
    const address = addresses[0]?.address;
    let changed = false;
    if (address !== undefined && address !== host.address) {
      if (this.log?.debugOn) this.log.debug(`host '${key}' address has changed from ${host.address ?? "<empty>"} to ${address}`);
      host.address = address;
      changed = true;
      this.stats.hostAddressChanged.inc();
      for (const callbacks of [...this.updateCallbacks]) callbacks.onDnsHostAddOrUpdate(key, host);
    }
    if (host.address === undefined) host.details = answers === undefined ? failure : "no_addresses";
    if (first || changed) {
      host.firstResolveComplete = true;
      this.notifyPending(host);
    }
    if (answers !== undefined) {
      host.backOff.reset();
      this.scheduleRefresh(key, host, this.refreshAfterSuccess(addresses));
    } else {
      this.scheduleRefresh(key, host, host.backOff.nextBackOffMs());
    }
  }

  /**
   * The refresh after a completed query (dns_cache_impl.cc finishResolve): an answer with
   * addresses refreshes after its first address's TTL, at least dns_min_refresh_rate (Envoy
   * caps re-resolution so a 0 s TTL cannot make constant queries); one without addresses
   * after dns_refresh_rate. A TTL the runtime cannot tell (some runtimes never do; /etc/hosts names) counts
   * as 0, as a hosts-file entry has no TTL: the minimum, then.
   */
  private refreshAfterSuccess(addresses: readonly ResolvedAddress[]): number {
    const first = addresses[0];
    if (first === undefined) return this.settings.refreshRateMs;
    return Math.max(this.settings.minRefreshRateMs, (first.ttlSeconds ?? 0) * 1000);
  }

  private scheduleRefresh(key: string, host: PrimaryHost, ms: number): void {
    if (this.stopped) return;
    host.refreshTimer = this.runtime.setTimeout(() => {
      host.refreshTimer = undefined;
      this.onReResolve(key, host);
    }, ms);
  }

  /**
   * Envoy's onReResolve: a host unused for host_ttl is removed (the cluster told, its
   * hosts' pools drain); any other is resolved again. The TTL is checked only here, so a
   * host_ttl shorter than the refresh rate takes up to a refresh to act (dns_cache.proto).
   */
  private onReResolve(key: string, host: PrimaryHost): void {
    if (this.runtime.now() - host.lastUsed > this.settings.hostTtlMs) {
      if (this.log?.debugOn) this.log.debug(`host='${key}' TTL expired, removing`);
      this.hosts.delete(key);
      this.clearTimers(host);
      this.stats.hostRemoved.inc();
      this.stats.numHosts.set(this.hosts.size);
      if (host.address !== undefined) for (const callbacks of [...this.updateCallbacks]) callbacks.onDnsHostRemove(key);
      this.notifyPending(host);
      return;
    }
    this.startResolve(key, host);
  }

  private notifyPending(host: PrimaryHost): void {
    const waiting = [...host.pending];
    host.pending.clear();
    for (const callbacks of waiting) callbacks.onLoadDnsCacheComplete(host);
  }

  private clearTimers(host: PrimaryHost): void {
    this.dequeue(host);
    if (host.refreshTimer !== undefined) this.runtime.clearTimeout(host.refreshTimer);
    if (host.timeoutTimer !== undefined) this.runtime.clearTimeout(host.timeoutTimer);
    host.refreshTimer = host.timeoutTimer = undefined;
    host.inFlight = false;
  }
}

/** A failed lookup's details: the resolver's code (getaddrinfo's EAI_AGAIN, …), as Envoy's details carry the resolver's reason. */
function failureDetails(err: unknown): string {
  const e = err as Partial<PortError> | undefined;
  return typeof e?.code === "string" ? e.code : "resolve_failure";
}
