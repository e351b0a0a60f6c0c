/**
 * Envoy's OpenTelemetry access logger, envoy.access_loggers.open_telemetry
 * (source/extensions/access_loggers/open_telemetry/: access_log_impl.cc makes the records,
 * grpc_access_log_impl.cc and otlp_log_utils.cc batch and export them).
 *
 * - Each finished stream or connection (HTTP and tcp_proxy alike: OpenTelemetry logging has
 *   one LogRecord for both) becomes a LogRecord: time_unix_nano the stream's start, `body`
 *   (when configured) and `attributes` from their formats (open-telemetry-formatter.ts), and
 *   trace_id / span_id when the stream has an active span (populateTraceContext: a 64-bit
 *   trace id is padded to 128 bits with zeros in front).
 * - Records are buffered and exported as one ExportLogsServiceRequest — one ResourceLogs
 *   (the resource's attributes) with one ScopeLogs (no scope) holding the records — by a
 *   unary opentelemetry.proto.collector.logs.v1.LogsService/Export call, when their encoded
 *   size reaches buffer_size_bytes (default 16384; 0: each record at once) or
 *   buffer_flush_interval (default 1 s) after the first one buffered. Nothing is retried.
 * - The resource's attributes (initOtlpMessageRoot): log_name, zone_name, cluster_name,
 *   node_name from the bootstrap's node (unless disable_builtin_labels), then
 *   resource_attributes; a key given again replaces the earlier value where it stood.
 * - Stats, as Envoy's (OtlpAccessLogStatsPrefix + stat_prefix, joined as written):
 *   `access_logs.open_telemetry_access_log.logs_written`, records the collector took (an
 *   export answered OK, less its partial_success.rejected_log_records), and `.logs_dropped`,
 *   records of failed exports and rejected ones (OTelLogRequestCallbacks).
 * - Loggers with the same configuration share one buffer (Envoy's GrpcAccessLoggerCache).
 *
 * Bounds Envoy does not have: each export has a deadline (DEFAULT_EXPORT_TIMEOUT_MS;
 * grpc_service.timeout is taken and, as in Envoy, bounds nothing here), and at most
 * MAX_EXPORTS_IN_FLIGHT exports wait for their answer: while that many do, records stay
 * buffered until the buffer is full — buffer_size_bytes, as Envoy's canLogMore refuses a
 * record when a flush leaves it full; with 0, MAX_WAITING_BYTES — and records past that are
 * dropped and counted in logs_dropped.
 */
import type { GrpcServiceTarget, NodeConfig, OpenTelemetryAccessLogConfig, OtlpKeyValueConfig } from "../config/bootstrap.ts";
import { GrpcAsyncClient, type GrpcUnaryCallbacks } from "../http/grpc-async-client.ts";
import type { TimerHandle } from "../port.ts";
import type { ServerContext } from "../server-context.ts";
import type { Counter } from "../stats/counter.ts";
import { ProtoReader, ProtoWriter, WireType } from "../util/protobuf-wire.ts";
import type { AccessLogContext } from "./context.ts";
import { compileOtlpKeyValues, compileOtlpValue, writeFormattedKeyValues, writeFormattedValue, writeLiteralKeyValues, type OtlpKeyValueFormat, type OtlpValueFormat } from "./open-telemetry-formatter.ts";
import type { AccessLogSink } from "./logger.ts";

export const OTLP_LOGS_EXPORT_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
/** Envoy's OtlpAccessLogStatsPrefix (otlp_log_utils.h). */
export const OTLP_ACCESS_LOG_STATS_PREFIX = "access_logs.open_telemetry_access_log.";
/** Exports waiting for their answer at once; while that many do, records stay buffered. */
export const MAX_EXPORTS_IN_FLIGHT = 4;
/** The most encoded records kept buffered while exports are capped, whatever buffer_size_bytes says (0 flushes each record). */
export const MAX_WAITING_BYTES = 1024 * 1024;
/** An export's deadline: the OTLP exporters' default (OTEL_EXPORTER_OTLP_TIMEOUT), as the stats sink's. */
export const DEFAULT_EXPORT_TIMEOUT_MS = 10_000;

/** What the logger needs of the server. */
export interface OpenTelemetryAccessLogContext {
  readonly server: ServerContext;
  readonly node: NodeConfig | undefined;
}

/** The part of GrpcAsyncClient the logger uses (a unit test fakes it). */
export interface UnaryGrpcClient {
  send(target: GrpcServiceTarget, method: string, message: Uint8Array, callbacks: GrpcUnaryCallbacks, timeoutMs: number): { cancel(): void } | undefined;
}

/** Envoy's GrpcAccessLoggerImpl (open_telemetry): the buffer of encoded LogRecords, the flush timer, the exports. */
export class OpenTelemetryLogExporter {
  private records: Uint8Array[] = [];
  /** Envoy's approximate_message_size_bytes_. */
  private bufferedBytes = 0;
  private inFlight = 0;
  private timer: TimerHandle | undefined;
  private closed = false;
  /** The encoded ResourceLogs.resource field (made once, as Envoy's message root). */
  private readonly resource: Uint8Array;
  private readonly logsWritten: Counter;
  private readonly logsDropped: Counter;

  constructor(
    private readonly context: OpenTelemetryAccessLogContext,
    readonly config: OpenTelemetryAccessLogConfig,
    private readonly client: UnaryGrpcClient = new GrpcAsyncClient(context.server),
  ) {
    const scope = context.server.stats.scope(OTLP_ACCESS_LOG_STATS_PREFIX + config.statPrefix);
    this.logsWritten = scope.counter("logs_written");
    this.logsDropped = scope.counter("logs_dropped");
    this.resource = encodeResource(resourceAttributes(config, context.node));
  }

  /** One encoded LogRecord (GrpcAccessLogger::log with canLogMore). */
  log(record: Uint8Array): void {
    if (this.closed) return;
    const size = this.config.bufferSizeBytes;
    if (size !== 0 && this.bufferedBytes >= size) this.flush();
    // Only while exports are capped does a flush leave records behind.
    if ((size !== 0 && this.bufferedBytes >= size) || this.bufferedBytes + record.byteLength > Math.max(MAX_WAITING_BYTES, size)) {
      this.logsDropped.inc();
      return;
    }
    this.records.push(record);
    this.bufferedBytes += record.byteLength;
    if (this.bufferedBytes >= size) this.flush();
    else this.armTimer();
  }

  /** Export what is buffered, unless MAX_EXPORTS_IN_FLIGHT exports wait (the timer tries again). */
  flush(): void {
    if (this.records.length === 0) return;
    if (this.inFlight >= MAX_EXPORTS_IN_FLIGHT) return this.armTimer();
    this.cancelTimer();
    const records = this.records;
    this.records = [];
    this.bufferedBytes = 0;
    const request = this.request(records);
    const sent = records.length;
    this.inFlight++;
    const done = (): void => {
      this.inFlight--;
      if (this.records.length > 0 && !this.closed) this.armTimer();
    };
    this.client.send(
      this.config.target,
      OTLP_LOGS_EXPORT_METHOD,
      request,
      {
        onSuccess: (response) => {
          done();
          // "For the unexpected case where partial rejected log entries are more than sending
          // log entries, we just regard all of them are dropped" (grpc_access_log_impl.h).
          const rejected = rejectedLogRecords(response);
          if (rejected > sent) this.logsDropped.inc(sent);
          else {
            this.logsDropped.inc(rejected);
            this.logsWritten.inc(sent - rejected);
          }
        },
        onFailure: (status, message) => {
          done();
          this.logsDropped.inc(sent);
          if (this.context.server.log.debugOn) this.context.server.log.debug(`open telemetry access log '${this.config.logName}': export failure; status: ${status}, message: ${message}`);
        },
      },
      // Not grpc_service.timeout: Envoy's unary access log client sets no deadline from it
      // (grpc_access_logger_clients.h), and the sandbox's 0.25 s would drop exports a slow
      // collector took. polyvoy's own bound only.
      DEFAULT_EXPORT_TIMEOUT_MS,
    );
  }

  /**
   * Shutdown: what is buffered is handed to an export, later records are ignored. The server
   * closes the access logs after the upstream connections, so at process exit that export
   * does not get out: the records are lost, as Envoy's (its logger is destroyed with its calls).
   */
  close(): void {
    this.flush();
    this.closed = true;
    this.cancelTimer();
    this.records = [];
    this.bufferedBytes = 0;
  }

  /** ExportLogsServiceRequest { resource_logs 1: ResourceLogs { resource 1, scope_logs 2: ScopeLogs { log_records 2 } } }. */
  private request(records: readonly Uint8Array[]): Uint8Array {
    const writer = new ProtoWriter();
    writer.message(1, (resourceLogs) => {
      resourceLogs.message(1, (resource) => resource.raw(this.resource));
      resourceLogs.message(2, (scopeLogs) => {
        for (const record of records) scopeLogs.bytesField(2, record);
      });
    });
    return writer.finish();
  }

  private armTimer(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = this.context.server.runtime.setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.config.bufferFlushIntervalMs);
  }

  private cancelTimer(): void {
    if (this.timer === undefined) return;
    this.context.server.runtime.clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** One configured open_telemetry access log: its compiled formats; hands each record to its shared exporter. */
export class OpenTelemetryAccessLog implements AccessLogSink {
  private readonly body: OtlpValueFormat | undefined;
  private readonly attributes: readonly OtlpKeyValueFormat[];

  constructor(
    config: OpenTelemetryAccessLogConfig,
    private readonly exporter: Pick<OpenTelemetryLogExporter, "log" | "flush">,
  ) {
    this.body = config.body === undefined ? undefined : compileOtlpValue(config.body);
    this.attributes = compileOtlpKeyValues(config.attributes);
  }

  log(ctx: AccessLogContext): void {
    this.exporter.log(encodeLogRecord(ctx, this.body, this.attributes));
  }

  flush(): Promise<void> {
    this.exporter.flush();
    return Promise.resolve();
  }
}

/**
 * LogRecord (logs/v1/logs.proto) as AccessLog::emitLog fills it: time_unix_nano 1 (fixed64),
 * body 5, attributes 6, trace_id 9, span_id 10.
 */
export function encodeLogRecord(ctx: AccessLogContext, body: OtlpValueFormat | undefined, attributes: readonly OtlpKeyValueFormat[]): Uint8Array {
  const writer = new ProtoWriter();
  writer.fixed64(1, BigInt(Math.round(ctx.startWallClock * 1000)) * 1000n);
  if (body !== undefined) writer.message(5, (value) => writeFormattedValue(value, body, ctx));
  writeFormattedKeyValues(writer, 6, attributes, ctx);
  const traceId = traceIdBytes(ctx.traceId ?? "");
  if (traceId !== undefined) writer.bytesField(9, traceId);
  const spanId = ctx.spanId ? hexBytes(ctx.spanId) : undefined;
  if (spanId !== undefined) writer.bytesField(10, spanId);
  return writer.finish();
}

/** populateTraceContext: a 32-hex-digit trace id as its 16 bytes, a 16-digit one (Zipkin's 64 bits) padded with zeros in front; any other, none. */
function traceIdBytes(hex: string): Uint8Array | undefined {
  if (hex.length === 32) return hexBytes(hex);
  if (hex.length === 16) return hexBytes("0000000000000000" + hex);
  return undefined;
}

function hexBytes(hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined;
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/**
 * initOtlpMessageRoot's attributes: the built-in labels (unless disabled), then
 * resource_attributes; a repeated key takes the later value at the earlier position.
 */
export function resourceAttributes(config: Pick<OpenTelemetryAccessLogConfig, "disableBuiltinLabels" | "logName" | "resourceAttributes">, node: NodeConfig | undefined): OtlpKeyValueConfig[] {
  const out: OtlpKeyValueConfig[] = [];
  const at = new Map<string, number>();
  const put = (kv: OtlpKeyValueConfig): void => {
    const i = at.get(kv.key);
    if (i !== undefined) out[i] = kv;
    else {
      at.set(kv.key, out.length);
      out.push(kv);
    }
  };
  if (!config.disableBuiltinLabels) {
    const label = (key: string, value: string): void => put({ key, value: { kind: "string", value } });
    label("log_name", config.logName);
    label("zone_name", node?.locality?.zone ?? "");
    label("cluster_name", node?.cluster ?? "");
    label("node_name", node?.id ?? "");
  }
  for (const kv of config.resourceAttributes) put(kv);
  return out;
}

/** Resource { attributes 1 }: its fields. */
function encodeResource(attributes: readonly OtlpKeyValueConfig[]): Uint8Array {
  const writer = new ProtoWriter();
  writeLiteralKeyValues(writer, 1, attributes);
  return writer.finish();
}

/** ExportLogsServiceResponse.partial_success (1): ExportLogsPartialSuccess.rejected_log_records (1, int64); 0 when absent or unreadable. */
function rejectedLogRecords(response: Uint8Array): number {
  try {
    const reader = new ProtoReader(response);
    let rejected = 0;
    while (reader.next()) {
      if (reader.field !== 1 || reader.wire !== WireType.Len) {
        reader.skip();
        continue;
      }
      const inner = new ProtoReader(reader.lengthDelimited());
      while (inner.next()) {
        if (inner.field === 1 && inner.wire === WireType.Varint) rejected = Math.max(0, Number(BigInt.asIntN(64, inner.varint64())));
        else inner.skip();
      }
    }
    return rejected;
  } catch {
    // A response that is not the message: nothing rejected that we can tell.
    return 0;
  }
}
