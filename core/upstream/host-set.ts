import { HostHealth, type Host, type Locality } from "./host.ts";

/** Envoy's default overprovisioning factor: 140 %, i.e. 1.4 (ClusterLoadAssignment.Policy). */
export const DEFAULT_OVERPROVISIONING_FACTOR = 140;

/** A locality as a key that sorts as Envoy's LocalityLess: region, then zone, then sub_zone. */
export function localityKey(locality: Locality): string {
  return `${locality.region}\0${locality.zone}\0${locality.subZone}`;
}

/** What discovery knows about a priority level besides its hosts. */
export interface HostSetOptions {
  /**
   * load_balancing_weight per locality (by localityKey); a locality not in it weighs 0.
   * Absent: the level has no locality weights (Envoy's null LocalityWeights, as a subset
   * without locality_weight_aware has), and locality weighted balancing does not apply.
   */
  readonly localityWeights?: ReadonlyMap<string, number>;
  /** load_assignment.policy.overprovisioning_factor (percent; default 140). */
  readonly overprovisioningFactor?: number;
  /** The node's own locality (localityKey): its hosts come first in the per-locality lists. */
  readonly localLocality?: string;
}

const NO_HOSTS_PER_LOCALITY: readonly (readonly Host[])[] = [];
const NO_HOSTS: readonly Host[] = [];

/**
 * The hosts of one priority level of a cluster, with the subsets load balancing reads
 * (Envoy's `HostSetImpl`, upstream_impl.h). Rebuilt by setHosts, not edited in place: a
 * balancer holding the old arrays during a pick sees a consistent set. Only `addHosts`
 * appends in place (an ORIGINAL_DST cluster's one host per new destination, amortized
 * O(1) instead of a rebuild per add); no pick is running on the one thread while it does.
 */
export class HostSet {
  private all: readonly Host[] = [];
  private healthy: Host[] = [];
  private degraded: Host[] = [];
  private excluded: Host[] = [];
  /** `all` is this set's own array (not a caller's), so addHosts may append to it. */
  private ownsAll = false;
  private localityKeys: readonly string[] = [];
  private perLocality: readonly (readonly Host[])[] = NO_HOSTS_PER_LOCALITY;
  private healthyPerLocality: readonly (readonly Host[])[] = NO_HOSTS_PER_LOCALITY;
  private degradedPerLocality: readonly (readonly Host[])[] = NO_HOSTS_PER_LOCALITY;
  private weights: readonly number[] = [];
  private weightsByKey: ReadonlyMap<string, number> | undefined;
  private localFirst = false;
  private lastOptions: HostSetOptions = {};
  /** Percent: a level with this share of healthy hosts × factor/100 ≥ 100 % takes all its load. */
  overprovisioningFactor = DEFAULT_OVERPROVISIONING_FACTOR;

  constructor(readonly priority: number) {}

  get hosts(): readonly Host[] {
    return this.all;
  }

  get healthyHosts(): readonly Host[] {
    return this.healthy;
  }

  get degradedHosts(): readonly Host[] {
    return this.degraded;
  }

  /** Hosts out of load balancing whatever their health (Envoy's excludedHosts): pending a first health check, draining, … */
  get excludedHosts(): readonly Host[] {
    return this.excluded;
  }

  /**
   * The hosts grouped by locality (Envoy's HostsPerLocality): one list per locality,
   * the node's own locality first when it has hosts here, then the others in
   * LocalityLess order; each list in host order.
   */
  get hostsPerLocality(): readonly (readonly Host[])[] {
    return this.perLocality;
  }

  get healthyHostsPerLocality(): readonly (readonly Host[])[] {
    return this.healthyPerLocality;
  }

  get degradedHostsPerLocality(): readonly (readonly Host[])[] {
    return this.degradedPerLocality;
  }

  /** Is hostsPerLocality's first list the node's own locality (Envoy's hasLocalLocality)? */
  get hasLocalLocality(): boolean {
    return this.localFirst;
  }

  /** The load_balancing_weight of each locality of hostsPerLocality (0 when not set). */
  get localityWeights(): readonly number[] {
    return this.weights;
  }

  /** The options of the last setHosts (a subset's host sets copy them: subset-load-balancer.ts). */
  get options(): HostSetOptions {
    return this.lastOptions;
  }

  /** Replace the hosts and recompute the health subsets from each host's flags. */
  setHosts(hosts: readonly Host[], options: HostSetOptions = {}): void {
    this.all = hosts;
    this.ownsAll = false;
    this.weightsByKey = options.localityWeights;
    this.overprovisioningFactor = options.overprovisioningFactor ?? DEFAULT_OVERPROVISIONING_FACTOR;
    const keys = [...new Set(hosts.map((host) => localityKey(host.locality)))].sort();
    // PriorityStateManager::updateClusterPrioritySet: the local locality goes first.
    const local = options.localLocality;
    this.localFirst = local !== undefined && keys.includes(local);
    if (this.localFirst) keys.splice(keys.indexOf(local!), 1), keys.unshift(local!);
    this.localityKeys = keys;
    this.weights = this.weightsByKey === undefined ? [] : keys.map((key) => this.weightsByKey!.get(key) ?? 0);
    this.lastOptions = options;
    this.perLocality = this.groupByLocality(hosts);
    this.recomputeHealth();
  }

  /**
   * Append hosts with the same options (no host removed): in place, each host's health read
   * once, when they are all of the one locality the set already has; else a rebuild.
   */
  addHosts(added: readonly Host[]): void {
    const keys = this.localityKeys;
    if (keys.length !== 1 || added.some((host) => localityKey(host.locality) !== keys[0])) {
      this.setHosts([...this.all, ...added], this.lastOptions);
      return;
    }
    if (!this.ownsAll) {
      this.all = [...this.all];
      this.ownsAll = true;
      // One locality: the per-locality list is the host list itself (groupByLocality).
      this.perLocality = [this.all];
    }
    const all = this.all as Host[];
    for (const host of added) {
      all.push(host);
      const health = host.health();
      // healthyPerLocality and degradedPerLocality are [healthy] and [degraded]: they follow.
      if (health === HostHealth.Healthy) this.healthy.push(host);
      else if (health === HostHealth.Degraded) this.degraded.push(host);
      if (host.excluded()) this.excluded.push(host);
    }
  }

  /** Recompute the health subsets after flags changed (health checks, outlier ejections). */
  recomputeHealth(): void {
    const healthy: Host[] = [];
    const degraded: Host[] = [];
    const excluded: Host[] = [];
    for (const host of this.all) {
      const health = host.health();
      if (health === HostHealth.Healthy) healthy.push(host);
      else if (health === HostHealth.Degraded) degraded.push(host);
      if (host.excluded()) excluded.push(host);
    }
    this.healthy = healthy;
    this.degraded = degraded;
    this.excluded = excluded;
    this.healthyPerLocality = this.groupByLocality(healthy);
    this.degradedPerLocality = this.groupByLocality(degraded);
  }

  private groupByLocality(hosts: readonly Host[]): readonly (readonly Host[])[] {
    const keys = this.localityKeys;
    if (keys.length <= 1) return keys.length === 0 ? NO_HOSTS_PER_LOCALITY : [hosts];
    const groups: Host[][] = keys.map(() => []);
    for (const host of hosts) groups[keys.indexOf(localityKey(host.locality))]!.push(host);
    return groups;
  }
}

/** Told which hosts were added and removed (both may be empty when only health changed). */
export type MemberUpdateCallback = (added: readonly Host[], removed: readonly Host[]) => void;

/**
 * Every priority level of a cluster (Envoy's `PrioritySetImpl`). Discovery (static
 * config, DNS) replaces hosts through `updateHosts`; health checking and outlier
 * detection change flags and call `refreshHealth`. Subscribers — the cluster's stats,
 * its load balancer, the cluster manager's pools — learn of both through
 * `addMemberUpdateCallback`.
 */
export class PrioritySet {
  private readonly sets: HostSet[] = [];
  private readonly callbacks: MemberUpdateCallback[] = [];

  /** The host sets by priority, 0 first; levels without hosts exist up to the highest used. */
  get hostSetsPerPriority(): readonly HostSet[] {
    return this.sets;
  }

  /** The set for `priority`, created (with every lower level) on first use. */
  getOrCreateHostSet(priority: number): HostSet {
    while (this.sets.length <= priority) this.sets.push(new HostSet(this.sets.length));
    return this.sets[priority]!;
  }

  /** Every host of every priority, in priority order. */
  allHosts(): Host[] {
    return this.sets.flatMap((set) => set.hosts);
  }

  /** Returns what removes the callback (Envoy's Common::CallbackHandle). */
  addMemberUpdateCallback(callback: MemberUpdateCallback): () => void {
    this.callbacks.push(callback);
    return () => {
      const at = this.callbacks.indexOf(callback);
      if (at >= 0) this.callbacks.splice(at, 1);
    };
  }

  /** Replace the hosts of one priority; `added` and `removed` tell subscribers what changed. */
  updateHosts(priority: number, hosts: readonly Host[], added: readonly Host[], removed: readonly Host[], options?: HostSetOptions): void {
    this.getOrCreateHostSet(priority).setHosts(hosts, options);
    // A copy: a callback may remove itself (a UDP session closing on its host's removal).
    for (const callback of [...this.callbacks]) callback(added, removed);
  }

  /** Add hosts to one priority, its options unchanged (ORIGINAL_DST's new destinations): no rebuild of its lists. */
  addHosts(priority: number, added: readonly Host[]): void {
    this.getOrCreateHostSet(priority).addHosts(added);
    for (const callback of [...this.callbacks]) callback(added, NO_HOSTS);
  }

  /** Host flags changed: recompute every level's health subsets and tell subscribers. */
  refreshHealth(): void {
    for (const set of this.sets) set.recomputeHealth();
    for (const callback of [...this.callbacks]) callback([], []);
  }
}
