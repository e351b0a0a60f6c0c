import { byteStringBytes, xxHash64 } from "../util/hash.ts";
import type { Gauge } from "../stats/gauge.ts";
import type { StatsScope } from "../stats/stats-store.ts";
import type { Host } from "./host.ts";
import type { LoadBalancerParams } from "./load-balancer-base.ts";
import { hostHashKey, ThreadAwareLoadBalancerBase, type HashingLoadBalancer, type NormalizedHostWeight } from "./thread-aware-load-balancer.ts";

/** Envoy's Maglev gauges, `cluster.<name>.maglev_lb.*`. */
export class MaglevLoadBalancerStats {
  readonly minEntriesPerHost: Gauge;
  readonly maxEntriesPerHost: Gauge;

  constructor(scope: StatsScope) {
    this.maxEntriesPerHost = scope.gauge("maglev_lb.max_entries_per_host");
    this.minEntriesPerHost = scope.gauge("maglev_lb.min_entries_per_host");
  }
}

interface TableBuildEntry {
  readonly host: Host;
  readonly offset: number;
  readonly skip: number;
  readonly weight: number;
  targetWeight: number;
  next: number;
  count: number;
}

const MASK64 = 0xffff_ffff_ffff_ffffn;

/**
 * A Maglev lookup table (Envoy's OriginalMaglevTable, maglev_lb.cc; the paper's
 * pseudocode listing 1, weighted): hosts sorted by hash key fill the table in turns,
 * each at the next free slot of its permutation (offset = xxHash64(key) % size,
 * skip = xxHash64(key, seed 1) % (size − 1) + 1); a host of lower weight takes fewer turns.
 */
export class MaglevTable implements HashingLoadBalancer {
  private readonly table: Int32Array;
  private readonly hosts: Host[] = [];
  private readonly size: bigint;

  constructor(weights: readonly NormalizedHostWeight[], maxWeight: number, tableSize: number, useHostname: boolean, stats: MaglevLoadBalancerStats) {
    this.size = BigInt(tableSize);
    if (weights.length === 0) {
      this.table = new Int32Array(0);
      return;
    }
    const keyed = weights.map(([host, weight]) => ({ key: hostHashKey(host, useHostname), host, weight }));
    keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const entries: TableBuildEntry[] = keyed.map(({ key, host, weight }) => {
      const bytes = byteStringBytes(key);
      return {
        host,
        offset: Number(xxHash64(bytes) % this.size),
        skip: Number(xxHash64(bytes, 1n) % (this.size - 1n)) + 1,
        weight,
        targetWeight: 0,
        next: 0,
        count: 0,
      };
    });
    const table = new Int32Array(tableSize).fill(-1);
    for (const entry of entries) this.hosts.push(entry.host);
    let filled = 0;
    for (let iteration = 1; filled < tableSize; iteration++) {
      for (let i = 0; i < entries.length && filled < tableSize; i++) {
        const entry = entries[i]!;
        // A host of max weight takes a slot every turn; one of a third of it, every third turn.
        if (iteration * entry.weight < entry.targetWeight) continue;
        entry.targetWeight += maxWeight;
        let c = (entry.offset + entry.skip * entry.next) % tableSize;
        while (table[c] !== -1) {
          entry.next++;
          c = (entry.offset + entry.skip * entry.next) % tableSize;
        }
        table[c] = i;
        entry.next++;
        entry.count++;
        filled++;
      }
    }
    this.table = table;
    let min = tableSize;
    let max = 0;
    for (const entry of entries) {
      min = Math.min(entry.count, min);
      max = Math.max(entry.count, max);
    }
    stats.minEntriesPerHost.set(min);
    stats.maxEntriesPerHost.set(max);
  }

  chooseHost(hash: bigint, attempt: number): Host | undefined {
    if (this.table.length === 0) return undefined;
    // A retry host predicate: flip most bits of the hash for a far-away slot.
    if (attempt > 0) hash ^= (MASK64 - BigInt(attempt) + 1n) & MASK64;
    return this.hosts[this.table[Number(hash % this.size)]!];
  }
}

/** Envoy's MAGLEV. */
export class MaglevLoadBalancer extends ThreadAwareLoadBalancerBase {
  private readonly maglevStats: MaglevLoadBalancerStats;

  constructor(params: LoadBalancerParams, scope: StatsScope) {
    super(params, scope);
    this.maglevStats = new MaglevLoadBalancerStats(scope);
    this.initialize();
  }

  protected createLoadBalancer(hosts: readonly NormalizedHostWeight[], _minWeight: number, maxWeight: number): HashingLoadBalancer {
    return new MaglevTable(hosts, maxWeight, this.config.tableSize, this.config.useHostnameForHashing, this.maglevStats);
  }
}
