/**
 * Envoy's Stats::Utility::sanitizeStatsName (source/common/stats/utility.cc), which
 * createScope applies to every scope name: one leading and one trailing '.' dropped, then
 * "://", ":/", ":" and NUL each become "_". A ':' is statsd's name/value separator, so a
 * cluster named `a:b` counts as `cluster.a_b.*`.
 */
export function sanitizeStatsName(name: string): string {
  let body = name;
  if (body.endsWith(".")) body = body.slice(0, -1);
  if (body.startsWith(".")) body = body.slice(1);
  // One pass, longest match first, as absl::StrReplaceAll does.
  return body.replace(/:\/\/|:\/|:|\0/g, "_");
}

/**
 * A polyvoy scope prefix (`cluster.a:b.`) sanitized as Envoy's createScope sanitizes its
 * name. Envoy joins a scope's name to each stat with a '.', so the trailing '.' it strips is
 * put back here; polyvoy's prefixes carry that '.' themselves. Every stat name built from a
 * config prefix goes through this, so one cluster's stats never split under two names.
 */
export function sanitizeStatsPrefix(prefix: string): string {
  const body = sanitizeStatsName(prefix);
  return prefix.endsWith(".") && body !== "" ? `${body}.` : body;
}
