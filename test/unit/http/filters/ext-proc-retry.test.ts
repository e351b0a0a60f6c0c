/**
 * ext_proc's processor stream with GrpcService.retry_policy (grpc-async-stream.ts retries it)
 * on the memory runtime over a stand-in pool: how the filter sees a retried stream that fails.
 */
import { beforeAll, expect, test } from "vitest";
import { extProcConfig } from "../../../../core/config/ext-proc-schema.ts";
import { loadRegexEngine } from "../../../../core/config/regex-engine.ts";
import { Timers } from "../../../../core/event/timers.ts";
import { BodyBuffer } from "../../../../core/http/body-buffer.ts";
import { ExtProcFilter, ExtProcFilterConfig } from "../../../../core/http/filters/ext-proc.ts";
import { RequestHeaders } from "../../../../core/http/message.ts";
import { StatsStore } from "../../../../core/stats/stats-store.ts";
import { Cluster } from "../../../../core/upstream/cluster.ts";
import type { UpstreamCallbacks } from "../../../../core/upstream/http1-conn-pool.ts";
import { PoolFailureReason } from "../../../../core/upstream/pool-failure.ts";
import { MemoryRuntime } from "../../../../runtimes/memory/memory-runtime.ts";

beforeAll(async () => {
  await loadRegexEngine();
});

function harness(config: object) {
  const runtime = new MemoryRuntime({ seed: 7 });
  const timers = new Timers(runtime as never);
  const stats = new StatsStore();
  const cluster = new Cluster(
    {
      name: "proc",
      type: "STATIC",
      connectTimeoutMs: 5000,
      lbPolicy: "ROUND_ROBIN",
      perConnectionBufferLimitBytes: 1 << 20,
      endpoints: [{ priority: 0, lbEndpoints: [{ address: { address: "127.0.0.1", port: 10001 }, loadBalancingWeight: 1 }] }],
      circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
    } as never,
    stats,
  );
  const attempts: UpstreamCallbacks[] = [];
  const pool = { newStream: (callbacks: UpstreamCallbacks) => (attempts.push(callbacks), { cancel: () => {} }) };
  const server = { stats, runtime, timers, clusterManager: { get: () => cluster, grpcStreamPoolCodeLoading: () => undefined, grpcStreamConnPool: () => pool } };
  const shared = new ExtProcFilterConfig(extProcConfig.parse(config), server as never, { statPrefix: "t" } as never);
  const filter = new ExtProcFilter(shared);
  const replies: string[] = [];
  const buffer = new BodyBuffer();
  filter.setDecoderFilterCallbacks({
    route: undefined,
    sendLocalReply: (status: number, _body: string, details: string) => replies.push(`${status} ${details}`),
    continueDecoding: () => {},
    decodingBuffer: () => buffer,
    addDecodedData: (d: Uint8Array) => buffer.add(d),
    clearRouteCache: () => {},
    decoderBufferLimit: 1 << 20,
    injectDecodedDataToFilterChain: () => {},
    readDisableDownstream: () => {},
  } as never);
  filter.setEncoderFilterCallbacks({ route: undefined, sendLocalReply: () => {}, continueEncoding: () => {}, encodingBuffer: () => undefined, encoderBufferLimit: 1 << 20 } as never);
  const headers = new RequestHeaders();
  headers.method = "POST";
  headers.path = "/";
  headers.authority = "a";
  const counter = (name: string) => (stats.get(name) as { value: number } | undefined)?.value ?? 0;
  return { runtime, filter, attempts, replies, headers, counter };
}

const retryPolicy = { retry_on: "connect-failure", num_retries: 3, retry_back_off: { base_interval: "10s" } };

test("FULL_DUPLEX_STREAMED: a body outgrowing the retry buffer during a back-off fails the stream once (streams_failed 1)", () => {
  const h = harness({
    grpc_service: { envoy_grpc: { cluster_name: "proc" }, retry_policy: retryPolicy },
    processing_mode: { request_header_mode: "SEND", request_body_mode: "FULL_DUPLEX_STREAMED", request_trailer_mode: "SEND", response_header_mode: "SKIP" },
  });
  h.filter.decodeHeaders(h.headers, false);
  // The connect fails: a retry is scheduled after a back-off of up to 10 s.
  h.attempts[0]!.onPoolFailure(PoolFailureReason.RemoteConnectionFailure, "refused");
  for (let i = 0; i < 3; i++) h.filter.decodeData(new Uint8Array(30_000), false);
  expect(h.counter("cluster.proc.retry_or_shadow_abandoned")).toBe(1);
  expect(h.counter("http.t.ext_proc.streams_failed")).toBe(1);
  expect(h.replies).toHaveLength(1);
});
