import { counterSet, type CounterSet } from "../../stats/counter-set.ts";
import type { StatsStore } from "../../stats/stats-store.ts";

/** Envoy's ALL_POSTGRES_PROXY_STATS (postgres_filter.h). */
const NAMES = [
  "errors", "errors_error", "errors_fatal", "errors_panic", "errors_unknown",
  "messages", "messages_backend", "messages_frontend", "messages_unknown",
  "sessions", "sessions_encrypted", "sessions_terminated_ssl", "sessions_unencrypted", "sessions_upstream_ssl_success", "sessions_upstream_ssl_failed",
  "statements", "statements_insert", "statements_delete", "statements_update", "statements_select", "statements_other",
  "transactions", "transactions_commit", "transactions_rollback",
  "statements_parsed", "statements_parse_error",
  "notices", "notices_notice", "notices_warning", "notices_debug", "notices_info", "notices_log", "notices_unknown",
] as const;

export type PostgresProxyStats = CounterSet<(typeof NAMES)[number]>;

/** The filter's counters, under `postgres.<stat_prefix>.` (Envoy's config.cc). */
export function postgresProxyStats(stats: StatsStore, statPrefix: string): PostgresProxyStats {
  return counterSet(stats, `postgres.${statPrefix}.`, NAMES);
}
