import type { Host } from "./host.ts";

/**
 * Envoy's ROUND_ROBIN load balancer for equally weighted hosts: each pick takes the
 * next host in turn.
 */
export class RoundRobinLoadBalancer {
  private next = 0;

  constructor(private readonly hosts: readonly Host[]) {}

  /** The next host, or undefined when the cluster has none. */
  chooseHost(): Host | undefined {
    const count = this.hosts.length;
    if (count === 0) return undefined;
    const host = this.hosts[this.next % count];
    this.next = (this.next + 1) % count;
    return host;
  }
}
