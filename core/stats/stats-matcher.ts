/**
 * stats_config.stats_matcher (Envoy's StatsMatcherImpl, source/common/stats/stats_matcher_impl.cc):
 * which stats are kept, by their full name. A rejected stat still counts for the code
 * that holds it, but the store does not keep it: /stats, /stats/prometheus and every
 * lookup by name leave it out, as Envoy's null stats are left out.
 */
import type { StatsMatcherConfig } from "../config/bootstrap.ts";
import { compileStringMatch, type StringMatch } from "../http/route/header-matcher.ts";

export type StatsMatcher = (name: string) => boolean;

/** A predicate: true for a stat the config rejects. */
export function compileStatsMatcher(config: StatsMatcherConfig): StatsMatcher {
  if (config.type === "reject_all") return () => true;
  const patterns = config.patterns.map((pattern) => compileStringMatch(pattern as StringMatch));
  const anyMatch = (name: string) => patterns.some((matches) => matches(name));
  return config.type === "exclusion_list" ? anyMatch : (name) => !anyMatch(name);
}
