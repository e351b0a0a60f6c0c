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
      counter.value = Number(value);
      counter.used = used === true;
      return { counter, delta: Number(delta) };
    });
    const gauges = message.gauges.map(({ name, value, used }) => {
      const gauge = kept(String(name), Gauge);
      gauge.value = Number(value);
      gauge.used = used === true;
      return gauge;
    });
    const intervals = new Map<Histogram, IntervalStatistics>();
    const histograms = message.histograms.map((merged) => {
      const existing = this.stats.get(merged.name);
      const histogram = existing instanceof Histogram && existing.unit === merged.unit ? existing : new Histogram(String(merged.name), merged.unit);
      next.set(merged.name, histogram);
      histogram.counts.fill(0);
      merged.counts.forEach((n: number, i: number) => {
        if (i < histogram.counts.length) histogram.counts[i] = Number(n);
      });
      histogram.count = Number(merged.count);
      histogram.sum = Number(merged.sum);
      histogram.min = merged.min ?? Infinity;
      histogram.max = merged.max ?? -Infinity;
      histogram.used = merged.used === true;
      const interval = Float64Array.from(histogram.counts, (_, i) => Number(merged.interval[i] ?? 0));
      const sampleCount = interval.reduce((a, b) => a + b, 0);
      intervals.set(histogram, intervalStatistics(histogram, interval, Number(merged.intervalSum), sampleCount === histogram.count));
      return histogram;
    });
    this.stats = next;
    return { counters, gauges, histograms, intervals };
  }
}
