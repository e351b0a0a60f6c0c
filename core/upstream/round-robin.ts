import type { Host } from "./host.ts";
import type { PrioritySet } from "./host-set.ts";
import type { LoadBalancer, LoadBalancerContext } from "./load-balancer.ts";

/**
 * Envoy's ROUND_ROBIN load balancer for equally weighted hosts: each pick takes the
 * next healthy host of the first priority that has one; with none healthy, every host
 * of priority 0 (Envoy's panic mode).
 */
export class RoundRobinLoadBalancer implements LoadBalancer {
  private next = 0;

  constructor(private readonly prioritySet: PrioritySet) {}

  /**
   * A pick the context's retry host predicates reject is made again, up to
   * hostSelectionRetryCount() more times; the last pick stands (Envoy's
   * ZoneAwareLoadBalancerBase::chooseHost).
   */
  chooseHost(context?: LoadBalancerContext): Host | undefined {
    let host = this.chooseHostOnce();
    if (!host || !context?.shouldSelectAnotherHost) return host;
    const retries = context.hostSelectionRetryCount?.() ?? 0;
    for (let i = 0; i < retries && context.shouldSelectAnotherHost(host); i++) host = this.chooseHostOnce()!;
    return host;
  }

  private chooseHostOnce(): Host | undefined {
    const hosts = this.candidates();
    const count = hosts.length;
    if (count === 0) return undefined;
    const host = hosts[this.next % count];
    this.next = (this.next + 1) % count;
    return host;
  }

  private candidates(): readonly Host[] {
    const sets = this.prioritySet.hostSetsPerPriority;
    for (const set of sets) if (set.healthyHosts.length > 0) return set.healthyHosts;
    return sets[0]?.hosts ?? [];
  }
}
