/**
 * Envoy's OtlpMetricsFlusherImpl (source/extensions/stat_sinks/open_telemetry/
 * open_telemetry_impl.cc): one flush's stats as an OTLP ExportMetricsServiceRequest — one
 * ResourceMetrics with the resource's attributes, one ScopeMetrics (no scope), and one
 * Metric per used stat (Envoy's default predicate, metric.used()), in Envoy's order: gauges
 * as Gauge, counters as a monotonic Sum, histograms as Histogram, each with one data point.
 * Every point has time_unix_nano (this flush's snapshot time); start_time_unix_nano follows
 * the point's temporality, as Envoy's setCommonFields since PR #41971: a CUMULATIVE point
 * starts when the sink was made (proxy_start_time_ns_: a start that moved would tell the
 * collector the stream was reset), a DELTA point at the previous flush (last_flush_time_ns_),
 * and a gauge (no temporality) has none.
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

/**
 * What one export carried as deltas (report_*_as_deltas): kept while it is in flight so that,
 * when the sink gives up on it (open-telemetry-sink.ts), they go with the next export.
 */
export interface SentDeltas {
  readonly counters: Map<Counter, number>;
  readonly histograms: Map<Histogram, HistogramPoint>;
}

/** One ExportMetricsServiceRequest and the deltas it carries (undefined when it carries none). */
export interface OtlpExport {
  readonly request: Uint8Array;
  readonly deltas: SentDeltas | undefined;
}

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
  /** Deltas of exports given up on (restore()), added to the next export: one entry per stat at most. */
  private readonly unsent: SentDeltas = { counters: new Map(), histograms: new Map() };

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
   * An export given up on before its answer: its counter deltas and histogram intervals are
   * added to the next export's, so the collector's totals lose nothing.
   */
  restore(deltas: SentDeltas): void {
    for (const [counter, delta] of deltas.counters) this.unsent.counters.set(counter, (this.unsent.counters.get(counter) ?? 0) + delta);
    for (const [histogram, point] of deltas.histograms) {
      const held = this.unsent.histograms.get(histogram);
      this.unsent.histograms.set(histogram, held === undefined ? point : addPoints(held, point));
    }
  }

  /**
   * The ExportMetricsServiceRequest of `snapshot` at `timeNs`: DELTA points start at
   * `deltaStartNs` (the previous flush), CUMULATIVE ones at `cumulativeStartNs` (the sink's
   * creation), gauges have no start.
   */
  flush(snapshot: MetricSnapshot, deltaStartNs: bigint, cumulativeStartNs: bigint, timeNs: bigint): OtlpExport {
    const unsent = this.unsent;
    // No used stat: no ResourceMetrics at all (Envoy's getResourceMetrics gives an empty list), an empty request.
    if (!anyUsed(snapshot)) {
      unsent.counters.clear();
      unsent.histograms.clear();
      return { request: new Uint8Array(0), deltas: undefined };
    }
    const countersAsDeltas = this.options.reportCountersAsDeltas;
    const histogramsAsDeltas = this.options.reportHistogramsAsDeltas;
    const sent: SentDeltas | undefined = countersAsDeltas || histogramsAsDeltas ? { counters: new Map(), histograms: new Map() } : undefined;
    const writer = new ProtoWriter();
    writer.message(1, (resourceMetrics) => {
      resourceMetrics.message(1, (resource) => resource.raw(this.resource));
      resourceMetrics.message(2, (scope) => {
        // start_time_unix_nano = 2, time_unix_nano = 3 (fixed64); a gauge's point has no start.
        const gaugeTimes = (p: ProtoWriter): void => void p.fixed64(3, timeNs);
        const deltaTimes = (p: ProtoWriter): void => void p.fixed64(2, deltaStartNs).fixed64(3, timeNs);
        const cumulativeTimes = (p: ProtoWriter): void => void p.fixed64(2, cumulativeStartNs).fixed64(3, timeNs);
        for (const gauge of snapshot.gauges) {
          if (!gauge.used) continue;
          const stat = this.stat(gauge);
          scope.message(2, (metric) => {
            metric.raw(stat.name).message(5, (g) => g.message(1, (p) => numberPoint(p, gaugeTimes, BigInt(Math.trunc(gauge.value)), stat)));
          });
        }
        const counterTemporality = countersAsDeltas ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE;
        const counterTimes = countersAsDeltas ? deltaTimes : cumulativeTimes;
        for (const { counter, delta } of snapshot.counters) {
          if (!counter.used) continue;
          const stat = this.stat(counter);
          let value = counter.value;
          if (countersAsDeltas) {
            value = delta + (unsent.counters.size === 0 ? 0 : (unsent.counters.get(counter) ?? 0));
            if (value !== 0) sent!.counters.set(counter, value);
          }
          scope.message(2, (metric) => {
            metric.raw(stat.name).message(7, (sum) => {
              sum.message(1, (p) => numberPoint(p, counterTimes, BigInt(Math.trunc(value)), stat));
              sum.uint(2, counterTemporality).uint(3, 1);
            });
          });
        }
        // A stat gone from the store since (its cluster removed) takes its unsent deltas with it.
        unsent.counters.clear();
        const histogramTemporality = histogramsAsDeltas ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE;
        const histogramTimes = histogramsAsDeltas ? deltaTimes : cumulativeTimes;
        for (const histogram of snapshot.histograms) {
          if (!histogram.used) continue;
          const stat = this.stat(histogram);
          let values: HistogramPoint;
          if (histogramsAsDeltas) {
            values = this.interval(histogram, snapshot);
            const held = unsent.histograms.size === 0 ? undefined : unsent.histograms.get(histogram);
            if (held !== undefined) values = addPoints(held, values);
            if (values.count !== 0) sent!.histograms.set(histogram, values);
          } else values = cumulative(histogram);
          const { count, sum, buckets } = values;
          scope.message(2, (metric) => {
            metric.raw(stat.name).message(9, (h) => {
              h.message(1, (p) => {
                histogramTimes(p);
                p.fixed64(4, BigInt(count)).explicitDouble(5, sum).bytesField(6, packedFixed64(buckets)).bytesField(7, EXPLICIT_BOUNDS);
                for (const attribute of stat.attributes) p.bytesField(9, attribute);
              });
              h.uint(2, histogramTemporality);
            });
          });
        }
        unsent.histograms.clear();
      });
    });
    return { request: writer.finish(), deltas: sent };
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

export interface HistogramPoint {
  readonly count: number;
  readonly sum: number;
  /** One count per bucket bound, then the count above the last (bucket_counts has one more than explicit_bounds). */
  readonly buckets: readonly number[];
}

/** Two intervals' values as one. */
function addPoints(a: HistogramPoint, b: HistogramPoint): HistogramPoint {
  return { count: a.count + b.count, sum: a.sum + b.sum, buckets: a.buckets.map((n, i) => n + (b.buckets[i] ?? 0)) };
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
