import { byteStringBytes, murmurHash2, xxHash64 } from "../util/hash.ts";
import type { Gauge } from "../stats/gauge.ts";
import type { StatsScope } from "../stats/stats-store.ts";
import type { Host } from "./host.ts";
import type { LoadBalancerParams } from "./load-balancer-base.ts";
import { hostHashKey, ThreadAwareLoadBalancerBase, type HashingLoadBalancer, type NormalizedHostWeight } from "./thread-aware-load-balancer.ts";

/** Envoy's ring hash gauges, `cluster.<name>.ring_hash_lb.*`. */
export class RingHashLoadBalancerStats {
  readonly size: Gauge;
  readonly minHashesPerHost: Gauge;
  readonly maxHashesPerHost: Gauge;

  constructor(scope: StatsScope) {
    this.maxHashesPerHost = scope.gauge("ring_hash_lb.max_hashes_per_host");
    this.minHashesPerHost = scope.gauge("ring_hash_lb.min_hashes_per_host");
    this.size = scope.gauge("ring_hash_lb.size");
  }
}

/**
 * A ketama ring (Envoy's RingHashLoadBalancer::Ring, ring_hash_lb.cc): each host hashed
 * as "<address>_<i>" (xxHash64, or MurmurHash2) as many times as its weight share of
 * the ring asks, sorted; a request goes to the first entry at or after its hash.
 */
export class Ring implements HashingLoadBalancer {
  private readonly hashes: BigUint64Array;
  private readonly hosts: Host[];

  constructor(weights: readonly NormalizedHostWeight[], minWeight: number, minRingSize: number, maxRingSize: number, murmur: boolean, useHostname: boolean, stats: RingHashLoadBalancerStats) {
    if (weights.length === 0) {
      this.hashes = new BigUint64Array(0);
      this.hosts = [];
      return;
    }
    // Scale so the lightest host gets a whole number of entries, within maximum_ring_size.
    const scale = Math.min(Math.ceil(minWeight * minRingSize) / minWeight, maxRingSize);
    const ringSize = Math.ceil(scale);
    const entries: { hash: bigint; host: Host }[] = [];
    let currentHashes = 0;
    let targetHashes = 0;
    let minHashes = ringSize;
    let maxHashes = 0;
    for (const [host, weight] of weights) {
      const prefix = `${hostHashKey(host, useHostname)}_`;
      targetHashes += scale * weight;
      let i = 0;
      while (currentHashes < targetHashes) {
        const key = byteStringBytes(prefix + i);
        entries.push({ hash: murmur ? murmurHash2(key) : xxHash64(key), host });
        i++;
        currentHashes++;
      }
      minHashes = Math.min(i, minHashes);
      maxHashes = Math.max(i, maxHashes);
    }
    entries.sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
    this.hashes = BigUint64Array.from(entries, (e) => e.hash);
    this.hosts = entries.map((e) => e.host);
    stats.size.set(ringSize);
    stats.minHashesPerHost.set(minHashes);
    stats.maxHashesPerHost.set(maxHashes);
  }

  /** Ported as Envoy did from ketama_get_server: the first entry with hash ≥ h, wrapping to 0. */
  chooseHost(h: bigint, attempt: number): Host | undefined {
    const ring = this.hashes;
    const size = ring.length;
    if (size === 0) return undefined;
    let lowp = 0;
    let highp = size;
    let midp = 0;
    for (;;) {
      midp = Math.floor((lowp + highp) / 2);
      if (midp === size) {
        midp = 0;
        break;
      }
      const midval = ring[midp]!;
      const midval1 = midp === 0 ? 0n : ring[midp - 1]!;
      if (h <= midval && h > midval1) break;
      if (midval < h) lowp = midp + 1;
      else highp = midp - 1;
      if (lowp > highp) {
        midp = 0;
        break;
      }
    }
    // A retry host predicate: behave as if this entry were not on the ring.
    if (attempt > 0) midp = (midp + attempt) % size;
    return this.hosts[midp];
  }
}

/** Envoy's RING_HASH. */
export class RingHashLoadBalancer extends ThreadAwareLoadBalancerBase {
  private readonly ringStats: RingHashLoadBalancerStats;

  constructor(params: LoadBalancerParams, scope: StatsScope) {
    super(params, scope);
    this.ringStats = new RingHashLoadBalancerStats(scope);
    this.initialize();
  }

  protected createLoadBalancer(hosts: readonly NormalizedHostWeight[], minWeight: number): HashingLoadBalancer {
    const c = this.config;
    return new Ring(hosts, minWeight, c.minimumRingSize, c.maximumRingSize, c.hashFunction === "MURMUR_HASH_2", c.useHostnameForHashing, this.ringStats);
  }
}
