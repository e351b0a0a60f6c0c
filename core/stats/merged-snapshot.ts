/**
 * In the worker that flushes for all (--concurrency; core/stats/merged-flush.ts): the
 * supervisor's merged message made into the MetricSnapshot its sinks are given. The stat
 * objects are kept by name from one flush to the next, so what a sink keeps per stat (the
 * statsd line prefix, the metrics service's encoded names) is built once; a name missing
 * from a message is forgotten. The histograms' interval statistics are the workers' own
 * intervals, closed at this flush, summed.
 */
import { Counter } from "./counter.ts";
import { Gauge } from "./gauge.ts";
import { Histogram } from "./histogram.ts";
import { intervalStatistics, type IntervalStatistics } from "./histogram-interval-statistics.ts";
import type { SinkFlushMessage } from "./merged-flush.ts";
import type { MetricSnapshot } from "./sink.ts";

type Stat = Counter | Gauge | Histogram;

export class MergedSnapshotMirror {
  private stats = new Map<string, Stat>();

  /** The message as a snapshot; throws on a message that is not one (the body of a worker-only admin request). */
  snapshot(message: SinkFlushMessage): MetricSnapshot {
    if (!Array.isArray(message?.counters) || !Array.isArray(message.gauges) || !Array.isArray(message.histograms)) throw new Error("not a merged stats flush");
    const next = new Map<string, Stat>();
    const kept = <T extends Stat>(name: string, Kind: new (name: string) => T): T => {
      const existing = this.stats.get(name);
      const stat = existing instanceof Kind ? existing : new Kind(name);
      next.set(name, stat);
      return stat;
    };
    const counters = message.counters.map(({ name, value, delta, used }) => {
      const counter = kept(String(name), Counter);
      counter.value = count(value, name);
      counter.used = used === true;
      return { counter, delta: count(delta, name) };
    });
    const gauges = message.gauges.map(({ name, value, used }) => {
      const gauge = kept(String(name), Gauge);
      // A gauge may be below 0 in a worker (more dec than inc): finite is what a sink needs.
      gauge.value = finite(value, name);
      gauge.used = used === true;
      return gauge;
    });
    const intervals = new Map<Histogram, IntervalStatistics>();
    const histograms = message.histograms.map((merged) => {
      const existing = this.stats.get(merged.name);
      const histogram = existing instanceof Histogram && existing.unit === merged.unit ? existing : new Histogram(String(merged.name), merged.unit);
      next.set(merged.name, histogram);
      histogram.counts.fill(0);
      if (!Array.isArray(merged.counts) || !Array.isArray(merged.interval)) throw new Error(`${String(merged.name)}: not a merged histogram`);
      merged.counts.forEach((n: number, i: number) => {
        if (i < histogram.counts.length) histogram.counts[i] = count(n, merged.name);
      });
      histogram.count = count(merged.count, merged.name);
      histogram.sum = count(merged.sum, merged.name);
      histogram.min = merged.min === null ? Infinity : count(merged.min, merged.name);
      histogram.max = merged.max === null ? -Infinity : count(merged.max, merged.name);
      histogram.used = merged.used === true;
      const interval = Float64Array.from(histogram.counts, (_, i) => count(merged.interval[i] ?? 0, merged.name));
      const sampleCount = interval.reduce((a, b) => a + b, 0);
      intervals.set(histogram, intervalStatistics(histogram, interval, count(merged.intervalSum, merged.name), sampleCount === histogram.count));
      return histogram;
    });
    this.stats = next;
    return { counters, gauges, histograms, intervals };
  }
}

/**
 * A stat's number from the message: finite and not negative, as every count, sum and gauge
 * a worker keeps is (a sink given NaN or a negative delta would send it on, and OTLP's
 * BigInt() of one throws and loses the flush).
 */
function count(value: unknown, name: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) throw new Error(`${String(name)}: ${JSON.stringify(value) ?? String(value)} is not a finite number >= 0`);
  return value;
}

function finite(value: unknown, name: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value)) throw new Error(`${String(name)}: ${JSON.stringify(value) ?? String(value)} is not a finite number`);
  return value;
}
