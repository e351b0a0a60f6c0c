/**
 * The retry state machine (core/http/filters/retry-state.ts) on the memory runtime: which
 * responses and resets retry under each retry_on condition, the request headers that
 * change the policy, retries left, the retries circuit breaker and retry budget, the
 * jittered exponential back-off's bounds, and previous_hosts.
 */
import { describe, expect, test } from "vitest";
import type { ClusterConfig, RetryPolicyConfig } from "../../../../core/config/bootstrap.ts";
import { parseRetryOn, RetryOn } from "../../../../core/config/retry-on.ts";
import { Timers } from "../../../../core/event/timers.ts";
import { DEFAULT_RETRY_POLICY, RetryState, RetryStatus } from "../../../../core/http/filters/retry-state.ts";
import { RequestHeaders, ResponseHeaders } from "../../../../core/http/message.ts";
import { StreamResetReason } from "../../../../core/http/stream-reset-reason.ts";
import { StatsStore } from "../../../../core/stats/stats-store.ts";
import { Cluster } from "../../../../core/upstream/cluster.ts";
import { JitteredExponentialBackOffStrategy } from "../../../../core/util/backoff-strategy.ts";
import { MemoryRuntime } from "../../../../runtimes/memory/memory-runtime.ts";

function clusterConfig(breakers: Partial<ClusterConfig["circuitBreakers"]> = {}): ClusterConfig {
  return {
    name: "c",
    type: "STATIC",
    connectTimeoutMs: 5000,
    lbPolicy: "ROUND_ROBIN",
    perConnectionBufferLimitBytes: 1 << 20,
    endpoints: [{ priority: 0, lbEndpoints: [1, 2, 3].map((port) => ({ address: { address: "127.0.0.1", port }, loadBalancingWeight: 1 })) }],
    circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3, ...breakers },
  };
}

interface Fixture {
  runtime: MemoryRuntime;
  cluster: Cluster;
  stats: StatsStore;
  retries: number;
  make(policy: Partial<RetryPolicyConfig> | undefined, headers?: Record<string, string>): RetryState | undefined;
}

function fixture(breakers: Partial<ClusterConfig["circuitBreakers"]> = {}): Fixture {
  const runtime = new MemoryRuntime({ seed: 3 });
  const stats = new StatsStore();
  const cluster = new Cluster(clusterConfig(breakers), stats);
  const dispatcher = { runtime, timers: new Timers(runtime) };
  const f: Fixture = {
    runtime,
    cluster,
    stats,
    retries: 0,
    make(policy, headers = {}) {
      const request = new RequestHeaders();
      for (const [name, value] of Object.entries(headers)) request.add(name, value);
      return RetryState.create(policy && { ...DEFAULT_RETRY_POLICY, ...policy }, request, cluster, dispatcher, { doRetry: () => f.retries++ });
    },
  };
  return f;
}

function response(status: number, headers: Record<string, string> = {}): ResponseHeaders {
  const h = new ResponseHeaders(status);
  for (const [name, value] of Object.entries(headers)) h.add(name, value);
  return h;
}

const on = (text: string): number => parseRetryOn(text).bits;
const counter = (f: Fixture, name: string): number => (f.stats.get(`cluster.c.${name}`) as { value: number } | undefined)?.value ?? 0;

describe("which responses retry", () => {
  const cases: [string, number, Record<string, string>, boolean][] = [
    ["5xx", 500, {}, true],
    ["5xx", 503, {}, true],
    ["5xx", 499, {}, false],
    ["gateway-error", 502, {}, true],
    ["gateway-error", 504, {}, true],
    ["gateway-error", 500, {}, false],
    ["retriable-4xx", 409, {}, true],
    ["retriable-4xx", 429, {}, false],
    ["connect-failure", 503, {}, false],
    ["reset", 503, {}, false],
    ["5xx", 503, { "x-envoy-ratelimited": "true" }, false],
    ["envoy-ratelimited", 429, { "x-envoy-ratelimited": "true" }, true],
  ];
  test.each(cases)("retry_on %s, status %d %j → %s", (retryOn, status, headers, expected) => {
    const state = fixture().make({ retryOn: on(retryOn) })!;
    expect(state.wouldRetryFromHeaders(response(status, headers))).toBe(expected);
  });

  test("retriable-status-codes: the policy's codes and x-envoy-retriable-status-codes", () => {
    const f = fixture();
    const state = f.make({ retryOn: on("retriable-status-codes"), retriableStatusCodes: [429] }, { "x-envoy-retriable-status-codes": "418, x, 451" })!;
    expect([429, 418, 451, 500].map((s) => state.wouldRetryFromHeaders(response(s)))).toEqual([true, true, true, false]);
  });

  test("retriable-headers: the policy's matchers and names from x-envoy-retriable-header-names", () => {
    const state = fixture().make(
      { retryOn: on("retriable-headers"), retriableHeaders: [{ name: "x-upstream-busy", invertMatch: false, kind: { type: "exact", value: "yes", ignoreCase: false } }] },
      { "x-envoy-retriable-header-names": "x-retry-me" },
    )!;
    expect(state.wouldRetryFromHeaders(response(200, { "x-upstream-busy": "yes" }))).toBe(true);
    expect(state.wouldRetryFromHeaders(response(200, { "x-upstream-busy": "no" }))).toBe(false);
    expect(state.wouldRetryFromHeaders(response(200, { "x-retry-me": "" }))).toBe(true);
  });

  test("gRPC conditions read grpc-status in the response headers (x-envoy-retry-grpc-on)", () => {
    const state = fixture().make(undefined, { "x-envoy-retry-grpc-on": "unavailable,cancelled" })!;
    expect(state.wouldRetryFromHeaders(response(200, { "grpc-status": "14" }))).toBe(true);
    expect(state.wouldRetryFromHeaders(response(200, { "grpc-status": "1" }))).toBe(true);
    expect(state.wouldRetryFromHeaders(response(200, { "grpc-status": "13" }))).toBe(false);
    expect(state.wouldRetryFromHeaders(response(503))).toBe(false);
  });
});

describe("which resets retry", () => {
  const R = StreamResetReason;
  const cases: [string, StreamResetReason, boolean, boolean][] = [
    ["connect-failure", R.RemoteConnectionFailure, true, true],
    ["connect-failure", R.ConnectionTimeout, true, true],
    ["connect-failure", R.LocalConnectionFailure, true, true],
    ["connect-failure", R.ConnectionTermination, true, false],
    ["reset", R.ConnectionTermination, true, true],
    ["reset", R.LocalReset, true, true],
    ["5xx", R.ConnectionTermination, true, true],
    ["gateway-error", R.ProtocolError, true, true],
    ["reset-before-request", R.RemoteConnectionFailure, false, true],
    ["reset-before-request", R.ConnectionTermination, true, false],
    ["refused-stream", R.ConnectionTermination, true, false],
    ["refused-stream", R.RemoteRefusedStreamReset, true, true],
    ["retriable-4xx", R.ConnectionTermination, true, false],
    // Never an overflow: the circuit breaker said no to this cluster, not to one host.
    ["5xx,reset,connect-failure", R.Overflow, false, false],
  ];
  test.each(cases)("retry_on %s, reason %d, request started %s → %s", (retryOn, reason, started, expected) => {
    expect(fixture().make({ retryOn: on(retryOn) })!.wouldRetryFromReset(reason, started)).toBe(expected);
  });
});

describe("creating the state", () => {
  test("no policy condition and no retry header: no state; the retry headers are consumed either way", () => {
    const f = fixture();
    const request = new RequestHeaders();
    request.add("x-envoy-max-retries", "3");
    request.add("x-envoy-upstream-rq-per-try-timeout-ms", "10");
    request.add("x-other", "kept");
    const dispatcher = { runtime: f.runtime, timers: new Timers(f.runtime) };
    expect(RetryState.create(undefined, request, f.cluster, dispatcher, { doRetry() {} })).toBeUndefined();
    expect(request.entries()).toEqual([["x-other", "kept"]]);
  });

  test("retriable_request_headers: a request matching none is not retried at all", () => {
    const f = fixture();
    const matcher = { name: "x-idempotent", invertMatch: false, kind: { type: "exact" as const, value: "yes", ignoreCase: false } };
    expect(f.make({ retryOn: on("5xx"), retriableRequestHeaders: [matcher] })!.enabled).toBe(false);
    expect(f.make({ retryOn: on("5xx"), retriableRequestHeaders: [matcher] }, { "x-idempotent": "yes" })!.enabled).toBe(true);
  });

  test("x-envoy-retry-on adds to the policy's conditions; unknown names are ignored, as Envoy does for the header", () => {
    const state = fixture().make({ retryOn: on("connect-failure") }, { "x-envoy-retry-on": "retriable-4xx, bogus" })!;
    expect(state.wouldRetryFromHeaders(response(409))).toBe(true);
    expect(state.wouldRetryFromReset(StreamResetReason.RemoteConnectionFailure, false)).toBe(true);
  });
});

describe("retries left, circuit breaker and budget", () => {
  test("num_retries: Yes until used up, then NoRetryLimitExceeded; a success after a retry is counted", () => {
    const f = fixture();
    const state = f.make({ retryOn: on("5xx"), numRetries: 2 })!;
    expect(state.shouldRetryHeaders(response(503))).toBe(RetryStatus.Yes);
    expect(f.cluster.resources.retries.count).toBe(1);
    expect(state.shouldRetryHeaders(response(503))).toBe(RetryStatus.Yes);
    expect(f.cluster.resources.retries.count).toBe(1);
    expect(state.shouldRetryHeaders(response(503))).toBe(RetryStatus.NoRetryLimitExceeded);
    expect(f.cluster.resources.retries.count).toBe(0);
    expect(counter(f, "upstream_rq_retry")).toBe(2);
    expect(counter(f, "upstream_rq_retry_limit_exceeded")).toBe(1);
    const other = f.make({ retryOn: on("5xx") })!;
    expect(other.shouldRetryHeaders(response(503))).toBe(RetryStatus.Yes);
    expect(other.shouldRetryHeaders(response(200))).toBe(RetryStatus.No);
    expect(counter(f, "upstream_rq_retry_success")).toBe(1);
    expect(f.cluster.resources.retries.count).toBe(0);
  });

  test("max_retries caps retries in flight across requests: NoOverflow past it", () => {
    const f = fixture({ maxRetries: 2 });
    const states = [0, 1, 2].map(() => f.make({ retryOn: on("5xx") })!);
    expect(states.map((s) => s.shouldRetryHeaders(response(503)))).toEqual([RetryStatus.Yes, RetryStatus.Yes, RetryStatus.NoOverflow]);
    expect(counter(f, "upstream_rq_retry_overflow")).toBe(1);
    expect((f.stats.get("cluster.c.circuit_breakers.default.rq_retry_open") as { value: number }).value).toBe(1);
    states[0]!.destroy();
    expect(f.cluster.resources.retries.count).toBe(1);
    expect((f.stats.get("cluster.c.circuit_breakers.default.rq_retry_open") as { value: number }).value).toBe(0);
    expect(f.make({ retryOn: on("5xx") })!.shouldRetryHeaders(response(503))).toBe(RetryStatus.Yes);
  });

  test("retry_budget: budget_percent of active + pending requests, never below min_retry_concurrency", () => {
    const f = fixture({ maxRetries: 0, retryBudget: { budgetPercent: 20, minRetryConcurrency: 3 } });
    const retries = f.cluster.resources.retries;
    expect(retries.limit).toBe(3);
    f.cluster.resources.requests.count = 40;
    f.cluster.resources.pendingRequests.count = 10;
    expect(retries.limit).toBe(10);
    f.cluster.resources.requests.count = 24;
    f.cluster.resources.pendingRequests.count = 0;
    expect(retries.limit).toBe(4);
    const states = Array.from({ length: 5 }, () => f.make({ retryOn: on("5xx") })!);
    expect(states.map((s) => s.shouldRetryHeaders(response(503)))).toEqual([RetryStatus.Yes, RetryStatus.Yes, RetryStatus.Yes, RetryStatus.Yes, RetryStatus.NoOverflow]);
    f.cluster.resources.requests.count = 0;
  });
});

describe("back-off", () => {
  test("fully jittered exponential: the n-th wait is below min(base × 2ⁿ, max), and covers that range", () => {
    const runtime = new MemoryRuntime({ seed: 11 });
    const maxima: number[] = [0, 0, 0, 0, 0, 0];
    const minima: number[] = [Infinity, Infinity, Infinity, Infinity, Infinity, Infinity];
    for (let run = 0; run < 2000; run++) {
      const backOff = new JitteredExponentialBackOffStrategy(25, 250, runtime);
      for (let n = 0; n < 6; n++) {
        const wait = backOff.nextBackOffMs();
        maxima[n] = Math.max(maxima[n]!, wait);
        minima[n] = Math.min(minima[n]!, wait);
      }
    }
    const bounds = [25, 50, 100, 200, 250, 250];
    maxima.forEach((max, n) => {
      expect(max).toBeLessThan(bounds[n]!);
      expect(max).toBeGreaterThanOrEqual(bounds[n]! * 0.95 - 1);
    });
    expect(minima.every((min) => min === 0)).toBe(true);
  });

  test("the retry fires after its back-off, on the dispatcher's timers; upstream_rq_retry_backoff_exponential counts it", () => {
    const f = fixture();
    const state = f.make({ retryOn: on("5xx"), baseIntervalMs: 100, maxIntervalMs: 1000 })!;
    expect(state.shouldRetryHeaders(response(503))).toBe(RetryStatus.Yes);
    expect(f.retries).toBe(0);
    f.runtime.advance(100);
    expect(f.retries).toBe(1);
    expect(counter(f, "upstream_rq_retry_backoff_exponential")).toBe(1);
    state.destroy();
  });

  test("rate_limited_retry_back_off: a reset header's interval, jittered up to 1.5×, within max_interval", () => {
    const f = fixture();
    const policy = { retryOn: on("retriable-status-codes"), retriableStatusCodes: [429], rateLimitedRetryBackOff: { resetHeaders: [{ name: "retry-after", format: "SECONDS" as const }], maxIntervalMs: 10_000 } };
    const state = f.make(policy)!;
    expect(state.shouldRetryHeaders(response(429, { "retry-after": "2" }))).toBe(RetryStatus.Yes);
    f.runtime.advance(1999);
    expect(f.retries).toBe(0);
    f.runtime.advance(1001);
    expect(f.retries).toBe(1);
    expect(counter(f, "upstream_rq_retry_backoff_ratelimited")).toBe(1);
    // Over max_interval: the exponential back-off instead.
    const other = f.make(policy)!;
    expect(other.shouldRetryHeaders(response(429, { "retry-after": "60" }))).toBe(RetryStatus.Yes);
    f.runtime.advance(25);
    expect(f.retries).toBe(2);
    state.destroy();
    other.destroy();
  });
});

describe("previous_hosts", () => {
  test("a host tried is rejected for the next pick; without the predicate none is", () => {
    const f = fixture();
    const [a, b] = f.cluster.hosts;
    const state = f.make({ retryOn: on("5xx"), previousHosts: true })!;
    state.onHostAttempted(a!);
    expect(state.shouldSelectAnotherHost(a!)).toBe(true);
    expect(state.shouldSelectAnotherHost(b!)).toBe(false);
    const plain = f.make({ retryOn: on("5xx") })!;
    plain.onHostAttempted(a!);
    expect(plain.shouldSelectAnotherHost(a!)).toBe(false);
  });

  test("the round robin balancer picks again while the context rejects, up to hostSelectionRetryCount more times", () => {
    const f = fixture();
    const [a, b, c] = f.cluster.hosts;
    const lb = f.cluster.loadBalancer;
    const rejected = new Set([a, b]);
    const context = { shouldSelectAnotherHost: (h: unknown) => rejected.has(h as never), hostSelectionRetryCount: () => 5 };
    expect(lb.chooseHost(context)).toBe(c);
    expect(lb.chooseHost(context)).toBe(c);
    // Only one more pick allowed: the last pick stands even if rejected.
    expect(lb.chooseHost({ ...context, hostSelectionRetryCount: () => 1 })).toBe(b);
  });
});

test("RetryOn: every name Envoy documents parses", () => {
  const all = "5xx,gateway-error,reset,reset-before-request,connect-failure,envoy-ratelimited,retriable-4xx,refused-stream,retriable-status-codes,retriable-headers,http3-post-connect-failure";
  const parsed = parseRetryOn(all);
  expect(parsed.unknown).toEqual([]);
  expect(parsed.bits & RetryOn.ResetBeforeRequest).toBeTruthy();
});
