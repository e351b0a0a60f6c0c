import { EdfScheduler } from "./edf-scheduler.ts";
import { HostHealth, type Host } from "./host.ts";
import type { HostSet } from "./host-set.ts";
import type { LoadBalancerContext } from "./load-balancer.ts";
import { hostsOfSource, LoadBalancerBase, random32, SourceType, type LoadBalancerParams } from "./load-balancer-base.ts";

/** One host source of one priority: its hosts, its EDF schedule when weights differ, its round robin index. */
export interface HostSourceState {
  readonly hosts: readonly Host[];
  readonly edf: EdfScheduler<Host> | undefined;
  /** Next round robin position; kept across rebuilds, as Envoy's rr_indexes_ are. */
  rrIndex: number;
}

/** Per priority: all, healthy and degraded hosts, then healthy and degraded per locality. */
interface PriorityState {
  readonly sources: HostSourceState[];
  readonly localityHealthy: HostSourceState[];
  readonly localityDegraded: HostSourceState[];
}

function weightsAreEqual(hosts: readonly Host[]): boolean {
  for (let i = 1; i < hosts.length; i++) if (hosts[i]!.weight !== hosts[0]!.weight) return false;
  return true;
}

const STANDING_CLOCK = (): number => 0;

/**
 * Envoy's EdfLoadBalancerBase (load_balancer_impl.cc) for ROUND_ROBIN and LEAST_REQUEST:
 * per host source, an EDF schedule over host weights when they differ (seeded with a
 * random number of initial picks), otherwise the policy's unweighted pick. Rebuilt
 * whenever hosts or their health change.
 *
 * Slow start (`slow_start_config`): a host that became healthy less than
 * `slow_start_window` ago — by its last passed health check, or when the balancer first
 * saw it healthy — weighs `weight × max((t / window) ^ (1 / aggression), min_weight_percent)`.
 * While any host is in its window the EDF schedule is used whatever the weights, and a
 * pick re-reads the weight, so the ramp follows the clock.
 */
export abstract class EdfLoadBalancerBase extends LoadBalancerBase {
  private states: PriorityState[] = [];
  /** Envoy's seed_: one random number for every schedule's starting point and rr index. */
  protected readonly seed: number;
  protected readonly hostWeightOf = (host: Host): number => this.hostWeight(host);
  private readonly now: () => number;
  /** 0: slow start is off. */
  private readonly slowStartWindowMs: number;
  private readonly aggression: number;
  private readonly aggressionRuntimeKey: string | undefined;
  private readonly slowStartMinWeight: number;
  /** Envoy's latest_host_added_time_: the latest time a host entered slow start (the balancer's creation at first). */
  private latestHostAddedTime: number;

  constructor(params: LoadBalancerParams) {
    super(params);
    this.seed = random32(params.random);
    this.now = params.now ?? STANDING_CLOCK;
    const slowStart = params.config.slowStart;
    this.slowStartWindowMs = slowStart?.windowMs ?? 0;
    this.aggression = slowStart?.aggression ?? 1;
    this.aggressionRuntimeKey = slowStart?.aggressionRuntimeKey;
    this.slowStartMinWeight = (slowStart?.minWeightPercent ?? 10) / 100;
    this.latestHostAddedTime = this.now();
  }

  /** Is any host within its slow start window (Envoy's !noHostsAreInSlowStart)? */
  protected slowStartActive(): boolean {
    return this.slowStartWindowMs > 0 && this.now() - this.latestHostAddedTime <= this.slowStartWindowMs;
  }

  /**
   * Envoy's recalculateHostsInSlowStart: a healthy host never seen healthy starts its
   * window now; the latest start within the window keeps slow start on.
   */
  private recalculateHostsInSlowStart(hosts: readonly Host[]): void {
    const now = this.now();
    for (const host of hosts) {
      if (host.health() !== HostHealth.Healthy) continue;
      const passed = host.lastHcPassTime ?? now;
      if (host.lastHcPassTime === undefined) host.lastHcPassTime = now;
      if (passed > this.latestHostAddedTime && now - passed <= this.slowStartWindowMs) this.latestHostAddedTime = passed;
    }
  }

  /** Envoy's applySlowStartFactor: the weight scaled by how far into its window a healthy host is. */
  protected applySlowStartFactor(weight: number, host: Host): number {
    const passed = host.lastHcPassTime;
    if (passed === undefined || host.health() !== HostHealth.Healthy) return weight;
    const inHealthyState = this.now() - passed;
    if (inHealthyState >= this.slowStartWindowMs) return weight;
    const timeFactor = Math.max(1, inHealthyState) / this.slowStartWindowMs;
    const aggression = this.currentAggression();
    const factor = aggression === 1 ? timeFactor : Math.pow(timeFactor, 1 / aggression);
    return weight * Math.max(factor, this.slowStartMinWeight);
  }

  /** The runtime's value when aggression names a key; Envoy falls back to 1.0 for a value not above 0. */
  private currentAggression(): number {
    if (this.aggressionRuntimeKey === undefined || this.runtime === undefined) return this.aggression;
    const value = this.runtime.getDouble(this.aggressionRuntimeKey, this.aggression);
    return value > 0 ? value : 1;
  }

  /** Build the schedules; subclasses call it at the end of their constructor (their fields are set then). */
  protected initialize(): void {
    this.refresh();
  }

  protected override refresh(): void {
    const old = this.states;
    this.states = this.prioritySet.hostSetsPerPriority.map((set) => this.buildPriority(set, old[set.priority]));
  }

  chooseHost(context: LoadBalancerContext | undefined): Host | undefined {
    return this.chooseWithRetries(context);
  }

  protected override chooseHostOnce(context: LoadBalancerContext | undefined): Host | undefined {
    if (!this.hostSourceToUse(random32(this.random), context)) return undefined;
    const state = this.sourceState();
    if (!state) return undefined;
    if (state.edf) return state.edf.pickAndAdd(this.hostWeightOf);
    if (state.hosts.length === 0) return undefined;
    return this.unweightedHostPick(state);
  }

  /** The host's current weight for the schedule (ROUND_ROBIN: its weight; LEAST_REQUEST: scaled by active requests). */
  protected abstract hostWeight(host: Host): number;

  /** The pick when every weight is equal. */
  protected abstract unweightedHostPick(state: HostSourceState): Host;

  /** LEAST_REQUEST: an explicitly set active_request_bias always schedules by weight. */
  protected alwaysUseWeightedSelection(): boolean {
    return false;
  }

  private sourceState(): HostSourceState | undefined {
    const state = this.states[this.sourcePriority];
    if (!state) return undefined;
    switch (this.sourceType) {
      case SourceType.LocalityHealthyHosts:
        return state.localityHealthy[this.sourceLocality];
      case SourceType.LocalityDegradedHosts:
        return state.localityDegraded[this.sourceLocality];
      default:
        return state.sources[this.sourceType];
    }
  }

  private buildPriority(set: HostSet, old: PriorityState | undefined): PriorityState {
    const source = (type: SourceType, locality: number, previous: HostSourceState | undefined): HostSourceState => {
      const hosts = hostsOfSource(set, type, locality);
      if (this.slowStartWindowMs > 0) this.recalculateHostsInSlowStart(hosts);
      const weighted = hosts.length > 1 && (!weightsAreEqual(hosts) || this.alwaysUseWeightedSelection() || this.slowStartActive());
      return {
        hosts,
        edf: weighted ? EdfScheduler.createWithPicks(hosts, this.hostWeightOf, this.seed) : undefined,
        rrIndex: previous?.rrIndex ?? this.seed,
      };
    };
    return {
      sources: [SourceType.AllHosts, SourceType.HealthyHosts, SourceType.DegradedHosts].map((type) => source(type, 0, old?.sources[type])),
      localityHealthy: set.healthyHostsPerLocality.map((_, i) => source(SourceType.LocalityHealthyHosts, i, old?.localityHealthy[i])),
      localityDegraded: set.degradedHostsPerLocality.map((_, i) => source(SourceType.LocalityDegradedHosts, i, old?.localityDegraded[i])),
    };
  }
}
