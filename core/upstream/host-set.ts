import { HostHealth, type Host } from "./host.ts";

/**
 * The hosts of one priority level of a cluster, with the subsets load balancing reads
 * (Envoy's `HostSetImpl`, upstream_impl.h). Rebuilt, not edited in place: a balancer
 * holding the old arrays during a pick sees a consistent set.
 */
export class HostSet {
  private all: readonly Host[] = [];
  private healthy: readonly Host[] = [];
  private degraded: readonly Host[] = [];

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

  /** Replace the hosts and recompute the health subsets from each host's flags. */
  setHosts(hosts: readonly Host[]): void {
    this.all = hosts;
    this.recomputeHealth();
  }

  /** Recompute the health subsets after flags changed (health checks, outlier ejections). */
  recomputeHealth(): void {
    const healthy: Host[] = [];
    const degraded: Host[] = [];
    for (const host of this.all) {
      const health = host.health();
      if (health === HostHealth.Healthy) healthy.push(host);
      else if (health === HostHealth.Degraded) degraded.push(host);
    }
    this.healthy = healthy;
    this.degraded = degraded;
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

  addMemberUpdateCallback(callback: MemberUpdateCallback): void {
    this.callbacks.push(callback);
  }

  /** Replace the hosts of one priority; `added` and `removed` tell subscribers what changed. */
  updateHosts(priority: number, hosts: readonly Host[], added: readonly Host[], removed: readonly Host[]): void {
    this.getOrCreateHostSet(priority).setHosts(hosts);
    for (const callback of this.callbacks) callback(added, removed);
  }

  /** Host flags changed: recompute every level's health subsets and tell subscribers. */
  refreshHealth(): void {
    for (const set of this.sets) set.recomputeHealth();
    for (const callback of this.callbacks) callback([], []);
  }
}
