/**
 * The stats flush of N worker processes (--concurrency) as Envoy's one flush of its one
 * store (source/server/server.cc InstanceImpl::flushStatsInternal, MetricSnapshotImpl): the
 * supervisor gathers every worker's cumulative snapshot (`/stats?format=worker`), merges
 * them as its admin's /stats does (core/admin/worker-stats.ts) and hands the result, with
 * each counter's delta and each histogram's interval since the last flush, to the one worker
 * whose sinks send it (core/stats/merged-snapshot.ts).
 *
 * Counter deltas come from each worker's own totals, not from the merged sums: a worker
 * left out of one flush (it did not answer in time) has its increments counted at the
 * next flush it answers, not lost then counted twice. A worker whose total went down (it
 * was restarted: a new pid, or its counter reset) starts again: its delta is its new value,
 * as a new counter's would be (Envoy's one process has no such case). Counters every worker
 * counts the same events on (worker-stats.ts counterIsSummed false: config loads, xDS
 * updates) send what the highest total ever seen gained, never less than 0. Histogram
 * intervals are found the same way from each worker's cumulative buckets and sum.
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
  /** The bucket counts and value sum of this flush's interval: each answering worker's cumulative values less its previous ones, summed. */
  readonly interval: readonly number[];
  readonly intervalSum: number;
}

/** One worker's cumulative values at its last answer. */
interface WorkerTotals {
  readonly pid: number;
  readonly counters: Map<string, number>;
  readonly histograms: Map<string, { readonly counts: readonly number[]; readonly sum: number }>;
}

/**
 * The supervisor's memory between flushes: per worker slot its last cumulative values (at
 * most one entry per slot and stat name), and per stat what was sent so far. What is sent as
 * a summed counter's value, or a histogram's counts, count and sum, is the running total of
 * the deltas and intervals sent: it never goes down when a worker misses a flush or restarts,
 * as a cumulative metric (metrics_service, OTLP) must not.
 */
export class MergedFlushState {
  private readonly lastByWorker = new Map<number, WorkerTotals>();
  /** Per counter counted once (not summed), the highest merged total sent so far. */
  private readonly highest = new Map<string, number>();
  /** Per summed counter, the sum of the deltas sent. */
  private sentCounters = new Map<string, number>();
  /** Per histogram, the sum of the intervals sent. */
  private sentHistograms = new Map<string, { counts: number[]; count: number; sum: number }>();

  /** The answers (first worker first) merged into the message for the flushing worker's sinks. */
  message(answers: readonly WorkerFlushAnswer[]): SinkFlushMessage {
    const deltas = new Map<string, number>();
    const copied = new Map<string, number>();
    const intervals = new Map<string, { counts: number[]; sum: number }>();
    for (const { index, pid, snapshot } of answers) {
      const last = this.lastByWorker.get(index);
      const previous = last !== undefined && last.pid === pid ? last : undefined;
      const totals: WorkerTotals = { pid, counters: new Map(), histograms: new Map() };
      for (const stat of snapshot.stats) {
        if (stat.type === "histogram") {
          totals.histograms.set(stat.name, { counts: stat.counts, sum: stat.sum });
          const interval = histogramInterval(previous?.histograms.get(stat.name), stat);
          const into = intervals.get(stat.name);
          if (into === undefined) intervals.set(stat.name, interval);
          else {
            interval.counts.forEach((n, i) => (into.counts[i] = (into.counts[i] ?? 0) + n));
            into.sum += interval.sum;
          }
          continue;
        }
        if (stat.type !== "counter") continue;
        totals.counters.set(stat.name, stat.value);
        if (!counterIsSummed(stat.name)) {
          copied.set(stat.name, Math.max(copied.get(stat.name) ?? 0, stat.value));
          continue;
        }
        const before = previous?.counters.get(stat.name) ?? 0;
        // A total that went down: the worker restarted (or reset its counters); it starts again.
        const delta = stat.value >= before ? stat.value - before : stat.value;
        deltas.set(stat.name, (deltas.get(stat.name) ?? 0) + delta);
      }
      // Only the names this worker has now: a removed cluster's stats are forgotten.
      this.lastByWorker.set(index, totals);
    }
    const copiedValues = new Map<string, number>();
    for (const [name, value] of copied) {
      const before = this.highest.get(name) ?? 0;
      deltas.set(name, Math.max(0, value - before));
      if (value > before) this.highest.set(name, value);
      copiedValues.set(name, Math.max(value, before));
    }

    const { stats } = mergeWorkerStats(answers.map((answer) => answer.snapshot));
    const counters: SinkFlushMessage["counters"][number][] = [];
    const gauges: SinkFlushMessage["gauges"][number][] = [];
    const histograms: MergedHistogram[] = [];
    // Running totals, per name a worker holds (memory bounded by the workers' stats).
    const sentCounters = new Map<string, number>();
    const sentHistograms = new Map<string, { counts: number[]; count: number; sum: number }>();
    for (const stat of stats) {
      if (stat instanceof Counter) {
        const delta = deltas.get(stat.name) ?? 0;
        let value = copiedValues.get(stat.name);
        if (value === undefined) {
          value = (this.sentCounters.get(stat.name) ?? 0) + delta;
          sentCounters.set(stat.name, value);
        }
        counters.push({ name: stat.name, value, delta, used: stat.used });
      } else if (stat instanceof Gauge) gauges.push({ name: stat.name, value: stat.value, used: stat.used });
      else if (stat instanceof Histogram) {
        const interval = intervals.get(stat.name) ?? { counts: Array.from(stat.counts, () => 0), sum: 0 };
        const before = this.sentHistograms.get(stat.name);
        const sent = {
          counts: Array.from(stat.counts, (_, i) => (before?.counts[i] ?? 0) + (interval.counts[i] ?? 0)),
          count: (before?.count ?? 0) + interval.counts.reduce((a, b) => a + b, 0),
          sum: (before?.sum ?? 0) + interval.sum,
        };
        sentHistograms.set(stat.name, sent);
        histograms.push({
          name: stat.name,
          unit: stat.unit,
          used: stat.used,
          counts: sent.counts,
          count: sent.count,
          sum: sent.sum,
          min: Number.isFinite(stat.min) ? stat.min : null,
          max: Number.isFinite(stat.max) ? stat.max : null,
          interval: Array.from(stat.counts, (_, i) => interval.counts[i] ?? 0),
          intervalSum: interval.sum,
        });
      }
    }
    // A name missing from this flush that some worker still held at its last answer (a
    // stat only a late worker has) keeps its running total: its next point must continue
    // it, not start again from 0 (a reset to a cumulative sink). Names no worker holds go.
    const held = new Set<string>();
    for (const worker of this.lastByWorker.values()) {
      for (const name of worker.counters.keys()) held.add(name);
      for (const name of worker.histograms.keys()) held.add(name);
    }
    for (const [name, value] of this.sentCounters) if (!sentCounters.has(name) && held.has(name)) sentCounters.set(name, value);
    for (const [name, value] of this.sentHistograms) if (!sentHistograms.has(name) && held.has(name)) sentHistograms.set(name, value);
    this.sentCounters = sentCounters;
    this.sentHistograms = sentHistograms;
    return { counters, gauges, histograms };
  }
}

/**
 * A worker's histogram interval: its cumulative buckets and sum less those at its last
 * answer. None before (a new worker or histogram), or any bucket lower (a restart or reset):
 * all it has now is the interval, as for a counter.
 */
function histogramInterval(before: { readonly counts: readonly number[]; readonly sum: number } | undefined, now: { readonly counts: readonly number[]; readonly sum: number }): { counts: number[]; sum: number } {
  const restarted = before === undefined || now.sum < before.sum || now.counts.some((n, i) => n < (before.counts[i] ?? 0));
  if (restarted) return { counts: [...now.counts], sum: now.sum };
  return { counts: now.counts.map((n, i) => n - (before.counts[i] ?? 0)), sum: now.sum - before.sum };
}
