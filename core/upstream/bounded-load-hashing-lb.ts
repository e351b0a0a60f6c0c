import type { Gauge } from "../stats/gauge.ts";
import { Mt19937 } from "../util/mt19937.ts";
import type { Host } from "./host.ts";
import type { HashingLoadBalancer, NormalizedHostWeight } from "./hashing-load-balancer.ts";

/**
 * Consistent hashing with bounded loads (`hash_balance_factor`; Envoy's
 * BoundedLoadHashingLoadBalancer, thread_aware_lb_impl.cc, after
 * https://arxiv.org/abs/1608.01350): a host takes at most hash_balance_factor percent
 * of its weight's share of the cluster's active requests. When the ring or table's host
 * is over that, the others are probed in an order shuffled by a Mersenne Twister seeded
 * with the hash — the same key probes the same hosts — and the first one not over its
 * share wins, else the least overloaded. O(hosts) per overloaded pick.
 */
export class BoundedLoadHashingLoadBalancer implements HashingLoadBalancer {
  private readonly weightOf = new Map<Host, number>();
  private readonly index: Uint32Array;

  constructor(
    private readonly inner: HashingLoadBalancer,
    private readonly hosts: readonly NormalizedHostWeight[],
    /** Percent, ≥ 100. */
    private readonly hashBalanceFactor: number,
    /** The cluster's upstream_rq_active. */
    private readonly clusterRqActive: Gauge,
  ) {
    for (const [host, weight] of hosts) this.weightOf.set(host, weight);
    this.index = new Uint32Array(hosts.length);
  }

  chooseHost(hash: bigint, attempt: number): Host | undefined {
    if (this.hosts.length === 0) return undefined;
    const host = this.inner.chooseHost(hash, attempt);
    if (!host) return undefined;
    let overload = this.hostOverloadFactor(host, this.weightOf.get(host)!);
    if (overload <= 1) return host;

    const count = this.hosts.length;
    const index = this.index;
    for (let i = 0; i < count; i++) index[i] = i;
    const random = new Mt19937(hash);
    let least = host;
    let leastOverload = overload;
    for (let i = 0; i < count; i++) {
      // Fisher–Yates, one step per probe, as Envoy's loop.
      const j = uniformInt(random, count - i);
      const k = index[i + j]!;
      index[i + j] = index[i]!;
      index[i] = k;
      const [alt, weight] = this.hosts[k]!;
      if (alt === host) continue;
      overload = this.hostOverloadFactor(alt, weight);
      if (overload <= 1) return alt;
      if (leastOverload > overload) {
        least = alt;
        leastOverload = overload;
      }
    }
    return least;
  }

  /** Envoy's hostOverloadFactor: the host's active requests over its slots (> 1: overloaded). */
  private hostOverloadFactor(host: Host, weight: number): number {
    const overallActive = this.clusterRqActive.value;
    const totalSlots = Math.floor(((overallActive + 1) * this.hashBalanceFactor + 99) / 100);
    const slots = Math.max(Math.ceil(totalSlots * weight), 1);
    return host.stats.rqActive / slots;
  }
}

/** Envoy's uniform_int: a number in [0, k) from the twister, by rejection (the same on every platform). */
function uniformInt(random: Mt19937, k: number): number {
  const bucket = Math.floor(4294967296 / k);
  let x = k;
  while (x >= k) x = Math.floor(random.next() / bucket);
  return x;
}
