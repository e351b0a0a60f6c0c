/**
 * Envoy's back-off strategies (source/common/common/backoff_strategy.cc), over a source
 * of floats in [0, 1) (the port's `Runtime.random()`).
 */

/** Where the jitter comes from (the port's Runtime is one). */
export interface RandomSource {
  random(): number;
}

/**
 * Fully jittered exponential back-off: the n-th wait is uniform in [0, min(base × 2ⁿ, max)),
 * so concurrent retriers spread out instead of retrying in step.
 */
export class JitteredExponentialBackOffStrategy {
  private nextInterval: number;

  constructor(
    private readonly baseInterval: number,
    private readonly maxInterval: number,
    private readonly source: RandomSource,
  ) {
    this.nextInterval = baseInterval;
  }

  nextBackOffMs(): number {
    const backoff = this.nextInterval;
    // Doubling stops at the max interval.
    this.nextInterval = this.nextInterval > this.maxInterval / 2 ? this.maxInterval : this.nextInterval * 2;
    return Math.min(Math.floor(this.source.random() * backoff), this.maxInterval);
  }

  reset(): void {
    this.nextInterval = this.baseInterval;
  }
}

/** Jittered from a lower bound: uniform in [min, 1.5 × min) (the rate-limited retry back-off). */
export function jitteredLowerBoundBackOffMs(minInterval: number, source: RandomSource): number {
  return minInterval + Math.floor(source.random() * Math.floor(minInterval / 2));
}
