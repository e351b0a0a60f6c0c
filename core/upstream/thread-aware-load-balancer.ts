import type { Gauge } from "../stats/gauge.ts";
import type { StatsScope } from "../stats/stats-store.ts";
import { BoundedLoadHashingLoadBalancer } from "./bounded-load-hashing-lb.ts";
import type { HashingLoadBalancer, NormalizedHostWeight } from "./hashing-load-balancer.ts";
import type { Host } from "./host.ts";
import type { HostSet } from "./host-set.ts";
import type { LoadBalancerContext } from "./load-balancer.ts";
import { LoadBalancerBase, random64, type LoadBalancerParams } from "./load-balancer-base.ts";

export type { HashingLoadBalancer, NormalizedHostWeight } from "./hashing-load-balancer.ts";

/** The key a host is hashed by: its address ("10.0.0.1:80", "[::1]:80"), or its hostname when configured. */
export function hostHashKey(host: Host, useHostname: boolean): string {
  return useHostname && host.hostname !== "" ? host.hostname : host.toString();
}

/**
 * Envoy's ThreadAwareLoadBalancerBase (thread_aware_lb_impl.cc) for RING_HASH and MAGLEV:
 * per priority, one hashing structure over the healthy hosts (all hosts in panic), host
 * weights normalized to shares of 1 — across localities by their weights with locality
 * weighted balancing. The request's hash (the route's hash_policy, via the context's
 * computeHashKey) picks the priority and the host; without one, a random number does.
 * With hash_balance_factor, each structure is wrapped in bounded loads
 * (bounded-load-hashing-lb.ts).
 */
export abstract class ThreadAwareLoadBalancerBase extends LoadBalancerBase {
  private perPriority: (HashingLoadBalancer | undefined)[] = [];
  /** The cluster's upstream_rq_active, for bounded loads (hash_balance_factor). */
  private readonly clusterRqActive: Gauge;

  constructor(params: LoadBalancerParams, scope: StatsScope) {
    super(params);
    this.clusterRqActive = scope.gauge("upstream_rq_active");
  }

  protected initialize(): void {
    this.refresh();
  }

  protected override refresh(): void {
    this.perPriority = this.prioritySet.hostSetsPerPriority.map((set) => {
      const normalized: NormalizedHostWeight[] = [];
      const range = { min: 1, max: 0 };
      normalizeWeights(set, this.perPriorityPanic[set.priority] ?? false, this.config.localityWeighted, normalized, range);
      const lb = this.createLoadBalancer(normalized, range.min, range.max);
      const factor = this.config.hashBalanceFactor;
      return factor > 0 ? new BoundedLoadHashingLoadBalancer(lb, normalized, factor, this.clusterRqActive) : lb;
    });
  }

  /** The policy's structure for one priority's normalized hosts. */
  protected abstract createLoadBalancer(hosts: readonly NormalizedHostWeight[], minWeight: number, maxWeight: number): HashingLoadBalancer;

  chooseHost(context: LoadBalancerContext | undefined): Host | undefined {
    const hash = context?.computeHashKey?.() ?? random64(this.random);
    const priority = this.choosePriority(Number(hash % 100n)) >> 1;
    if (this.perPriorityPanic[priority]) this.stats.lbHealthyPanic.inc();
    const lb = this.perPriority[priority];
    if (!lb) return undefined;
    const attempts = context?.hostSelectionRetryCount ? context.hostSelectionRetryCount() + 1 : 1;
    let host: Host | undefined;
    for (let attempt = 0; attempt < attempts; attempt++) {
      host = lb.chooseHost(hash, attempt);
      if (!host || !context?.shouldSelectAnotherHost || !context.shouldSelectAnotherHost(host)) return host;
    }
    return host;
  }
}

function normalizeHostWeights(hosts: readonly Host[], localityWeight: number, out: NormalizedHostWeight[], range: { min: number; max: number }): void {
  let sum = 0;
  for (const host of hosts) sum += host.weight;
  for (const host of hosts) {
    const weight = (host.weight * localityWeight) / sum;
    out.push([host, weight]);
    range.min = Math.min(range.min, weight);
    range.max = Math.max(range.max, weight);
  }
}

/** Envoy's normalizeWeights: flat over the hosts, or per locality scaled by the locality's share of the weights. */
function normalizeWeights(set: HostSet, panic: boolean, localityWeighted: boolean, out: NormalizedHostWeight[], range: { min: number; max: number }): void {
  if (!localityWeighted || set.localityWeights.length === 0) {
    normalizeHostWeights(panic ? set.hosts : set.healthyHosts, 1, out, range);
    return;
  }
  const perLocality = panic ? set.hostsPerLocality : set.healthyHostsPerLocality;
  const weights = set.localityWeights;
  let sum = 0;
  for (const weight of weights) sum += weight;
  // Locality weights (unlike host weights) may be 0; all of them 0: no hosts.
  if (sum === 0) return;
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] !== 0) normalizeHostWeights(perLocality[i] ?? [], weights[i]! / sum, out, range);
  }
}
