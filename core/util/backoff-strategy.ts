/**
 * Envoy's back-off strategies (source/common/common/backoff_strategy.cc), over a source
 * of floats in [0, 1) (the port's `random()`).
 */

/**
 * Fully jittered exponential back-off: the n-th wait is uniform in [0, min(base × 2ⁿ, max)),
 * so concurrent retriers spread out instead of retrying in step.
 */
export class JitteredExponentialBackOffStrategy {
  private nextInterval: number;

  constructor(
    private readonly baseInterval: number,
    private readonly maxInterval: number,
    private readonly random: () => number,
  ) {
    this.nextInterval = baseInterval;
  }

  nextBackOffMs(): number {
    const backoff = this.nextInterval;
    // Doubling stops at the max interval.
    this.nextInterval = this.nextInterval > this.maxInterval / 2 ? this.maxInterval : this.nextInterval * 2;
    return Math.min(Math.floor(this.random() * backoff), this.maxInterval);
  }

  reset(): void {
    this.nextInterval = this.baseInterval;
  }
}

/** Jittered from a lower bound: uniform in [min, 1.5 × min) (the rate-limited retry back-off). */
export function jitteredLowerBoundBackOffMs(minInterval: number, random: () => number): number {
  return minInterval + Math.floor(random() * Math.floor(minInterval / 2));
}
