import type { LbSubsetConfig, LoadBalancingConfig } from "../config/bootstrap.ts";
import { DEFAULT_LOAD_BALANCING } from "../config/lb-policy-defaults.ts";
import type { StatsScope } from "../stats/stats-store.ts";
import type { PrioritySet } from "./host-set.ts";
import { LeastRequestLoadBalancer } from "./least-request.ts";
import { ClusterLbStats } from "./lb-stats.ts";
import type { LoadBalancerParams, RandomSource } from "./load-balancer-base.ts";
import type { LoadBalancer } from "./load-balancer.ts";
import { MaglevLoadBalancer } from "./maglev.ts";
import { RandomLoadBalancer } from "./random-load-balancer.ts";
import { RingHashLoadBalancer } from "./ring-hash.ts";
import { RoundRobinLoadBalancer } from "./round-robin.ts";
import { SubsetLoadBalancer } from "./subset-load-balancer.ts";

/**
 * The cluster's load balancer for its lb_policy (or load_balancing_policy), over its
 * priority set; `scope` is the cluster's stats scope (`cluster.<name>.`).
 */
/** What a balancer may use besides its hosts: the runtime, the clock, the local cluster. */
export interface LoadBalancerOptions {
  /** The runtime (upstream.healthy_panic_threshold, active_request_bias's key); absent: the configured values. */
  readonly layeredRuntime?: LoadBalancerParams["runtime"];
  /** The port's monotonic clock in ms (slow start). */
  readonly now?: () => number;
  /** The local cluster's hosts (zone aware routing). */
  readonly localPrioritySet?: PrioritySet;
  /** lb_subset_config with selectors: a subset load balancer whose subsets each have a balancer of the policy. */
  readonly lbSubset?: LbSubsetConfig;
}

export function createLoadBalancer(config: LoadBalancingConfig | undefined, prioritySet: PrioritySet, scope: StatsScope, random: RandomSource, options: LoadBalancerOptions = {}): LoadBalancer {
  const { lbSubset, ...childOptions } = options;
  if (lbSubset !== undefined) {
    return new SubsetLoadBalancer(lbSubset, prioritySet, new ClusterLbStats(scope), (subset) => createLoadBalancer(config, subset, scope, random, childOptions));
  }
  const { layeredRuntime: runtime, now, localPrioritySet } = options;
  const lbConfig = config ?? DEFAULT_LOAD_BALANCING;
  // Zone aware routing is ZoneAwareLoadBalancerBase's: the hash balancers never do it.
  const zoneAware = localPrioritySet !== undefined && lbConfig.policy !== "RING_HASH" && lbConfig.policy !== "MAGLEV";
  const params: LoadBalancerParams = { prioritySet, stats: new ClusterLbStats(scope), random, config: lbConfig, ...(runtime && { runtime }), ...(now ? { now } : {}), ...(zoneAware ? { localPrioritySet } : {}) };
  switch (params.config.policy) {
    case "ROUND_ROBIN":
      return new RoundRobinLoadBalancer(params);
    case "LEAST_REQUEST":
      return new LeastRequestLoadBalancer(params);
    case "RANDOM":
      return new RandomLoadBalancer(params);
    case "RING_HASH":
      return new RingHashLoadBalancer(params, scope);
    case "MAGLEV":
      return new MaglevLoadBalancer(params, scope);
  }
}
