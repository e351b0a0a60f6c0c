/**
 * Envoy's MetricsFlusher (source/extensions/stat_sinks/metrics_service/
 * grpc_metrics_service_impl.cc): one flush's stats as io.prometheus.client.MetricFamily
 * messages (prometheus/client_model's metrics.proto), the envoy_metrics of a
 * StreamMetricsMessage. Used stats only (Envoy's default predicate, metric.used()), in
 * Envoy's order: counters, gauges, then each histogram as a SUMMARY and/or a HISTOGRAM
 * (histogram_emit_mode) over the flush interval. Every metric carries the flush's wall-clock
 * time (timestamp_ms). With emit_tags_as_labels the family is named by the tag-extracted
 * name and the tags become labels; else by the full name, with no labels.
 *
 * metrics.proto is proto2: Envoy's C++ sets every field it writes, so each is on the wire
 * even at 0 (a counter of 0, type COUNTER = 0).
 */
import type { Tag, TagExtractor } from "../admin/tag-extractor.ts";
import type { MetricsServiceSinkConfig } from "../config/bootstrap.ts";
import { ProtoWriter } from "../util/protobuf-wire.ts";
import type { Counter } from "./counter.ts";
import type { Gauge } from "./gauge.ts";
import { DEFAULT_BUCKETS, QUANTILES, type Histogram } from "./histogram.ts";
import { HistogramIntervalTracker, type IntervalStatistics } from "./histogram-interval-statistics.ts";
import type { MetricSnapshot } from "./sink.ts";

/** io.prometheus.client.MetricType. */
export const MetricType = { COUNTER: 0, GAUGE: 1, SUMMARY: 2, UNTYPED: 3, HISTOGRAM: 4 } as const;

export type MetricsFlusherOptions = Pick<MetricsServiceSinkConfig, "reportCountersAsDeltas" | "emitTagsAsLabels" | "histogramEmitMode">;

export class MetricsFlusher {
  private readonly emitSummary: boolean;
  private readonly emitHistogram: boolean;
  private readonly intervals = new HistogramIntervalTracker();
  /**
   * With report_counters_as_deltas, what flushes that did not go out (the stream blocked)
   * latched, per counter: added to the next message's delta, so the server's sum is the
   * counter's. At most one entry per counter of the store.
   */
  private readonly unsent = new Map<Counter, number>();
  /**
   * Per stat, its MetricFamily name field and its Metric's labels, encoded at its first flush
   * (as the statsd sink caches its prefix): a flush of tens of thousands of stats otherwise
   * spends most of its time extracting tags and encoding the same names again.
   */
  private readonly encoded = new WeakMap<Counter | Gauge | Histogram, EncodedStat>();

  constructor(
    private readonly options: MetricsFlusherOptions,
    /** The stats_config tag extractor, read when emitTagsAsLabels. */
    private readonly tags: TagExtractor | undefined,
  ) {
    this.emitSummary = options.histogramEmitMode !== "HISTOGRAM";
    this.emitHistogram = options.histogramEmitMode !== "SUMMARY";
  }

  /**
   * A flush whose message is not sent (the stream still connecting, or not draining): nothing
   * is encoded; the counters' deltas are kept for the next message. The histograms'
   * intervals are left open, so the next message's cover every value recorded since the
   * last message sent (Envoy buffers the message instead; either way the server sees every
   * increment and every value).
   */
  hold(snapshot: MetricSnapshot): void {
    if (!this.options.reportCountersAsDeltas) return;
    for (const { counter, delta } of snapshot.counters) {
      if (delta !== 0) this.unsent.set(counter, (this.unsent.get(counter) ?? 0) + delta);
    }
  }

  /** Each used stat of `snapshot` as a MetricFamily, field `field` of `writer`; how many were written. */
  flush(writer: ProtoWriter, field: number, snapshot: MetricSnapshot, timestampMs: number): number {
    let families = 0;
    const unsent = this.unsent;
    for (const { counter, delta } of snapshot.counters) {
      if (!counter.used) continue;
      const value = this.options.reportCountersAsDeltas ? delta + (unsent.size === 0 ? 0 : (unsent.get(counter) ?? 0)) : counter.value;
      // Counter: value 1 (double).
      writer.message(field, (family) => this.family(family, MetricType.COUNTER, counter, timestampMs, (metric) => metric.message(3, (c) => c.explicitDouble(1, value))));
      families++;
    }
    // A counter gone from the store since (its cluster removed) takes its unsent delta with it.
    unsent.clear();
    for (const gauge of snapshot.gauges) {
      if (!gauge.used) continue;
      // Gauge: value 1 (double).
      writer.message(field, (family) => this.family(family, MetricType.GAUGE, gauge, timestampMs, (metric) => metric.message(2, (g) => g.explicitDouble(1, gauge.value))));
      families++;
    }
    for (const histogram of snapshot.histograms) {
      if (!histogram.used) continue;
      // Every used histogram's interval is closed at every message, written or not.
      const stats = snapshot.intervals?.get(histogram) ?? this.intervals.next(histogram);
      if (this.emitSummary) {
        writer.message(field, (family) => this.family(family, MetricType.SUMMARY, histogram, timestampMs, (metric) => metric.message(4, (s) => writeSummary(s, stats))));
        families++;
      }
      if (this.emitHistogram) {
        writer.message(field, (family) => this.family(family, MetricType.HISTOGRAM, histogram, timestampMs, (metric) => metric.message(7, (h) => writeHistogram(h, stats))));
        families++;
      }
    }
    return families;
  }

  /**
   * MetricFamily: name 1, type 3, metric 4 (one Metric: label 1, the value's field, timestamp_ms 6),
   * as Envoy's populateMetricsFamily.
   */
  private family(family: ProtoWriter, type: number, stat: Counter | Gauge | Histogram, timestampMs: number, value: (metric: ProtoWriter) => void): void {
    const encoded = this.encoded.get(stat) ?? this.encode(stat);
    family.raw(encoded.name).explicitUint(3, type);
    family.message(4, (metric) => {
      metric.raw(encoded.labels);
      value(metric);
      metric.int64(6, timestampMs);
    });
  }

  private encode(stat: Counter | Gauge | Histogram): EncodedStat {
    let name = stat.name;
    let labels: readonly Tag[] = [];
    if (this.options.emitTagsAsLabels && this.tags !== undefined) {
      const tagged = this.tags.extract(stat.name);
      name = tagged.name;
      labels = tagged.tags;
    }
    // LabelPair: name 1, value 2.
    const labelWriter = new ProtoWriter();
    for (const label of labels) labelWriter.message(1, (pair) => pair.explicitString(1, label.name).explicitString(2, label.value));
    const encoded = { name: new ProtoWriter().explicitString(1, name).finish(), labels: labelWriter.finish() };
    this.encoded.set(stat, encoded);
    return encoded;
  }
}

/** A stat's MetricFamily name field and its Metric's label fields, as bytes. */
interface EncodedStat {
  readonly name: Uint8Array;
  readonly labels: Uint8Array;
}

/** Summary: sample_count 1, sample_sum 2, quantile 3 (Quantile: quantile 1, value 2). */
function writeSummary(summary: ProtoWriter, stats: IntervalStatistics): void {
  // Envoy adds the quantiles first, then sets the count and sum; the wire order is by number.
  summary.explicitUint(1, stats.sampleCount).explicitDouble(2, stats.sampleSum);
  QUANTILES.forEach((q, i) => summary.message(3, (quantile) => quantile.explicitDouble(1, q).explicitDouble(2, stats.quantiles[i]!)));
}

/** Histogram: sample_count 1, sample_sum 2, bucket 3 (Bucket: cumulative_count 1, upper_bound 2), Envoy's default bounds. */
function writeHistogram(histogram: ProtoWriter, stats: IntervalStatistics): void {
  histogram.explicitUint(1, stats.sampleCount).explicitDouble(2, stats.sampleSum);
  DEFAULT_BUCKETS.forEach((bound, i) => histogram.message(3, (bucket) => bucket.explicitUint(1, stats.cumulativeBuckets[i]!).explicitDouble(2, bound)));
}
