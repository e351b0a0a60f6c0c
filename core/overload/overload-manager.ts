import type { OverloadActionName, OverloadManagerConfig } from "../config/overload-schema.ts";
import { DISABLE_HTTP_KEEPALIVE, FIXED_HEAP, REDUCE_TIMEOUTS, REJECT_INCOMING_CONNECTIONS, SHRINK_HEAP, STOP_ACCEPTING_CONNECTIONS, STOP_ACCEPTING_REQUESTS } from "./overload-names.ts";
import { HeapShrinker } from "./heap-shrinker.ts";
import type { Dispatcher } from "../event/dispatcher.ts";
import type { Timer, TimerTarget } from "../event/timers.ts";
import type { Logger } from "../log.ts";
import type { RuntimeSnapshot } from "../runtime/runtime-loader.ts";
import type { Counter } from "../stats/counter.ts";
import type { Gauge } from "../stats/gauge.ts";
import type { StatsScope, StatsStore } from "../stats/stats-store.ts";
import { OverloadAction, OverloadActionState } from "./overload-action.ts";
import { DownstreamConnectionsMonitor, FixedHeapMonitor, type ResourceMonitor } from "./resource-monitors.ts";
import { TimerScaling } from "./timer-scaling.ts";

/**
 * What the parts that shed load read of the overload manager (Envoy's
 * ThreadLocalOverloadState): each action's state, inactive (0) when not configured,
 * and the global downstream connection count.
 */
export interface OverloadState {
  readonly stopAcceptingRequests: OverloadActionState;
  readonly disableHttpKeepalive: OverloadActionState;
  readonly rejectIncomingConnections: OverloadActionState;
  /** reduce_timeouts' scaling of the HCM's timers; undefined when not configured (timers then cost nothing more). */
  readonly timerScaling: TimerScaling | undefined;
  /** Take one downstream connection from envoy.resource_monitors.global_downstream_max_connections; false when none is left. */
  tryAllocateDownstreamConnection(): boolean;
  /** Give one back (a connection that took one closed). */
  releaseDownstreamConnection(): void;
}

/** Told when stop_accepting_connections saturates or clears (the server pauses and resumes its listeners). */
export interface OverloadCallbacks {
  onStopAcceptingConnections(stop: boolean): void;
}

/**
 * A reactive resource with its stats (Envoy's OverloadManagerImpl::Resource):
 * `overload.<name>.pressure` (percent), `.failed_updates`, `.skipped_updates`. The
 * monitors here answer at once, so no update is ever pending and none is skipped; the
 * counter is kept for dashboards that read it.
 */
class Resource {
  private readonly pressure: Gauge;
  private readonly failedUpdates: Counter;

  constructor(
    readonly name: string,
    private readonly monitor: ResourceMonitor,
    scope: StatsScope,
  ) {
    this.pressure = scope.gauge(`${name}.pressure`);
    this.pressure.set(0);
    this.failedUpdates = scope.counter(`${name}.failed_updates`);
    scope.counter(`${name}.skipped_updates`);
  }

  /** Sample the monitor; the pressure, or undefined when it failed. */
  update(log: Logger): number | undefined {
    const usage = this.monitor.updateResourceUsage();
    if (!usage.ok) {
      log.info(`Failed to update resource ${this.name}: ${usage.error}`);
      this.failedUpdates.inc();
      return undefined;
    }
    this.pressure.set(Math.trunc(usage.pressure * 100));
    return usage.pressure;
  }
}

/**
 * Envoy's OverloadManagerImpl (source/server/overload_manager_impl.cc): every
 * refresh_interval (a core timer) each reactive resource monitor is sampled and the
 * actions it triggers are updated; what guards a resource reads the action states
 * (OverloadState). The proactive global connection limit is asked at every accept.
 */
export class OverloadManager implements OverloadState, TimerTarget {
  readonly stopAcceptingRequests: OverloadActionState;
  readonly disableHttpKeepalive: OverloadActionState;
  readonly rejectIncomingConnections: OverloadActionState;
  readonly timerScaling: TimerScaling | undefined;
  private readonly stopAcceptingConnections: OverloadActionState;
  private readonly resources: Resource[] = [];
  private readonly actions = new Map<string, OverloadAction>();
  private readonly globalConnections: DownstreamConnectionsMonitor | undefined;
  private readonly globalConnectionsFailedUpdates: Counter | undefined;
  private timer: Timer | undefined;
  /** shrink_heap's 10 s look, when the action is configured. */
  private readonly heapShrinker: HeapShrinker | undefined;
  callbacks: OverloadCallbacks | undefined;
  /** Downstream connections counted against overload.global_downstream_max_connections (no monitor configured). */
  private acceptedSockets = 0;

  constructor(
    private readonly config: OverloadManagerConfig | undefined,
    private readonly dispatcher: Dispatcher,
    stats: StatsStore,
    private readonly log: Logger,
    /** The layered runtime: overload.global_downstream_max_connections, when no monitor limits connections. */
    private readonly layeredRuntime?: Pick<RuntimeSnapshot, "getInteger">,
  ) {
    const scope = stats.scope("overload.");
    let connections: DownstreamConnectionsMonitor | undefined;
    for (const monitor of config?.resourceMonitors ?? []) {
      if (monitor.name === FIXED_HEAP) {
        if (dispatcher.runtime.heapUsage === undefined) {
          throw new Error(`overload_manager: ${FIXED_HEAP} needs the heap usage, which the ${dispatcher.runtime.name} runtime does not report`);
        }
        this.resources.push(new Resource(monitor.name, new FixedHeapMonitor(dispatcher.runtime, monitor.maxHeapSizeBytes), scope));
      } else {
        connections = new DownstreamConnectionsMonitor(monitor.maxActiveDownstreamConnections);
        // Envoy's ProactiveResource: failed_updates counts refused allocations.
        this.globalConnectionsFailedUpdates = scope.counter(`${monitor.name}.failed_updates`);
      }
    }
    this.globalConnections = connections;
    for (const action of config?.actions ?? []) this.actions.set(action.name, new OverloadAction(action, scope));
    this.stopAcceptingRequests = this.stateOf(STOP_ACCEPTING_REQUESTS);
    this.disableHttpKeepalive = this.stateOf(DISABLE_HTTP_KEEPALIVE);
    this.rejectIncomingConnections = this.stateOf(REJECT_INCOMING_CONNECTIONS);
    this.stopAcceptingConnections = this.stateOf(STOP_ACCEPTING_CONNECTIONS);
    const shrinkHeap = this.actions.get(SHRINK_HEAP);
    this.heapShrinker = shrinkHeap ? new HeapShrinker(dispatcher, shrinkHeap.state, scope, log) : undefined;
    const reduceTimeouts = this.actions.get(REDUCE_TIMEOUTS);
    this.timerScaling = reduceTimeouts?.config.timerMinimums ? new TimerScaling(reduceTimeouts.config.timerMinimums, reduceTimeouts.state) : undefined;
  }

  private stateOf(name: OverloadActionName): OverloadActionState {
    return this.actions.get(name)?.state ?? new OverloadActionState();
  }

  /** Start sampling: the first sample is one refresh_interval from now, as in Envoy. */
  start(): void {
    this.heapShrinker?.start();
    if (this.resources.length === 0 || this.config === undefined) return;
    this.timer = this.dispatcher.timers.create(this);
    this.timer.enable(this.config.refreshIntervalMs);
  }

  stop(): void {
    this.heapShrinker?.stop();
    this.timer?.disable();
    this.timer = undefined;
  }

  /** @internal The refresh: sample every resource, update the actions it triggers, rearm. */
  onTimer(): void {
    if (this.timer === undefined) return;
    for (const resource of this.resources) {
      const pressure = resource.update(this.log);
      if (pressure !== undefined) this.updateResourcePressure(resource.name, pressure);
    }
    this.timer.enable(this.config!.refreshIntervalMs);
  }

  private updateResourcePressure(resource: string, pressure: number): void {
    for (const [name, action] of this.actions) {
      if (!action.updateResourcePressure(resource, pressure)) continue;
      const value = action.state.value;
      this.log.info(`Overload action ${name} became ${value >= 1 ? "active" : value > 0 ? `scaled (${Math.trunc(value * 100)}%)` : "inactive"}`);
      if (name === STOP_ACCEPTING_CONNECTIONS) this.callbacks?.onStopAcceptingConnections(this.stopAcceptingConnections.saturated);
      else if (name === REDUCE_TIMEOUTS) this.timerScaling?.onStateChanged();
    }
  }

  /** True while stop_accepting_connections is saturated (a listener started meanwhile starts paused). */
  get acceptingPaused(): boolean {
    return this.stopAcceptingConnections.saturated;
  }

  /**
   * Envoy's TcpListenerImpl::rejectCxOverGlobalLimit: with the
   * global_downstream_max_connections monitor, its allocation; without, the deprecated
   * runtime key overload.global_downstream_max_connections against the accepted sockets
   * (no limit unless a layer sets it; read at every accept, so /runtime_modify applies to
   * the next connection). With both, the monitor wins, as in Envoy.
   */
  tryAllocateDownstreamConnection(): boolean {
    const connections = this.globalConnections;
    if (connections === undefined) {
      const limit = this.layeredRuntime?.getInteger(GLOBAL_MAX_CX_RUNTIME_KEY, Infinity) ?? Infinity;
      if (this.acceptedSockets >= limit) return false;
      this.acceptedSockets++;
      return true;
    }
    if (connections.tryAllocateResource(1)) return true;
    this.globalConnectionsFailedUpdates!.inc();
    return false;
  }

  releaseDownstreamConnection(): void {
    const connections = this.globalConnections;
    if (connections === undefined) {
      if (this.acceptedSockets > 0) this.acceptedSockets--;
      return;
    }
    if (!connections.tryDeallocateResource(1)) this.globalConnectionsFailedUpdates!.inc();
  }
}

/** Envoy's Runtime::Keys::GlobalMaxCxRuntimeKey (deprecated in favour of the resource monitor). */
export const GLOBAL_MAX_CX_RUNTIME_KEY = "overload.global_downstream_max_connections";

/**
 * Envoy's null overload manager: what the admin interface runs under, so an overloaded
 * proxy still answers /stats and /ready and takes admin connections
 * (source/server/admin/admin.cc gives its connection manager the null manager).
 */
export const NULL_OVERLOAD_STATE: OverloadState = {
  stopAcceptingRequests: new OverloadActionState(),
  disableHttpKeepalive: new OverloadActionState(),
  rejectIncomingConnections: new OverloadActionState(),
  timerScaling: undefined,
  tryAllocateDownstreamConnection: () => true,
  releaseDownstreamConnection: () => {},
};
