/**
 * open-telemetry-access-log.ts on the memory runtime, as Envoy's
 * test/extensions/access_loggers/open_telemetry/ (access_log_impl_test.cc,
 * grpc_access_log_impl_test.cc, substitution_formatter_test.cc) covers it: the LogRecord
 * (start time, body and attributes with every string leaf formatted, also inside kvlists
 * and arrays, trace_id / span_id from the active span), the resource's attributes, the
 * export at buffer_size_bytes and buffer_flush_interval as one ExportLogsServiceRequest,
 * the stats from the collector's answer, and polyvoy's bound on exports in flight. The
 * requests are decoded with proto-loader from the hand-written opentelemetry protos.
 */
import { describe, expect, test } from "vitest";
import type { AccessLogContext } from "../../../core/access-log/context.ts";
import { MAX_EXPORTS_IN_FLIGHT, MAX_WAITING_BYTES, OpenTelemetryAccessLog, OpenTelemetryLogExporter, OTLP_LOGS_EXPORT_METHOD, type UnaryGrpcClient } from "../../../core/access-log/open-telemetry-access-log.ts";
import type { OpenTelemetryAccessLogConfig, OtlpAnyValueConfig } from "../../../core/config/bootstrap.ts";
import type { GrpcUnaryCallbacks } from "../../../core/http/grpc-async-client.ts";
import { Logger } from "../../../core/log.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { ProtoWriter } from "../../../core/util/protobuf-wire.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { attributesOf, logRecordsOf, otlpLogsCodec, plain } from "../../support/otlp-logs-server.ts";

const codec = otlpLogsCodec();

interface Sent {
  method: string;
  cluster: string;
  timeoutMs: number;
  request: ReturnType<typeof codec.decode>;
  bytes: number;
  callbacks: GrpcUnaryCallbacks;
  cancelled: boolean;
}

class FakeClient implements UnaryGrpcClient {
  readonly sent: Sent[] = [];
  send(target: { clusterName: string }, method: string, message: Uint8Array, callbacks: GrpcUnaryCallbacks, timeoutMs: number) {
    const sent: Sent = { method, cluster: target.clusterName, timeoutMs, request: codec.decode(message), bytes: message.byteLength, callbacks, cancelled: false };
    this.sent.push(sent);
    return { cancel: () => void (sent.cancelled = true) };
  }
}

const s = (value: string): OtlpAnyValueConfig => ({ kind: "string", value });

function config(overrides: Partial<OpenTelemetryAccessLogConfig> = {}): OpenTelemetryAccessLogConfig {
  return {
    logName: "otel_envoy_accesslog",
    target: { clusterName: "collector", authority: "", initialMetadata: [] },
    timeoutMs: 250,
    bufferFlushIntervalMs: 1000,
    bufferSizeBytes: 16384,
    disableBuiltinLabels: false,
    resourceAttributes: [{ key: "service.name", value: s("envoy-2") }],
    body: s("%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"),
    attributes: [
      { key: "url.path", value: s("%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%") },
      { key: "http.request.method", value: s("%REQ(:METHOD)%") },
      { key: "http.response.status_code", value: s("%RESPONSE_CODE%") },
    ],
    statPrefix: "",
    key: "k",
    ...overrides,
  };
}

function ctx(overrides: Partial<AccessLogContext> = {}): AccessLogContext {
  const req: Record<string, string> = { ":method": "GET", ":path": "/trace/2", ":authority": "example.com", "user-agent": "curl/8" };
  return {
    startWallClock: 1_700_000_000_250.5,
    durationMs: 12,
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
    ...overrides,
  };
}

function harness(cfg: OpenTelemetryAccessLogConfig = config(), node: object | undefined = { id: "node-1", cluster: "front", locality: { zone: "z1" } }) {
  const runtime = new MemoryRuntime({ seed: 1 });
  const stats = new StatsStore();
  const server = { runtime, log: new Logger(runtime, "off"), stats };
  const client = new FakeClient();
  const exporter = new OpenTelemetryLogExporter({ server: server as never, node: node as never }, cfg, client);
  const logger = new OpenTelemetryAccessLog(cfg, exporter);
  const counter = (name: string) => stats.counter(`access_logs.open_telemetry_access_log.${cfg.statPrefix}${name}`).value;
  const records = () => client.sent.flatMap((sent) => logRecordsOf(sent.request));
  return { runtime, client, exporter, logger, counter, records, stats };
}

/** An ExportLogsServiceResponse with partial_success.rejected_log_records. */
function partial(rejected: number): Uint8Array {
  return new ProtoWriter().message(1, (p) => p.uint(1, rejected).string(2, "bad")).finish();
}

describe("the LogRecord", () => {
  test("the sandbox's body and attributes, the start time, the resource: built-in labels then resource_attributes", () => {
    const h = harness();
    h.logger.log(ctx());
    h.runtime.advance(1000);
    expect(h.client.sent).toHaveLength(1);
    const [sent] = h.client.sent;
    expect(sent!.method).toBe(OTLP_LOGS_EXPORT_METHOD);
    expect(sent!.cluster).toBe("collector");
    // grpc_service.timeout (250 ms here, as the sandbox's) is no deadline, as in Envoy: polyvoy's own 10 s is.
    expect(sent!.timeoutMs).toBe(10_000);
    const resourceLogs = sent!.request.resource_logs!;
    expect(resourceLogs).toHaveLength(1);
    expect(attributesOf(resourceLogs[0]!.resource!.attributes)).toEqual({ log_name: "otel_envoy_accesslog", zone_name: "z1", cluster_name: "front", node_name: "node-1", "service.name": "envoy-2" });
    expect(resourceLogs[0]!.resource!.attributes!.map((a) => a.key)).toEqual(["log_name", "zone_name", "cluster_name", "node_name", "service.name"]);
    expect(resourceLogs[0]!.scope_logs).toHaveLength(1);
    expect(resourceLogs[0]!.scope_logs![0]!.scope).toBeUndefined();
    const [record] = h.records();
    expect(record!.time_unix_nano).toBe("1700000000250500000");
    expect(plain(record!.body)).toBe("GET /trace/2");
    expect(attributesOf(record!.attributes)).toEqual({ "url.path": "/trace/2", "http.request.method": "GET", "http.response.status_code": "200" });
    expect(record!.trace_id).toBeUndefined();
    expect(record!.span_id).toBeUndefined();
  });

  test("every string leaf is a format, inside kvlists and arrays too; a missing value is \"-\"", () => {
    const body: OtlpAnyValueConfig = {
      kind: "kvlist",
      values: [
        { key: "method", value: s("%REQ(:METHOD)%") },
        { key: "list", value: { kind: "array", values: [s("%PROTOCOL%"), { kind: "kvlist", values: [{ key: "ua", value: s("%REQ(USER-AGENT)%") }] }, { kind: "array", values: [s("%REQ(X-NONE)%"), s("")] }] } },
        { key: "literal", value: s("plain") },
      ],
    };
    const h = harness(config({ body, attributes: [{ key: "nested", value: { kind: "kvlist", values: [{ key: "code", value: s("%RESPONSE_CODE% %RESPONSE_FLAGS%") }] } }] }));
    h.logger.log(ctx({ responseFlags: ["UF"] }));
    h.runtime.advance(1000);
    const [record] = h.records();
    expect(plain(record!.body)).toEqual({ method: "GET", list: ["HTTP/1.1", { ua: "curl/8" }, ["-", ""]], literal: "plain" });
    expect(attributesOf(record!.attributes)).toEqual({ nested: { code: "200 UF" } });
  });

  test("no body configured: none; no attributes: none", () => {
    const h = harness(config({ body: undefined, attributes: [] }));
    h.logger.log(ctx());
    h.runtime.advance(1000);
    const [record] = h.records();
    expect(record!.body).toBeUndefined();
    expect(record!.attributes).toBeUndefined();
  });

  test("trace_id and span_id from the active span; a 64-bit trace id padded to 128 bits", () => {
    const h = harness();
    h.logger.log(ctx({ traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331" }));
    h.logger.log(ctx({ traceId: "463ac35c9f6413ad", spanId: "a2fb4a1d1a96d312" }));
    h.logger.log(ctx({ traceId: "123", spanId: "" }));
    h.runtime.advance(1000);
    const records = h.records();
    expect(records[0]!.trace_id!.toString("hex")).toBe("0af7651916cd43dd8448eb211c80319c");
    expect(records[0]!.span_id!.toString("hex")).toBe("b7ad6b7169203331");
    expect(records[1]!.trace_id!.toString("hex")).toBe("0000000000000000463ac35c9f6413ad");
    expect(records[1]!.span_id!.toString("hex")).toBe("a2fb4a1d1a96d312");
    expect(records[2]!.trace_id).toBeUndefined();
    expect(records[2]!.span_id).toBeUndefined();
  });

  test("a TCP connection is logged the same way (no HTTP values: \"-\")", () => {
    const h = harness();
    h.logger.log(ctx({ requestHeader: () => undefined, protocol: undefined, responseCode: 0 }));
    h.runtime.advance(1000);
    const [record] = h.records();
    expect(plain(record!.body)).toBe("- -");
    expect(attributesOf(record!.attributes)["http.response.status_code"]).toBe("0");
  });
});

describe("the resource", () => {
  test("resource_attributes replace a built-in label in its place; literal kinds are kept", () => {
    const h = harness(config({
      resourceAttributes: [
        { key: "cluster_name", value: s("mine") },
        { key: "flag", value: { kind: "bool", value: false } },
        { key: "n", value: { kind: "int", value: -3 } },
        { key: "d", value: { kind: "double", value: 0.5 } },
        { key: "l", value: { kind: "array", values: [s("a"), { kind: "int", value: 0 }] } },
      ],
    }));
    h.logger.log(ctx());
    h.runtime.advance(1000);
    const attributes = h.client.sent[0]!.request.resource_logs![0]!.resource!.attributes!;
    expect(attributes.map((a) => a.key)).toEqual(["log_name", "zone_name", "cluster_name", "node_name", "flag", "n", "d", "l"]);
    expect(attributesOf(attributes)).toEqual({ log_name: "otel_envoy_accesslog", zone_name: "z1", cluster_name: "mine", node_name: "node-1", flag: false, n: -3, d: 0.5, l: ["a", 0] });
  });

  test("disable_builtin_labels: only resource_attributes; no node: empty labels", () => {
    const h = harness(config({ disableBuiltinLabels: true }));
    h.logger.log(ctx());
    h.runtime.advance(1000);
    expect(attributesOf(h.client.sent[0]!.request.resource_logs![0]!.resource!.attributes)).toEqual({ "service.name": "envoy-2" });
    const bare = harness(config({ resourceAttributes: [] }), {});
    bare.logger.log(ctx());
    bare.runtime.advance(1000);
    expect(attributesOf(bare.client.sent[0]!.request.resource_logs![0]!.resource!.attributes)).toEqual({ log_name: "otel_envoy_accesslog", zone_name: "", cluster_name: "", node_name: "" });
  });
});

describe("batching and stats", () => {
  test("records wait for buffer_flush_interval and go as one request", () => {
    const h = harness();
    h.logger.log(ctx());
    h.logger.log(ctx());
    h.runtime.advance(999);
    expect(h.client.sent).toHaveLength(0);
    h.runtime.advance(1);
    expect(h.client.sent).toHaveLength(1);
    expect(logRecordsOf(h.client.sent[0]!.request)).toHaveLength(2);
    // Nothing waits: no more exports.
    h.runtime.advance(5000);
    expect(h.client.sent).toHaveLength(1);
  });

  test("buffer_size_bytes reached: exported at once; 0: every record at once", () => {
    const h = harness(config({ bufferSizeBytes: 200 }));
    h.logger.log(ctx());
    expect(h.client.sent).toHaveLength(0);
    h.logger.log(ctx());
    h.logger.log(ctx());
    expect(h.client.sent).toHaveLength(1);
    const zero = harness(config({ bufferSizeBytes: 0 }));
    zero.logger.log(ctx());
    zero.logger.log(ctx());
    expect(zero.client.sent).toHaveLength(2);
  });

  test("logs_written when the collector answers OK, less partial_success's rejected; logs_dropped for failures and rejections", () => {
    const h = harness(config({ bufferSizeBytes: 0, statPrefix: "front." }));
    h.logger.log(ctx());
    expect(h.counter("logs_written")).toBe(0);
    h.client.sent[0]!.callbacks.onSuccess(new Uint8Array());
    expect(h.counter("logs_written")).toBe(1);
    h.logger.log(ctx());
    h.client.sent[1]!.callbacks.onFailure(14, "unavailable");
    expect(h.counter("logs_dropped")).toBe(1);
    // Two records in one export, one rejected.
    const batch = harness(config({ statPrefix: "front." }));
    batch.logger.log(ctx());
    batch.logger.log(ctx());
    batch.runtime.advance(1000);
    batch.client.sent[0]!.callbacks.onSuccess(partial(1));
    expect([batch.counter("logs_written"), batch.counter("logs_dropped")]).toEqual([1, 1]);
    // More rejected than sent: all dropped.
    batch.logger.log(ctx());
    batch.runtime.advance(1000);
    batch.client.sent[1]!.callbacks.onSuccess(partial(5));
    expect([batch.counter("logs_written"), batch.counter("logs_dropped")]).toEqual([1, 2]);
    expect(batch.stats.counter("access_logs.open_telemetry_access_log.front.logs_written").value).toBe(1);
  });

  test(`at most ${MAX_EXPORTS_IN_FLIGHT} exports wait for an answer; records wait meanwhile, up to MAX_WAITING_BYTES, then are dropped`, () => {
    const h = harness(config({ bufferSizeBytes: 0 }));
    for (let i = 0; i < MAX_EXPORTS_IN_FLIGHT; i++) h.logger.log(ctx());
    expect(h.client.sent).toHaveLength(MAX_EXPORTS_IN_FLIGHT);
    h.logger.log(ctx());
    h.logger.log(ctx());
    expect(h.client.sent).toHaveLength(MAX_EXPORTS_IN_FLIGHT);
    h.client.sent[0]!.callbacks.onSuccess(new Uint8Array());
    h.runtime.advance(1000);
    expect(h.client.sent).toHaveLength(MAX_EXPORTS_IN_FLIGHT + 1);
    expect(logRecordsOf(h.client.sent[MAX_EXPORTS_IN_FLIGHT]!.request)).toHaveLength(2);
    // Still capped: records fill MAX_WAITING_BYTES, then are dropped.
    const big = "x".repeat(64 * 1024);
    const bigLogger = new OpenTelemetryAccessLog(config({ body: s(big) }), h.exporter);
    const fits = Math.floor(MAX_WAITING_BYTES / (big.length + 40));
    for (let i = 0; i < fits + 3; i++) bigLogger.log(ctx());
    expect(h.counter("logs_dropped")).toBeGreaterThanOrEqual(3);
    expect(h.counter("logs_dropped")).toBeLessThanOrEqual(4);
  });

  test("exports capped with a buffer_size_bytes: records wait until the buffer is full, then are dropped (Envoy's canLogMore)", () => {
    const h = harness(config({ bufferSizeBytes: 150 }));
    for (let i = 0; i < MAX_EXPORTS_IN_FLIGHT; i++) {
      h.logger.log(ctx());
      h.logger.log(ctx());
    }
    expect(h.client.sent).toHaveLength(MAX_EXPORTS_IN_FLIGHT);
    h.logger.log(ctx());
    h.logger.log(ctx());
    expect(h.counter("logs_dropped")).toBe(0);
    h.logger.log(ctx());
    expect(h.counter("logs_dropped")).toBe(1);
    expect(h.client.sent).toHaveLength(MAX_EXPORTS_IN_FLIGHT);
  });

  test("close: what is buffered is exported, later records are ignored", () => {
    const h = harness();
    h.logger.log(ctx());
    h.exporter.close();
    expect(h.client.sent).toHaveLength(1);
    h.logger.log(ctx());
    h.runtime.advance(5000);
    expect(h.client.sent).toHaveLength(1);
  });
});
