/**
 * Stats for user filters: counters, gauges and histograms a filter makes by name, kept
 * under `http.<HCM stat_prefix>.<filter name>.<name>` — beside the `errors` counter the
 * filter manager keeps for the filter (user-filter.ts), so they show in the admin's
 * /stats and /stats/prometheus with the proxy's own. Made once per name and filter
 * config, then the same object each time; a filter may make at most
 * MAX_USER_STATS names (stats live as long as the config: names made per request
 * would grow without bound).
 */
import type { StatsStore } from "../../stats/stats-store.ts";

export interface UserCounter {
  inc(by?: number): void;
  readonly value: number;
}

export interface UserGauge {
  inc(by?: number): void;
  dec(by?: number): void;
  set(value: number): void;
  readonly value: number;
}

export interface UserHistogram {
  record(value: number): void;
}

export type UserHistogramUnit = "milliseconds" | "bytes" | "unspecified";

/** What `stream.stats` offers a filter. */
export interface HttpFilterStats {
  /** The counter `http.<stat_prefix>.<filter name>.<name>`. */
  counter(name: string): UserCounter;
  gauge(name: string): UserGauge;
  /** A histogram (unit: "milliseconds" by default, as Envoy's). */
  histogram(name: string, unit?: UserHistogramUnit): UserHistogram;
}

export const MAX_USER_STATS = 1000;
/** Envoy's stat name characters: segments of letters, digits, '_' and '-', joined by '.'. */
const STAT_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
/** The filter manager's own stat for the filter. */
const RESERVED = new Set(["errors"]);

export class UserFilterStats implements HttpFilterStats {
  private readonly made = new Map<string, { kind: string; stat: UserCounter | UserGauge | UserHistogram }>();

  constructor(
    private readonly store: StatsStore,
    /** `http.<stat_prefix>.<filter name>.` */
    private readonly prefix: string,
  ) {}

  counter(name: string): UserCounter {
    return this.make(name, "counter", () => this.store.counter(this.prefix + name)) as UserCounter;
  }

  gauge(name: string): UserGauge {
    return this.make(name, "gauge", () => this.store.gauge(this.prefix + name)) as UserGauge;
  }

  histogram(name: string, unit: UserHistogramUnit = "milliseconds"): UserHistogram {
    return this.make(name, "histogram", () => this.store.histogram(this.prefix + name, unit)) as UserHistogram;
  }

  private make(name: string, kind: string, create: () => UserCounter | UserGauge | UserHistogram): UserCounter | UserGauge | UserHistogram {
    const known = this.made.get(name);
    if (known !== undefined) {
      if (known.kind !== kind) throw new TypeError(`stats: '${name}' is a ${known.kind}, not a ${kind}`);
      return known.stat;
    }
    if (typeof name !== "string" || !STAT_NAME.test(name)) throw new TypeError(`stats: bad stat name ${JSON.stringify(name)} (letters, digits, '_' and '-', in segments joined by '.')`);
    if (RESERVED.has(name)) throw new TypeError(`stats: '${name}' is the filter's own stat`);
    if (this.made.size >= MAX_USER_STATS) throw new RangeError(`stats: a filter may make at most ${MAX_USER_STATS} stats`);
    const stat = create();
    this.made.set(name, { kind, stat });
    return stat;
  }
}
