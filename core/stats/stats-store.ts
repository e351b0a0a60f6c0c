import { Counter } from "./counter.ts";
import { Gauge } from "./gauge.ts";
import { Histogram, HistogramDelivery } from "./histogram.ts";
import type { StatsMatcher } from "./stats-matcher.ts";
import { sanitizeStatsPrefix } from "./sanitize-stats-name.ts";

export type Stat = Counter | Gauge | Histogram;

/**
 * Every stat by its full Envoy name (`cluster.backend.upstream_rq_total`). Components
 * create their stats once, at config time or on first use, and keep the objects: the
 * store is only searched by the admin interface.
 *
 * With stats_config.stats_matcher (`rejects`), a rejected stat is made and kept apart:
 * its holder counts as usual, but all() and get() never show it.
 */
export class StatsStore {
  private readonly stats = new Map<string, Stat>();
  /** Stats the matcher rejected, so a second lookup returns the same object. */
  private readonly rejected = new Map<string, Stat>();
  /** The stats sinks each histogram's recorded values go to (core/stats/stats-flusher.ts adds them). */
  readonly histogramDelivery: HistogramDelivery = new HistogramDelivery();

  constructor(private readonly rejects?: StatsMatcher) {}

  counter(name: string): Counter {
    return this.getOrCreate(name, Counter, () => new Counter(name));
  }

  gauge(name: string): Gauge {
    return this.getOrCreate(name, Gauge, () => new Gauge(name));
  }

  histogram(name: string, unit: Histogram["unit"] = "milliseconds"): Histogram {
    return this.getOrCreate(name, Histogram, () => new Histogram(name, unit));
  }

  /**
   * A view that prefixes names, e.g. `scope("cluster.backend.")`. The prefix is sanitized
   * as Envoy's createScope does (`cluster.a:b.` → `cluster.a_b.`).
   */
  scope(prefix: string): StatsScope {
    return new StatsScope(this, sanitizeStatsPrefix(prefix));
  }

  /** All stats, sorted by name (Envoy's admin order). */
  all(): Stat[] {
    return [...this.stats.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** All stats in the order they were made, not sorted (the stats flush's walk, where order does not matter). */
  values(): IterableIterator<Stat> {
    return this.stats.values();
  }

  get(name: string): Stat | undefined {
    return this.stats.get(name);
  }

  /** /reset_counters: counters to zero (gauges and histograms keep their state, as in Envoy). */
  resetCounters(): void {
    for (const stat of this.stats.values()) if (stat instanceof Counter) stat.reset();
    for (const stat of this.rejected.values()) if (stat instanceof Counter) stat.reset();
  }

  private getOrCreate<T extends Stat>(name: string, kind: new (...args: never[]) => T, create: () => T): T {
    const existing = this.stats.get(name) ?? this.rejected.get(name);
    if (existing) {
      if (!(existing instanceof kind)) throw new Error(`stat ${name} already exists as another type`);
      return existing;
    }
    const stat = create();
    if (this.rejects?.(name)) {
      this.rejected.set(name, stat);
    } else {
      this.stats.set(name, stat);
      if (stat instanceof Histogram) stat.delivery = this.histogramDelivery;
    }
    return stat;
  }
}

/** Stats under one name prefix. */
export class StatsScope {
  constructor(
    private readonly store: StatsStore,
    readonly prefix: string,
  ) {}

  counter(name: string): Counter {
    return this.store.counter(this.prefix + name);
  }

  gauge(name: string): Gauge {
    return this.store.gauge(this.prefix + name);
  }

  histogram(name: string, unit: Histogram["unit"] = "milliseconds"): Histogram {
    return this.store.histogram(this.prefix + name, unit);
  }
}
