import { DEFAULT_BUCKETS, QUANTILES, type Histogram } from "../stats/histogram.ts";

interface IntervalState {
  /** Bucket counts at the last flush. */
  readonly previous: Float64Array;
  /** Bucket counts recorded between the last two flushes. */
  readonly interval: Float64Array;
  count: number;
  /** The histogram's sum at the last flush, and the values' sum between the last two. */
  previousSum: number;
  intervalSum: number;
}

/** What the stats renderers ask of interval statistics. */
export interface IntervalQuantiles {
  /** The interval quantiles (QUANTILES), NaN each when the last interval recorded nothing. */
  quantiles(histogram: Histogram): number[];
}

/**
 * Envoy prints each histogram's quantiles twice: over the last flush interval and over
 * its whole life ("cumulative"). Histograms only keep cumulative buckets, so every
 * stats flush (stats_flush_interval: core/stats/stats-flusher.ts) takes the difference since the
 * previous one: recording stays as cheap as before.
 */
export class HistogramIntervals implements IntervalQuantiles {
  private readonly state = new Map<Histogram, IntervalState>();

  flush(histograms: readonly Histogram[]): void {
    for (const histogram of histograms) {
      let state = this.state.get(histogram);
      if (!state) {
        state = { previous: new Float64Array(histogram.counts.length), interval: new Float64Array(histogram.counts.length), count: 0, previousSum: 0, intervalSum: 0 };
        this.state.set(histogram, state);
      }
      let count = 0;
      for (let i = 0; i < histogram.counts.length; i++) {
        const now = histogram.counts[i]!;
        // A histogram reset since the last flush starts over from zero.
        const delta = Math.max(0, now - state.previous[i]!);
        state.interval[i] = delta;
        state.previous[i] = now;
        count += delta;
      }
      state.count = count;
      state.intervalSum = Math.max(0, histogram.sum - state.previousSum);
      state.previousSum = histogram.sum;
    }
  }

  /** The bucket counts of the last flush interval (a worker's snapshot, worker-stats.ts); undefined before the first flush. */
  intervalCounts(histogram: Histogram): readonly number[] | undefined {
    const state = this.state.get(histogram);
    return state && [...state.interval];
  }

  /** The sum of the values recorded in the last flush interval (0 before the first flush). */
  intervalSum(histogram: Histogram): number {
    return this.state.get(histogram)?.intervalSum ?? 0;
  }

  quantiles(histogram: Histogram): number[] {
    const state = this.state.get(histogram);
    if (!state || state.count === 0) return QUANTILES.map(() => NaN);
    // Everything ever recorded fell in the last interval: its exact min and max apply.
    if (state.count === histogram.count) return QUANTILES.map((q) => histogram.quantile(q));
    return QUANTILES.map((q) => bucketQuantile(state.interval, state.count, q, histogram.min, histogram.max));
  }
}

/**
 * A quantile from bucket counts over DEFAULT_BUCKETS, interpolated linearly inside the
 * bucket that holds it, with `min`/`max` (the histogram's, all time) bounding the
 * first and the open-ended last bucket.
 */
export function bucketQuantile(counts: ArrayLike<number>, total: number, q: number, min: number, max: number): number {
  if (total === 0) return NaN;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const inBucket = counts[i]!;
    if (inBucket > 0 && seen + inBucket >= rank) {
      const lower = Math.max(i === 0 ? 0 : DEFAULT_BUCKETS[i - 1]!, min);
      const upper = Math.max(lower, Math.min(i < DEFAULT_BUCKETS.length ? DEFAULT_BUCKETS[i]! : max, max));
      return lower + ((rank - seen) / inBucket) * (upper - lower);
    }
    seen += inBucket;
  }
  return max;
}
