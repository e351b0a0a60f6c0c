/**
 * One admin for N worker processes (--concurrency): each worker's stats as a snapshot
 * (`/stats?format=worker`, served only by workers, on their internal admin), and the
 * snapshots merged into one store for the supervisor's /stats and /stats/prometheus, and
 * the workers' /clusters merged into one.
 *
 * Envoy's workers are threads sharing one store: a counter is one number however many
 * threads increment it, and so is a gauge. Here each worker process has its own, so the
 * merge does what sharing does: counters are summed, histograms' buckets, counts and sums
 * are summed (min and max over all), and gauges are summed — except gauges each worker
 * holds a copy of rather than a share of (a cluster's membership, the server's state):
 * summing those would multiply them by N. Those are the gauges Envoy marks NeverImport
 * (source/server/server.h ALL_SERVER_STATS, envoy/upstream/upstream.h ALL_CLUSTER_STATS,
 * source/common/listener_manager/listener_manager_impl.h), which a hot restart does not
 * add up either, plus server.uptime (one process's age, not a share): the first worker's
 * value is shown.
 */
import { Counter } from "../stats/counter.ts";
import { Gauge } from "../stats/gauge.ts";
import { Histogram } from "../stats/histogram.ts";
import type { Stat } from "../stats/stats-store.ts";
import { bucketQuantile, type IntervalQuantiles } from "./histogram-intervals.ts";
import { QUANTILES } from "../stats/histogram.ts";

/** One stat of a worker's snapshot; `i` is a histogram's bucket counts over its last flush interval. */
export type WorkerStat =
  | { readonly type: "counter" | "gauge"; readonly name: string; readonly value: number; readonly used: boolean }
  | {
      readonly type: "histogram";
      readonly name: string;
      readonly unit: Histogram["unit"];
      readonly used: boolean;
      readonly counts: readonly number[];
      readonly count: number;
      readonly sum: number;
      readonly min: number | null;
      readonly max: number | null;
      readonly interval: readonly number[] | null;
      /** The sum of the values recorded in that interval. */
      readonly intervalSum: number;
    };

export interface WorkerStatsSnapshot {
  readonly stats: readonly WorkerStat[];
}

/** Gauges that are each worker's copy of one value, not its share of a total (above). */
const COPIED_GAUGES = new Set([
  "server.concurrency",
  "server.hot_restart_epoch",
  "server.live",
  "server.state",
  "server.uptime",
  "server.version",
  "server.days_until_first_cert_expiring",
  "server.stats_recent_lookups",
  "cluster_manager.active_clusters",
  "cluster_manager.warming_clusters",
  "listener_manager.total_listeners_active",
  "listener_manager.total_listeners_draining",
  "listener_manager.total_listeners_warming",
  "listener_manager.total_filter_chains_draining",
  "runtime.num_keys",
  "runtime.num_layers",
  "runtime.admin_overrides_active",
  "control_plane.connected_state",
]);
const COPIED_CLUSTER_GAUGES = /^cluster\.[^]+\.(membership_total|membership_healthy|membership_degraded|membership_excluded|max_host_weight|version|update_time|health_check\.healthy|health_check\.degraded)$/;
/**
 * A cluster's circuit breakers' `*_open` gauges: 0 or 1, whether the breaker is open, in
 * Envoy one per process (upstream.h ALL_CLUSTER_CIRCUIT_BREAKERS_STATS). Each worker has
 * its own breakers: the merge shows 1 when any worker's is open (the highest value), not a
 * sum (cx_pool_open is listed though polyvoy refuses max_connection_pools, which sets it).
 */
const OPEN_GAUGES = /^cluster\.[^]+\.circuit_breakers\.(default|high)\.(cx_open|rq_pending_open|rq_open|rq_retry_open|cx_pool_open)$/;
/** Each xDS subscription's last update time and version hash (LDS, CDS, RDS), read by every worker. */
const COPIED_XDS_GAUGES = /^(listener_manager\.lds|cluster_manager\.cds|http\.[^]+\.rds\.[^]+)\.(update_time|version|config_reload_time_ms)$/;

/**
 * Counters of work every worker repeats on its own copy of the server's state, where Envoy
 * does it once on its main thread: loading the config (cluster_manager.cluster_added,
 * listener_manager.listener_added, runtime.load_success, a cluster's
 * membership_change), reloads, xDS and SDS updates (each worker reads the files), runtime
 * changes. Summing them would count one event N times: the highest worker's value is shown.
 * listener_manager.listener_create_success|failure stay summed: Envoy counts one per worker
 * a listener is added to (listener_manager_impl.cc addListenerToWorker). Health checks and
 * outlier detection stay summed too: each worker does send its own checks.
 */
const COPIED_COUNTERS =
  /^(cluster_manager\.[a-z_]+|listener_manager\.(?!listener_create_)[a-z_]+|cluster_manager\.cds\.[a-z_]+|listener_manager\.lds\.[a-z_]+|runtime\.(load_success|load_error|override_dir_exists|override_dir_not_exists)|config_reload\.[a-z_]+|sds\.[^]+\.[a-z_]+|http\.[^]+\.rds\.[^]+\.[a-z_]+|cluster\.[^]+\.(membership_change|update_attempt|update_success|update_failure|update_rejected|update_empty|update_no_rebuild|assignment_stale|assignment_timeout_received))$/;

/** A counter summed across workers (each counts its own share), or shown once (a copy, above). */
export function counterIsSummed(name: string): boolean {
  return !COPIED_COUNTERS.test(name);
}

/** A gauge summed across workers (a share), or shown once (a copy). */
export function gaugeIsSummed(name: string): boolean {
  return !COPIED_GAUGES.has(name) && !COPIED_CLUSTER_GAUGES.test(name) && !COPIED_XDS_GAUGES.test(name) && !OPEN_GAUGES.test(name);
}

/** This worker's stats, for the supervisor to merge. */
export function workerStatsSnapshot(stats: readonly Stat[], intervals: { intervalCounts(histogram: Histogram): readonly number[] | undefined; intervalSum(histogram: Histogram): number }): string {
  const out: WorkerStat[] = stats.map((stat) => {
    if (stat instanceof Histogram) {
      return {
        type: "histogram",
        name: stat.name,
        unit: stat.unit,
        used: stat.used,
        counts: [...stat.counts],
        count: stat.count,
        sum: stat.sum,
        min: Number.isFinite(stat.min) ? stat.min : null,
        max: Number.isFinite(stat.max) ? stat.max : null,
        interval: intervals.intervalCounts(stat) ?? null,
        intervalSum: intervals.intervalSum(stat),
      };
    }
    return { type: stat instanceof Counter ? "counter" : "gauge", name: stat.name, value: stat.value, used: stat.used };
  });
  return JSON.stringify({ stats: out } satisfies WorkerStatsSnapshot);
}

/** The interval quantiles of merged histograms, from the workers' summed interval buckets. */
class MergedIntervals implements IntervalQuantiles {
  readonly counts = new Map<Histogram, Float64Array>();

  add(histogram: Histogram, interval: readonly number[]): void {
    let sum = this.counts.get(histogram);
    if (!sum) this.counts.set(histogram, (sum = new Float64Array(histogram.counts.length)));
    for (let i = 0; i < sum.length; i++) sum[i]! += interval[i] ?? 0;
  }

  quantiles(histogram: Histogram): number[] {
    const counts = this.counts.get(histogram);
    const total = counts ? counts.reduce((a, b) => a + b, 0) : 0;
    return QUANTILES.map((q) => (counts ? bucketQuantile(counts, total, q, histogram.min, histogram.max) : NaN));
  }
}

/** The workers' snapshots (first worker first) as one sorted list of stats, and their interval quantiles. */
export function mergeWorkerStats(snapshots: readonly WorkerStatsSnapshot[]): { stats: Stat[]; intervals: IntervalQuantiles } {
  const merged = new Map<string, Stat>();
  const intervals = new MergedIntervals();
  for (const snapshot of snapshots) {
    for (const entry of snapshot.stats) {
      const existing = merged.get(entry.name);
      if (entry.type === "histogram") {
        let histogram = existing instanceof Histogram ? existing : undefined;
        if (!histogram) {
          if (existing) continue; // the same name as another type in another worker: the first worker's wins
          merged.set(entry.name, (histogram = new Histogram(entry.name, entry.unit)));
        }
        for (let i = 0; i < histogram.counts.length; i++) histogram.counts[i]! += entry.counts[i] ?? 0;
        histogram.count += entry.count;
        histogram.sum += entry.sum;
        if (entry.min !== null) histogram.min = Math.min(histogram.min, entry.min);
        if (entry.max !== null) histogram.max = Math.max(histogram.max, entry.max);
        histogram.used ||= entry.used;
        if (entry.interval) intervals.add(histogram, entry.interval);
        continue;
      }
      const Kind = entry.type === "counter" ? Counter : Gauge;
      if (existing && !(existing instanceof Kind)) continue;
      if (!existing) {
        const stat = new Kind(entry.name);
        stat.value = entry.value;
        stat.used = entry.used;
        merged.set(entry.name, stat);
        continue;
      }
      const stat = existing as Counter | Gauge;
      if (stat instanceof Counter ? counterIsSummed(stat.name) : gaugeIsSummed(stat.name)) stat.value += entry.value;
      // A counter counted once: the highest of the workers' (a restarted worker's starts again);
      // a breaker's open gauge: open when any worker's is.
      else if ((stat instanceof Counter || OPEN_GAUGES.test(stat.name)) && entry.value > stat.value) stat.value = entry.value;
      stat.used ||= entry.used;
    }
  }
  const stats = [...merged.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { stats, intervals };
}

/** A host's numbers in /clusters that are its stats (host.stats: counters and gauges), summed across workers. */
const HOST_STATS = /^(cx_total|cx_active|cx_connect_fail|rq_total|rq_active|rq_success|rq_error|rq_timeout)$/;

/**
 * `/clusters` (text) of every worker as one: host stats (`cluster::host::rq_total::5`)
 * summed, every other line (settings, health flags, success rates) as the first worker
 * printed it. Each worker checks health itself, so flags can differ for a moment.
 */
export function mergeClustersText(texts: readonly string[]): string {
  const [first, ...rest] = texts;
  if (first === undefined) return "";
  const sums = new Map<string, number>();
  for (const text of rest) {
    for (const line of text.split("\n")) {
      const at = line.lastIndexOf("::");
      if (at < 0) continue;
      const key = line.slice(0, at);
      if (!HOST_STATS.test(key.slice(key.lastIndexOf("::") + 2))) continue;
      sums.set(key, (sums.get(key) ?? 0) + Number(line.slice(at + 2)));
    }
  }
  return first
    .split("\n")
    .map((line) => {
      const at = line.lastIndexOf("::");
      const key = at < 0 ? undefined : line.slice(0, at);
      const extra = key === undefined ? undefined : sums.get(key);
      return extra === undefined || !HOST_STATS.test(key!.slice(key!.lastIndexOf("::") + 2)) ? line : `${key}::${Number(line.slice(at + 2)) + extra}`;
    })
    .join("\n");
}

interface ClustersJson {
  cluster_statuses?: { name: string; host_statuses?: { address: unknown; stats?: { name: string; value?: string; type?: string }[] }[] }[];
}

/** `/clusters?format=json` of every worker as one, as mergeClustersText (values are proto3 JSON strings, 0 left out). */
export function mergeClustersJson(jsons: readonly string[]): string {
  const [first, ...rest] = jsons.map((json) => JSON.parse(json) as ClustersJson);
  if (first === undefined) return "{}";
  const hostKey = (cluster: string, address: unknown) => `${cluster}\u0000${JSON.stringify(address)}`;
  const sums = new Map<string, Map<string, number>>();
  for (const other of rest) {
    for (const cluster of other.cluster_statuses ?? []) {
      for (const host of cluster.host_statuses ?? []) {
        const key = hostKey(cluster.name, host.address);
        const stats = sums.get(key) ?? new Map<string, number>();
        sums.set(key, stats);
        for (const stat of host.stats ?? []) stats.set(stat.name, (stats.get(stat.name) ?? 0) + Number(stat.value ?? 0));
      }
    }
  }
  for (const cluster of first.cluster_statuses ?? []) {
    for (const host of cluster.host_statuses ?? []) {
      const extra = sums.get(hostKey(cluster.name, host.address));
      if (!extra) continue;
      host.stats = (host.stats ?? []).map((stat) => {
        const value = Number(stat.value ?? 0) + (extra.get(stat.name) ?? 0);
        return { name: stat.name, ...(value !== 0 ? { value: String(value) } : {}), ...(stat.type !== undefined ? { type: stat.type } : {}) };
      });
    }
  }
  return JSON.stringify(first, null, 2);
}
