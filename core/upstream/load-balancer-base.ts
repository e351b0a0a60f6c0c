import type { LoadBalancingConfig } from "../config/bootstrap.ts";
import type { RuntimeSnapshot } from "../runtime/runtime-loader.ts";
import { EdfScheduler } from "./edf-scheduler.ts";
import type { Host } from "./host.ts";
import { localityKey, type HostSet, type PrioritySet } from "./host-set.ts";
import type { ClusterLbStats } from "./lb-stats.ts";
import type { LoadBalancer, LoadBalancerContext, PriorityLoad } from "./load-balancer.ts";

const NO_HOSTS: readonly Host[] = [];

/** The port's random(): a float in [0, 1). */
export type RandomSource = () => number;

/** A uniformly random 32-bit unsigned integer (Envoy draws 64 bits; 32 keep every modulo here unbiased enough). */
export function random32(random: RandomSource): number {
  return Math.floor(random() * 4294967296) >>> 0;
}

/** A random 64-bit value, for hash balancers picking without a hash (Envoy's random_.random()). */
export function random64(random: RandomSource): bigint {
  return (BigInt(random32(random)) << 32n) | BigInt(random32(random));
}

/** What every balancer is built from (Envoy's LoadBalancerParams and the cluster's config). */
export interface LoadBalancerParams {
  readonly prioritySet: PrioritySet;
  readonly stats: ClusterLbStats;
  readonly random: RandomSource;
  readonly config: LoadBalancingConfig;
  /** The runtime (upstream.healthy_panic_threshold, active_request_bias's key); absent: the configured values. */
  readonly runtime?: Pick<RuntimeSnapshot, "getInteger" | "getDouble">;
  /** The port's monotonic clock in ms (slow start); a balancer without one sees time stand still. */
  readonly now?: () => number;
  /** The local cluster's hosts (zone aware routing); absent without a local cluster. */
  readonly localPrioritySet?: PrioritySet;
}

/** Which hosts of a priority a pick draws from (Envoy's HostsSource::SourceType). */
export const enum SourceType {
  AllHosts,
  HealthyHosts,
  DegradedHosts,
  LocalityHealthyHosts,
  LocalityDegradedHosts,
}

/**
 * Envoy's LoadBalancerBase with ZoneAwareLoadBalancerBase's host source choice
 * (source/extensions/load_balancing_policies/common/load_balancer_impl.cc), shared by
 * every policy:
 *
 * - Each priority level's availability is its share of healthy (and, separately,
 *   degraded) hosts times the overprovisioning factor (1.4 by default), capped at 100 %.
 * - Load goes to the highest priorities first, as much as their availability allows;
 *   healthy hosts before degraded ones; rounding remainders to the first available level.
 * - A level whose healthy + degraded share is under `healthy_panic_threshold` (50 %) is
 *   in panic — unless all levels together are fully available — and then balances over
 *   all its hosts, healthy or not. When every level is in panic, load follows host counts.
 * - With locality weighted balancing, a locality is picked first (an EDF schedule over
 *   locality weight × availability), then a host in it.
 *
 * - Zone aware routing, with a local cluster (cluster_manager.local_cluster_name): at
 *   priority 0, picks stay in the node's own locality as far as its share of the
 *   upstream hosts covers the local fleet's share there; the rest go to localities with
 *   capacity to spare.
 */
export abstract class LoadBalancerBase implements LoadBalancer, PriorityLoad {
  protected readonly prioritySet: PrioritySet;
  protected readonly stats: ClusterLbStats;
  protected readonly random: RandomSource;
  protected readonly config: LoadBalancingConfig;
  protected readonly runtime: LoadBalancerParams["runtime"];
  /** Percent of the load each priority's healthy (and degraded) hosts take; all add up to 100. */
  protected healthyPriorityLoad: number[] = [];
  protected degradedPriorityLoad: number[] = [];
  private perPriorityHealth: number[] = [];
  private perPriorityDegraded: number[] = [];
  /** Per priority: balance over all its hosts because too few are healthy. */
  protected perPriorityPanic: boolean[] = [];
  /** Per priority, with locality weighted balancing: the healthy and degraded locality schedules. */
  private localityHealthy: (EdfScheduler<LocalityEntry> | undefined)[] = [];
  private localityDegraded: (EdfScheduler<LocalityEntry> | undefined)[] = [];

  // The host source of the last hostSourceToUse(), in fields: no object per pick.
  protected sourcePriority = 0;
  protected sourceType = SourceType.HealthyHosts;
  protected sourceLocality = 0;

  /** Zone aware routing (priority 0 only): the local cluster's hosts and what was computed from them. */
  private readonly localPrioritySet: PrioritySet | undefined;
  private localityRouting = LocalityRoutingState.NoLocalityRouting;
  /** LocalityResidual: out of 10000, the share of picks that stay in the local locality. */
  private localPercentToRoute = 0;
  /** LocalityResidual: per upstream locality, the accumulated capacity beyond the local fleet's share. */
  private residualCapacity: number[] = [];

  constructor(params: LoadBalancerParams) {
    this.prioritySet = params.prioritySet;
    this.stats = params.stats;
    this.random = params.random;
    this.config = params.config;
    this.runtime = params.runtime;
    this.localPrioritySet = params.localPrioritySet;
    this.recalculatePriorityState();
    this.prioritySet.addMemberUpdateCallback(() => {
      this.recalculatePriorityState();
      this.regenerateLocalityRoutingStructures();
      this.refresh();
    });
    if (this.localPrioritySet) {
      this.localPrioritySet.addMemberUpdateCallback(() => this.regenerateLocalityRoutingStructures());
      this.regenerateLocalityRoutingStructures();
    }
  }

  abstract chooseHost(context: LoadBalancerContext | undefined): Host | undefined;

  /** PriorityLoad: the balancer's own loads, handed to a context that may adjust them. */
  get healthy(): readonly number[] {
    return this.healthyPriorityLoad;
  }

  get degraded(): readonly number[] {
    return this.degradedPriorityLoad;
  }

  /** Hosts or their health changed (after the priority loads are recomputed): rebuild what the policy keeps. */
  protected refresh(): void {}

  /**
   * Envoy's choosePriority: `hash % 100 + 1` falls in the healthy loads, then the
   * degraded ones. Returned as priority × 2, plus 1 for degraded (no object per pick).
   */
  protected choosePriority(hash: number, healthy: readonly number[] = this.healthyPriorityLoad, degraded: readonly number[] = this.degradedPriorityLoad): number {
    const point = (hash % 100) + 1;
    let aggregate = 0;
    for (let p = 0; p < healthy.length; p++) {
      aggregate += healthy[p]!;
      if (point <= aggregate) return p * 2;
    }
    for (let p = 0; p < degraded.length; p++) {
      aggregate += degraded[p]!;
      if (point <= aggregate) return p * 2 + 1;
    }
    return 0;
  }

  /**
   * Envoy's hostSourceToUse: the priority for `hash`, then all hosts (panic), a locality
   * (locality weighted), or its healthy or degraded hosts. False: fail the pick
   * (fail_traffic_on_panic).
   */
  protected hostSourceToUse(hash: number, context?: LoadBalancerContext): boolean {
    let chosen: number;
    if (context?.determinePriorityLoad) {
      // Envoy's chooseHostSet: the context (a retry's retry_priority) may move the load.
      const load = context.determinePriorityLoad(this.prioritySet, this);
      chosen = this.choosePriority(hash, load.healthy, load.degraded);
    } else {
      chosen = this.choosePriority(hash);
    }
    const priority = chosen >> 1;
    const degraded = (chosen & 1) === 1;
    this.sourcePriority = priority;
    this.sourceLocality = 0;
    if (this.perPriorityPanic[priority]) {
      this.stats.lbHealthyPanic.inc();
      if (this.config.failTrafficOnPanic) return false;
      this.sourceType = SourceType.AllHosts;
      return true;
    }
    if (this.config.localityWeighted) {
      const scheduler = degraded ? this.localityDegraded[priority] : this.localityHealthy[priority];
      const locality = scheduler?.pickAndAdd(localityEntryWeight);
      if (locality !== undefined) {
        this.sourceType = degraded ? SourceType.LocalityDegradedHosts : SourceType.LocalityHealthyHosts;
        this.sourceLocality = locality.index;
        return true;
      }
    }
    this.sourceType = degraded ? SourceType.DegradedHosts : SourceType.HealthyHosts;
    if (priority !== 0 || this.localityRouting === LocalityRoutingState.NoLocalityRouting) return true;
    // Zone aware routing (Envoy's hostSourceToUse): routing_enabled percent of the picks,
    // or the runtime's upstream.zone_routing.enabled (featureEnabled, read per pick).
    const configured = this.config.zoneRoutingEnabled;
    const enabled = this.runtime?.getInteger("upstream.zone_routing.enabled", configured) ?? configured;
    if (enabled < 100 && random32(this.random) % 100 >= enabled) return true;
    if (isHostSetInPanic(this.localPrioritySet!.hostSetsPerPriority[0], Math.min(100, this.config.healthyPanicThreshold))) {
      this.stats.lbLocalClusterNotOk.inc();
      return !this.config.failTrafficOnPanic;
    }
    this.sourceType = degraded ? SourceType.LocalityDegradedHosts : SourceType.LocalityHealthyHosts;
    this.sourceLocality = this.tryChooseLocalLocalityHosts();
    return true;
  }

  // ---- zone aware routing (ZoneAwareLoadBalancerBase) ----

  /**
   * Envoy's regenerateLocalityRoutingStructures: whether priority 0 can send everything
   * to the local locality (its share of the upstream hosts is at least the local fleet's
   * share there), or only part, the rest to localities with capacity to spare.
   */
  private regenerateLocalityRoutingStructures(): void {
    const local = this.localPrioritySet?.hostSetsPerPriority[0];
    const set = this.prioritySet.hostSetsPerPriority[0];
    if (!local || !set) return;
    this.stats.lbRecalculateZoneStructures.inc();
    if (this.earlyExitNonLocalityRouting(set, local)) {
      this.localityRouting = LocalityRoutingState.NoLocalityRouting;
      return;
    }
    const upstream = set.healthyHostsPerLocality;
    const percentages = localityPercentages(local.healthyHostsPerLocality, upstream);
    const first = percentages[0]!;
    if (set.hasLocalLocality && first.upstream > 0 && first.upstream >= first.local) {
      this.localityRouting = LocalityRoutingState.LocalityDirect;
      return;
    }
    this.localityRouting = LocalityRoutingState.LocalityResidual;
    this.localPercentToRoute = set.hasLocalLocality && first.local > 0 ? Math.floor((first.upstream * 10000) / first.local) : 0;
    const residual: number[] = [];
    for (let i = 0; i < upstream.length; i++) {
      const last = i > 0 ? residual[i - 1]! : 0;
      const p = percentages[i]!;
      if (i === 0 && set.hasLocalLocality) residual.push(last);
      else residual.push(p.upstream > p.local ? last + p.upstream - p.local : last);
    }
    this.residualCapacity = residual;
  }

  /** Envoy's earlyExitNonLocalityRouting. */
  private earlyExitNonLocalityRouting(set: HostSet, local: HostSet): boolean {
    if (set.healthyHostsPerLocality.length < 2) return true;
    if (local.hostsPerLocality.length < 2) return true;
    if (!local.hasLocalLocality || local.hostsPerLocality[0]!.length === 0) {
      this.stats.lbLocalClusterNotOk.inc();
      return true;
    }
    // upstream.zone_routing.min_cluster_size overrides it, read here as Envoy does (when the hosts change).
    const minClusterSize = this.runtime?.getInteger("upstream.zone_routing.min_cluster_size", this.config.zoneMinClusterSize) ?? this.config.zoneMinClusterSize;
    if (set.healthyHosts.length < minClusterSize) {
      this.stats.lbZoneClusterTooSmall.inc();
      return true;
    }
    return false;
  }

  /** Envoy's tryChooseLocalLocalityHosts: the locality index for this pick (0: the local one). */
  private tryChooseLocalLocalityHosts(): number {
    if (this.localityRouting === LocalityRoutingState.LocalityDirect) {
      this.stats.lbZoneRoutingAllDirectly.inc();
      return 0;
    }
    if (random32(this.random) % 10000 < this.localPercentToRoute) {
      this.stats.lbZoneRoutingSampled.inc();
      return 0;
    }
    this.stats.lbZoneRoutingCrossZone.inc();
    const residual = this.residualCapacity;
    const count = residual.length;
    if (residual[count - 1] === 0) {
      this.stats.lbZoneNoCapacityLeft.inc();
      return random32(this.random) % count;
    }
    const threshold = random32(this.random) % residual[count - 1]!;
    let i = 0;
    while (threshold >= residual[i]!) i++;
    return i;
  }

  /** The hosts of the last hostSourceToUse(). */
  protected hostSourceToHosts(): readonly Host[] {
    const set = this.prioritySet.hostSetsPerPriority[this.sourcePriority];
    return set ? hostsOfSource(set, this.sourceType, this.sourceLocality) : NO_HOSTS;
  }

  /** Envoy's ZoneAwareLoadBalancerBase::chooseHost: retry the pick while the context rejects the host. */
  protected chooseWithRetries(context: LoadBalancerContext | undefined): Host | undefined {
    const attempts = context?.hostSelectionRetryCount ? context.hostSelectionRetryCount() + 1 : 1;
    let host: Host | undefined;
    for (let i = 0; i < attempts; i++) {
      host = this.chooseHostOnce(context);
      if (!host || !context?.shouldSelectAnotherHost || !context.shouldSelectAnotherHost(host)) return host;
    }
    return host;
  }

  protected chooseHostOnce(_context: LoadBalancerContext | undefined): Host | undefined {
    return undefined;
  }

  // ---- priority state (recalculatePerPriorityState, recalculatePerPriorityPanic) ----

  private recalculatePriorityState(): void {
    const sets = this.prioritySet.hostSetsPerPriority;
    const n = Math.max(sets.length, 1);
    const health = new Array<number>(n).fill(0);
    const degraded = new Array<number>(n).fill(0);
    for (let p = 0; p < sets.length; p++) {
      health[p] = priorityAvailability(sets[p]!, false);
      degraded[p] = priorityAvailability(sets[p]!, true);
    }
    this.perPriorityHealth = health;
    this.perPriorityDegraded = degraded;
    const healthyLoad = new Array<number>(n).fill(0);
    const degradedLoad = new Array<number>(n).fill(0);
    this.healthyPriorityLoad = healthyLoad;
    this.degradedPriorityLoad = degradedLoad;
    const normalized = this.normalizedTotalAvailability();
    if (normalized > 0) {
      const [firstHealthy, remaining] = distributeLoad(healthyLoad, health, 100, normalized);
      const [firstDegraded, left] = distributeLoad(degradedLoad, degraded, remaining, normalized);
      if (left !== 0) {
        if (firstHealthy >= 0) healthyLoad[firstHealthy]! += left;
        else degradedLoad[firstDegraded]! += left;
      }
    }
    this.recalculatePanic(normalized);
    this.rebuildLocalitySchedulers();
  }

  private normalizedTotalAvailability(): number {
    let sum = 0;
    for (const h of this.perPriorityHealth) sum += h;
    for (const d of this.perPriorityDegraded) sum += d;
    return Math.min(sum, 100);
  }

  private recalculatePanic(normalized: number): void {
    const sets = this.prioritySet.hostSetsPerPriority;
    // Envoy's LoadBalancerBase reads upstream.healthy_panic_threshold whenever the hosts change.
    const configured = this.config.healthyPanicThreshold;
    const threshold = Math.min(100, this.runtime?.getInteger("upstream.healthy_panic_threshold", configured) ?? configured);
    const panic = new Array<boolean>(this.healthyPriorityLoad.length).fill(false);
    this.perPriorityPanic = panic;
    // Panic disabled and nothing available: all load to P=0, where no host will be found.
    if (threshold === 0 && normalized === 0) {
      this.healthyPriorityLoad[0] = 100;
      return;
    }
    let totalPanic = true;
    for (let p = 0; p < panic.length; p++) {
      // Never panic while all levels together can take the whole load.
      panic[p] = normalized === 100 ? false : isHostSetInPanic(sets[p], threshold);
      totalPanic &&= panic[p]!;
    }
    if (totalPanic) this.recalculateLoadInTotalPanic();
  }

  /** Every level in panic: load by host count, regardless of health. */
  private recalculateLoadInTotalPanic(): void {
    const sets = this.prioritySet.hostSetsPerPriority;
    let total = 0;
    for (const set of sets) total += set.hosts.length;
    const healthy = this.healthyPriorityLoad;
    const degraded = this.degradedPriorityLoad;
    if (total === 0) {
      healthy[0] = 100;
      return;
    }
    let load = 100;
    let firstNonEmpty = -1;
    for (let p = 0; p < healthy.length; p++) {
      const count = sets[p]?.hosts.length ?? 0;
      if (firstNonEmpty < 0 && count !== 0) firstNonEmpty = p;
      healthy[p] = Math.floor((100 * count) / total);
      degraded[p] = 0;
      load -= healthy[p]!;
    }
    healthy[firstNonEmpty]! += load;
  }

  // ---- locality weighted balancing (LocalityWrr, locality_wrr.cc) ----

  private rebuildLocalitySchedulers(): void {
    this.localityHealthy = [];
    this.localityDegraded = [];
    if (!this.config.localityWeighted) return;
    const seed = random32(this.random);
    for (const set of this.prioritySet.hostSetsPerPriority) {
      this.localityHealthy[set.priority] = localityScheduler(set, set.healthyHostsPerLocality, set.healthyHosts.length, seed);
      this.localityDegraded[set.priority] = localityScheduler(set, set.degradedHostsPerLocality, set.degradedHosts.length, seed);
    }
  }
}

/** Envoy's LocalityRoutingState. */
const enum LocalityRoutingState {
  NoLocalityRouting,
  /** All picks go to the local locality. */
  LocalityDirect,
  /** Some picks stay local, the rest go where there is capacity to spare. */
  LocalityResidual,
}

/**
 * Envoy's calculateLocalityPercentages: per upstream locality, out of 10000, the local
 * fleet's share of hosts there and the upstream's.
 */
function localityPercentages(localPerLocality: readonly (readonly Host[])[], upstreamPerLocality: readonly (readonly Host[])[]): { local: number; upstream: number }[] {
  let totalLocal = 0;
  const localCounts = new Map<string, number>();
  for (const hosts of localPerLocality) {
    totalLocal += hosts.length;
    if (hosts.length > 0) localCounts.set(localityKey(hosts[0]!.locality), hosts.length);
  }
  let totalUpstream = 0;
  for (const hosts of upstreamPerLocality) totalUpstream += hosts.length;
  return upstreamPerLocality.map((hosts) => {
    if (hosts.length === 0) return { local: 0, upstream: 0 };
    const localCount = localCounts.get(localityKey(hosts[0]!.locality)) ?? 0;
    return {
      local: totalLocal > 0 ? Math.floor((10000 * localCount) / totalLocal) : 0,
      upstream: totalUpstream > 0 ? Math.floor((10000 * hosts.length) / totalUpstream) : 0,
    };
  });
}

/** One locality in a locality schedule. */
interface LocalityEntry {
  readonly index: number;
  readonly weight: number;
}

const localityEntryWeight = (entry: LocalityEntry): number => entry.weight;

/**
 * Envoy's LocalityWrr::rebuildLocalityScheduler: an EDF schedule over the localities with
 * a positive effective weight; none when there are no weights or no eligible hosts.
 */
function localityScheduler(set: HostSet, eligiblePerLocality: readonly (readonly Host[])[], eligible: number, seed: number): EdfScheduler<LocalityEntry> | undefined {
  if (set.localityWeights.length === 0 || eligible === 0) return undefined;
  const entries: LocalityEntry[] = [];
  for (let i = 0; i < set.hostsPerLocality.length; i++) {
    const weight = effectiveLocalityWeight(set, i, eligiblePerLocality);
    if (weight > 0) entries.push({ index: i, weight });
  }
  return entries.length === 0 ? undefined : EdfScheduler.createWithPicks(entries, localityEntryWeight, seed);
}

/**
 * A priority level's healthy (or degraded) availability in percent (Envoy's
 * recalculatePerPriorityState): overprovisioning factor × share of such hosts among the
 * hosts not excluded, integer math, capped at 100.
 */
export function priorityAvailability(set: HostSet, degraded: boolean): number {
  const count = set.hosts.length - set.excludedHosts.length;
  if (count <= 0) return 0;
  const eligible = degraded ? set.degradedHosts.length : set.healthyHosts.length;
  return Math.min(100, Math.floor((set.overprovisioningFactor * eligible) / count));
}

/** Envoy's distributeLoad: as much load as each level's availability allows, in priority order. */
function distributeLoad(load: number[], availability: readonly number[], total: number, normalized: number): [number, number] {
  let first = -1;
  for (let i = 0; i < availability.length; i++) {
    if (first < 0 && availability[i]! > 0) first = i;
    load[i] = Math.min(total, Math.floor((availability[i]! * 100) / normalized));
    total -= load[i]!;
  }
  return [first, total];
}

/** Envoy's isHostSetInPanic: healthy + degraded share under the threshold (an empty level is 0 %). */
function isHostSetInPanic(set: HostSet | undefined, threshold: number): boolean {
  const count = set ? set.hosts.length - set.excludedHosts.length : 0;
  const healthy = count === 0 ? 0 : (100 * set!.healthyHosts.length) / count;
  const degraded = count === 0 ? 0 : (100 * set!.degradedHosts.length) / count;
  return healthy + degraded < threshold;
}

/** Envoy's LocalityWrr::effectiveLocalityWeight: weight × min(1, factor × eligible share). */
function effectiveLocalityWeight(set: HostSet, index: number, eligiblePerLocality: readonly (readonly Host[])[]): number {
  const count = set.hostsPerLocality[index]!.length;
  if (count === 0) return 0;
  const ratio = (eligiblePerLocality[index]?.length ?? 0) / count;
  return set.localityWeights[index]! * Math.min(1, (set.overprovisioningFactor / 100) * ratio);
}

/** The hosts of a host source (Envoy's hostSourceToHosts). */
export function hostsOfSource(set: HostSet, type: SourceType, locality: number): readonly Host[] {
  switch (type) {
    case SourceType.AllHosts:
      return set.hosts;
    case SourceType.HealthyHosts:
      return set.healthyHosts;
    case SourceType.DegradedHosts:
      return set.degradedHosts;
    case SourceType.LocalityHealthyHosts:
      return set.healthyHostsPerLocality[locality] ?? [];
    case SourceType.LocalityDegradedHosts:
      return set.degradedHostsPerLocality[locality] ?? [];
  }
}
