/**
 * The stats flush of N worker processes (--concurrency) as Envoy's one flush of its one
 * store (source/server/server.cc InstanceImpl::flushStatsInternal, MetricSnapshotImpl): the
 * supervisor gathers every worker's snapshot (`/stats?format=worker&flush=sinks`, each
 * worker closing its histograms' interval then), merges them as its admin's /stats does
 * (core/admin/worker-stats.ts) and hands the result, with each counter's delta since the
 * last flush, to the one worker whose sinks send it (core/stats/merged-snapshot.ts).
 *
 * Counter deltas come from each worker's own totals, not from the merged sums: a worker
 * left out of one flush (it did not answer in time) has its increments counted at the
 * next flush it answers, not lost then counted twice. A worker whose total went down (it
 * was restarted: a new pid, or its counter reset) starts again: its delta is its new value,
 * as a new counter's would be (Envoy's one process has no such case). Counters every worker
 * counts the same events on (worker-stats.ts counterIsSummed false: config loads, xDS
 * updates) send what the highest total ever seen gained, never less than 0.
 */
import { counterIsSummed, mergeWorkerStats, type WorkerStatsSnapshot } from "../admin/worker-stats.ts";
import { Counter } from "./counter.ts";
import { Gauge } from "./gauge.ts";
import { Histogram } from "./histogram.ts";

/** One worker's answer to a flush: `pid` tells a restarted worker from its predecessor at the same index. */
export interface WorkerFlushAnswer {
  readonly index: number;
  readonly pid: number;
  readonly snapshot: WorkerStatsSnapshot;
}

/** What the flushing worker's sinks are given: the merged stats of one flush (JSON between processes). */
export interface SinkFlushMessage {
  readonly counters: readonly { readonly name: string; readonly value: number; readonly delta: number; readonly used: boolean }[];
  readonly gauges: readonly { readonly name: string; readonly value: number; readonly used: boolean }[];
  readonly histograms: readonly MergedHistogram[];
}

export interface MergedHistogram {
  readonly name: string;
  readonly unit: Histogram["unit"];
  readonly used: boolean;
  readonly counts: readonly number[];
  readonly count: number;
  readonly sum: number;
  readonly min: number | null;
  readonly max: number | null;
  /** The bucket counts and value sum of this flush's interval, summed over the workers that answered. */
  readonly interval: readonly number[];
  readonly intervalSum: number;
}

/** The supervisor's memory between flushes: at most one entry per worker slot and counter name. */
export class MergedCounterDeltas {
  private readonly lastByWorker = new Map<number, { pid: number; totals: Map<string, number> }>();
  /** Per counter counted once (not summed), the highest merged total sent so far. */
  private readonly highest = new Map<string, number>();

  /** Each counter's delta since the previous flush, from the workers that answered this one. */
  deltas(answers: readonly WorkerFlushAnswer[]): Map<string, number> {
    const deltas = new Map<string, number>();
    const copied = new Map<string, number>();
    for (const { index, pid, snapshot } of answers) {
      const last = this.lastByWorker.get(index);
      const previous = last !== undefined && last.pid === pid ? last.totals : undefined;
      const totals = new Map<string, number>();
      for (const stat of snapshot.stats) {
        if (stat.type !== "counter") continue;
        totals.set(stat.name, stat.value);
        if (!counterIsSummed(stat.name)) {
          copied.set(stat.name, Math.max(copied.get(stat.name) ?? 0, stat.value));
          continue;
        }
        const before = previous?.get(stat.name) ?? 0;
        const delta = stat.value >= before ? stat.value - before : stat.value;
        deltas.set(stat.name, (deltas.get(stat.name) ?? 0) + delta);
      }
      // Only the names this worker has now: a removed cluster's counters are forgotten.
      this.lastByWorker.set(index, { pid, totals });
    }
    for (const [name, value] of copied) {
      const before = this.highest.get(name) ?? 0;
      deltas.set(name, Math.max(0, value - before));
      if (value > before) this.highest.set(name, value);
    }
    return deltas;
  }
}

/** The answers (first worker first) merged into the message for the flushing worker's sinks. */
export function sinkFlushMessage(answers: readonly WorkerFlushAnswer[], deltas: ReadonlyMap<string, number>): SinkFlushMessage {
  const snapshots = answers.map((answer) => answer.snapshot);
  const { stats } = mergeWorkerStats(snapshots);
  // The interval's buckets and sum, summed per histogram name (mergeWorkerStats keeps the buckets only).
  const intervals = new Map<string, { counts: number[]; sum: number }>();
  for (const snapshot of snapshots) {
    for (const stat of snapshot.stats) {
      if (stat.type !== "histogram" || stat.interval === null) continue;
      let interval = intervals.get(stat.name);
      if (interval === undefined) intervals.set(stat.name, (interval = { counts: stat.interval.map(() => 0), sum: 0 }));
      stat.interval.forEach((n, i) => (interval!.counts[i] = (interval!.counts[i] ?? 0) + n));
      interval.sum += stat.intervalSum;
    }
  }
  const counters: SinkFlushMessage["counters"][number][] = [];
  const gauges: SinkFlushMessage["gauges"][number][] = [];
  const histograms: MergedHistogram[] = [];
  for (const stat of stats) {
    if (stat instanceof Counter) counters.push({ name: stat.name, value: stat.value, delta: deltas.get(stat.name) ?? 0, used: stat.used });
    else if (stat instanceof Gauge) gauges.push({ name: stat.name, value: stat.value, used: stat.used });
    else if (stat instanceof Histogram) {
      const interval = intervals.get(stat.name);
      histograms.push({
        name: stat.name,
        unit: stat.unit,
        used: stat.used,
        counts: [...stat.counts],
        count: stat.count,
        sum: stat.sum,
        min: Number.isFinite(stat.min) ? stat.min : null,
        max: Number.isFinite(stat.max) ? stat.max : null,
        interval: interval?.counts ?? Array.from(stat.counts, () => 0),
        intervalSum: interval?.sum ?? 0,
      });
    }
  }
  return { counters, gauges, histograms };
}
