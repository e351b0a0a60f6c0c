/**
 * grpc-access-log.ts on the memory runtime, as Envoy's
 * test/extensions/access_loggers/common/grpc_access_logger_test.cc covers GrpcAccessLogger:
 * the identifier in a stream's first message only and again on a new stream, the flush at
 * buffer_size_bytes and at buffer_flush_interval, entries kept while the stream is above its
 * high watermark and HTTP entries dropped (logs_dropped) once the buffer is full, a stream
 * that fails to start; and the entries' fields (response flags, durations, addresses). The
 * messages are decoded with proto-loader from Envoy's als.proto.
 */
import { describe, expect, test } from "vitest";
import type { GrpcAccessLogConfig } from "../../../core/config/bootstrap.ts";
import type { AccessLogContext } from "../../../core/access-log/context.ts";
import { ALS_METHOD, GrpcAccessLog, GrpcAccessLogStream, MAX_WAITING_BYTES, type AccessLogCall } from "../../../core/access-log/grpc-access-log.ts";
import { Logger } from "../../../core/log.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { loadEnvoyService } from "../../support/envoy-grpc-service.ts";

const service = loadEnvoyService("envoy/service/accesslog/v3/als.proto", "envoy.service.accesslog.v3.AccessLogService");
const decode = (bytes: Uint8Array): any => JSON.parse(JSON.stringify(service.service.StreamAccessLogs!.requestDeserialize(Buffer.from(bytes))));

class FakeCall implements AccessLogCall {
  readonly sent: any[] = [];
  method = "";
  wasReset = false;
  aboveWriteBufferHighWatermark = false;
  failAtStart = false;
  /** A stream whose queue is full (still connecting, a service that does not read): every message refused. */
  refuse = false;
  encoded = 0;
  constructor(readonly callbacks: { onRemoteClose(status: number, message: string): void }) {}
  start(_cluster: string, method: string): void {
    this.method = method;
    if (this.failAtStart) this.callbacks.onRemoteClose(14, "no healthy upstream");
  }
  sendMessage(message: Uint8Array): boolean {
    this.encoded += message.byteLength;
    if (this.refuse) return false;
    this.sent.push(decode(message));
    return true;
  }
  reset(): void {
    this.wasReset = true;
  }
}

function config(overrides: Partial<GrpcAccessLogConfig> = {}): GrpcAccessLogConfig {
  return {
    kind: "http",
    logName: "the-log",
    target: { clusterName: "als", authority: "", initialMetadata: [] },
    bufferFlushIntervalMs: 1000,
    bufferSizeBytes: 16384,
    commonConfigKey: "k",
    requestHeaders: [],
    responseHeaders: [],
    responseTrailers: [],
    ...overrides,
  };
}

function ctx(overrides: Partial<AccessLogContext> = {}): AccessLogContext {
  const req: Record<string, string> = { ":method": "GET", ":path": "/p", ":authority": "example.com", ":scheme": "http" };
  return {
    startWallClock: 1_700_000_000_250,
    durationMs: 12.5,
    requestHeader: (n) => req[n],
    responseHeader: () => undefined,
    responseTrailer: () => undefined,
    protocol: "HTTP/1.1",
    responseCode: 200,
    responseCodeDetails: "via_upstream",
    responseFlags: [],
    bytesReceived: 0,
    bytesSent: 7,
    upstreamHost: "10.0.0.1:8080",
    upstreamCluster: "backend",
    downstreamRemoteAddress: { address: "127.0.0.1", port: 5000, family: 4 },
    downstreamLocalAddress: { address: "127.0.0.1", port: 10000, family: 4 },
    routeName: undefined,
    accessLogType: "DownstreamEnd",
    ...overrides,
  };
}

function harness(cfg: GrpcAccessLogConfig = config(), failFirst = false) {
  const runtime = new MemoryRuntime({ seed: 1 });
  const stats = new StatsStore();
  const server = { runtime, log: new Logger(runtime, "off"), stats };
  const calls: FakeCall[] = [];
  const stream = new GrpcAccessLogStream({ server: server as never, node: { id: "node-1", cluster: "c" } as never }, cfg, (callbacks) => {
    const call = new FakeCall(callbacks);
    call.failAtStart = failFirst && calls.length === 0;
    calls.push(call);
    return call;
  });
  const logger = new GrpcAccessLog(cfg, stream);
  const counter = (name: string) => stats.counter(`access_logs.grpc_access_log.${name}`).value;
  return { runtime, calls, stream, logger, counter };
}

describe("GrpcAccessLogStream", () => {
  test("entries wait for buffer_flush_interval; the first message of a stream carries the identifier, later ones do not", () => {
    const h = harness();
    h.logger.log(ctx());
    h.logger.log(ctx());
    expect(h.calls).toHaveLength(0);
    h.runtime.advance(999);
    expect(h.calls).toHaveLength(0);
    h.runtime.advance(1);
    expect(h.calls).toHaveLength(1);
    expect(h.calls[0]!.method).toBe(ALS_METHOD);
    const [first] = h.calls[0]!.sent;
    expect(first.identifier).toMatchObject({ node: { id: "node-1", cluster: "c", user_agent_name: "polyvoy" }, log_name: "the-log" });
    expect(first.http_logs.log_entry).toHaveLength(2);
    h.logger.log(ctx());
    h.runtime.advance(1000);
    expect(h.calls).toHaveLength(1);
    expect(h.calls[0]!.sent).toHaveLength(2);
    expect(h.calls[0]!.sent[1].identifier).toBeUndefined();
    expect(h.counter("logs_written")).toBe(3);
  });

  test("after the stream ends, the next flush opens a new one with the identifier again", () => {
    const h = harness();
    h.logger.log(ctx());
    h.runtime.advance(1000);
    h.calls[0]!.callbacks.onRemoteClose(14, "gone");
    h.logger.log(ctx());
    h.runtime.advance(1000);
    expect(h.calls).toHaveLength(2);
    expect(h.calls[1]!.sent[0].identifier.log_name).toBe("the-log");
  });

  test("buffer_size_bytes reached: flushed at once; 0 sends every entry at once", () => {
    const h = harness(config({ bufferSizeBytes: 1 }));
    h.logger.log(ctx());
    expect(h.calls[0]!.sent).toHaveLength(1);
    const z = harness(config({ bufferSizeBytes: 0 }));
    z.logger.log(ctx());
    z.logger.log(ctx());
    expect(z.calls[0]!.sent).toHaveLength(2);
  });

  test("above the high watermark entries stay buffered; a full buffer drops HTTP entries (logs_dropped)", () => {
    const h = harness(config({ bufferSizeBytes: 1 }));
    h.logger.log(ctx());
    const call = h.calls[0]!;
    call.aboveWriteBufferHighWatermark = true;
    h.logger.log(ctx());
    expect(call.sent).toHaveLength(1);
    expect(h.counter("logs_written")).toBe(2);
    h.logger.log(ctx());
    expect(h.counter("logs_dropped")).toBe(1);
    call.aboveWriteBufferHighWatermark = false;
    h.logger.log(ctx());
    expect(call.sent).toHaveLength(3);
    expect(call.sent[1].http_logs.log_entry).toHaveLength(1);
    expect(h.counter("logs_written")).toBe(3);
  });

  test("a stream that refuses messages: entries wait for the flush timer (not encoded again per entry) within MAX_WAITING_BYTES, more dropped and counted", () => {
    for (const kind of ["http", "tcp"] as const) {
      const h = harness(config({ kind, bufferSizeBytes: 0 }));
      h.logger.log(ctx());
      const call = h.calls[0]!;
      call.refuse = true;
      const first = call.encoded;
      for (let i = 0; i < 20_000; i++) h.logger.log(ctx());
      // One refused message (the first entry after the refusal), then nothing until the timer.
      expect(call.encoded - first).toBeLessThan(1000);
      expect(h.counter("logs_dropped")).toBeGreaterThan(0);
      call.refuse = false;
      h.runtime.advance(1000);
      expect(call.sent).toHaveLength(2);
      const waited = kind === "http" ? call.sent[1].http_logs.log_entry.length : call.sent[1].tcp_logs.log_entry.length;
      expect(waited * 50).toBeLessThanOrEqual(MAX_WAITING_BYTES);
      expect(waited + h.counter("logs_dropped")).toBe(20_000);
    }
  });

  test("a stream that fails to start loses the entries it was given; the next flush tries a new one", () => {
    const h = harness(config(), true);
    h.logger.log(ctx());
    h.runtime.advance(1000);
    expect(h.calls[0]!.sent).toHaveLength(0);
    h.logger.log(ctx());
    h.runtime.advance(1000);
    expect(h.calls).toHaveLength(2);
    expect(h.calls[1]!.sent[0].http_logs.log_entry).toHaveLength(1);
  });

  test("close resets the stream", () => {
    const h = harness(config({ bufferSizeBytes: 0 }));
    h.logger.log(ctx());
    h.stream.close();
    expect(h.calls[0]!.wasReset).toBe(true);
  });
});

describe("the entries", () => {
  test("HTTP: response flags, durations, addresses, start time, headers; TCP: bytes", () => {
    const h = harness(config({ bufferSizeBytes: 0, requestHeaders: ["x-a"], responseHeaders: ["x-b"] }));
    h.logger.log(
      ctx({
        responseFlags: ["UF", "URX", "UAEX"],
        requestDurationMs: 1.5,
        responseDurationMs: 4,
        requestHeader: (n) => ({ ":method": "PATCH", "x-a": "1" })[n],
        responseHeader: (n) => (n === "x-b" ? "caf\xc3\xa9" : undefined),
        routeName: "r1",
        upstreamRequestAttemptCount: 2,
      }),
    );
    const entry = h.calls[0]!.sent[0].http_logs.log_entry[0];
    expect(entry.protocol_version).toBe("HTTP11");
    expect(entry.request).toMatchObject({ request_method: "PATCH", request_headers: { "x-a": "1" } });
    expect(entry.response).toMatchObject({ response_code: { value: 200 }, response_body_bytes: 7, response_headers: { "x-b": "café" }, response_code_details: "via_upstream" });
    const common = entry.common_properties;
    expect(common.response_flags).toMatchObject({ upstream_connection_failure: true, upstream_retry_limit_exceeded: true, unauthorized_details: { reason: "EXTERNAL_SERVICE" } });
    expect(common.start_time).toEqual({ seconds: 1700000000, nanos: 250_000_000 });
    expect(common.time_to_last_rx_byte).toEqual({ nanos: 1_500_000 });
    expect(common.time_to_first_upstream_rx_byte).toEqual({ nanos: 4_000_000 });
    expect(common.time_to_last_downstream_tx_byte).toEqual({ nanos: 12_500_000 });
    expect(common.upstream_remote_address).toMatchObject({ socket_address: { address: "10.0.0.1", port_value: 8080 } });
    expect(common.downstream_remote_address).toMatchObject({ socket_address: { address: "127.0.0.1", port_value: 5000 } });
    expect(common).toMatchObject({ upstream_cluster: "backend", route_name: "r1", upstream_request_attempt_count: 2, access_log_type: "DownstreamEnd" });

    // A Unix socket peer is Address.pipe, as Envoy logs it.
    const pipeLog = harness(config({ bufferSizeBytes: 0 }));
    pipeLog.logger.log(ctx({ downstreamRemoteAddress: { address: "/run/front.sock", port: 0, family: "unix" } }));
    expect(pipeLog.calls[0]!.sent[0].http_logs.log_entry[0].common_properties.downstream_remote_address).toMatchObject({ pipe: { path: "/run/front.sock" } });

    const tlsLog = harness(config({ bufferSizeBytes: 0 }));
    tlsLog.logger.log(
      ctx({
        requestedServerName: "api.example.com",
        downstreamTls: {
          version: "TLSv1.3",
          cipher: "TLS_AES_256_GCM_SHA384",
          alpn: undefined,
          serverName: "other",
          localUriSan: "spiffe://proxy",
          peerVerifyError: undefined,
          sessionReused: false,
          peerCertificate: { subject: "CN=client", subjectAltNames: [{ type: "URI", value: "spiffe://client" }, { type: "DNS", value: "client.local" }] } as never,
        },
      }),
    );
    expect(tlsLog.calls[0]!.sent[0].http_logs.log_entry[0].common_properties.tls_properties).toMatchObject({
      tls_version: "TLSv1_3",
      tls_cipher_suite: { value: 0x1302 },
      tls_sni_hostname: "api.example.com",
      local_certificate_properties: { subject_alt_name: [{ uri: "spiffe://proxy" }] },
      peer_certificate_properties: { subject: "CN=client", subject_alt_name: [{ uri: "spiffe://client" }] },
    });

    const t = harness(config({ kind: "tcp", bufferSizeBytes: 0 }));
    t.logger.log(ctx({ protocol: undefined, responseCode: 0, bytesReceived: 3, bytesSent: 9, accessLogType: "TcpConnectionEnd" }));
    const tcp = t.calls[0]!.sent[0].tcp_logs.log_entry[0];
    expect(tcp.connection_properties).toEqual({ received_bytes: 3, sent_bytes: 9 });
    expect(tcp.common_properties.access_log_type).toBe("TcpConnectionEnd");
    expect(tcp.common_properties.time_to_last_downstream_tx_byte).toBeUndefined();
  });
});
