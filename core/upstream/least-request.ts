import type { Host } from "./host.ts";
import { EdfLoadBalancerBase, type HostSourceState } from "./edf-load-balancer-base.ts";
import { random32, type LoadBalancerParams } from "./load-balancer-base.ts";

/**
 * Envoy's LEAST_REQUEST (least_request_lb.cc). With equal weights: `choice_count` (2)
 * random hosts, the one with the fewest active requests wins (P2C; the first drawn on a
 * tie). With different weights, or an explicit `active_request_bias`: the EDF schedule
 * with each host weighted `weight / (active_requests + 1) ^ active_request_bias`.
 * Active requests are the host's rq_active, kept by the connection pools. The bias is
 * read again (its runtime key, if any) whenever the hosts change, as Envoy's refresh does;
 * slow start scales that weight further (edf-load-balancer-base.ts).
 */
export class LeastRequestLoadBalancer extends EdfLoadBalancerBase {
  private readonly choiceCount: number;
  private bias: number;

  constructor(params: LoadBalancerParams) {
    super(params);
    this.choiceCount = params.config.choiceCount;
    this.bias = params.config.activeRequestBias;
    this.initialize();
  }

  protected override refresh(): void {
    const config = this.config;
    const key = config.activeRequestBiasRuntimeKey;
    if (key !== undefined && this.runtime !== undefined) {
      const bias = this.runtime.getDouble(key, config.activeRequestBias);
      // Envoy: an invalid bias from the runtime warns and falls back to 1.0.
      this.bias = bias < 0 || Number.isNaN(bias) ? 1 : bias;
    }
    super.refresh();
  }

  protected override alwaysUseWeightedSelection(): boolean {
    return this.config.activeRequestBiasSet;
  }

  protected hostWeight(host: Host): number {
    const active = host.stats.rqActive + 1;
    let weight = host.weight;
    if (this.bias === 1) weight = host.weight / active;
    else if (this.bias !== 0) weight = host.weight / Math.pow(active, this.bias);
    return this.slowStartActive() ? this.applySlowStartFactor(weight, host) : weight;
  }

  protected unweightedHostPick(state: HostSourceState): Host {
    const hosts = state.hosts;
    let candidate = hosts[random32(this.random) % hosts.length]!;
    for (let i = 1; i < this.choiceCount; i++) {
      const sampled = hosts[random32(this.random) % hosts.length]!;
      if (sampled.stats.rqActive < candidate.stats.rqActive) candidate = sampled;
    }
    return candidate;
  }
}
