/**
 * Envoy's GrpcSubscriptionImpl (source/extensions/config_subscription/grpc/
 * grpc_subscription_impl.cc): one type's watch on a management server's stream (the
 * source's own, or ADS), with the subscription's stats and initial_fetch_timeout. Start
 * resolves on the first response applied or refused, or when initial_fetch_timeout
 * passes first (stat init_fetch_timeout; the owner's init target is released and the
 * first update, when it comes, still applies), as Envoy's init manager does.
 */
import type { StatsScope } from "../../stats/stats-store.ts";
import type { TimerHandle } from "../../port.ts";
import type { AdsConfigSource, ApiConfigSource } from "../bootstrap.ts";
import { SubscriptionStats, type ConfigUpdateCallback, describeUpdateError, errorKind, versionHash } from "./filesystem-subscription.ts";
import type { RawDiscoveryResponse } from "./raw-discovery-response.ts";
import type { GrpcMuxLike, Subscription, SubscriptionContext, Watch, WatchCallbacks } from "./subscription-types.ts";

export class GrpcSubscription implements Subscription, WatchCallbacks {
  private readonly stats: SubscriptionStats;
  private watch: Watch | undefined;
  private initDone: ((reason: string | undefined) => void) | undefined;
  private initTimer: TimerHandle | undefined;
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
  }

  clock(): number {
    return this.context.runtime.wallClock();
  }

  async start(): Promise<string | undefined> {
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
    return new Promise((resolve) => {
      this.initDone = resolve;
      const timeout = this.source.initialFetchTimeoutMs;
      if (timeout > 0) {
        this.initTimer = this.context.runtime.setTimeout(() => {
          this.initTimer = undefined;
          this.stats.initFetchTimeout.inc();
          this.context.log.warn(`${this.name}: initial fetch timeout (${timeout} ms) from ${this.origin}: starting without it`);
          this.ready("initial fetch timeout");
        }, timeout);
      }
      this.watch = mux.watch(this.typeUrl, this.resourceNames, this);
    });
  }

  stop(): void {
    this.stopped = true;
    this.watch?.remove();
    this.watch = undefined;
    this.ready("stopped");
  }

  async onConfigUpdate(response: RawDiscoveryResponse): Promise<void> {
    if (this.stopped) return;
    const stats = this.stats;
    stats.updateAttempt.inc();
    try {
      await this.onUpdate(response, this.origin);
    } catch (err) {
      const failure = errorKind(err) === "failure";
      (failure ? stats.updateFailure : stats.updateRejected).inc();
      const message = describeUpdateError(err);
      const kept = this.lastUpdated > 0 ? " (the config in use is kept)" : "";
      this.context.log.warn(`${this.name}: gRPC config update rejected: ${message}${kept}`);
      this.ready(message);
      throw err;
    }
    stats.updateSuccess.inc();
    this.versionInfo = response.versionInfo;
    this.lastUpdated = this.context.runtime.wallClock();
    stats.updateTime.set(this.lastUpdated);
    stats.version.set(versionHash(response.versionInfo));
    this.ready(undefined);
  }

  onConfigUpdateFailed(reason: string): void {
    // GrpcSubscriptionImpl::onConfigUpdateFailed(ConnectionFailure): an attempt that failed.
    this.stats.updateAttempt.inc();
    this.stats.updateFailure.inc();
    this.context.log.debug(`${this.name}: gRPC config stream to ${this.origin} failed: ${reason}`);
  }

  private ready(reason: string | undefined): void {
    if (this.initTimer !== undefined) this.context.runtime.clearTimeout(this.initTimer);
    this.initTimer = undefined;
    const done = this.initDone;
    this.initDone = undefined;
    done?.(reason);
  }
}
