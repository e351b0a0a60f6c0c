import type { TokenBucketConfig } from "../../config/bootstrap.ts";

/**
 * Envoy's local rate limit bucket (AtomicTokenBucket in source/extensions/filters/common/
 * local_ratelimit/local_ratelimit_impl.h, over AtomicTokenBucketImpl in
 * source/common/common/token_bucket_impl.cc; the timer-driven bucket it replaced is gone
 * since the `no_timer_based_rate_limit_token_bucket` guard was removed): tokens come back
 * continuously at tokens_per_fill per fill_interval, up to max_tokens, counted from the
 * monotonic clock when the bucket is used; it starts full; each request takes one whole
 * token. The state is one instant — when the bucket was (or would have been) empty — as
 * in Envoy, so no timer runs.
 *
 * A full bucket is "empty since forever", not "full as of the clock read that built it":
 * the filter asks with its event's time (approximateNow), which is earlier than a clock read
 * made later in the same event, and a bucket built then looked one token short at first.
 */
export class TokenBucket {
  /**
   * Monotonic ms at which the bucket held no token; tokens now = (now − emptyAt) × rate, at
   * most max_tokens. −Infinity: full at any time (Envoy's init_fill, the bucket starts full).
   */
  private emptyAt = -Infinity;

  constructor(readonly config: TokenBucketConfig) {}

  /** Take a token if a whole one is there (Envoy's consume(1, allow_partial = false)). */
  consume(now: number): boolean {
    const tokens = this.tokensAt(now);
    if (tokens < 1) return false;
    // What is left after this token, as the instant the bucket would have been empty.
    this.emptyAt = now - this.msFor(tokens - 1);
    return true;
  }

  get maxTokens(): number {
    return this.config.maxTokens;
  }

  /** Tokens per ms. */
  get fillRate(): number {
    return this.config.tokensPerFill / this.config.fillIntervalMs;
  }

  /**
   * Envoy's RateLimitTokenBucket::resetSeconds (local_ratelimit_impl.h): 0 while a whole
   * token is there, else the time one token takes, ceil'd to ms and then divided by 1000
   * as integers (so whole seconds rounded down: 1 token per 1.5 s says 1).
   */
  resetSeconds(now: number): number {
    if (this.tokensAt(now) >= 1) return 0;
    return Math.floor(Math.ceil(this.msFor(1)) / 1000);
  }

  /** Ms until a whole token is there (Envoy's TokenBucket::nextTokenAvailable); 0 when one is. */
  msUntilToken(now: number): number {
    const tokens = this.tokensAt(now);
    return tokens >= 1 ? 0 : this.msFor(1 - tokens);
  }

  /** Whole tokens left (Envoy truncates to uint32). */
  remainingTokens(now: number): number {
    return Math.floor(this.tokensAt(now));
  }

  /** Tokens now: multiply before dividing, so whole-millisecond refills give whole tokens exactly. */
  private tokensAt(now: number): number {
    const { maxTokens, tokensPerFill, fillIntervalMs } = this.config;
    return Math.min(maxTokens, ((now - this.emptyAt) * tokensPerFill) / fillIntervalMs);
  }

  /** The time `tokens` take to come back. */
  private msFor(tokens: number): number {
    return (tokens * this.config.fillIntervalMs) / this.config.tokensPerFill;
  }
}
