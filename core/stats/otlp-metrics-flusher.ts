/**
 * Envoy's OtlpMetricsFlusherImpl (source/extensions/stat_sinks/open_telemetry/
 * open_telemetry_impl.cc): one flush's stats as an OTLP ExportMetricsServiceRequest — one
 * ResourceMetrics with the resource's attributes, one ScopeMetrics (no scope), and one
 * Metric per used stat (Envoy's default predicate, metric.used()), in Envoy's order: gauges
 * as Gauge, counters as a monotonic Sum, histograms as Histogram, each with one data point.
 * Every point has start_time_unix_nano (the previous flush, or the sink's creation for the
 * first: Envoy's last_flush_time_ns) and time_unix_nano (this flush's snapshot time).
 *
 * Field numbers from opentelemetry-proto (github.com/open-telemetry/opentelemetry-proto, v1.x):
 * - collector/metrics/v1/metrics_service.proto: ExportMetricsServiceRequest { resource_metrics = 1 }.
 * - metrics/v1/metrics.proto: ResourceMetrics { resource = 1, scope_metrics = 2 };
 *   ScopeMetrics { metrics = 2 }; Metric { name = 1, gauge = 5, sum = 7, histogram = 9 };
 *   Gauge { data_points = 1 }; Sum { data_points = 1, aggregation_temporality = 2,
 *   is_monotonic = 3 }; Histogram { data_points = 1, aggregation_temporality = 2 };
 *   NumberDataPoint { start_time_unix_nano = 2 (fixed64), time_unix_nano = 3 (fixed64),
 *   as_int = 6 (sfixed64), attributes = 7 }; HistogramDataPoint { start_time_unix_nano = 2,
 *   time_unix_nano = 3, count = 4 (fixed64), sum = 5 (optional double), bucket_counts = 6
 *   (packed fixed64), explicit_bounds = 7 (packed double), attributes = 9 };
 *   AggregationTemporality { DELTA = 1, CUMULATIVE = 2 }.
 * - resource/v1/resource.proto: Resource { attributes = 1 }; common/v1/common.proto:
 *   KeyValue { key = 1, value = 2 }, AnyValue { string_value = 1 }.
 */
import type { Tag, TagExtractor } from "../admin/tag-extractor.ts";
import type { OpenTelemetrySinkConfig } from "../config/bootstrap.ts";
import { ProtoWriter } from "../util/protobuf-wire.ts";
import type { Counter } from "./counter.ts";
import type { Gauge } from "./gauge.ts";
import { DEFAULT_BUCKETS, type Histogram } from "./histogram.ts";
import { HistogramIntervalTracker } from "./histogram-interval-statistics.ts";
import type { MetricSnapshot } from "./sink.ts";

/** metrics.proto's AggregationTemporality. */
export const AggregationTemporality = { DELTA: 1, CUMULATIVE: 2 } as const;

export type OtlpMetricsOptions = Pick<OpenTelemetrySinkConfig, "reportCountersAsDeltas" | "reportHistogramsAsDeltas" | "emitTagsAsAttributes" | "useTagExtractedName" | "prefix">;

/** A stat's Metric name field and its attributes (each an encoded KeyValue), made at its first flush. */
interface EncodedStat {
  readonly name: Uint8Array;
  readonly attributes: readonly Uint8Array[];
}

/** explicit_bounds: Envoy's default bucket bounds (supportedBuckets()), the same in every point. */
const EXPLICIT_BOUNDS = packedDoubles(DEFAULT_BUCKETS);

export class OtlpMetricsFlusher {
  private readonly intervals = new HistogramIntervalTracker();
  private readonly encoded = new WeakMap<Counter | Gauge | Histogram, EncodedStat>();
  private readonly resource: Uint8Array;
  /** Delta counters' gains from flushes not sent (hold()), added to the next export: one entry per counter at most. */
  private readonly unsent = new Map<Counter, number>();

  constructor(
    private readonly options: OtlpMetricsOptions,
    /** The stats_config tag extractor: the tag-extracted name and the tags. */
    private readonly tags: TagExtractor,
    /** The Resource's attributes, in order. */
    resourceAttributes: ReadonlyMap<string, string>,
  ) {
    const resource = new ProtoWriter();
    for (const [key, value] of resourceAttributes) resource.bytesField(1, keyValue(key, value));
    this.resource = resource.finish();
  }

  /**
   * A flush that is not exported (too many exports in flight): nothing encoded, the
   * counters' deltas kept for the next export, and the histograms' intervals left open, so
   * the next export covers everything since the last one sent, as its start time says.
   */
  hold(snapshot: MetricSnapshot): void {
    if (!this.options.reportCountersAsDeltas) return;
    for (const { counter, delta } of snapshot.counters) {
      if (delta !== 0) this.unsent.set(counter, (this.unsent.get(counter) ?? 0) + delta);
    }
  }

  /** The ExportMetricsServiceRequest of `snapshot`, its points from `startNs` to `timeNs`. */
  flush(snapshot: MetricSnapshot, startNs: bigint, timeNs: bigint): Uint8Array {
    // No used stat: no ResourceMetrics at all (Envoy's getResourceMetrics gives an empty list), an empty request.
    if (!anyUsed(snapshot)) {
      this.unsent.clear();
      return new Uint8Array(0);
    }
    const writer = new ProtoWriter();
    writer.message(1, (resourceMetrics) => {
      resourceMetrics.message(1, (resource) => resource.raw(this.resource));
      resourceMetrics.message(2, (scope) => {
        const point = (p: ProtoWriter): void => {
          p.fixed64(2, startNs).fixed64(3, timeNs);
        };
        for (const gauge of snapshot.gauges) {
          if (!gauge.used) continue;
          const stat = this.stat(gauge);
          scope.message(2, (metric) => {
            metric.raw(stat.name).message(5, (g) => g.message(1, (p) => numberPoint(p, point, BigInt(Math.trunc(gauge.value)), stat)));
          });
        }
        const counterTemporality = this.options.reportCountersAsDeltas ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE;
        const unsent = this.unsent;
        for (const { counter, delta } of snapshot.counters) {
          if (!counter.used) continue;
          const stat = this.stat(counter);
          const value = BigInt(Math.trunc(this.options.reportCountersAsDeltas ? delta + (unsent.size === 0 ? 0 : (unsent.get(counter) ?? 0)) : counter.value));
          scope.message(2, (metric) => {
            metric.raw(stat.name).message(7, (sum) => {
              sum.message(1, (p) => numberPoint(p, point, value, stat));
              sum.uint(2, counterTemporality).uint(3, 1);
            });
          });
        }
        // A counter gone from the store since (its cluster removed) takes its unsent delta with it.
        unsent.clear();
        const histogramTemporality = this.options.reportHistogramsAsDeltas ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE;
        for (const histogram of snapshot.histograms) {
          if (!histogram.used) continue;
          const stat = this.stat(histogram);
          const { count, sum, buckets } = this.options.reportHistogramsAsDeltas ? this.interval(histogram, snapshot) : cumulative(histogram);
          scope.message(2, (metric) => {
            metric.raw(stat.name).message(9, (h) => {
              h.message(1, (p) => {
                point(p);
                p.fixed64(4, BigInt(count)).explicitDouble(5, sum).bytesField(6, packedFixed64(buckets)).bytesField(7, EXPLICIT_BOUNDS);
                for (const attribute of stat.attributes) p.bytesField(9, attribute);
              });
              h.uint(2, histogramTemporality);
            });
          });
        }
      });
    });
    return writer.finish();
  }

  /**
   * Intervals (Envoy's intervalStatistics()): what was recorded since the last flush,
   * per bucket (computeDisjointBuckets) with the values above the last bound (outOfBoundCount).
   */
  private interval(histogram: Histogram, snapshot: MetricSnapshot): HistogramPoint {
    // Under worker processes the merged flush gives the workers' own intervals, closed at this flush.
    const stats = snapshot.intervals?.get(histogram) ?? this.intervals.next(histogram);
    const buckets: number[] = [];
    let previous = 0;
    for (const atOrBelow of stats.cumulativeBuckets) {
      buckets.push(atOrBelow - previous);
      previous = atOrBelow;
    }
    buckets.push(stats.sampleCount - previous);
    return { count: stats.sampleCount, sum: stats.sampleSum, buckets };
  }

  private stat(stat: Counter | Gauge | Histogram): EncodedStat {
    const cached = this.encoded.get(stat);
    if (cached !== undefined) return cached;
    // Envoy's getMetricName and getCombinedAttributes: the prefix, then the tag-extracted or full name.
    const needTags = this.options.useTagExtractedName || this.options.emitTagsAsAttributes;
    const tagged = needTags ? this.tags.extract(stat.name) : undefined;
    const name = this.options.prefix + (this.options.useTagExtractedName ? tagged!.name : stat.name);
    const tags: readonly Tag[] = this.options.emitTagsAsAttributes ? tagged!.tags : [];
    const encoded: EncodedStat = { name: new ProtoWriter().explicitString(1, name).finish(), attributes: tags.map((tag) => keyValue(tag.name, tag.value)) };
    this.encoded.set(stat, encoded);
    return encoded;
  }
}

function anyUsed(snapshot: MetricSnapshot): boolean {
  return snapshot.gauges.some((g) => g.used) || snapshot.counters.some((c) => c.counter.used) || snapshot.histograms.some((h) => h.used);
}

interface HistogramPoint {
  readonly count: number;
  readonly sum: number;
  /** One count per bucket bound, then the count above the last (bucket_counts has one more than explicit_bounds). */
  readonly buckets: readonly number[];
}

/** Everything since start (Envoy's cumulativeStatistics()): the histogram's own counts. */
function cumulative(histogram: Histogram): HistogramPoint {
  return { count: histogram.count, sum: histogram.sum, buckets: Array.from(histogram.counts) };
}

/** NumberDataPoint: the times, as_int (a oneof member: written at 0 too), the attributes. */
function numberPoint(p: ProtoWriter, times: (p: ProtoWriter) => void, value: bigint, stat: EncodedStat): void {
  times(p);
  p.explicitFixed64(6, value);
  for (const attribute of stat.attributes) p.bytesField(7, attribute);
}

/** A KeyValue with a string AnyValue (its oneof member written even when empty). */
function keyValue(key: string, value: string): Uint8Array {
  return new ProtoWriter().string(1, key).message(2, (any) => any.explicitString(1, value)).finish();
}

/** A packed repeated fixed64's payload: each value as 8 little-endian bytes. */
function packedFixed64(values: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setBigUint64(i * 8, BigInt(Math.max(0, Math.trunc(v))), true));
  return bytes;
}

/** A packed repeated double's payload. */
function packedDoubles(values: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setFloat64(i * 8, v, true));
  return bytes;
}
