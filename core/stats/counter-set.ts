import type { Counter } from "./counter.ts";
import type { StatsStore } from "./stats-store.ts";
import { sanitizeStatsPrefix } from "./sanitize-stats-name.ts";

/**
 * The counters of one of Envoy's stats lists (an ALL_…_STATS(COUNTER) macro), each named
 * `prefix` + its Envoy name and reached by that name: one list of names instead of a
 * class that spells each counter out twice. The prefix is sanitized as a scope's is.
 */
export type CounterSet<N extends string> = Readonly<Record<N, Counter>>;

export function counterSet<const N extends string>(stats: StatsStore, prefix: string, names: readonly N[]): CounterSet<N> {
  const set = {} as Record<N, Counter>;
  prefix = sanitizeStatsPrefix(prefix);
  for (const name of names) set[name] = stats.counter(prefix + name);
  return set;
}
