/**
 * How long to wait before trying again (Envoy's BackOffStrategy,
 * source/common/common/backoff_strategy.h): DNS refreshes after failures use one.
 */
export interface BackOffStrategy {
  /** The next wait, in milliseconds. */
  nextBackOffMs(): number;
  /** Start over (after a success). */
  reset(): void;
}

/** The same wait every time (Envoy's FixedBackOffStrategy). */
export class FixedBackOffStrategy implements BackOffStrategy {
  constructor(private readonly intervalMs: number) {}

  nextBackOffMs(): number {
    return this.intervalMs;
  }

  reset(): void {}
}

/**
 * Envoy's JitteredExponentialBackOffStrategy: "full jitter", a uniformly random wait in
 * [0, interval), the interval doubling from `baseMs` after each call until it reaches
 * `maxMs` (it is set to `maxMs` once doubling would pass half of it).
 */
export class JitteredExponentialBackOffStrategy implements BackOffStrategy {
  private nextIntervalMs: number;

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
    /** A float in [0, 1): Runtime.random. */
    private readonly random: () => number,
  ) {
    this.nextIntervalMs = baseMs;
  }

  nextBackOffMs(): number {
    const interval = this.nextIntervalMs;
    this.nextIntervalMs = interval < this.maxMs / 2 ? interval * 2 : this.maxMs;
    return Math.floor(this.random() * interval);
  }

  reset(): void {
    this.nextIntervalMs = this.baseMs;
  }
}
