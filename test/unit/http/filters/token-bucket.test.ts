/** core/http/filters/token-bucket.ts: Envoy's continuous local rate limit bucket. */
import { describe, expect, test } from "vitest";
import { TokenBucket } from "../../../../core/http/filters/token-bucket.ts";

describe("TokenBucket", () => {
  test("starts full at any time: a request judged at an earlier instant than the clock read that built it (an event's time) gets all max_tokens", () => {
    for (const at of [-1e12, -1, 0, 5, 1e12]) {
      const bucket = new TokenBucket({ maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 3_600_000 });
      expect(bucket.remainingTokens(at)).toBe(1);
      expect(bucket.consume(at)).toBe(true);
      expect(bucket.consume(at + 1)).toBe(false);
    }
  });

  test("tokens come back continuously, never past max_tokens; reset is 0 while a token is left, else the whole seconds one token takes", () => {
    const bucket = new TokenBucket({ maxTokens: 2, tokensPerFill: 2, fillIntervalMs: 3_000 });
    expect([bucket.consume(0), bucket.consume(0), bucket.consume(0)]).toEqual([true, true, false]);
    expect(bucket.resetSeconds(0)).toBe(1);
    // 1.5 s per token: one back after 1,500 ms.
    expect(bucket.remainingTokens(1_499)).toBe(0);
    expect(bucket.resetSeconds(1_500)).toBe(0);
    expect(bucket.consume(1_500)).toBe(true);
    expect(bucket.remainingTokens(100_000)).toBe(2);
  });
});
