import { counterSet, type CounterSet } from "../../stats/counter-set.ts";
import type { StatsStore } from "../../stats/stats-store.ts";

/** Envoy's ALL_MYSQL_PROXY_STATS (contrib/mysql_proxy/filters/network/source/mysql_filter.h). */
const NAMES = [
  "sessions", "login_attempts", "login_failures", "decoder_errors", "protocol_errors",
  "upgraded_to_ssl", "auth_switch_request", "queries_parsed", "queries_parse_error",
] as const;

export type MySQLProxyStats = CounterSet<(typeof NAMES)[number]>;

/** The filter's counters, under `mysql.<stat_prefix>.` (Envoy's config.cc). */
export function mysqlProxyStats(stats: StatsStore, statPrefix: string): MySQLProxyStats {
  return counterSet(stats, `mysql.${statPrefix}.`, NAMES);
}
