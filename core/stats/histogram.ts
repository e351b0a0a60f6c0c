/**
 * A distribution of recorded values (Envoy's Histogram): bucket counts over Envoy's
 * default bucket bounds, plus the count and sum, and quantiles estimated by linear
 * interpolation inside buckets. Recording is O(buckets) with no allocation.
 */

/** Envoy's default histogram bucket bounds (`stats_config.histogram_bucket_settings` unset). */
export const DEFAULT_BUCKETS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
] as const;

/** The quantiles Envoy's admin prints: P0 P25 P50 P75 P90 P95 P99 P99.5 P99.9 P100. */
export const QUANTILES = [0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1] as const;

/** What takes each recorded value (core/stats/sink.ts's StatsSink). */
export interface HistogramSink {
  onHistogramComplete(histogram: Histogram, value: number): void;
}

/** The sinks every histogram of one store delivers to (empty until stats_sinks start). */
export class HistogramDelivery {
  readonly sinks: HistogramSink[] = [];

  deliver(histogram: Histogram, value: number): void {
    for (const sink of this.sinks) sink.onHistogramComplete(histogram, value);
  }
}

export class Histogram {
  /** counts[i] counts values ≤ DEFAULT_BUCKETS[i] and > the previous bound; the last slot is +Inf. */
  readonly counts: Float64Array<ArrayBuffer> = new Float64Array(DEFAULT_BUCKETS.length + 1);
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  used = false;
  /**
   * Where each recorded value also goes as it is recorded: the stats sinks (Envoy's
   * ThreadLocalStore deliverHistogramToSinks). Set by the store; a stat the stats matcher
   * rejected has none, as Envoy's null histogram reaches no sink.
   */
  delivery: HistogramDelivery | undefined = undefined;

  constructor(
    readonly name: string,
    /** "milliseconds", "bytes" or "unspecified", as Envoy's histogram units. */
    readonly unit: "milliseconds" | "bytes" | "unspecified" = "milliseconds",
  ) {}

  record(value: number): void {
    let i = 0;
    while (i < DEFAULT_BUCKETS.length && value > DEFAULT_BUCKETS[i]!) i++;
    this.counts[i]!++;
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    this.used = true;
    const delivery = this.delivery;
    if (delivery !== undefined && delivery.sinks.length !== 0) delivery.deliver(this, value);
  }

  /** Cumulative counts per bucket bound (Prometheus `_bucket` series, `le` = bound). */
  cumulative(): number[] {
    const out: number[] = [];
    let running = 0;
    for (let i = 0; i < DEFAULT_BUCKETS.length; i++) out.push((running += this.counts[i]!));
    return out;
  }

  /** Estimated value at quantile q (0..1), or NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    if (q <= 0) return this.min;
    if (q >= 1) return this.max;
    const rank = q * this.count;
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const inBucket = this.counts[i]!;
      if (seen + inBucket >= rank && inBucket > 0) {
        const lower = Math.max(i === 0 ? 0 : DEFAULT_BUCKETS[i - 1]!, this.min);
        const upper = Math.min(i < DEFAULT_BUCKETS.length ? DEFAULT_BUCKETS[i]! : this.max, this.max);
        return lower + ((rank - seen) / inBucket) * (upper - lower);
      }
      seen += inBucket;
    }
    return this.max;
  }
}
