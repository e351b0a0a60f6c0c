import type { Host } from "./host.ts";
import type { LoadBalancerContext } from "./load-balancer.ts";
import { LoadBalancerBase, random32, type LoadBalancerParams } from "./load-balancer-base.ts";

/**
 * Envoy's RANDOM (random_lb.cc): one random number picks the priority and then the host,
 * uniformly; host weights are not considered, as in Envoy.
 */
export class RandomLoadBalancer extends LoadBalancerBase {
  constructor(params: LoadBalancerParams) {
    super(params);
  }

  chooseHost(context: LoadBalancerContext | undefined): Host | undefined {
    return this.chooseWithRetries(context);
  }

  protected override chooseHostOnce(context: LoadBalancerContext | undefined): Host | undefined {
    const hash = random32(this.random);
    if (!this.hostSourceToUse(hash, context)) return undefined;
    const hosts = this.hostSourceToHosts();
    return hosts.length === 0 ? undefined : hosts[hash % hosts.length];
  }
}
