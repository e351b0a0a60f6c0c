import type { DnsClusterConfig, DnsLookupFamily } from "../config/bootstrap.ts";
import type { Logger } from "../log.ts";
import type { PortError, ResolvedAddress, ResolveFamily, Runtime, TimerHandle } from "../port.ts";
import { FixedBackOffStrategy, JitteredExponentialBackOffStrategy, type BackOffStrategy } from "./backoff-strategy.ts";
import type { ClusterStats } from "./cluster-stats.ts";

/** A DNS cluster's discovery (STRICT_DNS, LOGICAL_DNS), started and stopped by the cluster manager. */
export interface DnsDiscovery {
  /** Resolve every name now, then on each one's refresh schedule. */
  start(): void;
  /** No more resolutions or timers (shutdown). */
  stop(): void;
  /**
   * Settles once every name had its first resolution, answered or failed (or discovery
   * stopped first): Envoy's onPreInitComplete, which the init manager waits for before
   * listeners start (strict_dns_cluster.cc, logical_dns_cluster.cc).
   */
  readonly warmed: Promise<void>;
}

/** What a DNS cluster does with each completed resolution of one of its names. */
export interface DnsAnswerHandler {
  /**
   * The name resolved to `addresses` (already narrowed to the lookup family; may be
   * empty). Returns false when the answer is not usable — a LOGICAL_DNS cluster's
   * empty answer — which then counts as a failure.
   */
  onDnsAnswer(target: DnsResolveTarget, addresses: readonly ResolvedAddress[]): boolean;
}

/**
 * One name of a DNS cluster, resolved now and again after every answer (Envoy's
 * ResolveTarget in strict_dns_cluster.cc, and LogicalDnsCluster::startResolve):
 * `dns_refresh_rate` after a success (or the answer's TTL with `respect_dns_ttl`, plus
 * up to `dns_jitter`), the failure backoff after a failure (`dns_failure_refresh_rate`,
 * else the refresh rate). One query at a time: the next is scheduled only when the
 * last one completed. Counts the cluster's update_attempt/_success/_failure.
 */
export class DnsResolveTarget {
  private readonly backOff: BackOffStrategy;
  private readonly queryFamily: ResolveFamily;
  private timer: TimerHandle | undefined;
  private stopped = false;
  /** A failure or an empty answer was logged as a warning; the next good answer says so too. */
  private warned = false;
  private markFirstDone!: () => void;
  /** Settles at the first completed resolution (success or failure) or at stop(). */
  readonly firstDone: Promise<void> = new Promise((resolve) => (this.markFirstDone = resolve));

  constructor(
    readonly clusterName: string,
    /** The name to resolve (an endpoint's socket_address.address). */
    readonly dnsAddress: string,
    private readonly settings: DnsClusterConfig,
    private readonly runtime: Runtime,
    private readonly stats: ClusterStats,
    private readonly log: Logger,
    private readonly handler: DnsAnswerHandler,
  ) {
    const failure = settings.failureRefreshRate;
    this.backOff = failure
      ? new JitteredExponentialBackOffStrategy(failure.baseIntervalMs, failure.maxIntervalMs, () => runtime.random())
      : new FixedBackOffStrategy(settings.refreshRateMs);
    this.queryFamily = settings.lookupFamily === "V4_ONLY" ? "v4" : settings.lookupFamily === "V6_ONLY" ? "v6" : "all";
  }

  startResolve(): void {
    if (this.stopped) return;
    this.timer = undefined;
    this.stats.updateAttempt.inc();
    if (this.log.enabled("trace")) this.log.trace(`starting async DNS resolution for ${this.dnsAddress}`);
    this.runtime.resolve(this.dnsAddress, this.queryFamily, this.settings.respectDnsTtl ? { ttl: true } : undefined).then(
      (answers) => this.onResolved(answers),
      (err: unknown) => this.onFailed(asPortError(err)),
    );
  }

  /** No more queries (cluster removed, server shutting down); an answer still on its way is dropped. */
  stop(): void {
    this.stopped = true;
    this.markFirstDone();
    if (this.timer !== undefined) this.runtime.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private onResolved(answers: ResolvedAddress[]): void {
    if (this.stopped) return;
    const addresses = selectFamily(answers, this.settings.lookupFamily);
    if (!this.handler.onDnsAnswer(this, addresses)) {
      this.onFailed({ code: "ENOTFOUND", message: `no address for ${this.dnsAddress}` });
      return;
    }
    this.stats.updateSuccess.inc();
    this.backOff.reset();
    if (addresses.length === 0) {
      this.warnOnce(`resolves to no ${familyText(this.settings.lookupFamily)}address: the cluster has no hosts for it`);
    } else if (this.warned) {
      this.warned = false;
      this.log.info(`cluster '${this.clusterName}': ${this.dnsAddress} resolves again (${addresses.map((a) => a.address).join(", ")})`);
    }
    let refreshMs = this.settings.refreshRateMs;
    // Envoy refreshes after the smallest TTL of the answer; a TTL of 0 (or none: the runtime
    // cannot tell, or the name is in /etc/hosts) keeps dns_refresh_rate.
    if (this.settings.respectDnsTtl) {
      const ttl = minTtlSeconds(addresses);
      if (ttl !== undefined && ttl > 0) refreshMs = ttl * 1000;
    }
    if (this.settings.jitterMs > 0) refreshMs += Math.floor(this.runtime.random() * this.settings.jitterMs);
    if (this.log.enabled("debug")) this.log.debug(`DNS refresh rate reset for ${this.dnsAddress}, refresh rate ${refreshMs} ms`);
    this.schedule(refreshMs);
  }

  private onFailed(err: PortError): void {
    if (this.stopped) return;
    this.stats.updateFailure.inc();
    const retryMs = this.backOff.nextBackOffMs();
    this.warnOnce(`does not resolve (${err.code}: ${err.message}); retrying in ${retryMs} ms`);
    if (this.log.enabled("debug")) this.log.debug(`DNS refresh rate reset for ${this.dnsAddress}, (failure) refresh rate ${retryMs} ms`);
    this.schedule(retryMs);
  }

  /** One warning per run of failures, not one per refresh. */
  private warnOnce(problem: string): void {
    if (this.warned) return;
    this.warned = true;
    this.log.warn(`cluster '${this.clusterName}': ${this.dnsAddress} ${problem}`);
  }

  private schedule(ms: number): void {
    this.timer = this.runtime.setTimeout(() => this.startResolve(), ms);
    // Envoy's ResolveTarget completes its first resolution after the host update (or the failure) and the next timer.
    this.markFirstDone();
  }
}

/**
 * The addresses a lookup family keeps of one getaddrinfo answer (Envoy's
 * GetAddrInfoDnsResolver::processResponse): AUTO prefers IPv6 ("effectively
 * V6Preferred"), V4_PREFERRED IPv4, each falling back to the other family when it has
 * none; ALL keeps both, IPv6 first.
 */
export function selectFamily(answers: readonly ResolvedAddress[], family: DnsLookupFamily): ResolvedAddress[] {
  const v4 = answers.filter((a) => a.family === 4);
  const v6 = answers.filter((a) => a.family === 6);
  switch (family) {
    case "V4_ONLY":
      return v4;
    case "V6_ONLY":
      return v6;
    case "V4_PREFERRED":
      return v4.length > 0 ? v4 : v6;
    case "AUTO":
      return v6.length > 0 ? v6 : v4;
    case "ALL":
      return [...v6, ...v4];
  }
}

/** An adapter rejects with a PortError; anything else it threw is described as one. */
function asPortError(err: unknown): PortError {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  return { code: typeof e?.code === "string" ? e.code : "EUNKNOWN", message: typeof e?.message === "string" ? e.message : String(err) };
}

function minTtlSeconds(addresses: readonly ResolvedAddress[]): number | undefined {
  let min: number | undefined;
  for (const a of addresses) if (a.ttlSeconds !== undefined && (min === undefined || a.ttlSeconds < min)) min = a.ttlSeconds;
  return min;
}

function familyText(family: DnsLookupFamily): string {
  return family === "V4_ONLY" ? "IPv4 " : family === "V6_ONLY" ? "IPv6 " : "";
}
