/**
 * GrpcAsyncStream with a retry policy (GrpcService.retry_policy, as ext_proc's stream takes
 * it) on the memory runtime, over a stand-in pool: a trailers-only UNAVAILABLE, a reset or a
 * failed connect before the response headers is retried after the jittered back-off, the new
 * attempt resending the headers and every message sent so far (one sent during the back-off
 * too) and the half-close; nothing after the response headers is retried; num_retries; the
 * 64 KiB retry buffer (past it: no retry, retry_or_shadow_abandoned); the per-try timeout (the
 * policy's max_interval) from the half-close to the response headers; the cluster's retry stats.
 */
import { expect, test } from "vitest";
import type { ClusterConfig, RetryPolicyConfig } from "../../../core/config/bootstrap.ts";
import { parseRetryGrpcOn, parseRetryOn } from "../../../core/config/retry-on.ts";
import { Timers } from "../../../core/event/timers.ts";
import { DEFAULT_RETRY_POLICY } from "../../../core/http/filters/retry-state.ts";
import { GrpcAsyncStream, RETRY_BUFFER_LIMIT } from "../../../core/http/grpc-async-stream.ts";
import { HeaderMap } from "../../../core/http/header-map.ts";
import { ResponseHeaders } from "../../../core/http/message.ts";
import { StreamResetReason } from "../../../core/http/stream-reset-reason.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { Cluster } from "../../../core/upstream/cluster.ts";
import type { UpstreamCallbacks } from "../../../core/upstream/http1-conn-pool.ts";
import { PoolFailureReason } from "../../../core/upstream/pool-failure.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

const clusterConfig: ClusterConfig = {
  name: "ext-proc",
  type: "STATIC",
  connectTimeoutMs: 5000,
  lbPolicy: "ROUND_ROBIN",
  perConnectionBufferLimitBytes: 1 << 20,
  endpoints: [{ priority: 0, lbEndpoints: [10001, 10002].map((port) => ({ address: { address: "127.0.0.1", port }, loadBalancingWeight: 1 })) }],
  circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
};

/** The user's policy shape: gRPC conditions, 0.5 s base back-off, 3 retries. retry_on takes HTTP and gRPC conditions alike (retry-policy-schema.ts). */
function policy(retryOn: string, numRetries = 3): RetryPolicyConfig {
  const http = parseRetryOn(retryOn);
  return { ...DEFAULT_RETRY_POLICY, retryOn: http.bits | parseRetryGrpcOn(http.unknown.join(",")).bits, numRetries, baseIntervalMs: 500, maxIntervalMs: 60_000, perTryTimeoutMs: 0 };
}

/** A stream on a stand-in pool: each attempt's wire log, and what the caller got. */
function harness(retry: RetryPolicyConfig | undefined) {
  const runtime = new MemoryRuntime({ seed: 7 });
  const timers = new Timers(runtime as never);
  const stats = new StatsStore();
  const cluster = new Cluster(clusterConfig, stats);
  const attempts: { callbacks: UpstreamCallbacks; wire: string[] }[] = [];
  const caller: string[] = [];
  const expectedTimeouts: (string | undefined)[] = [];
  const pool = {
    newStream: (callbacks: UpstreamCallbacks) => {
      attempts.push({ callbacks, wire: [] });
      return { cancel: () => {} };
    },
  };
  const server = { runtime, timers, clusterManager: { get: () => cluster, grpcStreamPoolCodeLoading: () => undefined, grpcStreamConnPool: () => pool } };
  const stream = new GrpcAsyncStream(
    server as never,
    {
      onReceiveMessage: (m) => caller.push(`message ${m[0]}`),
      onRemoteClose: (status, message) => caller.push(`closed ${status} ${message}`),
      onAboveWriteBufferHighWatermark: () => caller.push("above"),
      onBelowWriteBufferLowWatermark: () => caller.push("below"),
    },
    1 << 20,
    true,
    retry,
  );
  stream.start("ext-proc", "/envoy.service.ext_proc.v3.ExternalProcessor/Process", "", []);
  /** Give attempt `i` its connection: what it writes goes to its wire log (a message by its first byte). */
  const connect = (i: number) => {
    const wire = attempts[i]!.wire;
    attempts[i]!.callbacks.onPoolReady({
      encodeHeaders: (headers: { get(name: string): string | undefined }) => {
        wire.push("headers");
        expectedTimeouts.push(headers.get("x-envoy-expected-rq-timeout-ms"));
      },
      encodeData: (data: Uint8Array, end: boolean) => wire.push(data.byteLength === 0 ? "end" : `message ${data[5]}${end ? " end" : ""}`),
      // A reset reaches the attempt's callbacks as a local reset, as a pool's reset of a stream it
      // cannot carry does: what the stream no longer owns must ignore it.
      reset: () => {
        wire.push("reset");
        attempts[i]!.callbacks.onUpstreamReset(StreamResetReason.LocalReset, "");
      },
    } as never);
  };
  const counter = (name: string) => (stats.get(`cluster.ext-proc.${name}`) as { value: number } | undefined)?.value ?? 0;
  return { runtime, stream, attempts, caller, connect, counter, cluster, expectedTimeouts };
}

function trailersOnly(status: number): ResponseHeaders {
  const h = new ResponseHeaders(200);
  h.set("content-type", "application/grpc");
  h.set("grpc-status", String(status));
  h.set("grpc-message", "warming up");
  return h;
}

function ok(h: ReturnType<typeof harness>, i: number): void {
  const headers = new ResponseHeaders(200);
  headers.set("content-type", "application/grpc");
  h.attempts[i]!.callbacks.decodeHeaders(headers, false);
  h.attempts[i]!.callbacks.decodeData(new Uint8Array([0, 0, 0, 0, 1, 42]), false);
  const trailers = new HeaderMap();
  trailers.set("grpc-status", "0");
  h.attempts[i]!.callbacks.decodeTrailers(trailers);
}

test("a trailers-only UNAVAILABLE is retried after the back-off: the headers, every message sent so far and the half-close go again", async () => {
  const h = harness(policy("resource-exhausted,cancelled,deadline-exceeded,unavailable,internal"));
  h.connect(0);
  h.stream.sendMessage(new Uint8Array([1]));
  h.attempts[0]!.callbacks.decodeHeaders(trailersOnly(14), true);
  expect(h.caller).toEqual([]);
  expect(h.attempts[0]!.wire).toEqual(["headers", "message 1", "reset"]);
  // During the back-off: queued, and kept for the replay.
  expect(h.stream.sendMessage(new Uint8Array([2]))).toBe(true);
  h.stream.closeSend();
  expect(h.attempts).toHaveLength(1);
  // The jittered back-off is below the 0.5 s base interval on the first retry.
  await h.runtime.settle(500);
  expect(h.attempts).toHaveLength(2);
  h.connect(1);
  expect(h.attempts[1]!.wire).toEqual(["headers", "message 1", "message 2", "end"]);
  ok(h, 1);
  expect(h.caller).toEqual(["message 42", "closed 0 "]);
  expect(h.counter("upstream_rq_retry")).toBe(1);
  expect(h.counter("upstream_rq_retry_success")).toBe(1);
  expect(h.counter("upstream_rq_retry_backoff_exponential")).toBe(1);
  expect(h.counter("retry.upstream_rq_200")).toBe(1);
});

test("without a retry policy the UNAVAILABLE is the call's end", () => {
  const h = harness(undefined);
  h.connect(0);
  h.stream.sendMessage(new Uint8Array([1]));
  h.attempts[0]!.callbacks.decodeHeaders(trailersOnly(14), true);
  expect(h.caller).toEqual(["closed 14 warming up"]);
  expect(h.counter("upstream_rq_retry")).toBe(0);
});

test("a status retry_on does not name is passed on at once", () => {
  const h = harness(policy("unavailable"));
  h.connect(0);
  h.attempts[0]!.callbacks.decodeHeaders(trailersOnly(13), true);
  expect(h.caller).toEqual(["closed 13 warming up"]);
  expect(h.attempts).toHaveLength(1);
});

test("num_retries used up: the last UNAVAILABLE reaches the caller (upstream_rq_retry_limit_exceeded)", async () => {
  const h = harness(policy("unavailable", 1));
  h.connect(0);
  h.attempts[0]!.callbacks.decodeHeaders(trailersOnly(14), true);
  await h.runtime.settle(1000);
  h.connect(1);
  h.attempts[1]!.callbacks.decodeHeaders(trailersOnly(14), true);
  expect(h.caller).toEqual(["closed 14 warming up"]);
  expect(h.counter("upstream_rq_retry")).toBe(1);
  expect(h.counter("upstream_rq_retry_limit_exceeded")).toBe(1);
});

test("a reset before the response headers is retried on reset, not on the gRPC conditions alone", async () => {
  const grpcOnly = harness(policy("unavailable"));
  grpcOnly.connect(0);
  grpcOnly.attempts[0]!.callbacks.onUpstreamReset(StreamResetReason.RemoteReset, "");
  expect(grpcOnly.caller).toEqual(["closed 14 stream reset"]);

  const h = harness(policy("reset"));
  h.connect(0);
  h.stream.sendMessage(new Uint8Array([1]));
  h.attempts[0]!.callbacks.onUpstreamReset(StreamResetReason.RemoteReset, "");
  expect(h.caller).toEqual([]);
  await h.runtime.settle(1000);
  h.connect(1);
  expect(h.attempts[1]!.wire).toEqual(["headers", "message 1"]);
});

test("a failed connect is retried on connect-failure", async () => {
  const h = harness(policy("connect-failure"));
  h.stream.sendMessage(new Uint8Array([1]));
  h.attempts[0]!.callbacks.onPoolFailure(PoolFailureReason.RemoteConnectionFailure, "delayed connect error: Connection refused");
  expect(h.caller).toEqual([]);
  await h.runtime.settle(1000);
  h.connect(1);
  expect(h.attempts[1]!.wire).toEqual(["headers", "message 1"]);
  expect(h.counter("upstream_rq_retry")).toBe(1);
});

test("nothing after the response headers is retried", () => {
  const h = harness(policy("reset,unavailable"));
  h.connect(0);
  const headers = new ResponseHeaders(200);
  headers.set("content-type", "application/grpc");
  h.attempts[0]!.callbacks.decodeHeaders(headers, false);
  h.attempts[0]!.callbacks.onUpstreamReset(StreamResetReason.RemoteReset, "");
  expect(h.caller).toEqual(["closed 14 stream reset"]);
  expect(h.attempts).toHaveLength(1);
  expect(h.counter("upstream_rq_retry")).toBe(0);
});

test("past the 64 KiB retry buffer the call is no longer retried (retry_or_shadow_abandoned)", () => {
  const h = harness(policy("unavailable"));
  h.connect(0);
  const big = new Uint8Array(RETRY_BUFFER_LIMIT / 2);
  big[0] = 1;
  expect(h.stream.sendMessage(big)).toBe(true);
  expect(h.stream.sendMessage(big)).toBe(true);
  expect(h.counter("retry_or_shadow_abandoned")).toBe(1);
  h.attempts[0]!.callbacks.decodeHeaders(trailersOnly(14), true);
  expect(h.caller).toEqual(["closed 14 warming up"]);
  expect(h.counter("upstream_rq_retry")).toBe(0);
});

test("outgrowing the retry buffer during a back-off fails the call: what the failed attempt carried is gone", () => {
  const h = harness(policy("unavailable"));
  h.connect(0);
  h.stream.sendMessage(new Uint8Array(RETRY_BUFFER_LIMIT / 2));
  h.attempts[0]!.callbacks.decodeHeaders(trailersOnly(14), true);
  expect(h.stream.sendMessage(new Uint8Array(RETRY_BUFFER_LIMIT / 2))).toBe(false);
  expect(h.caller).toEqual(["closed 2 exceeded request buffer limit while retrying upstream"]);
  expect(h.counter("retry_or_shadow_abandoned")).toBe(1);
});

test("reset by the caller during a back-off: no retry follows", async () => {
  const h = harness(policy("unavailable"));
  h.connect(0);
  h.attempts[0]!.callbacks.decodeHeaders(trailersOnly(14), true);
  expect(h.cluster.resources.retries.count).toBe(1);
  h.stream.reset();
  // The scheduled retry let go of its place in the max_retries circuit breaker.
  expect(h.cluster.resources.retries.count).toBe(0);
  await h.runtime.settle(120_000);
  expect(h.attempts).toHaveLength(1);
  expect(h.caller).toEqual([]);
});

test("reset by the caller while an attempt is under way: its reset is not retried, nothing reaches the caller", async () => {
  const h = harness(policy("reset"));
  h.connect(0);
  h.stream.sendMessage(new Uint8Array([1]));
  h.stream.reset();
  expect(h.attempts[0]!.wire).toEqual(["headers", "message 1", "reset"]);
  await h.runtime.settle(120_000);
  expect(h.attempts).toHaveLength(1);
  expect(h.caller).toEqual([]);
  expect(h.cluster.resources.retries.count).toBe(0);
});

test("the per-try timeout (max_interval) runs from the half-close: no response headers by then is the router's 504, Unavailable", async () => {
  const h = harness({ ...policy("unavailable"), perTryTimeoutMs: 1000 });
  h.connect(0);
  h.stream.sendMessage(new Uint8Array([1]));
  // Not from the start: the request is not complete before the half-close.
  await h.runtime.settle(5000);
  expect(h.caller).toEqual([]);
  h.stream.closeSend();
  await h.runtime.settle(999);
  expect(h.caller).toEqual([]);
  await h.runtime.settle(1);
  expect(h.caller).toEqual(["closed 14 upstream request timeout"]);
  expect(h.attempts[0]!.wire).toEqual(["headers", "message 1", "end", "reset"]);
  expect(h.counter("upstream_rq_per_try_timeout")).toBe(1);
});

test("a per-try timeout is retried on reset; none once the response headers came", async () => {
  const h = harness({ ...policy("reset"), perTryTimeoutMs: 1000 });
  h.connect(0);
  h.stream.sendMessage(new Uint8Array([1]));
  h.stream.closeSend();
  await h.runtime.settle(1000);
  expect(h.caller).toEqual([]);
  await h.runtime.settle(1000);
  h.connect(1);
  expect(h.attempts[1]!.wire).toEqual(["headers", "message 1", "end"]);
  const headers = new ResponseHeaders(200);
  headers.set("content-type", "application/grpc");
  h.attempts[1]!.callbacks.decodeHeaders(headers, false);
  await h.runtime.settle(10_000);
  expect(h.caller).toEqual([]);
  expect(h.counter("upstream_rq_per_try_timeout")).toBe(1);
  expect(h.counter("upstream_rq_retry")).toBe(1);
});

test("an attempt dropped above its write buffer's high watermark resumes the caller: the retry starts below it (Envoy's UpstreamRequest::cleanUp)", async () => {
  const h = harness(policy("unavailable"));
  h.connect(0);
  h.attempts[0]!.callbacks.onUpstreamAboveWriteBufferHighWatermark();
  expect(h.stream.aboveWriteBufferHighWatermark).toBe(true);
  h.attempts[0]!.callbacks.decodeHeaders(trailersOnly(14), true);
  expect(h.caller).toEqual(["above", "below"]);
  expect(h.stream.aboveWriteBufferHighWatermark).toBe(false);
  // The dropped attempt's late watermark events are not the call's.
  h.attempts[0]!.callbacks.onUpstreamAboveWriteBufferHighWatermark();
  expect(h.stream.aboveWriteBufferHighWatermark).toBe(false);
  await h.runtime.settle(500);
  h.connect(1);
  expect(h.stream.aboveWriteBufferHighWatermark).toBe(false);
  expect(h.caller).toEqual(["above", "below"]);
});

test("a reset above the high watermark, retried, resumes the caller too", () => {
  const h = harness(policy("reset"));
  h.connect(0);
  h.attempts[0]!.callbacks.onUpstreamAboveWriteBufferHighWatermark();
  h.attempts[0]!.callbacks.onUpstreamReset(StreamResetReason.RemoteReset, "");
  expect(h.caller).toEqual(["above", "below"]);
  expect(h.stream.aboveWriteBufferHighWatermark).toBe(false);
});

test("x-envoy-expected-rq-timeout-ms: the per-try timeout on every attempt (Envoy's async client router does not suppress its headers); none without one", async () => {
  const h = harness({ ...policy("reset"), perTryTimeoutMs: 1000 });
  h.connect(0);
  h.attempts[0]!.callbacks.onUpstreamReset(StreamResetReason.RemoteReset, "");
  await h.runtime.settle(1000);
  h.connect(1);
  expect(h.expectedTimeouts).toEqual(["1000", "1000"]);
  const none = harness(policy("reset"));
  none.connect(0);
  expect(none.expectedTimeouts).toEqual([undefined]);
});
