/**
 * Envoy's active health checking base (source/common/upstream/health_checker_impl.cc,
 * HealthCheckerImplBase and its ActiveHealthCheckSession): one session per host of the
 * cluster, each with an interval timer and a timeout timer, counting results toward
 * `healthy_threshold` / `unhealthy_threshold` and setting HealthFlag.FailedActiveHc,
 * ActiveHcTimeout and DegradedActiveHc on the host. The protocol (HTTP, TCP) is a
 * subclass's session: it starts a check in `onInterval` and reports with
 * `handleSuccess` / `handleFailure`.
 */
import type { HealthCheckConfig } from "../config/bootstrap.ts";
import type { Dispatcher } from "../event/dispatcher.ts";
import type { Timer } from "../event/timers.ts";
import type { Logger } from "../log.ts";
import type { Counter } from "../stats/counter.ts";
import type { Gauge } from "../stats/gauge.ts";
import type { StatsScope, StatsStore } from "../stats/stats-store.ts";
import type { PrioritySet } from "./host-set.ts";
import { HealthFlag, type Host } from "./host.ts";
import { NULL_HEALTH_CHECK_HOST_MONITOR, UnhealthyType, type HealthCheckHostMonitor } from "./host-monitors.ts";
import { formatAddress } from "../network/address.ts";
import { FAILURE_TYPE_NAMES, type HealthCheckEventLogger } from "./health-check-event-logger.ts";
import { Connection, type ConnectionEvent } from "../network/connection.ts";
import type { Runtime, Socket } from "../port.ts";
import type { RuntimeSnapshot } from "../runtime/runtime-loader.ts";

/** A check's verdict on the host (Envoy's HealthState). */
export const enum HealthState {
  Unhealthy,
  Healthy,
}

/** What a check did to the host's health (Envoy's HealthTransition). */
export const enum HealthTransition {
  Unchanged,
  /** The host's health changed: the cluster's host sets must be rebuilt. */
  Changed,
  /** A threshold is being counted toward: the edge intervals apply. */
  ChangePending,
}

/** Why a check failed (envoy.data.core.v3.HealthCheckFailureType). */
export const enum FailureType {
  /** The host answered, wrongly (a status outside expected_statuses, an unmatched payload). */
  Active,
  /** The data path said so (x-envoy-immediate-health-check-fail). */
  Passive,
  /** No answer: connect failure, reset, protocol error. */
  Network,
  /** No answer within `timeout`. */
  NetworkTimeout,
}

/** Envoy's `cluster.<name>.health_check.*` (ALL_HEALTH_CHECKER_STATS). */
export class HealthCheckerStats {
  readonly attempt: Counter;
  readonly success: Counter;
  readonly failure: Counter;
  readonly passiveFailure: Counter;
  readonly networkFailure: Counter;
  readonly verifyCluster: Counter;
  readonly healthy: Gauge;
  readonly degraded: Gauge;

  constructor(scope: StatsScope) {
    this.attempt = scope.counter("attempt");
    this.success = scope.counter("success");
    this.failure = scope.counter("failure");
    this.passiveFailure = scope.counter("passive_failure");
    this.networkFailure = scope.counter("network_failure");
    this.verifyCluster = scope.counter("verify_cluster");
    this.healthy = scope.gauge("healthy");
    this.degraded = scope.gauge("degraded");
  }
}

/** What a health checker uses of its cluster (cluster.ts; an interface, so the two modules do not import each other). */
export interface HealthCheckedCluster {
  readonly name: string;
  readonly prioritySet: PrioritySet;
  /** upstream_cx_total tells whether the cluster ever carried traffic. */
  readonly stats: { readonly upstreamCxTotal: Counter };
  readonly statsStore: StatsStore;
  /** ignore_new_hosts_until_first_hc (Envoy's ClusterInfo::warmHosts). */
  readonly config?: { readonly ignoreNewHostsUntilFirstHc?: true };
  /** Open a connection to a host the way the cluster's pools do (TLS with a transport socket); absent: plain TCP. */
  connect?(runtime: Runtime, address: string, port: number, serverName?: string, pipe?: boolean): Socket;
}

/** Told after every check of every host (Envoy's HostStatusCb). */
export type HostCheckCompleteCallback = (host: Host, transition: HealthTransition, state: HealthState) => void;

export abstract class HealthCheckerImplBase {
  readonly stats: HealthCheckerStats;
  private readonly sessions = new Map<Host, ActiveHealthCheckSession>();
  private readonly callbacks: HostCheckCompleteCallback[] = [];
  private stopped = false;
  /** event_log_path's logger, once its file is open. */
  eventLogger: HealthCheckEventLogger | undefined;
  /** The layered runtime (health_check.min_interval / max_interval); absent: no bounds. */
  layeredRuntime: Pick<RuntimeSnapshot, "getInteger"> | undefined;

  constructor(
    readonly cluster: HealthCheckedCluster,
    readonly config: HealthCheckConfig,
    readonly dispatcher: Dispatcher,
    readonly log: Logger | undefined,
  ) {
    this.stats = new HealthCheckerStats(cluster.statsStore.scope(`cluster.${cluster.name}.health_check.`));
  }

  /** A session of this checker's protocol for one host. */
  protected abstract makeSession(host: Host): ActiveHealthCheckSession;

  /** "HTTP" or "TCP", for logs (Envoy's healthCheckerType). */
  abstract readonly type: string;

  addHostCheckCompleteCallback(callback: HostCheckCompleteCallback): void {
    this.callbacks.push(callback);
  }

  /**
   * Check every host, and every host discovery adds later. Hosts start failed
   * (FailedActiveHc) until their first check passes, as Envoy's clusters with health
   * checking create them; one passing check is then enough (a faster start). With
   * ignore_new_hosts_until_first_hc, a host discovery adds later is also excluded
   * (PendingActiveHc) until its first check, so it does not push its level into panic
   * (BaseDynamicClusterImpl::updateDynamicHostList).
   */
  start(): void {
    for (const host of this.cluster.prioritySet.allHosts()) host.healthFlagSet(HealthFlag.FailedActiveHc);
    this.cluster.prioritySet.refreshHealth();
    this.addHosts(this.cluster.prioritySet.allHosts());
    this.cluster.prioritySet.addMemberUpdateCallback((added, removed) => {
      if (this.stopped) return;
      if (added.length > 0) {
        const warm = this.cluster.config?.ignoreNewHostsUntilFirstHc === true;
        for (const host of added) {
          host.healthFlagSet(HealthFlag.FailedActiveHc);
          if (warm) host.healthFlagSet(HealthFlag.PendingActiveHc);
        }
        this.addHosts(added);
      }
      this.removeHosts(removed);
      if (added.length > 0) this.cluster.prioritySet.refreshHealth();
    });
  }

  /** End every session (shutdown): timers off, connections closed. */
  stop(): void {
    this.stopped = true;
    for (const host of [...this.sessions.keys()]) this.removeHosts([host]);
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  private addHosts(hosts: readonly Host[]): void {
    for (const host of hosts) {
      if (this.sessions.has(host)) continue;
      const session = this.makeSession(host);
      this.sessions.set(host, session);
      host.healthChecker = session;
      session.start();
    }
  }

  private removeHosts(hosts: readonly Host[]): void {
    for (const host of hosts) {
      const session = this.sessions.get(host);
      if (!session) continue;
      this.sessions.delete(host);
      if (host.healthChecker === session) host.healthChecker = NULL_HEALTH_CHECK_HOST_MONITOR;
      session.destroy();
    }
  }

  /** @internal */
  runCallbacks(host: Host, transition: HealthTransition, state: HealthState): void {
    for (const callback of this.callbacks) callback(host, transition, state);
  }

  /**
   * The wait before the next check (Envoy's HealthCheckerImplBase::interval): a cluster
   * that never carried traffic is checked every no_traffic_interval (its healthy hosts,
   * but for a pass still counting toward healthy_threshold, every no_traffic_healthy_interval); otherwise interval or unhealthy_interval, or the
   * edge intervals while a threshold is being counted toward. Then jitter.
   */
  interval(state: HealthState, transition: HealthTransition): number {
    const c = this.config;
    let base: number;
    if (this.cluster.stats.upstreamCxTotal.used) {
      if (state === HealthState.Unhealthy) base = transition === HealthTransition.ChangePending ? c.unhealthyEdgeIntervalMs : c.unhealthyIntervalMs;
      else base = transition === HealthTransition.ChangePending ? c.healthyEdgeIntervalMs : c.intervalMs;
    } else {
      // health_checker_impl.cc: a pass still counting toward healthy_threshold (ChangePending) is not yet healthy.
      base = state === HealthState.Healthy && transition !== HealthTransition.ChangePending ? c.noTrafficHealthyIntervalMs : c.noTrafficIntervalMs;
    }
    return this.intervalWithJitter(base, c.intervalJitterMs);
  }

  /**
   * Envoy's intervalWithJitter: up to interval_jitter_percent of the base, plus up to
   * `jitterMs`, each a uniform draw below its bound; never less than 1 ms.
   */
  intervalWithJitter(baseMs: number, jitterMs: number): number {
    const random = this.dispatcher.runtime;
    let ms = baseMs;
    const percentMod = Math.floor((this.config.intervalJitterPercent * baseMs) / 100);
    if (percentMod > 0) ms += Math.floor(random.random() * percentMod);
    if (jitterMs > 0) ms += Math.floor(random.random() * jitterMs);
    // The runtime bounds every interval (health_checker_impl.cc intervalWithJitter):
    // health_check.max_interval (default: none), then health_check.min_interval (default 0).
    const values = this.layeredRuntime;
    if (values) {
      ms = Math.min(ms, values.getInteger("health_check.max_interval", Number.MAX_SAFE_INTEGER));
      ms = Math.max(ms, values.getInteger("health_check.min_interval", 0));
    }
    return Math.max(1, ms);
  }

  /** @internal */
  incHealthy(): void {
    this.stats.healthy.inc();
  }
  /** @internal */
  decHealthy(): void {
    this.stats.healthy.dec();
  }
  /** @internal */
  incDegraded(): void {
    this.stats.degraded.inc();
  }
  /** @internal */
  decDegraded(): void {
    this.stats.degraded.dec();
  }
}

/** One host's checks (Envoy's ActiveHealthCheckSession). */
export abstract class ActiveHealthCheckSession implements HealthCheckHostMonitor {
  private numUnhealthy = 0;
  private numHealthy = 0;
  private firstCheck = true;
  private readonly intervalTimer: Timer;
  private readonly timeoutTimer: Timer;
  protected destroyed = false;

  constructor(
    protected readonly parent: HealthCheckerImplBase,
    readonly host: Host,
  ) {
    this.intervalTimer = parent.dispatcher.timers.create(() => this.onIntervalBase());
    this.timeoutTimer = parent.dispatcher.timers.create(() => this.onTimeoutBase());
    if (!host.healthFlagGet(HealthFlag.FailedActiveHc)) parent.incHealthy();
    if (host.healthFlagGet(HealthFlag.DegradedActiveHc)) parent.incDegraded();
  }

  /** Start a check: connect if needed and send (the timeout timer is already running). */
  protected abstract onInterval(): void;
  /** The check timed out: abandon it (close the connection); the failure is counted by the base. */
  protected abstract onTimeout(): void;
  /** Close whatever the session holds (its host left the cluster, or shutdown). */
  protected abstract onDestroy(): void;

  /** The first check runs at once, or after a random part of initial_jitter. */
  start(): void {
    const initialJitter = this.parent.config.initialJitterMs;
    if (initialJitter === 0) this.onIntervalBase();
    else this.intervalTimer.enable(this.parent.intervalWithJitter(0, initialJitter));
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.intervalTimer.disable();
    this.timeoutTimer.disable();
    if (!this.host.healthFlagGet(HealthFlag.FailedActiveHc)) this.parent.decHealthy();
    if (this.host.healthFlagGet(HealthFlag.DegradedActiveHc)) this.parent.decDegraded();
    this.onDestroy();
  }

  private onIntervalBase(): void {
    if (this.destroyed) return;
    this.timeoutTimer.enable(this.parent.config.timeoutMs);
    this.parent.stats.attempt.inc();
    this.onInterval();
  }

  private onTimeoutBase(): void {
    if (this.destroyed) return;
    this.onTimeout();
    this.handleFailure(FailureType.NetworkTimeout);
  }

  /** The check passed (degraded: the host said `x-envoy-degraded`). */
  protected handleSuccess(degraded: boolean): void {
    if (this.destroyed) return;
    const host = this.host;
    this.numUnhealthy = 0;
    let transition = HealthTransition.Unchanged;
    if (host.healthFlagGet(HealthFlag.FailedActiveHc)) {
      // The first result ever moves the host to healthy at once (Envoy: faster startup).
      if (this.firstCheck || ++this.numHealthy === this.parent.config.healthyThreshold) {
        host.healthFlagClear(HealthFlag.ActiveHcTimeout);
        host.healthFlagClear(HealthFlag.ExcludedViaImmediateHcFail);
        host.healthFlagClear(HealthFlag.FailedActiveHc);
        host.lastHcPassTime = this.parent.dispatcher.runtime.now();
        this.parent.incHealthy();
        transition = HealthTransition.Changed;
        this.parent.eventLogger?.logAddHealthy(host, this.firstCheck);
        this.parent.log?.info(`health_check: ${this.parent.cluster.name} ${formatAddress(host)}: healthy (${this.parent.type})`);
      } else {
        transition = HealthTransition.ChangePending;
      }
    }
    transition = this.clearPendingFlag(transition);
    if (degraded !== host.healthFlagGet(HealthFlag.DegradedActiveHc)) {
      if (degraded) {
        host.healthFlagSet(HealthFlag.DegradedActiveHc);
        this.parent.incDegraded();
        this.parent.eventLogger?.logDegraded(host);
      } else {
        host.healthFlagClear(HealthFlag.DegradedActiveHc);
        this.parent.decDegraded();
        this.parent.eventLogger?.logNoLongerDegraded(host);
      }
      if (transition === HealthTransition.Unchanged) transition = HealthTransition.Changed;
    }
    this.parent.stats.success.inc();
    if (this.parent.config.alwaysLogHealthCheckSuccess) {
      this.parent.log?.info(`health_check: ${this.parent.cluster.name} ${formatAddress(host)}: check passed`);
      // Envoy logs the event only for a check that changed nothing (the change has its own event).
      if (transition !== HealthTransition.Changed) this.parent.eventLogger?.logSuccessfulHealthCheck(host);
    }
    this.firstCheck = false;
    this.parent.runCallbacks(host, transition, HealthState.Healthy);
    this.timeoutTimer.disable();
    this.intervalTimer.enable(this.parent.interval(HealthState.Healthy, transition));
  }

  /** The check failed; `retriable` (a retriable_statuses answer) counts toward unhealthy_threshold like a network failure. */
  protected handleFailure(type: FailureType, retriable = false): void {
    if (this.destroyed) return;
    const transition = this.markUnhealthy(type, retriable);
    if (this.destroyed) return;
    this.timeoutTimer.disable();
    this.intervalTimer.enable(this.parent.interval(HealthState.Unhealthy, transition));
  }

  /**
   * Envoy's ActiveHealthCheckSession::setUnhealthy: a wrong answer fails the host at
   * once, no answer (or a retriable one) only after unhealthy_threshold in a row.
   */
  private markUnhealthy(type: FailureType, retriable: boolean): HealthTransition {
    const host = this.host;
    this.numHealthy = 0;
    let transition = HealthTransition.Unchanged;
    const network = type === FailureType.Network || type === FailureType.NetworkTimeout;
    if (!host.healthFlagGet(HealthFlag.FailedActiveHc)) {
      if ((!network && !retriable) || ++this.numUnhealthy === this.parent.config.unhealthyThreshold) {
        host.healthFlagSet(HealthFlag.FailedActiveHc);
        this.parent.decHealthy();
        transition = HealthTransition.Changed;
        this.parent.eventLogger?.logEjectUnhealthy(host, type);
        this.parent.log?.warn(`health_check: ${this.parent.cluster.name} ${formatAddress(host)}: unhealthy (${this.parent.type}, ${FAILURE_TYPE_NAMES[type]})`);
      } else {
        transition = HealthTransition.ChangePending;
      }
    }
    // A host failing by timeout is flagged so; failing otherwise, not (it may alternate).
    if (type === FailureType.NetworkTimeout && host.healthFlagGet(HealthFlag.FailedActiveHc)) host.healthFlagSet(HealthFlag.ActiveHcTimeout);
    else host.healthFlagClear(HealthFlag.ActiveHcTimeout);
    transition = this.clearPendingFlag(transition);
    if (this.firstCheck || this.parent.config.alwaysLogHealthCheckFailures) {
      this.parent.eventLogger?.logUnhealthy(host, type, this.firstCheck);
      this.parent.log?.info(`health_check: ${this.parent.cluster.name} ${formatAddress(host)}: check failed (${this.parent.type}, ${FAILURE_TYPE_NAMES[type]})`);
    }
    const stats = this.parent.stats;
    stats.failure.inc();
    if (network) stats.networkFailure.inc();
    else if (type === FailureType.Passive) stats.passiveFailure.inc();
    this.firstCheck = false;
    this.parent.runCallbacks(host, transition, HealthState.Unhealthy);
    return transition;
  }

  /** A host not yet checked (PendingActiveHc) has been now: the cluster must rebuild its excluded set. */
  private clearPendingFlag(transition: HealthTransition): HealthTransition {
    if (!this.host.healthFlagGet(HealthFlag.PendingActiveHc)) return transition;
    this.host.healthFlagClear(HealthFlag.PendingActiveHc);
    return HealthTransition.Changed;
  }

  /**
   * HealthCheckHostMonitor: the data path saw `x-envoy-immediate-health-check-fail`.
   * The host is excluded at once and failed as a passive failure (Envoy's
   * setUnhealthyCrossThread); its check interval is left as it was.
   */
  setUnhealthy(type: UnhealthyType): void {
    if (this.destroyed) return;
    if (type === UnhealthyType.ImmediateHealthCheckFail) this.host.healthFlagSet(HealthFlag.ExcludedViaImmediateHcFail);
    this.markUnhealthy(FailureType.Passive, false);
  }
}


/**
 * A health check session's own connection to its host. Its events and bytes reach the
 * session only while it is the session's current one (`isCurrent`): a connection the
 * session closed may still report its close later.
 */
export function connectForCheck(
  runtime: Runtime,
  cluster: HealthCheckedCluster,
  host: Host,
  isCurrent: (connection: Connection) => boolean,
  onEvent: (event: ConnectionEvent) => void,
  onData: (data: Uint8Array, endStream: boolean) => void,
): Connection {
  const port = host.healthCheckPort;
  const socket = cluster.connect ? cluster.connect(runtime, host.address, port, undefined, host.pipe) : runtime.connect(host.pipe ? { address: host.address, port, pipe: true } : { address: host.address, port });
  const connection = new Connection(socket, 0);
  connection.addConnectionCallbacks({
    onEvent: (event) => {
      if (isCurrent(connection)) onEvent(event);
    },
    onAboveWriteBufferHighWatermark() {},
    onBelowWriteBufferLowWatermark() {},
  });
  connection.setReadSink({
    onData: (data, endStream) => {
      if (isCurrent(connection)) onData(data, endStream);
    },
  });
  return connection;
}
