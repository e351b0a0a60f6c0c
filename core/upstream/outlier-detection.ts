/**
 * Envoy's outlier detection (source/common/upstream/outlier_detection_impl.cc): passive
 * health checking from what requests see. Each host of a cluster gets a
 * `DetectorHostMonitorImpl` (host.outlierDetector) that the router feeds with response
 * codes and local-origin results; consecutive-error runs eject at once, success-rate and
 * failure-percentage ejections are computed every `interval` over the last interval's
 * requests. An ejected host carries HealthFlag.FailedOutlierCheck until its ejection
 * time (base_ejection_time × backoff, capped at max_ejection_time, plus jitter) passes.
 */
import type { OutlierDetectionConfig } from "../config/bootstrap.ts";
import type { Dispatcher } from "../event/dispatcher.ts";
import type { Timer } from "../event/timers.ts";
import type { Counter } from "../stats/counter.ts";
import type { Gauge } from "../stats/gauge.ts";
import type { StatsScope } from "../stats/stats-store.ts";
import type { PrioritySet } from "./host-set.ts";
import { HealthFlag, type Host } from "./host.ts";
import { NULL_DETECTOR_HOST_MONITOR, OutlierResult, SuccessRateMonitorType, type DetectorHostMonitor } from "./host-monitors.ts";

/** Why a host was ejected (envoy.data.cluster.v3.OutlierEjectionType). */
export const enum EjectionType {
  Consecutive5xx,
  ConsecutiveGatewayFailure,
  SuccessRate,
  ConsecutiveLocalOriginFailure,
  SuccessRateLocalOrigin,
  FailurePercentage,
  FailurePercentageLocalOrigin,
}

/** The stat-name part of each ejection type (ejections_detected_<x>, ejections_enforced_<x>). */
const EJECTION_STAT_NAMES = [
  "consecutive_5xx",
  "consecutive_gateway_failure",
  "success_rate",
  "consecutive_local_origin_failure",
  "local_origin_success_rate",
  "failure_percentage",
  "local_origin_failure_percentage",
] as const;

/** Envoy's `cluster.<name>.outlier_detection.*` (ALL_OUTLIER_DETECTION_STATS). */
export class OutlierDetectionStats {
  readonly ejectionsActive: Gauge;
  readonly ejectionsTotal: Counter;
  readonly ejectionsOverflow: Counter;
  readonly ejectionsEnforcedTotal: Counter;
  /** Deprecated in Envoy, still counted. */
  readonly ejectionsConsecutive5xx: Counter;
  readonly ejectionsSuccessRate: Counter;
  readonly detected: Counter[];
  readonly enforced: Counter[];

  constructor(scope: StatsScope) {
    this.ejectionsActive = scope.gauge("ejections_active");
    this.ejectionsTotal = scope.counter("ejections_total");
    this.ejectionsOverflow = scope.counter("ejections_overflow");
    this.ejectionsEnforcedTotal = scope.counter("ejections_enforced_total");
    this.ejectionsConsecutive5xx = scope.counter("ejections_consecutive_5xx");
    this.ejectionsSuccessRate = scope.counter("ejections_success_rate");
    this.detected = EJECTION_STAT_NAMES.map((name) => scope.counter(`ejections_detected_${name}`));
    this.enforced = EJECTION_STAT_NAMES.map((name) => scope.counter(`ejections_enforced_${name}`));
  }
}

/**
 * Requests and successes of one interval (Envoy's SuccessRateAccumulator): the current
 * bucket is written, the previous one is what the interval timer evaluates.
 */
class SuccessRateMonitor {
  private currentTotal = 0;
  private currentSuccess = 0;
  private backupTotal = 0;
  private backupSuccess = 0;
  /** The rate shown by /clusters: set when the host had enough volume, else -1. */
  successRate = -1;

  constructor(readonly ejectionType: EjectionType) {}

  incTotal(): void {
    this.currentTotal++;
  }

  incSuccess(): void {
    this.currentSuccess++;
  }

  /** Start a new interval: the one just ended becomes the evaluated one. */
  swapBuckets(): void {
    this.backupTotal = this.currentTotal;
    this.backupSuccess = this.currentSuccess;
    this.currentTotal = 0;
    this.currentSuccess = 0;
  }

  /** The evaluated interval's success rate (0–100) and request volume, or undefined without requests. */
  rateAndVolume(): [number, number] | undefined {
    if (this.backupTotal === 0) return undefined;
    return [(this.backupSuccess * 100) / this.backupTotal, this.backupTotal];
  }
}

/** One host's outlier state (Envoy's DetectorHostMonitorImpl). */
export class DetectorHostMonitorImpl implements DetectorHostMonitor {
  consecutive5xx = 0;
  consecutiveGatewayFailure = 0;
  consecutiveLocalOriginFailure = 0;
  numEjections = 0;
  /** Monotonic ms of the last ejection and unejection. */
  lastEjectionTime: number | undefined;
  lastUnejectionTime: number | undefined;
  /** Multiplies base_ejection_time; grows with each ejection, shrinks while healthy. */
  ejectTimeBackoff = 0;
  jitterMs = 0;
  readonly externalOrigin = new SuccessRateMonitor(EjectionType.SuccessRate);
  readonly localOrigin = new SuccessRateMonitor(EjectionType.SuccessRateLocalOrigin);
  /** The host left the cluster: results reported by requests still in flight are dropped. */
  detached = false;

  constructor(
    private readonly detector: OutlierDetector,
    readonly host: Host,
  ) {}

  putHttpResponseCode(code: number): void {
    this.externalOrigin.incTotal();
    if (this.detached) return;
    const config = this.detector.config;
    if (code >= 500 && code < 600) {
      // Envoy's CodeUtility::isGatewayError: 502, 503 and 504.
      if (code >= 502 && code <= 504) {
        if (++this.consecutiveGatewayFailure === config.consecutiveGatewayFailure) this.detector.onConsecutiveError(this, EjectionType.ConsecutiveGatewayFailure);
      } else {
        this.consecutiveGatewayFailure = 0;
      }
      if (++this.consecutive5xx === config.consecutive5xx) this.detector.onConsecutiveError(this, EjectionType.Consecutive5xx);
    } else {
      this.externalOrigin.incSuccess();
      this.consecutive5xx = 0;
      this.consecutiveGatewayFailure = 0;
    }
  }

  putResult(result: OutlierResult, code?: number): void {
    if (this.detector.config.splitExternalLocalOriginErrors) this.putResultWithLocalExternalSplit(result);
    else this.putResultNoLocalExternalSplit(result, code);
  }

  successRate(type: SuccessRateMonitorType): number {
    return this.monitor(type).successRate;
  }

  monitor(type: SuccessRateMonitorType): SuccessRateMonitor {
    return type === SuccessRateMonitorType.ExternalOrigin ? this.externalOrigin : this.localOrigin;
  }

  /** Errors not split: every result is an HTTP status (Envoy's resultToHttpCode). */
  private putResultNoLocalExternalSplit(result: OutlierResult, code: number | undefined): void {
    if (code !== undefined) {
      this.putHttpResponseCode(code);
      return;
    }
    switch (result) {
      case OutlierResult.ExtOriginRequestSuccess:
      case OutlierResult.LocalOriginConnectSuccessFinal:
        return this.putHttpResponseCode(200);
      case OutlierResult.LocalOriginTimeout:
        return this.putHttpResponseCode(504);
      case OutlierResult.LocalOriginConnectFailed:
        return this.putHttpResponseCode(503);
      case OutlierResult.ExtOriginRequestFailed:
        return this.putHttpResponseCode(500);
      case OutlierResult.LocalOriginConnectSuccess:
        // The protocol above reports its own status: counting the connect too would count the request twice.
        return;
    }
  }

  /** Errors split: connect failures and timeouts have their own counters and success rate. */
  private putResultWithLocalExternalSplit(result: OutlierResult): void {
    switch (result) {
      case OutlierResult.LocalOriginConnectSuccess:
      case OutlierResult.LocalOriginConnectSuccessFinal:
        return this.localOriginNoFailure();
      case OutlierResult.LocalOriginTimeout:
      case OutlierResult.LocalOriginConnectFailed:
        return this.localOriginFailure();
      case OutlierResult.ExtOriginRequestFailed:
        return this.putHttpResponseCode(503);
      case OutlierResult.ExtOriginRequestSuccess:
        this.putHttpResponseCode(200);
        this.localOriginNoFailure();
        return;
    }
  }

  private localOriginFailure(): void {
    if (this.detached) return;
    this.localOrigin.incTotal();
    if (++this.consecutiveLocalOriginFailure === this.detector.config.consecutiveLocalOriginFailure) {
      this.detector.onConsecutiveError(this, EjectionType.ConsecutiveLocalOriginFailure);
    }
  }

  private localOriginNoFailure(): void {
    if (this.detached) return;
    this.localOrigin.incTotal();
    this.localOrigin.incSuccess();
    this.consecutiveLocalOriginFailure = 0;
  }

  resetConsecutive(): void {
    this.consecutive5xx = 0;
    this.consecutiveGatewayFailure = 0;
    this.consecutiveLocalOriginFailure = 0;
  }
}

/** Told when a host is ejected or unejected (the cluster refreshes health, the cluster manager drains pools). */
export type ChangeStateCallback = (host: Host) => void;

/** The cluster's detector (Envoy's DetectorImpl). */
export class OutlierDetector {
  private readonly monitors = new Map<Host, DetectorHostMonitorImpl>();
  private readonly callbacks: ChangeStateCallback[] = [];
  private readonly timer: Timer;
  readonly stats: OutlierDetectionStats;
  /** The last interval's mean success rate and ejection threshold per monitor type (-1: not computed). */
  readonly successRateAverage = [-1, -1];
  readonly successRateEjectionThreshold = [-1, -1];

  constructor(
    readonly config: OutlierDetectionConfig,
    private readonly prioritySet: PrioritySet,
    private readonly dispatcher: Dispatcher,
    scope: StatsScope,
  ) {
    this.stats = new OutlierDetectionStats(scope);
    this.timer = dispatcher.timers.create(() => this.onIntervalTimer());
  }

  /** Monitor every host, and hosts discovery adds later; arm the interval timer. */
  initialize(): void {
    for (const host of this.prioritySet.allHosts()) this.addHostMonitor(host);
    this.prioritySet.addMemberUpdateCallback((added, removed) => {
      for (const host of added) this.addHostMonitor(host);
      for (const host of removed) this.removeHostMonitor(host);
    });
    this.timer.enable(this.config.intervalMs);
  }

  addChangedStateCallback(callback: ChangeStateCallback): void {
    this.callbacks.push(callback);
  }

  /** Stop the interval timer (shutdown). */
  stop(): void {
    this.timer.disable();
  }

  monitorOf(host: Host): DetectorHostMonitorImpl | undefined {
    return this.monitors.get(host);
  }

  /**
   * Active health checking passed a host it had ejected (successful_active_health_check_uneject_host):
   * it is healthy again now, not after its ejection time (Envoy's DetectorImpl::initialize).
   */
  onActiveHealthCheckPassed(host: Host): void {
    if (!this.config.successfulActiveHealthCheckUnejectHost) return;
    if (host.healthFlagGet(HealthFlag.FailedActiveHc) || !host.healthFlagGet(HealthFlag.FailedOutlierCheck)) return;
    this.unejectHost(host);
  }

  private addHostMonitor(host: Host): void {
    if (this.monitors.has(host)) return;
    const monitor = new DetectorHostMonitorImpl(this, host);
    this.monitors.set(host, monitor);
    host.outlierDetector = monitor;
  }

  private removeHostMonitor(host: Host): void {
    const monitor = this.monitors.get(host);
    if (!monitor) return;
    if (host.healthFlagGet(HealthFlag.FailedOutlierCheck)) this.stats.ejectionsActive.dec();
    monitor.detached = true;
    this.monitors.delete(host);
    host.outlierDetector = NULL_DETECTOR_HOST_MONITOR;
  }

  /** A run of consecutive errors reached its threshold (Envoy's onConsecutiveErrorWorker). */
  onConsecutiveError(monitor: DetectorHostMonitorImpl, type: EjectionType): void {
    const host = monitor.host;
    if (!this.monitors.has(host) || host.healthFlagGet(HealthFlag.FailedOutlierCheck)) return;
    this.stats.detected[type]!.inc();
    this.ejectHost(host, type);
    // Reset the run, so another bout is detected even without a success in between.
    if (type === EjectionType.Consecutive5xx) {
      this.stats.ejectionsConsecutive5xx.inc();
      monitor.consecutive5xx = 0;
    } else if (type === EjectionType.ConsecutiveGatewayFailure) monitor.consecutiveGatewayFailure = 0;
    else if (type === EjectionType.ConsecutiveLocalOriginFailure) monitor.consecutiveLocalOriginFailure = 0;
  }

  /** Envoy's enforcing_* percentages: the chance an ejection detected is carried out. */
  private enforcing(type: EjectionType): number {
    const c = this.config;
    switch (type) {
      case EjectionType.Consecutive5xx:
        return c.enforcingConsecutive5xx;
      case EjectionType.ConsecutiveGatewayFailure:
        return c.enforcingConsecutiveGatewayFailure;
      case EjectionType.SuccessRate:
        return c.enforcingSuccessRate;
      case EjectionType.ConsecutiveLocalOriginFailure:
        return c.enforcingConsecutiveLocalOriginFailure;
      case EjectionType.SuccessRateLocalOrigin:
        return c.enforcingLocalOriginSuccessRate;
      case EjectionType.FailurePercentage:
        return c.enforcingFailurePercentage;
      case EjectionType.FailurePercentageLocalOrigin:
        return c.enforcingFailurePercentageLocalOrigin;
    }
  }

  /** Envoy's Runtime featureEnabled(percent): a random draw out of 100. */
  private featureEnabled(percent: number): boolean {
    if (percent >= 100) return true;
    if (percent <= 0) return false;
    return Math.floor(this.dispatcher.runtime.random() * 100) < percent;
  }

  private ejectHost(host: Host, type: EjectionType): void {
    const maxEjectionPercent = Math.min(100, this.config.maxEjectionPercent);
    const active = this.stats.ejectionsActive.value;
    // Counted over every priority together, as Envoy does.
    const ejectedPercent = (100 * (active + 1)) / this.monitors.size;
    let shouldEject = ejectedPercent <= maxEjectionPercent;
    if (this.config.alwaysEjectOneHost) shouldEject = active === 0 || shouldEject;
    if (!shouldEject) {
      this.stats.ejectionsOverflow.inc();
      return;
    }
    // Deprecated counter, counted as Envoy still does.
    if (type === EjectionType.Consecutive5xx || type === EjectionType.SuccessRate) this.stats.ejectionsTotal.inc();
    if (!this.featureEnabled(this.enforcing(type))) return;
    const monitor = this.monitors.get(host)!;
    this.stats.ejectionsActive.inc();
    this.stats.ejectionsEnforcedTotal.inc();
    this.stats.enforced[type]!.inc();
    host.healthFlagSet(HealthFlag.FailedOutlierCheck);
    monitor.numEjections++;
    monitor.lastEjectionTime = this.dispatcher.runtime.now();
    // Jitter, so hosts ejected together do not all come back at once.
    monitor.jitterMs = Math.floor(this.dispatcher.runtime.random() * (this.config.maxEjectionTimeJitterMs + 1));
    if (monitor.ejectTimeBackoff * this.config.baseEjectionTimeMs < this.config.maxEjectionTimeMs + this.config.baseEjectionTimeMs) monitor.ejectTimeBackoff++;
    this.runCallbacks(host);
  }

  private unejectHost(host: Host): void {
    const monitor = this.monitors.get(host);
    if (!monitor) return;
    this.stats.ejectionsActive.dec();
    host.healthFlagClear(HealthFlag.FailedOutlierCheck);
    // Reset the runs, so a counter close to its threshold does not re-eject on a few new errors.
    monitor.resetConsecutive();
    monitor.lastUnejectionTime = this.dispatcher.runtime.now();
    this.runCallbacks(host);
  }

  private runCallbacks(host: Host): void {
    for (const callback of this.callbacks) callback(host);
  }

  /** The host's ejection time is over: min(base × backoff, max) + jitter since it was ejected. */
  private checkHostForUneject(monitor: DetectorHostMonitorImpl, now: number): void {
    if (!monitor.host.healthFlagGet(HealthFlag.FailedOutlierCheck)) return;
    const c = this.config;
    const ejectTime = Math.min(c.baseEjectionTimeMs * monitor.ejectTimeBackoff, c.maxEjectionTimeMs) + monitor.jitterMs;
    if (ejectTime <= now - monitor.lastEjectionTime!) this.unejectHost(monitor.host);
  }

  /** Envoy's onIntervalTimer: unejections, success-rate and failure-percentage ejections, backoff decay. */
  onIntervalTimer(): void {
    const now = this.dispatcher.runtime.now();
    for (const monitor of this.monitors.values()) {
      this.checkHostForUneject(monitor, now);
      monitor.externalOrigin.swapBuckets();
      monitor.localOrigin.swapBuckets();
      monitor.externalOrigin.successRate = -1;
      monitor.localOrigin.successRate = -1;
    }
    this.processSuccessRateEjections(SuccessRateMonitorType.ExternalOrigin);
    this.processSuccessRateEjections(SuccessRateMonitorType.LocalOrigin);
    for (const monitor of this.monitors.values()) {
      if (monitor.host.healthFlagGet(HealthFlag.FailedOutlierCheck)) continue;
      // Healthy for a whole interval since its last unejection: the backoff shrinks.
      if (monitor.lastUnejectionTime !== undefined && now - monitor.lastUnejectionTime >= this.config.intervalMs && monitor.ejectTimeBackoff !== 0) {
        monitor.ejectTimeBackoff--;
      }
    }
    this.timer.enable(this.config.intervalMs);
  }

  private processSuccessRateEjections(type: SuccessRateMonitorType): void {
    const c = this.config;
    this.successRateAverage[type] = -1;
    this.successRateEjectionThreshold[type] = -1;
    if (this.monitors.size < c.successRateMinimumHosts && this.monitors.size < c.failurePercentageMinimumHosts) return;
    const successRateHosts: [DetectorHostMonitorImpl, number][] = [];
    const failurePercentageHosts: [DetectorHostMonitorImpl, number][] = [];
    let sum = 0;
    for (const monitor of this.monitors.values()) {
      if (monitor.host.healthFlagGet(HealthFlag.FailedOutlierCheck)) continue;
      const srMonitor = monitor.monitor(type);
      const rateAndVolume = srMonitor.rateAndVolume();
      if (!rateAndVolume) continue;
      const [rate, volume] = rateAndVolume;
      if (volume >= Math.min(c.successRateRequestVolume, c.failurePercentageRequestVolume)) srMonitor.successRate = rate;
      if (volume >= c.successRateRequestVolume) {
        successRateHosts.push([monitor, rate]);
        sum += rate;
      }
      if (volume >= c.failurePercentageRequestVolume) failurePercentageHosts.push([monitor, rate]);
    }
    if (successRateHosts.length > 0 && successRateHosts.length >= c.successRateMinimumHosts) {
      const { mean, threshold } = successRateEjectionThreshold(sum, successRateHosts.map(([, rate]) => rate), c.successRateStdevFactor / 1000);
      this.successRateAverage[type] = mean;
      this.successRateEjectionThreshold[type] = threshold;
      for (const [monitor, rate] of successRateHosts) {
        if (rate >= threshold) continue;
        this.stats.ejectionsSuccessRate.inc();
        const ejectionType = monitor.monitor(type).ejectionType;
        this.stats.detected[ejectionType]!.inc();
        this.ejectHost(monitor.host, ejectionType);
      }
    }
    if (failurePercentageHosts.length > 0 && failurePercentageHosts.length >= c.failurePercentageMinimumHosts) {
      const ejectionType = type === SuccessRateMonitorType.ExternalOrigin ? EjectionType.FailurePercentage : EjectionType.FailurePercentageLocalOrigin;
      for (const [monitor, rate] of failurePercentageHosts) {
        if (100 - rate < c.failurePercentageThreshold) continue;
        // A host the success-rate pass just ejected is not ejected twice.
        if (monitor.host.healthFlagGet(HealthFlag.FailedOutlierCheck)) continue;
        this.stats.detected[ejectionType]!.inc();
        this.ejectHost(monitor.host, ejectionType);
      }
    }
  }
}

/**
 * Envoy's successRateEjectionThreshold: the mean of the hosts' success rates, and the
 * threshold `mean − factor × stdev` (population standard deviation) below which a host
 * is an outlier. {50, 100, 100, 100, 100} with factor 1.9: mean 90, stdev 20, threshold 52.
 */
export function successRateEjectionThreshold(sum: number, rates: readonly number[], stdevFactor: number): { mean: number; threshold: number } {
  const mean = sum / rates.length;
  let variance = 0;
  for (const rate of rates) variance += (rate - mean) ** 2;
  variance /= rates.length;
  return { mean, threshold: mean - stdevFactor * Math.sqrt(variance) };
}
