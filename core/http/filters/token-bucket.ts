import type { TokenBucketConfig } from "../../config/bootstrap.ts";

/**
 * Envoy's local rate limiter bucket (source/extensions/filters/common/local_ratelimit/
 * local_ratelimit_impl.cc): starts full; every fill_interval, tokens_per_fill tokens
 * come back, up to max_tokens; each request takes one. Envoy refills on a repeating
 * timer; here the refills due are counted from the monotonic clock when the bucket is
 * next used, which gives the same tokens at the same moments without a timer that runs
 * for as long as the config lives.
 */
export class TokenBucket {
  private tokens: number;
  /** When the last refill was due (Envoy's fill_time_), monotonic ms. */
  private fillTime: number;

  constructor(
    readonly config: TokenBucketConfig,
    now: number,
  ) {
    this.tokens = config.maxTokens;
    this.fillTime = now;
  }

  /** Take a token if there is one (Envoy's requestAllowedHelper). */
  consume(now: number): boolean {
    this.refill(now);
    if (this.tokens === 0) return false;
    this.tokens--;
    return true;
  }

  get maxTokens(): number {
    return this.config.maxTokens;
  }

  remainingTokens(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  /**
   * Seconds until the next refill, as Envoy's remainingFillInterval computes them:
   * fill_interval minus the whole seconds since the last fill, truncated to seconds.
   */
  resetSeconds(now: number): number {
    this.refill(now);
    const elapsedWholeSecondsMs = Math.floor((now - this.fillTime) / 1000) * 1000;
    return Math.trunc((this.config.fillIntervalMs - elapsedWholeSecondsMs) / 1000);
  }

  private refill(now: number): void {
    const interval = this.config.fillIntervalMs;
    const elapsed = now - this.fillTime;
    if (elapsed < interval) return;
    const fills = Math.floor(elapsed / interval);
    this.fillTime += fills * interval;
    // fills × tokens_per_fill may be huge after a long idle: the min keeps it at max_tokens.
    this.tokens = Math.min(this.config.maxTokens, this.tokens + fills * this.config.tokensPerFill);
  }
}
