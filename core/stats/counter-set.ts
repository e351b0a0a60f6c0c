import type { Counter } from "./counter.ts";
import type { StatsStore } from "./stats-store.ts";

/**
 * The counters of one of Envoy's stats lists (an ALL_…_STATS(COUNTER) macro), each named
 * `prefix` + its Envoy name and reached by that name: one list of names instead of a
 * class that spells each counter out twice.
 */
export type CounterSet<N extends string> = Readonly<Record<N, Counter>>;

export function counterSet<const N extends string>(stats: StatsStore, prefix: string, names: readonly N[]): CounterSet<N> {
  const set = {} as Record<N, Counter>;
  for (const name of names) set[name] = stats.counter(prefix + name);
  return set;
}
