/**
 * The admin's stats output, in Envoy's three formats: text (`/stats`), JSON
 * (`/stats?format=json`) and Prometheus text exposition (`/stats/prometheus`).
 */
import { Counter } from "../stats/counter.ts";
import { DEFAULT_BUCKETS, Histogram, QUANTILES } from "../stats/histogram.ts";
import type { Stat } from "../stats/stats-store.ts";
import { compileRegex, type CompiledRegex } from "../config/regex.ts";
import type { AdminResponse } from "./admin-handler.ts";
import type { IntervalQuantiles } from "./histogram-intervals.ts";
import type { TagExtractor } from "./tag-extractor.ts";

/** `?usedonly` and `?filter=<regex>`, as Envoy's stats handlers take them. */
export interface StatsQuery {
  usedOnly: boolean;
  /** `?filter=`: RE2, matched anywhere in the name. */
  filter: CompiledRegex | undefined;
  /**
   * `?type=`: Envoy's StatsType, applied to text and JSON only, as Envoy's StatsRequest;
   * /stats/prometheus checks it but renders every type (prometheus_stats.cc's
   * shouldShowMetric looks at usedonly, hidden and filter only).
   */
  type?: "Counters" | "Gauges" | "Histograms" | "TextReadouts" | "All";
}

const STATS_TYPES = new Set(["Counters", "Gauges", "Histograms", "TextReadouts", "All"]);

const TEXT = "text/plain; charset=UTF-8";

/** `?usedonly` and `?filter=` as Envoy's StatsParams::parse reads them, or the 400 a bad regex gets. */
export function statsQuery(query: ReadonlyMap<string, string>, prometheus = false): StatsQuery | AdminResponse {
  const pattern = query.get("filter");
  let filter: CompiledRegex | undefined;
  if (pattern !== undefined) {
    // RE2, as Envoy's StatsParams::parse (source/server/admin/stats_params.cc): linear in
    // the stat names whatever the pattern, and the same syntax as everywhere else.
    const compiled = compileRegex(pattern);
    if (!compiled.ok) return { status: 400, contentType: TEXT, body: "Invalid re2 regex" };
    filter = compiled.regex;
  }
  // Envoy's Utility::histogramBucketsParam (source/server/admin/utils.cc): an empty value
  // or `none` is the quantile summary; the bucket listings are not rendered here, so they
  // are refused rather than answered with the summary.
  // Prometheus output always lists cumulative buckets (Envoy's default there): the parameter
  // changes nothing for it, and a scrape config copied from Envoy may carry it.
  const buckets = prometheus ? undefined : query.get("histogram_buckets");
  if (buckets === "cumulative" || buckets === "disjoint" || buckets === "detailed") {
    return { status: 400, contentType: TEXT, body: `histogram_buckets=${buckets} is not supported by polyvoy: use /stats/prometheus for the buckets\n` };
  }
  if (buckets !== undefined && buckets !== "" && buckets !== "none") {
    return { status: 400, contentType: TEXT, body: "usage: /stats?histogram_buckets=(cumulative|disjoint|none)\n" };
  }
  // StatsParams::parse (stats_params.cc): the exact labels, anything else a 400.
  const type = query.get("type");
  if (type !== undefined && !STATS_TYPES.has(type)) return { status: 400, contentType: TEXT, body: "invalid &type= param" };
  return { usedOnly: query.has("usedonly"), filter, type: type as StatsQuery["type"] };
}

/** `?type=`: polyvoy has no text readouts, so `TextReadouts` shows nothing. */
function typeShown(stat: Stat, query: StatsQuery): boolean {
  if (query.type === undefined || query.type === "All") return true;
  if (query.type === "Histograms") return stat instanceof Histogram;
  if (query.type === "Counters") return stat instanceof Counter;
  if (query.type === "Gauges") return !(stat instanceof Histogram) && !(stat instanceof Counter);
  return false;
}

/**
 * `/stats` (text, `?format=json`, `?format=prometheus`) and `/stats/prometheus` over
 * `stats`: the one admin process's, or every worker's merged (worker-stats.ts).
 */
export function statsResponse(
  path: "/stats" | "/stats/prometheus",
  params: ReadonlyMap<string, string>,
  stats: readonly Stat[],
  intervals: IntervalQuantiles,
  tags: TagExtractor,
): AdminResponse {
  const format = path === "/stats/prometheus" ? "prometheus" : (params.get("format") ?? "text");
  const query = statsQuery(params, format === "prometheus");
  if ("status" in query) return query;
  if (format === "prometheus") return { status: 200, contentType: TEXT, body: statsAsPrometheus(stats, query, tags) };
  if (format === "json") return { status: 200, contentType: "application/json", body: statsAsJson(stats, query, intervals, params.has("pretty")) };
  if (format === "text") return { status: 200, contentType: TEXT, body: statsAsText(stats, query, intervals) };
  // StatsParams::parse: 400 (polyvoy has no html formats).
  return { status: 400, contentType: TEXT, body: "usage: /stats?format=(html|active-html|json|prometheus|text)\n\n" };
}

/** Envoy's shouldShowMetric: used (when asked) and the regex found somewhere in the name. */
export function shouldShow(stat: Stat, query: StatsQuery): boolean {
  return (!query.usedOnly || stat.used) && (query.filter === undefined || query.filter.partialMatch(stat.name));
}

/** A double as Envoy's fmt `{}` prints it (shortest form; NaN as "nan"), to 6 significant digits. */
function formatDouble(value: number): string {
  if (Number.isNaN(value)) return "nan";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  return String(significant(value));
}

/** Quantiles are estimates: 6 significant digits say all they know. */
function significant(value: number): number {
  return Number(value.toPrecision(6));
}

/** The quantile labels: P0 P25 P50 P75 P90 P95 P99 P99.5 P99.9 P100. */
const QUANTILE_PERCENTS = QUANTILES.map((q) => Number((q * 100).toPrecision(6)));

/**
 * Envoy's `ParentHistogram::quantileSummary`: "P0(interval,cumulative) P25(…) …", or
 * "No recorded values" for a histogram nothing was recorded in.
 */
export function quantileSummary(histogram: Histogram, intervals: IntervalQuantiles): string {
  if (!histogram.used) return "No recorded values";
  const interval = intervals.quantiles(histogram);
  return QUANTILES.map(
    (q, i) => `P${QUANTILE_PERCENTS[i]}(${formatDouble(interval[i]!)},${formatDouble(histogram.quantile(q))})`,
  ).join(" ");
}

/** `/stats`: counters and gauges as `name: value`, sorted by name, then histograms. */
export function statsAsText(stats: readonly Stat[], query: StatsQuery, intervals: IntervalQuantiles): string {
  let out = "";
  const histograms: Histogram[] = [];
  for (const stat of stats) {
    if (!shouldShow(stat, query) || !typeShown(stat, query)) continue;
    if (stat instanceof Histogram) histograms.push(stat);
    else out += `${stat.name}: ${stat.value}\n`;
  }
  for (const histogram of histograms) out += `${histogram.name}: ${quantileSummary(histogram, intervals)}\n`;
  return out;
}

/**
 * `/stats?format=json`: `{"stats":[{"name":…,"value":…},…,{"histograms":{"supported_quantiles":[…],
 * "computed_quantiles":[{"name":…,"values":[{"interval":…,"cumulative":…},…]}]}}]}`, as Envoy's
 * statsAsJson (NaN quantiles are null).
 */
export function statsAsJson(stats: readonly Stat[], query: StatsQuery, intervals: IntervalQuantiles, pretty: boolean): string {
  const entries: unknown[] = [];
  const computed: { name: string; values: { interval: number | null; cumulative: number | null }[] }[] = [];
  const orNull = (value: number): number | null => (Number.isFinite(value) ? significant(value) : null);
  for (const stat of stats) {
    if (!shouldShow(stat, query) || !typeShown(stat, query)) continue;
    if (stat instanceof Histogram) {
      const interval = intervals.quantiles(stat);
      computed.push({
        name: stat.name,
        values: QUANTILES.map((q, i) => ({ interval: orNull(interval[i]!), cumulative: orNull(stat.quantile(q)) })),
      });
    } else {
      entries.push({ name: stat.name, value: stat.value });
    }
  }
  if (computed.length > 0) {
    entries.push({ histograms: { supported_quantiles: QUANTILE_PERCENTS, computed_quantiles: computed } });
  }
  return JSON.stringify({ stats: entries }, null, pretty ? 2 : undefined);
}

/** Prometheus names: [a-zA-Z_][a-zA-Z0-9_]* (Envoy's sanitizeName). */
function sanitizeName(name: string): string {
  const sanitized = name.replace(/[^a-zA-Z0-9_]/g, "_");
  return /^[0-9]/.test(sanitized) ? `_${sanitized}` : sanitized;
}

/** A label value in the exposition format: backslash, double quote and newline escaped. */
function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

/**
 * `/stats/prometheus` (Envoy's PrometheusStatsFormatter): each stat's tags extracted
 * (cluster name, response code and class, stat prefixes, listener address), its
 * remaining name prefixed with `envoy_` and sanitized; one `# TYPE` line per metric
 * family with all its series together — counters, then gauges, then histograms
 * (`_bucket{le=…}` cumulative over Envoy's default bounds, `_sum`, `_count`).
 */
export function statsAsPrometheus(stats: readonly Stat[], query: StatsQuery, tags: TagExtractor): string {
  const families = {
    counter: new Map<string, string[]>(),
    gauge: new Map<string, string[]>(),
    histogram: new Map<string, string[]>(),
  };
  for (const stat of stats) {
    if (!shouldShow(stat, query)) continue;
    const tagged = tags.extract(stat.name);
    const metric = sanitizeName(`envoy_${tagged.name}`);
    const labels = tagged.tags.map((tag) => `${sanitizeName(tag.name)}="${escapeLabelValue(tag.value)}"`).join(",");
    const kind = stat instanceof Histogram ? "histogram" : stat instanceof Counter ? "counter" : "gauge";
    let lines = families[kind].get(metric);
    if (!lines) {
      lines = [];
      families[kind].set(metric, lines);
    }
    if (!(stat instanceof Histogram)) {
      lines.push(`${metric}{${labels}} ${stat.value}`);
      continue;
    }
    const bucketLabels = labels === "" ? "" : `${labels},`;
    const cumulative = stat.cumulative();
    for (let i = 0; i < DEFAULT_BUCKETS.length; i++) {
      lines.push(`${metric}_bucket{${bucketLabels}le="${DEFAULT_BUCKETS[i]}"} ${cumulative[i]}`);
    }
    lines.push(`${metric}_bucket{${bucketLabels}le="+Inf"} ${stat.count}`);
    lines.push(`${metric}_sum{${labels}} ${formatPrometheusNumber(stat.sum)}`);
    lines.push(`${metric}_count{${labels}} ${stat.count}`);
  }
  let out = "";
  for (const kind of ["counter", "gauge", "histogram"] as const) {
    const byName = [...families[kind].entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [metric, lines] of byName) out += `# TYPE ${metric} ${kind}\n${lines.join("\n")}\n`;
  }
  return out;
}

function formatPrometheusNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "+Inf" : "-Inf";
  return String(value);
}
