import type { Host } from "./host.ts";
import type { PrioritySet } from "./host-set.ts";
import { priorityAvailability } from "./load-balancer-base.ts";
import type { HostPriorityMapping, PriorityLoad } from "./load-balancer.ts";

const hostPriority: HostPriorityMapping = (host) => host.priority;

/**
 * The `envoy.retry_priorities.previous_priorities` retry priority (Envoy's
 * PreviousPrioritiesRetryPriority, previous_priorities.cc): once `update_frequency`
 * hosts were attempted — and every `update_frequency` attempts after — the priorities
 * of the attempted hosts get no load and the rest is shared out by the remaining levels'
 * availability. When no level is left, it starts over from all of them; when none has
 * any host available, the balancer's own loads stand. One per request.
 */
export class PreviousPrioritiesRetryPriority {
  private readonly attemptedHosts: Host[] = [];
  private excluded: boolean[] = [];
  private load: { healthy: number[]; degraded: number[] } | undefined;

  constructor(private readonly updateFrequency: number) {}

  onHostAttempted(host: Host): void {
    this.attemptedHosts.push(host);
  }

  determinePriorityLoad(prioritySet: PrioritySet, original: PriorityLoad, priorityOf: HostPriorityMapping = hostPriority): PriorityLoad {
    const attempted = this.attemptedHosts.length;
    if (attempted < this.updateFrequency) return original;
    if (attempted % this.updateFrequency === 0) {
      const levels = prioritySet.hostSetsPerPriority.length;
      while (this.excluded.length < levels) this.excluded.push(false);
      for (const host of this.attemptedHosts) {
        // A host whose level is gone (an aggregate's cluster changed) excludes nothing, as Envoy's mapping's nullopt.
        const level = priorityOf(host);
        if (level !== undefined && level < levels) this.excluded[level] = true;
      }
      if (!this.adjustForAttemptedPriorities(prioritySet)) return original;
    }
    return this.load ?? original;
  }

  private adjustForAttemptedPriorities(prioritySet: PrioritySet): boolean {
    const sets = prioritySet.hostSetsPerPriority;
    const health = sets.map((set) => priorityAvailability(set, false));
    const degraded = sets.map((set) => priorityAvailability(set, true));
    const adjustedHealth = new Array<number>(sets.length).fill(0);
    const adjustedDegraded = new Array<number>(sets.length).fill(0);
    let total = this.adjustedAvailability(health, degraded, adjustedHealth, adjustedDegraded);
    // Every level tried: start over (the attempted hosts are forgotten too).
    if (total === 0) {
      this.excluded.fill(false);
      this.attemptedHosts.length = 0;
      total = this.adjustedAvailability(health, degraded, adjustedHealth, adjustedDegraded);
    }
    if (total === 0) return false;
    const healthyLoad = new Array<number>(sets.length).fill(0);
    const degradedLoad = new Array<number>(sets.length).fill(0);
    // As much as each level's availability allows, in priority order; repeated until the
    // rounding remainders are placed too (Envoy's loop).
    let remaining = 100;
    while (remaining !== 0) {
      for (let i = 0; i < adjustedHealth.length; i++) {
        const delta = Math.min(remaining, Math.floor((adjustedHealth[i]! * 100) / total));
        healthyLoad[i]! += delta;
        remaining -= delta;
      }
      for (let i = 0; i < adjustedDegraded.length; i++) {
        const delta = Math.min(remaining, Math.floor((adjustedDegraded[i]! * 100) / total));
        degradedLoad[i]! += delta;
        remaining -= delta;
      }
    }
    this.load = { healthy: healthyLoad, degraded: degradedLoad };
    return true;
  }

  /** The availability of the levels not excluded (excluded ones 0), and their sum capped at 100. */
  private adjustedAvailability(health: readonly number[], degraded: readonly number[], adjustedHealth: number[], adjustedDegraded: number[]): number {
    let total = 0;
    for (let i = 0; i < health.length; i++) {
      if (this.excluded[i]) {
        adjustedHealth[i] = 0;
        adjustedDegraded[i] = 0;
      } else {
        adjustedHealth[i] = health[i]!;
        adjustedDegraded[i] = degraded[i]!;
        total += health[i]! + degraded[i]!;
      }
    }
    return Math.min(total, 100);
  }
}
