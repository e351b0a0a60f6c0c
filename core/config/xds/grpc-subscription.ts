/**
 * Envoy's GrpcSubscriptionImpl (source/extensions/config_subscription/grpc/
 * grpc_subscription_impl.cc): one type's watch on a management server's stream (the
 * source's own, or ADS), with the subscription's stats and initial_fetch_timeout
 * (initial-fetch.ts): start resolves on the first response applied or refused, or when
 * the timeout passes first.
 */
import type { StatsScope } from "../../stats/stats-store.ts";
import type { AdsConfigSource, ApiConfigSource } from "../bootstrap.ts";
import { SubscriptionStats, type ConfigUpdateCallback, describeUpdateError, errorKind, versionHash } from "./filesystem-subscription.ts";
import { InitialFetch } from "./initial-fetch.ts";
import type { RawDiscoveryResponse } from "./raw-discovery-response.ts";
import type { GrpcMuxLike, Subscription, SubscriptionContext, Watch, WatchCallbacks } from "./subscription-types.ts";

export class GrpcSubscription implements Subscription, WatchCallbacks {
  private readonly stats: SubscriptionStats;
  private watch: Watch | undefined;
  private readonly initialFetch: InitialFetch;
  private stopped = false;
  versionInfo = "";
  lastUpdated = 0;
  /** How errors name where the resources came from. */
  private readonly origin: string;

  constructor(
    private readonly context: SubscriptionContext,
    private readonly name: string,
    private readonly source: ApiConfigSource | AdsConfigSource,
    private readonly typeUrl: string,
    private readonly resourceNames: readonly string[],
    scope: StatsScope,
    private readonly onUpdate: ConfigUpdateCallback,
  ) {
    this.stats = new SubscriptionStats(scope);
    this.origin = source.kind === "ads" ? "ads" : `grpc cluster '${source.target.clusterName}'`;
    this.initialFetch = new InitialFetch(context.runtime, context.log, source.initialFetchTimeoutMs, this.stats.initFetchTimeout, this.stats.updateAttempt);
  }

  clock(): number {
    return this.context.runtime.wallClock();
  }

  private markSubscribed!: () => void;
  readonly subscribed = new Promise<void>((resolve) => (this.markSubscribed = resolve));

  async start(): Promise<string | undefined> {
    let started: { first: Promise<string | undefined> } | string;
    try {
      started = await this.startWatch();
    } finally {
      // Settled whatever happened: a CDS update waits for it before its ACK.
      this.markSubscribed();
    }
    return typeof started === "string" ? started : started.first;
  }

  /** Resolves once the watch is on the mux (with the wait for the first update), or with why start gave up. */
  private async startWatch(): Promise<{ first: Promise<string | undefined> } | string> {
    const openMux = this.context.openMux;
    if (openMux === undefined) return "no management server";
    let mux: GrpcMuxLike;
    try {
      mux = await openMux(this.source, this.typeUrl);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.context.log.error(`${this.name}: ${message}`);
      return message;
    }
    if (this.stopped) return "stopped";
    const first = this.initialFetch.wait(`${this.name} from ${this.origin}`);
    this.watch = mux.watch(this.typeUrl, this.resourceNames, this);
    // Envoy's GrpcSubscriptionImpl::start counts an attempt (consistency with the other subscriptions).
    this.stats.updateAttempt.inc();
    return { first };
  }

  stop(): void {
    this.stopped = true;
    this.watch?.remove();
    this.watch = undefined;
    this.initialFetch.ready("stopped");
  }

  async onConfigUpdate(response: RawDiscoveryResponse): Promise<void> {
    if (this.stopped) return;
    const stats = this.stats;
    stats.updateAttempt.inc();
    const start = this.context.runtime.now();
    try {
      await this.onUpdate(response, this.origin);
    } catch (err) {
      const failure = errorKind(err) === "failure";
      (failure ? stats.updateFailure : stats.updateRejected).inc();
      const message = describeUpdateError(err);
      const kept = this.lastUpdated > 0 ? " (the config in use is kept)" : "";
      this.context.log.warn(`${this.name}: gRPC config update rejected: ${message}${kept}`);
      this.initialFetch.ready(message);
      throw err;
    }
    stats.updateSuccess.inc();
    stats.updateDuration.record(this.context.runtime.now() - start);
    this.versionInfo = response.versionInfo;
    this.lastUpdated = this.context.runtime.wallClock();
    stats.updateTime.set(this.lastUpdated);
    stats.version.set(versionHash(response.versionInfo));
    this.initialFetch.ready(undefined);
  }

  onConfigUpdateRejected(reason: string): void {
    if (this.stopped) return;
    this.stats.updateAttempt.inc();
    this.stats.updateRejected.inc();
    const kept = this.lastUpdated > 0 ? " (the config in use is kept)" : "";
    this.context.log.warn(`${this.name}: gRPC config update rejected: ${reason}${kept}`);
    // As Envoy's UpdateRejected: the initial fetch is over (its owner starts without it).
    this.initialFetch.ready(reason);
  }

  onConfigUpdateFailed(reason: string): void {
    // GrpcSubscriptionImpl::onConfigUpdateFailed(ConnectionFailure): an attempt that failed.
    this.stats.updateAttempt.inc();
    this.stats.updateFailure.inc();
    this.context.log.debug(`${this.name}: gRPC config stream to ${this.origin} failed: ${reason}`);
  }
}
