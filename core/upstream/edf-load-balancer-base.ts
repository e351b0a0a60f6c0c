import { EdfScheduler } from "./edf-scheduler.ts";
import type { Host } from "./host.ts";
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

/**
 * Envoy's EdfLoadBalancerBase (load_balancer_impl.cc) for ROUND_ROBIN and LEAST_REQUEST:
 * per host source, an EDF schedule over host weights when they differ (seeded with a
 * random number of initial picks), otherwise the policy's unweighted pick. Rebuilt
 * whenever hosts or their health change.
 */
export abstract class EdfLoadBalancerBase extends LoadBalancerBase {
  private states: PriorityState[] = [];
  /** Envoy's seed_: one random number for every schedule's starting point and rr index. */
  protected readonly seed: number;
  protected readonly hostWeightOf = (host: Host): number => this.hostWeight(host);

  constructor(params: LoadBalancerParams) {
    super(params);
    this.seed = random32(params.random);
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

  protected override chooseHostOnce(_context: LoadBalancerContext | undefined): Host | undefined {
    if (!this.hostSourceToUse(random32(this.random))) return undefined;
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
      const weighted = hosts.length > 1 && (!weightsAreEqual(hosts) || this.alwaysUseWeightedSelection());
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
