/**
 * Envoy's gRPC access loggers, envoy.access_loggers.http_grpc and envoy.access_loggers.tcp_grpc
 * (source/extensions/access_loggers/grpc/ and common/grpc_access_logger.h): each finished
 * stream or connection becomes an HTTPAccessLogEntry or TCPAccessLogEntry
 * (api/envoy/data/accesslog/v3/accesslog.proto) streamed to
 * envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs, a client stream that
 * stays open.
 *
 * - Loggers with the same common_config and kind share one GrpcAccessLogStream (Envoy's
 *   GrpcAccessLoggerCache): one buffer, one stream.
 * - Entries are buffered and sent as one StreamAccessLogsMessage when their encoded size
 *   reaches buffer_size_bytes (default 16384; 0: each at once), or buffer_flush_interval
 *   (default 1 s) after the first one buffered (Envoy's flush timer runs all the time; an
 *   idle buffer has nothing for it to send, so it is armed only while entries wait).
 * - A stream's first message carries the identifier (the bootstrap's node and log_name);
 *   later ones do not. When the stream ends (the service closed it, a reset, no
 *   connection), the next flush opens a new one, which carries the identifier again.
 *   Entries already handed to a stream that then fails are lost, as in Envoy.
 * - When the stream cannot take more (its write buffer above the high watermark, or no
 *   connection yet and polyvoy's queue of unsent messages full), entries stay buffered;
 *   once the buffer is full, new HTTP entries are dropped. Stats, as Envoy's
 *   (GRPC_LOG_STATS_PREFIX): `access_logs.grpc_access_log.logs_written` (HTTP entries
 *   taken into the buffer) and `.logs_dropped` (HTTP entries refused). TCP entries are not
 *   counted and never refused (GrpcAccessLogger::log(TcpLogProto&&) skips canLogMore).
 * - A stream lives as long as the server, used or not: Envoy's GrpcAccessLoggerCache keeps
 *   every logger it made for the server's life (grpc_access_logger.h, getOrCreateLogger:
 *   "Consider cleaning up loggers"), so a removed listener's stream stays open there too.
 *   At shutdown what is buffered is flushed, then the stream reset (close()); entries that
 *   find no stream open are lost, as Envoy's, which does not flush at all then.
 */
import type { GoogleGrpcTargetConfig, GrpcAccessLogConfig, NodeConfig, OpenTelemetryAccessLogConfig } from "../config/bootstrap.ts";
import { encodeNode } from "../config/xds/discovery-node.ts";
import { GrpcAsyncStream } from "../http/grpc-async-stream.ts";
import type { SocketAddress, TimerHandle, TlsSession } from "../port.ts";
import type { ServerContext } from "../server-context.ts";
import type { Counter } from "../stats/counter.ts";
import { latin1Encode } from "../util/latin1.ts";
import { encodeStruct } from "../util/protobuf-struct.ts";
import { ProtoWriter } from "../util/protobuf-wire.ts";
import { utf8DecodeStrict } from "../util/utf8.ts";
import type { AccessLogContext } from "./context.ts";
import type { AccessLogSink, GrpcAccessLoggerCache } from "./logger.ts";
import { OpenTelemetryAccessLog, OpenTelemetryLogExporter } from "./open-telemetry-access-log.ts";

export const ALS_METHOD = "/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs";
/** Envoy's GRPC_LOG_STATS_PREFIX (grpc_access_log_impl.cc). */
export const GRPC_LOG_STATS_PREFIX = "access_logs.grpc_access_log.";
/** The service answers once, at the end (StreamAccessLogsResponse is empty): a small bound. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/**
 * The most encoded entries kept waiting for a stream that cannot take them (connecting, or a
 * service that does not read), whatever buffer_size_bytes says: 0 flushes every entry and TCP
 * entries have no canLogMore, so without it nothing would bound them. More are dropped and
 * counted in logs_dropped.
 */
export const MAX_WAITING_BYTES = 1024 * 1024;

/** What a gRPC access log needs of the server. */
export interface GrpcAccessLogContext {
  readonly server: ServerContext;
  readonly node: NodeConfig | undefined;
}

/** The call a GrpcAccessLogStream drives (GrpcAsyncStream; a unit test fakes it). */
export interface AccessLogCall {
  start(clusterName: string, method: string, authority: string, initialMetadata: readonly (readonly [string, string])[], google?: GoogleGrpcTargetConfig): void;
  sendMessage(message: Uint8Array): boolean;
  reset(): void;
  readonly aboveWriteBufferHighWatermark: boolean;
}

export type OpenAccessLogCall = (callbacks: { onReceiveMessage(m: Uint8Array): void; onRemoteClose(status: number, message: string): void }) => AccessLogCall;

/**
 * Envoy's GrpcAccessLoggerImpl over its StreamingGrpcAccessLogClient: the buffer of encoded
 * entries of one kind, the flush timer and the stream.
 */
export class GrpcAccessLogStream {
  /** Encoded HTTPAccessLogEntry / TCPAccessLogEntry messages, in order. */
  private entries: Uint8Array[] = [];
  /** Envoy's approximate_message_size_bytes_: the entries' encoded sizes. */
  private bufferedBytes = 0;
  private call: AccessLogCall | undefined;
  /** The current stream has sent its first message (with the identifier). */
  private identified = false;
  private timer: TimerHandle | undefined;
  private closed = false;
  /** The stream refused the last message: the next attempt is the flush timer's, not every entry's (each would encode every waiting entry again). */
  private blocked = false;
  private readonly logsWritten: Counter;
  private readonly logsDropped: Counter;

  constructor(
    private readonly context: GrpcAccessLogContext,
    readonly config: GrpcAccessLogConfig,
    private readonly openCall: OpenAccessLogCall = (callbacks) => new GrpcAsyncStream(context.server, callbacks, MAX_RESPONSE_BYTES),
  ) {
    const scope = context.server.stats.scope(GRPC_LOG_STATS_PREFIX);
    this.logsWritten = scope.counter("logs_written");
    this.logsDropped = scope.counter("logs_dropped");
  }

  /** One encoded entry (GrpcAccessLogger::log). */
  log(entry: Uint8Array): void {
    if (this.closed) return;
    if (this.config.kind === "http" && !this.canLogMore()) return;
    if (this.bufferedBytes + entry.byteLength > Math.max(MAX_WAITING_BYTES, this.config.bufferSizeBytes)) {
      this.logsDropped.inc();
      return;
    }
    this.bufferedBytes += entry.byteLength;
    this.entries.push(entry);
    if (this.bufferedBytes >= this.config.bufferSizeBytes) this.flush();
    else this.armTimer();
  }

  /** Send what is buffered, if the stream takes it (after a refusal, only from the timer). */
  flush(fromTimer = false): void {
    if (this.entries.length === 0) return;
    if (this.blocked && !fromTimer) return this.armTimer();
    this.cancelTimer();
    const message = this.message();
    const sent = this.send(message);
    if (sent === "taken") {
      // Cleared whether the stream took it or failed to start (Envoy's flush()).
      this.blocked = false;
      this.entries = [];
      this.bufferedBytes = 0;
    } else {
      this.blocked = sent === "refused";
      this.armTimer();
    }
  }

  /** Stop: the stream is reset, what is buffered is dropped (shutdown). */
  close(): void {
    this.closed = true;
    this.cancelTimer();
    const call = this.call;
    this.call = undefined;
    call?.reset();
    this.entries = [];
    this.bufferedBytes = 0;
  }

  /** Envoy's canLogMore: room in the buffer (after a flush if need be); counts written or dropped. */
  private canLogMore(): boolean {
    if (this.config.bufferSizeBytes === 0 || this.bufferedBytes < this.config.bufferSizeBytes) {
      this.logsWritten.inc();
      return true;
    }
    this.flush();
    if (this.bufferedBytes < this.config.bufferSizeBytes) {
      this.logsWritten.inc();
      return true;
    }
    this.logsDropped.inc();
    return false;
  }

  /**
   * StreamingGrpcAccessLogClient::log: "taken" (or lost with a stream that failed to start),
   * "wait" above the stream's high watermark (nothing encoded), "refused" when the stream's
   * queue refused the encoded message.
   */
  private send(message: () => Uint8Array): "taken" | "wait" | "refused" {
    if (this.call === undefined) {
      const call = this.openCall({
        onReceiveMessage: () => {},
        onRemoteClose: (status, text) => {
          if (this.call !== call) return;
          this.call = undefined;
          if (this.context.server.log.debugOn) this.context.server.log.debug(`access log '${this.config.logName}': stream closed (grpc-status ${status}${text ? `: ${text}` : ""})`);
        },
      });
      this.call = call;
      this.identified = false;
      const target = this.config.target;
      call.start(target.clusterName, ALS_METHOD, target.authority, target.initialMetadata, target.google);
      // Failed at once (no such cluster, no healthy host): the entries are lost, as when
      // Envoy's client fails to start a stream.
      if (this.call !== call) return "taken";
    }
    if (this.call.aboveWriteBufferHighWatermark) return "wait";
    const wasIdentified = this.identified;
    if (!this.call.sendMessage(message())) return "refused";
    if (!wasIdentified) this.identified = true;
    return "taken";
  }

  /** envoy.service.accesslog.v3.StreamAccessLogsMessage: identifier 1 (node 1, log_name 2), http_logs 2 / tcp_logs 3 (log_entry 1). */
  private message(): () => Uint8Array {
    return () => {
      const writer = new ProtoWriter();
      if (!this.identified) {
        writer.message(1, (id) => {
          id.message(1, (node) => encodeNode(node, this.context.node));
          id.string(2, this.config.logName);
        });
      }
      writer.message(this.config.kind === "http" ? 2 : 3, (logs) => {
        for (const entry of this.entries) logs.bytesField(1, entry);
      });
      return writer.finish();
    };
  }

  private armTimer(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = this.context.server.runtime.setTimeout(() => {
      this.timer = undefined;
      this.flush(true);
    }, this.config.bufferFlushIntervalMs);
  }

  private cancelTimer(): void {
    if (this.timer === undefined) return;
    this.context.server.runtime.clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** The streams by kind and common_config: loggers configured alike share one (Envoy's GrpcAccessLoggerCacheImpl). */
export class GrpcAccessLoggerCacheImpl implements GrpcAccessLoggerCache {
  private readonly streams = new Map<string, GrpcAccessLogStream>();
  /** open_telemetry's exporters by configuration (Envoy's OpenTelemetry GrpcAccessLoggerCacheImpl). */
  private readonly exporters = new Map<string, OpenTelemetryLogExporter>();

  constructor(private readonly context: GrpcAccessLogContext) {}

  sink(config: GrpcAccessLogConfig): AccessLogSink {
    const key = `${config.kind} ${config.commonConfigKey}`;
    let stream = this.streams.get(key);
    if (stream === undefined) {
      stream = new GrpcAccessLogStream(this.context, config);
      this.streams.set(key, stream);
    }
    return new GrpcAccessLog(config, stream);
  }

  openTelemetrySink(config: OpenTelemetryAccessLogConfig): AccessLogSink {
    let exporter = this.exporters.get(config.key);
    if (exporter === undefined) {
      exporter = new OpenTelemetryLogExporter(this.context, config);
      this.exporters.set(config.key, exporter);
    }
    return new OpenTelemetryAccessLog(config, exporter);
  }

  flush(): void {
    for (const stream of this.streams.values()) stream.flush();
    for (const exporter of this.exporters.values()) exporter.flush();
  }

  close(): void {
    for (const stream of this.streams.values()) {
      stream.flush();
      stream.close();
    }
    this.streams.clear();
    for (const exporter of this.exporters.values()) exporter.close();
    this.exporters.clear();
  }
}

/** One configured http_grpc / tcp_grpc access log: makes the entry, hands it to its shared stream. */
export class GrpcAccessLog implements AccessLogSink {
  constructor(
    private readonly config: GrpcAccessLogConfig,
    private readonly stream: GrpcAccessLogStream,
  ) {}

  log(ctx: AccessLogContext): void {
    this.stream.log(this.config.kind === "http" ? encodeHttpEntry(ctx, this.config) : encodeTcpEntry(ctx));
  }

  flush(): Promise<void> {
    this.stream.flush();
    return Promise.resolve();
  }
}

// ---- the entries (api/envoy/data/accesslog/v3/accesslog.proto) ----

/** TCPAccessLogEntry: common_properties 1, connection_properties 2 (received_bytes 1, sent_bytes 2). */
export function encodeTcpEntry(ctx: AccessLogContext): Uint8Array {
  const writer = new ProtoWriter();
  writer.message(1, (common) => writeCommon(common, ctx));
  writer.message(2, (conn) => conn.uint(1, ctx.bytesReceived).uint(2, ctx.bytesSent));
  return writer.finish();
}

const HTTP_VERSIONS: { readonly [protocol: string]: number } = { "HTTP/1.0": 1, "HTTP/1.1": 2, "HTTP/2": 3, "HTTP/3": 4 };
/** envoy.config.core.v3.RequestMethod. */
const METHODS: { readonly [method: string]: number } = { GET: 1, HEAD: 2, POST: 3, PUT: 4, DELETE: 5, CONNECT: 6, OPTIONS: 7, TRACE: 8, PATCH: 9 };

/**
 * HTTPAccessLogEntry: common_properties 1, protocol_version 2, request 3, response 4 —
 * what Envoy's HttpGrpcAccessLog::emitLog fills.
 */
export function encodeHttpEntry(ctx: AccessLogContext, config: Pick<GrpcAccessLogConfig, "requestHeaders" | "responseHeaders" | "responseTrailers">): Uint8Array {
  const writer = new ProtoWriter();
  writer.message(1, (common) => writeCommon(common, ctx));
  writer.uint(2, HTTP_VERSIONS[ctx.protocol ?? ""] ?? 0);
  // HTTPRequestProperties: request_method 1, scheme 2, authority 3, path 5, user_agent 6,
  // referer 7, forwarded_for 8, request_id 9, original_path 10, request_headers_bytes 11,
  // request_body_bytes 12, request_headers 13. (port 4: not filled by Envoy either.)
  writer.message(3, (req) => {
    const method = ctx.requestHeader(":method");
    if (method !== undefined) req.uint(1, METHODS[method] ?? 0);
    wireString(req, 2, ctx.requestHeader(":scheme"));
    wireString(req, 3, ctx.requestHeader(":authority"));
    wireString(req, 5, ctx.requestHeader(":path"));
    wireString(req, 6, ctx.requestHeader("user-agent"));
    wireString(req, 7, ctx.requestHeader("referer"));
    wireString(req, 8, ctx.requestHeader("x-forwarded-for"));
    wireString(req, 9, ctx.requestHeader("x-request-id"));
    wireString(req, 10, ctx.requestHeader("x-envoy-original-path"));
    req.uint(11, ctx.headersBytes?.("request") ?? 0);
    req.uint(12, ctx.bytesReceived);
    for (const name of config.requestHeaders) writeMapEntry(req, 13, name, ctx.headerValues?.("request", name) ?? ctx.requestHeader(name));
  });
  // HTTPResponseProperties: response_code 1 (UInt32Value), response_headers_bytes 2,
  // response_body_bytes 3, response_headers 4, response_trailers 5, response_code_details 6.
  writer.message(4, (resp) => {
    if (ctx.responseCode !== 0) resp.message(1, (code) => code.uint(1, ctx.responseCode));
    resp.uint(2, ctx.headersBytes?.("response") ?? 0);
    resp.uint(3, ctx.bytesSent);
    for (const name of config.responseHeaders) writeMapEntry(resp, 4, name, ctx.headerValues?.("response", name) ?? ctx.responseHeader(name));
    for (const name of config.responseTrailers) writeMapEntry(resp, 5, name, ctx.headerValues?.("trailers", name) ?? ctx.responseTrailer(name));
    if (ctx.responseCodeDetails !== undefined) resp.string(6, ctx.responseCodeDetails);
  });
  return writer.finish();
}

/** Envoy's short response flag → its ResponseFlags field (grpc_access_log_utils.cc, responseFlagsToAccessLogResponseFlags). */
const RESPONSE_FLAG_FIELDS: { readonly [flag: string]: number } = {
  LH: 1, UH: 2, UT: 3, LR: 4, UR: 5, UF: 6, UC: 7, UO: 8, NR: 9, DI: 10, FI: 11, RL: 12,
  RLSE: 14, DC: 15, URX: 16, SI: 17, IH: 18, DPE: 19, UMSDR: 20, RFCF: 21, NFCF: 22, DT: 23,
  UPE: 24, NC: 25, OM: 26, DF: 27, DR: 28,
};
/** UAEX: unauthorized_details (13) { reason = EXTERNAL_SERVICE (1) }. */
const UNAUTHORIZED_DETAILS = 13;

const ACCESS_LOG_TYPES: { readonly [name: string]: number } = {
  TcpUpstreamConnected: 1, TcpPeriodic: 2, TcpConnectionEnd: 3, DownstreamStart: 4, DownstreamPeriodic: 5, DownstreamEnd: 6,
  UpstreamPoolReady: 7, UpstreamPeriodic: 8, UpstreamEnd: 9, DownstreamTunnelSuccessfullyEstablished: 10,
};

const TLS_VERSIONS: { readonly [version: string]: number } = { TLSv1: 1, "TLSv1.1": 2, "TLSv1.2": 3, "TLSv1.3": 4 };

/**
 * AccessLogCommon, as Envoy's Utility::extractCommonAccessLogProperties: addresses, TLS,
 * start time and the durations the stream info has, upstream host and cluster, response
 * flags, route name, dynamic metadata, attempt count, termination details, log type.
 */
function writeCommon(w: ProtoWriter, ctx: AccessLogContext): void {
  writeAddress(w, 2, ctx.downstreamRemoteAddress);
  writeAddress(w, 3, ctx.downstreamLocalAddress);
  if (ctx.downstreamTls !== undefined) w.message(4, (tls) => writeTls(tls, ctx.downstreamTls!, ctx.requestedServerName));
  w.message(5, (t) => writeTime(t, ctx.startWallClock));
  writeDuration(w, 6, ctx.requestDurationMs);
  writeDuration(w, 8, ctx.requestTxDurationMs);
  writeDuration(w, 9, ctx.responseDurationMs);
  // The last byte sent downstream: an HTTP stream's end (a TCP connection has no such time in Envoy).
  if (ctx.protocol !== undefined) writeDuration(w, 12, ctx.durationMs);
  if (ctx.upstreamHost !== undefined) writeAddress(w, 13, parseHostPort(ctx.upstreamHost));
  writeAddress(w, 14, ctx.upstreamLocalAddress);
  if (ctx.upstreamCluster !== undefined) w.string(15, ctx.upstreamCluster);
  if (ctx.responseFlags.length > 0) {
    w.message(16, (flags) => {
      const fields = ctx.responseFlags.map((f) => (f === "UAEX" ? UNAUTHORIZED_DETAILS : (RESPONSE_FLAG_FIELDS[f] ?? 0))).filter((n) => n > 0).sort((a, b) => a - b);
      for (const field of fields) {
        if (field === UNAUTHORIZED_DETAILS) flags.message(field, (u) => u.uint(1, 1));
        else flags.uint(field, 1);
      }
    });
  }
  const metadata = ctx.dynamicMetadata;
  if (metadata !== undefined && Object.keys(metadata).length > 0) {
    // envoy.config.core.v3.Metadata: filter_metadata 1 (map<string, Struct>).
    w.message(17, (m) => {
      for (const [namespace, struct] of Object.entries(metadata)) m.message(1, (entry) => entry.string(1, namespace).message(2, (s) => encodeStruct(s, struct)));
    });
  }
  if (ctx.upstreamTransportFailureReason !== undefined) w.string(18, ctx.upstreamTransportFailureReason);
  if (ctx.routeName !== undefined) w.string(19, ctx.routeName);
  writeAddress(w, 20, ctx.downstreamDirectRemoteAddress ?? ctx.downstreamRemoteAddress);
  writeDuration(w, 23, ctx.durationMs);
  w.uint(24, ctx.upstreamRequestAttemptCount ?? 0);
  if (ctx.connectionTerminationDetails !== undefined) w.string(25, ctx.connectionTerminationDetails);
  w.uint(33, ACCESS_LOG_TYPES[ctx.accessLogType ?? ""] ?? 0);
}

/**
 * IANA ids of the cipher suites the runtimes' TLS negotiates, by OpenSSL name (Envoy sends
 * BoringSSL's SSL_CIPHER_get_protocol_id); another cipher's id is left out.
 */
const CIPHER_SUITE_IDS: { readonly [name: string]: number } = {
  TLS_AES_128_GCM_SHA256: 0x1301,
  TLS_AES_256_GCM_SHA384: 0x1302,
  TLS_CHACHA20_POLY1305_SHA256: 0x1303,
  "ECDHE-ECDSA-AES128-GCM-SHA256": 0xc02b,
  "ECDHE-ECDSA-AES256-GCM-SHA384": 0xc02c,
  "ECDHE-RSA-AES128-GCM-SHA256": 0xc02f,
  "ECDHE-RSA-AES256-GCM-SHA384": 0xc030,
  "ECDHE-RSA-CHACHA20-POLY1305": 0xcca8,
  "ECDHE-ECDSA-CHACHA20-POLY1305": 0xcca9,
  "ECDHE-RSA-AES128-SHA": 0xc013,
  "ECDHE-RSA-AES256-SHA": 0xc014,
  "ECDHE-ECDSA-AES128-SHA": 0xc009,
  "ECDHE-ECDSA-AES256-SHA": 0xc00a,
  "AES128-GCM-SHA256": 0x009c,
  "AES256-GCM-SHA384": 0x009d,
  "AES128-SHA": 0x002f,
  "AES256-SHA": 0x0035,
};

/** TLSProperties: tls_version 1, tls_cipher_suite 2 (UInt32Value), tls_sni_hostname 3, local 4 / peer 5 CertificateProperties (subject_alt_name 1 {uri 1}, subject 2). */
function writeTls(w: ProtoWriter, tls: TlsSession, requestedServerName: string | undefined): void {
  w.uint(1, TLS_VERSIONS[tls.version] ?? 0);
  const cipher = CIPHER_SUITE_IDS[tls.cipher];
  if (cipher !== undefined) w.message(2, (id) => id.uint(1, cipher));
  w.string(3, requestedServerName || tls.serverName || "");
  w.message(4, (local) => {
    if (tls.localUriSan !== undefined) local.message(1, (san) => san.explicitString(1, tls.localUriSan!));
  });
  const peer = tls.peerCertificate;
  w.message(5, (p) => {
    if (peer === undefined) return;
    for (const san of peer.subjectAltNames) if (san.type === "URI") p.message(1, (s) => s.explicitString(1, san.value));
    p.string(2, peer.subject);
  });
}

/** envoy.config.core.v3.Address { socket_address 1: SocketAddress { address 2, port_value 3 }, pipe 2: Pipe { path 1 } }. */
function writeAddress(w: ProtoWriter, field: number, address: SocketAddress | undefined): void {
  if (address === undefined) return;
  if (address.family === "unix") w.message(field, (a) => a.message(2, (p) => p.string(1, address.address)));
  else w.message(field, (a) => a.message(1, (s) => s.string(2, address.address).uint(3, address.port)));
}

/** "10.0.0.1:80" / "[::1]:80" as a SocketAddress. */
function parseHostPort(hostPort: string): SocketAddress | undefined {
  const colon = hostPort.lastIndexOf(":");
  if (colon < 0) return undefined;
  const port = Number(hostPort.slice(colon + 1));
  if (!Number.isInteger(port)) return undefined;
  let host = hostPort.slice(0, colon);
  const v6 = host.startsWith("[");
  if (v6) host = host.slice(1, -1);
  return { address: host, port, family: v6 ? 6 : 4 };
}

/** google.protobuf.Timestamp from wall-clock ms: seconds 1, nanos 2. */
function writeTime(w: ProtoWriter, ms: number): void {
  const seconds = Math.floor(ms / 1000);
  w.int64(1, seconds).uint(2, Math.round((ms - seconds * 1000) * 1e6));
}

/** google.protobuf.Duration from ms (fractional allowed), when known. */
function writeDuration(w: ProtoWriter, field: number, ms: number | undefined): void {
  if (ms === undefined || !(ms >= 0)) return;
  w.message(field, (d) => {
    const seconds = Math.floor(ms / 1000);
    d.int64(1, seconds).uint(2, Math.min(999_999_999, Math.round((ms - seconds * 1000) * 1e6)));
  });
}

/**
 * A byte string off the wire as a proto string: its bytes when they are UTF-8, else with
 * every byte above 0x7f made "!" (Envoy's MessageUtil::sanitizeUtf8String keeps valid
 * sequences and replaces each invalid byte; this is coarser for mixed input).
 */
function wireBytes(value: string): Uint8Array {
  const bytes = latin1Encode(value);
  if (utf8DecodeStrict(bytes) !== undefined) return bytes;
  return bytes.map((b) => (b > 0x7f ? 0x21 : b));
}

function wireString(w: ProtoWriter, field: number, value: string | undefined): void {
  if (value !== undefined && value !== "") w.bytesField(field, wireBytes(value));
}

/** A map<string, string> entry, for a header present (Envoy logs only those). */
function writeMapEntry(w: ProtoWriter, field: number, name: string, value: string | undefined): void {
  if (value === undefined) return;
  const bytes = wireBytes(value);
  w.message(field, (entry) => {
    entry.string(1, name);
    entry.bytesField(2, bytes);
  });
}
