/**
 * What a stats sink is given (Envoy's Stats::Sink and MetricSnapshot, envoy/stats/sink.h):
 * at each flush the counters with what they gained since the last flush and the gauges;
 * and each histogram value as it is recorded (onHistogramComplete), not at the flush.
 */
import type { Counter } from "./counter.ts";
import type { Gauge } from "./gauge.ts";
import type { Histogram, HistogramSink } from "./histogram.ts";
import type { IntervalStatistics } from "./histogram-interval-statistics.ts";

/** One flush's view of the store (Envoy's MetricSnapshotImpl). */
export interface MetricSnapshot {
  /** Every counter and its latched delta (Counter.latch), in the store's order. */
  readonly counters: readonly { readonly counter: Counter; readonly delta: number }[];
  readonly gauges: readonly Gauge[];
  /** Every histogram (Envoy's ParentHistograms), for the sinks that read them at the flush (metrics_service). */
  readonly histograms: readonly Histogram[];
  /**
   * Each histogram's statistics over this flush's interval, when the flush gives them: the
   * merged flush of worker processes (merged-snapshot.ts), whose workers closed their
   * intervals at the flush. Absent, each sink closes its own (HistogramIntervalTracker).
   */
  readonly intervals?: ReadonlyMap<Histogram, IntervalStatistics>;
}

export interface StatsSink extends HistogramSink {
  /** Open what the sink sends on (a UDP socket); rejects when it cannot. */
  start(): Promise<void>;
  flush(snapshot: MetricSnapshot): void;
  /** Resolves once what the sink holds has been handed on (the shutdown waits for it, within its grace period). */
  idle?(): Promise<void>;
  /** Close what it opened; nothing is sent after. */
  stop(): void;
}

/** A histogram's value as statsd's integer milliseconds (Envoy's are uint64: std::chrono::milliseconds(value).count()). */
export function statsdHistogramValue(value: number): number {
  return value > 0 ? Math.floor(value) : 0;
}
