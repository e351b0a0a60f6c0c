import type { Host } from "./host.ts";
import { EdfLoadBalancerBase, type HostSourceState } from "./edf-load-balancer-base.ts";
import type { LoadBalancerParams } from "./load-balancer-base.ts";

/**
 * Envoy's ROUND_ROBIN (round_robin_lb.h): hosts in turn when their weights are equal,
 * starting at a random position; weighted by `load_balancing_weight` through the EDF
 * schedule when they differ, or while a host is in its slow start window.
 */
export class RoundRobinLoadBalancer extends EdfLoadBalancerBase {
  constructor(params: LoadBalancerParams) {
    super(params);
    this.initialize();
  }

  protected hostWeight(host: Host): number {
    return this.slowStartActive() ? this.applySlowStartFactor(host.weight, host) : host.weight;
  }

  protected unweightedHostPick(state: HostSourceState): Host {
    const host = state.hosts[state.rrIndex % state.hosts.length]!;
    state.rrIndex = (state.rrIndex + 1) % 0x1_0000_0000_0000;
    return host;
  }
}
