/**
 * The async client's retries (core/http/async-client.ts with a retry policy, Envoy's
 * async client router) on the memory runtime, on a stand-in pool: a gRPC status in a
 * trailers-only response, a connect failure and the per-try timeout retried or not by
 * retry_on; the jittered back-off between attempts; num_retries; the per-try timer from the
 * stream's hand-over; the cluster looked up again for a retry; the request's timeout
 * bounding every attempt; and the config's core.v3.RetryPolicy defaults.
 */
import { expect, test } from "vitest";
import type { ClusterConfig, RetryPolicyConfig } from "../../../core/config/bootstrap.ts";
import { coreRetryPolicy } from "../../../core/config/core-retry-policy-schema.ts";
import { parseRetryGrpcOn, parseRetryOn } from "../../../core/config/retry-on.ts";
import { Timers } from "../../../core/event/timers.ts";
import { AsyncClient, type AsyncResponse } from "../../../core/http/async-client.ts";
import { RequestHeaders, ResponseHeaders } from "../../../core/http/message.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { Cluster } from "../../../core/upstream/cluster.ts";
import { PoolFailureReason } from "../../../core/upstream/pool-failure.ts";
import type { UpstreamCallbacks } from "../../../core/upstream/http1-conn-pool.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

const clusterConfig: ClusterConfig = {
  name: "authz",
  type: "STATIC",
  connectTimeoutMs: 5000,
  lbPolicy: "ROUND_ROBIN",
  perConnectionBufferLimitBytes: 1 << 20,
  endpoints: [{ priority: 0, lbEndpoints: [{ address: { address: "127.0.0.1", port: 1 }, loadBalancingWeight: 1 }] }],
  circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
};

function policy(retryOn: string, fields: Partial<RetryPolicyConfig> = {}): RetryPolicyConfig {
  const text = coreRetryPolicy(0).parse({ retry_on: retryOn, retry_back_off: { base_interval: "0.1s" } });
  return { ...text, ...fields };
}

/** An AsyncClient on a stand-in pool: each attempt's callbacks and the time it began, and the answer. */
function harness() {
  const runtime = new MemoryRuntime({ seed: 7 });
  const timers = new Timers(runtime);
  const stats = new StatsStore();
  const clusters = new Map([["authz", new Cluster(clusterConfig, stats)]]);
  const attempts: { callbacks: UpstreamCallbacks; at: number; reset: boolean; cluster: Cluster }[] = [];
  const httpConnPool = (cluster: Cluster) => ({
    newStream: (callbacks: UpstreamCallbacks) => {
      attempts.push({ callbacks, at: runtime.now(), reset: false, cluster });
      return { cancel: () => {} };
    },
  });
  const server = { runtime, timers, log: { debug: () => {} }, clusterManager: { get: (name: string) => clusters.get(name), poolCodeLoading: () => undefined, httpConnPool } };
  const answers: AsyncResponse[] = [];
  const client = new AsyncClient(server as never);
  const send = (retryPolicy: RetryPolicyConfig | undefined, timeoutMs = 10_000) => {
    const headers = new RequestHeaders();
    headers.method = "POST";
    headers.path = "/envoy.service.auth.v3.Authorization/Check";
    client.send("authz", headers, new Uint8Array([1, 2]), { onSuccess: (_r, response) => answers.push(response), onFailure: () => answers.push({ headers: new ResponseHeaders(0), body: new Uint8Array(0), trailers: undefined, details: "failure" }) }, { timeoutMs, ...(retryPolicy && { retryPolicy }) });
  };
  /** The pool hands the latest attempt its stream. */
  const ready = () => {
    const attempt = attempts[attempts.length - 1]!;
    attempt.callbacks.onPoolReady({ encodeHeaders: () => {}, encodeData: () => {}, reset: () => (attempt.reset = true) } as never);
  };
  /** The latest attempt connects and answers with a trailers-only gRPC status. */
  const answerGrpc = (grpcStatus: number) => {
    const attempt = attempts[attempts.length - 1]!;
    ready();
    const headers = new ResponseHeaders(200);
    headers.set("content-type", "application/grpc");
    headers.set("grpc-status", String(grpcStatus));
    attempt.callbacks.decodeHeaders(headers, true);
  };
  const counter = (name: string) => (stats.get(`cluster.authz.${name}`) as { value: number } | undefined)?.value ?? 0;
  return { runtime, stats, clusters, attempts, answers, send, ready, answerGrpc, counter };
}

test("retry_on unavailable: an UNAVAILABLE answer is retried after the back-off, the OK one is the answer", async () => {
  const h = harness();
  h.send(policy("unavailable"));
  h.answerGrpc(14);
  expect(h.answers).toEqual([]);
  expect(h.attempts.length).toBe(1);
  await h.runtime.settle(1000);
  expect(h.attempts.length).toBe(2);
  // Fully jittered: the first back-off is in [0, base_interval).
  expect(h.attempts[1]!.at - h.attempts[0]!.at).toBeLessThan(100);
  h.answerGrpc(0);
  expect(h.answers.map((a) => a.headers.get("grpc-status"))).toEqual(["0"]);
  expect(h.counter("upstream_rq_retry")).toBe(1);
  expect(h.counter("upstream_rq_retry_success")).toBe(1);
  // The retried response is counted as the router counts one (Envoy's retry. prefix).
  expect(h.counter("retry.upstream_rq_completed")).toBe(1);
  expect(h.counter("retry.upstream_rq_200")).toBe(1);
  expect(h.counter("upstream_rq_200")).toBe(1);
});

test("a status retry_on does not name is the answer at once; without a policy nothing is retried", async () => {
  const h = harness();
  h.send(policy("unavailable"));
  h.answerGrpc(13);
  h.send(undefined);
  h.answerGrpc(14);
  await h.runtime.settle(1000);
  expect(h.attempts.length).toBe(2);
  expect(h.answers.map((a) => a.headers.get("grpc-status"))).toEqual(["13", "14"]);
  expect(h.counter("upstream_rq_retry")).toBe(0);
});

test("num_retries bounds the attempts: the last UNAVAILABLE is the answer, retry_limit_exceeded counted", async () => {
  const h = harness();
  h.send(policy("unavailable", { numRetries: 2 }));
  for (let i = 0; i < 3; i++) {
    h.answerGrpc(14);
    await h.runtime.settle(1000);
  }
  expect(h.attempts.length).toBe(3);
  expect(h.answers.map((a) => a.headers.get("grpc-status"))).toEqual(["14"]);
  expect(h.counter("upstream_rq_retry")).toBe(2);
  expect(h.counter("upstream_rq_retry_limit_exceeded")).toBe(1);
});

test("connect-failure: a failed connection is retried; without it the 503 reset reply is the answer", async () => {
  const h = harness();
  h.send(policy("connect-failure"));
  h.attempts[0]!.callbacks.onPoolFailure(PoolFailureReason.RemoteConnectionFailure, "refused");
  await h.runtime.settle(1000);
  expect(h.attempts.length).toBe(2);
  h.answerGrpc(0);
  h.send(policy("unavailable"));
  h.attempts[2]!.callbacks.onPoolFailure(PoolFailureReason.RemoteConnectionFailure, "refused");
  await h.runtime.settle(1000);
  expect(h.attempts.length).toBe(3);
  expect(h.answers.map((a) => a.headers.status)).toEqual([200, 503]);
  expect(h.answers[1]!.details).toBe("upstream_reset_before_response_started");
});

test("the per-try timeout (the back-off's max interval) resets the attempt; retried under reset, else 504", async () => {
  const h = harness();
  // base 0.1s: each try is bounded at 1 s.
  h.send(policy("reset"));
  h.ready();
  await h.runtime.settle(999);
  expect(h.attempts.length).toBe(1);
  await h.runtime.settle(150);
  expect(h.attempts.length).toBe(2);
  expect(h.attempts[0]!.reset).toBe(true);
  expect(h.counter("upstream_rq_per_try_timeout")).toBe(1);
  h.answerGrpc(0);
  h.send(policy("unavailable"));
  h.ready();
  await h.runtime.settle(1001);
  expect(h.answers.map((a) => [a.headers.status, a.details])).toEqual([
    [200, ""],
    [504, "upstream_per_try_timeout"],
  ]);
});

test("the request's timeout bounds all attempts and back-offs together", async () => {
  const h = harness();
  h.send(policy("unavailable", { numRetries: 10, baseIntervalMs: 400, maxIntervalMs: 400, perTryTimeoutMs: 0 }), 1000);
  for (let i = 0; i < 10 && h.answers.length === 0; i++) {
    if (h.attempts.length > i) h.answerGrpc(14);
    await h.runtime.settle(450);
  }
  expect(h.answers.map((a) => [a.headers.status, a.details])).toEqual([[504, "upstream_response_timeout"]]);
  const last = h.attempts.length;
  await h.runtime.settle(5000);
  // No attempt after the timeout.
  expect(h.attempts.length).toBe(last);
  expect(h.runtime.now()).toBeGreaterThan(1000);
});

test("core.v3.RetryPolicy: Envoy's defaults, retry_on of either vocabulary, max_interval below base refused", () => {
  const defaults = coreRetryPolicy(0).parse({});
  expect(defaults).toMatchObject({ retryOn: 0, numRetries: 1, baseIntervalMs: 1000, maxIntervalMs: 10_000, perTryTimeoutMs: 10_000 });
  const http = parseRetryOn("5xx,connect-failure").bits;
  expect(coreRetryPolicy(http).parse({}).retryOn).toBe(http);
  expect(coreRetryPolicy(0).parse({ retry_on: "unavailable,connect-failure" }).retryOn).toBe(parseRetryGrpcOn("unavailable").bits | parseRetryOn("connect-failure").bits);
  const bad = coreRetryPolicy(0).safeParse({ retry_back_off: { base_interval: "2s", max_interval: "1s" } });
  expect(bad.success).toBe(false);
  expect(JSON.stringify(bad.error?.issues)).toContain("max_interval must be greater than or equal to the base_interval");
  expect(coreRetryPolicy(0).safeParse({ retry_on: "unavailible" }).success).toBe(false);
  // A caller with its own conditions (ext_authz's HTTP client) refuses retry_on, which Envoy would ignore.
  expect(coreRetryPolicy(http, "5xx,connect-failure").safeParse({ retry_on: "unavailable" }).success).toBe(false);
});

test("the per-try timer runs from the stream's hand-over: a slow connection does not use up the try", async () => {
  const h = harness();
  h.send(policy("reset"));
  // Connecting (TCP, TLS, SETTINGS) takes 900 ms of the 1 s try.
  await h.runtime.settle(900);
  h.ready();
  await h.runtime.settle(900);
  expect(h.attempts.length).toBe(1);
  expect(h.counter("upstream_rq_per_try_timeout")).toBe(0);
  await h.runtime.settle(150);
  expect(h.counter("upstream_rq_per_try_timeout")).toBe(1);
  await h.runtime.settle(1000);
  expect(h.attempts.length).toBe(2);
});

test("the per-try timeout applies without a retry state (retry_on empty: nothing retried, max_interval still bounds the try)", async () => {
  const h = harness();
  h.send(policy(""));
  h.ready();
  await h.runtime.settle(1001);
  expect(h.answers.map((a) => [a.headers.status, a.details])).toEqual([[504, "upstream_per_try_timeout"]]);
  expect(h.counter("upstream_rq_per_try_timeout")).toBe(1);
  expect(h.attempts.length).toBe(1);
});

test("a retry looks the cluster up again: a replaced one serves it, a removed one ends the call with the reset failure", async () => {
  const h = harness();
  h.send(policy("unavailable"));
  h.answerGrpc(14);
  const replacement = new Cluster(clusterConfig, h.stats);
  h.clusters.set("authz", replacement);
  await h.runtime.settle(1000);
  expect(h.attempts.length).toBe(2);
  expect(h.attempts[1]!.cluster).toBe(replacement);
  h.answerGrpc(0);
  expect(h.answers.map((a) => a.headers.get("grpc-status"))).toEqual(["0"]);
  h.send(policy("unavailable"));
  h.answerGrpc(14);
  h.clusters.delete("authz");
  await h.runtime.settle(1000);
  expect(h.attempts.length).toBe(3);
  expect(h.answers.map((a) => a.details)).toEqual(["", "failure"]);
});
