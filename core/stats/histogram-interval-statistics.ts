/**
 * A histogram's statistics over one flush interval (Envoy's ParentHistogram::
 * intervalStatistics(), what the metrics service sink sends): the values recorded since the
 * previous flush, their count and sum, the count at or below each of Envoy's default bucket
 * bounds (computedBuckets) and the quantiles Envoy's admin prints (computedQuantiles).
 *
 * Histograms keep cumulative buckets only (histogram.ts), so each reader of intervals keeps
 * the buckets and sum it saw last: the admin's (admin/histogram-intervals.ts) and each sink's
 * own close their intervals apart, and recording stays as cheap as before.
 */
import { bucketQuantile } from "../admin/histogram-intervals.ts";
import { DEFAULT_BUCKETS, QUANTILES, type Histogram } from "./histogram.ts";

export interface IntervalStatistics {
  readonly sampleCount: number;
  readonly sampleSum: number;
  /** Per DEFAULT_BUCKETS bound, the interval's values at or below it. */
  readonly cumulativeBuckets: readonly number[];
  /** Per QUANTILES, the interval's estimate; NaN each when the interval recorded nothing (as Envoy's). */
  readonly quantiles: readonly number[];
}

interface LastSeen {
  readonly counts: Float64Array;
  count: number;
  sum: number;
}

export class HistogramIntervalTracker {
  private readonly lastSeen = new WeakMap<Histogram, LastSeen>();

  /** The statistics since this tracker's last call for `histogram` (the first: since it was made), and a new interval begun. */
  next(histogram: Histogram): IntervalStatistics {
    let last = this.lastSeen.get(histogram);
    if (last === undefined) {
      last = { counts: new Float64Array(histogram.counts.length), count: 0, sum: 0 };
      this.lastSeen.set(histogram, last);
    }
    const interval = new Float64Array(histogram.counts.length);
    let sampleCount = 0;
    for (let i = 0; i < interval.length; i++) {
      const now = histogram.counts[i]!;
      interval[i] = Math.max(0, now - last.counts[i]!);
      last.counts[i] = now;
      sampleCount += interval[i]!;
    }
    const sampleSum = Math.max(0, histogram.sum - last.sum);
    const everything = sampleCount === histogram.count;
    last.count = histogram.count;
    last.sum = histogram.sum;
    return intervalStatistics(histogram, interval, sampleSum, everything);
  }
}

/**
 * The statistics of one interval's bucket counts (`interval`, one per DEFAULT_BUCKETS bound
 * and the +Inf slot) and value sum; `everything`: the interval holds every value the
 * histogram ever recorded, so its exact min and max apply to the quantiles.
 */
export function intervalStatistics(histogram: Histogram, interval: ArrayLike<number>, sampleSum: number, everything: boolean): IntervalStatistics {
  let sampleCount = 0;
  for (let i = 0; i < interval.length; i++) sampleCount += interval[i]!;
  const cumulativeBuckets: number[] = [];
  let running = 0;
  for (let i = 0; i < DEFAULT_BUCKETS.length; i++) cumulativeBuckets.push((running += interval[i] ?? 0));
  const quantiles = QUANTILES.map((q) =>
    sampleCount === 0
      ? NaN
      : // Everything ever recorded fell in this interval: its exact min and max apply.
        everything
        ? histogram.quantile(q)
        : bucketQuantile(interval, sampleCount, q, histogram.min, histogram.max),
  );
  return { sampleCount, sampleSum, cumulativeBuckets, quantiles };
}
