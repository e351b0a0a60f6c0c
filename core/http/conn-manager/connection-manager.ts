import { EMPTY_BYTES } from "../../util/bytes.ts";
import { approximateNow } from "../../event/dispatch-scope.ts";
import type { HttpConnectionManagerConfig } from "../../config/bootstrap.ts";
import type { Timer, TimerTarget } from "../../event/timers.ts";
import type { ServerContext } from "../../server-context.ts";
import type { Connection, ConnectionCallbacks, ConnectionEvent } from "../../network/connection.ts";
import { FilterStatus, type ReadFilter, type ReadFilterCallbacks } from "../../network/filter.ts";
import type { ReadBuffer } from "../../network/read-buffer.ts";
import type { CodecError, ResponseEncoder, ServerConnection, ServerConnectionCallbacks } from "../codec/codec.ts";
import { Http1ServerCodec } from "../codec/http1-server-codec.ts";
import { statusText } from "../codec/status-text.ts";
import { RequestHeaders } from "../message.ts";
import type { RouteTable } from "../router/route-table.ts";
import { ActiveStream } from "./active-stream.ts";
import { StreamTimers } from "./stream-timers.ts";
import type { ConnectionManagerStats } from "./connection-manager-stats.ts";
import type { AccessLogger } from "../../access-log/logger.ts";

/** What an ActiveStream needs from its connection manager. */
export interface ConnectionManagerContext {
  readonly config: HttpConnectionManagerConfig;
  readonly server: ServerContext;
  readonly routeTable: RouteTable;
  readonly connection: Connection;
  readonly codec: ServerConnection;
  readonly stats: ConnectionManagerStats;
}

/**
 * Envoy's HTTP connection manager (`envoy.filters.network.http_connection_manager`):
 * a terminal network read filter that feeds downstream bytes to the HTTP/1 codec and
 * runs one ActiveStream per request. HTTP/1 carries one request at a time: when a
 * request is complete and its response is not, reading is disabled so pipelined
 * requests wait in the kernel (Envoy's readDisable), and resumes after the response.
 */
export class ConnectionManager implements ReadFilter, ServerConnectionCallbacks, ConnectionCallbacks, ConnectionManagerContext, TimerTarget {
  private callbacks!: ReadFilterCallbacks;
  codec!: ServerConnection;
  private stream: ActiveStream | undefined;
  /** The current request is complete and its response is not. */
  private awaitingResponse = false;
  /** We disabled reading while a response is outstanding. */
  private readDisabledForResponse = false;
  private closing = false;
  /**
   * The connection's one timer (created on first use): idle_timeout between requests,
   * the head's timeout while a request's head comes in. Never both at once.
   */
  private timer: Timer | undefined;
  private timerFor: "idle" | "headers" = "idle";
  /** Its streams' request and idle timers, made on the first stream that needs them. */
  private timersForStreams: StreamTimers | undefined;
  private lastActivity = 0;
  private streamsCreated = 0;
  private openedAt = 0;

  constructor(
    readonly config: HttpConnectionManagerConfig,
    readonly routeTable: RouteTable,
    readonly server: ServerContext,
    readonly stats: ConnectionManagerStats,
  ) {
    this.accessLoggers = server.accessLoggers(config);
  }

  /** This HCM's access_log loggers (none: no per-stream logging work at all). */
  readonly accessLoggers: readonly AccessLogger[];

  get connection(): Connection {
    return this.callbacks.connection;
  }

  initializeReadFilterCallbacks(callbacks: ReadFilterCallbacks): void {
    this.callbacks = callbacks;
    this.openedAt = this.server.runtime.now();
    this.stats.downstreamCxTotal.inc();
    this.stats.downstreamCxHttp1Total.inc();
    this.stats.downstreamCxActive.inc();
    this.stats.downstreamCxHttp1Active.inc();
    callbacks.connection.addConnectionCallbacks(this);
    this.codec = new Http1ServerCodec(callbacks.connection, this, {
      maxRequestHeadersBytes: this.config.maxRequestHeadersKb * 1024,
      maxHeadersCount: this.config.maxHeadersCount,
    });
  }

  onNewConnection(): FilterStatus {
    this.armIdleTimer();
    return FilterStatus.Continue;
  }

  onData(buffer: ReadBuffer, endStream: boolean): FilterStatus {
    this.lastActivity = approximateNow(this.server.runtime);
    if (this.closing) {
      buffer.drainAll();
      return FilterStatus.StopIteration;
    }
    // Bytes behind a request whose response is pending (pipelining): the codec holds
    // these, and reading stops until the response is done, so the kernel holds the rest
    // (Envoy's readDisable). Done only when it happens, not for every request: most
    // clients wait for the response, and pausing a socket is a call into the runtime.
    if (this.awaitingResponse && !this.readDisabledForResponse && !this.codec.isUpgraded) {
      this.readDisabledForResponse = true;
      this.connection.readDisable(true);
    }
    const count = buffer.chunkCount;
    if (count === 0) this.codec.dispatch(EMPTY_BYTES, endStream);
    for (let i = 0; i < count && !this.closing; i++) this.codec.dispatch(buffer.chunkAt(i), endStream && i === count - 1);
    buffer.drainAll();
    if (endStream && !this.stream && !this.codec.isUpgraded) this.close();
    return FilterStatus.StopIteration;
  }

  // ---- ServerConnectionCallbacks ----

  /**
   * request_headers_timeout: the headers must be complete this long after the
   * request's first byte, or Envoy answers 408 and closes.
   */
  onRequestBegin(): void {
    this.clearIdleTimer();
    const timeout = this.config.requestHeadersTimeoutMs > 0 ? this.config.requestHeadersTimeoutMs : this.config.streamIdleTimeoutMs;
    if (timeout <= 0) return;
    this.armTimer("headers", timeout);
  }

  private onHeadersTimer(): void {
    if (this.stream || this.connection.isClosed) return;
    if (this.config.requestHeadersTimeoutMs > 0) {
      this.stats.downstreamRqHeaderTimeout.inc();
      this.replyBeforeHeaders(408, "request header timeout", "request_header_timeout");
      return;
    }
    // Envoy's stream exists from the first byte, so stream_idle_timeout also bounds a
    // head that trickles in (or stops) — no slowloris with the default config.
    const idleTimeout = this.config.streamIdleTimeoutMs;
    const idle = this.server.runtime.now() - this.lastActivity;
    if (idle < idleTimeout) {
      this.armTimer("headers", idleTimeout - idle);
      return;
    }
    this.stats.downstreamRqIdleTimeout.inc();
    this.replyBeforeHeaders(408, "stream timeout", "stream_idle_timeout");
  }

  /** A local reply for a request whose head never completed; the connection closes after it. */
  private replyBeforeHeaders(status: number, body: string, details: string): void {
    this.codec.keepAlive = false;
    this.newStream(this.codec.responseEncoder).sendLocalReply(status, body, details);
  }

  newStream(encoder: ResponseEncoder, request: RequestHeaders = new RequestHeaders()): ActiveStream {
    this.clearIdleTimer();
    this.clearHeadersTimer();
    const stream = new ActiveStream(this, encoder, request);
    this.stream = stream;
    return stream;
  }

  onCodecError(error: CodecError): void {
    this.stats.downstreamCxProtocolError.inc();
    this.server.log.debug(`[C${this.connection.id}] codec error: ${error.reason} (${error.details})`);
    const stream = this.stream ?? this.newStream(this.codec.responseEncoder);
    // Envoy answers a request it cannot parse (400) or whose head is too large (431),
    // then closes the connection: the rest of the bytes cannot be trusted.
    this.codec.keepAlive = false;
    if (this.codec.responseInProgress) {
      stream.resetDownstream();
      return;
    }
    // Envoy's local reply body for a codec error is the status text.
    stream.sendLocalReply(error.status, statusText(error.status), error.details, "DPE");
  }

  /** The current response was fully written: finish the stream, then keep alive or close. */
  onResponseComplete(): void {
    const stream = this.stream;
    this.stream = undefined;
    stream?.onResponseComplete();
    if (this.codec.isUpgraded) return;
    if (!this.codec.keepAlive || this.closing) {
      this.close();
      return;
    }
    // Whatever the stream disabled (ours while the response was pending, the router's
    // flow control) ends with it: Envoy's doEndStream re-enables reading fully.
    this.awaitingResponse = false;
    this.readDisabledForResponse = false;
    while (this.connection.socket.readDisabled) this.connection.readDisable(false);
    this.armIdleTimer();
    this.codec.resume();
  }

  /** @internal The request is in; its response is not: pipelined bytes now stop reading (see onData). */
  onRequestComplete(stream: ActiveStream): void {
    if (stream === this.stream) this.awaitingResponse = true;
  }

  /** @internal A stream was reset (upstream failure after headers, timeouts): the connection cannot continue. */
  onStreamReset(stream: ActiveStream): void {
    if (stream === this.stream) this.stream = undefined;
    this.closing = true;
    this.connection.close("Abort");
  }

  private close(): void {
    if (this.closing) return;
    this.closing = true;
    this.connection.close("FlushWrite");
    this.armDelayedClose();
  }

  /**
   * Envoy's delayed_close_timeout (1 s): a connection closing with bytes still queued
   * for a client that has stopped reading is aborted once a full second passes with
   * no progress, so a stalled reader cannot pin the connection and its buffer forever.
   */
  private armDelayedClose(): void {
    const socket = this.connection.socket;
    let last = socket.bufferedAmount;
    if (last === 0) return;
    const check = (): void => {
      if (this.connection.isClosed) return;
      const now = socket.bufferedAmount;
      if (now >= last) {
        this.server.log.debug(`[C${this.connection.id}] delayed close timeout: aborting`);
        this.connection.close("Abort");
        return;
      }
      last = now;
      this.server.runtime.setTimeout(check, DELAYED_CLOSE_TIMEOUT_MS);
    };
    this.server.runtime.setTimeout(check, DELAYED_CLOSE_TIMEOUT_MS);
  }

  // ---- ConnectionCallbacks ----

  onEvent(event: ConnectionEvent): void {
    if (event === "Connected") return;
    this.clearIdleTimer();
    this.clearHeadersTimer();
    const stats = this.stats;
    stats.downstreamCxActive.dec();
    stats.downstreamCxHttp1Active.dec();
    stats.downstreamCxDestroy.inc();
    (event === "LocalClose" ? stats.downstreamCxDestroyLocal : stats.downstreamCxDestroyRemote).inc();
    stats.downstreamCxLengthMs.record(this.server.runtime.now() - this.openedAt);
    const stream = this.stream;
    this.stream = undefined;
    // The client went away mid-stream: Envoy resets the stream (response flag DC).
    stream?.onDownstreamClosed();
    this.codec.destroy();
  }

  onAboveWriteBufferHighWatermark(): void {
    this.stream?.onDownstreamAboveHighWatermark();
  }

  onBelowWriteBufferLowWatermark(): void {
    this.stream?.onDownstreamBelowLowWatermark();
  }

  /**
   * common_http_protocol_options.idle_timeout: a connection with no active stream for
   * that long is closed: armed when a response completes, disarmed by a request's first byte.
   */
  private armIdleTimer(): void {
    const timeout = this.config.idleTimeoutMs;
    if (timeout <= 0) return;
    this.armTimer("idle", timeout);
  }

  private armTimer(purpose: "idle" | "headers", ms: number): void {
    this.timerFor = purpose;
    this.timer ??= this.server.timers.create(this);
    this.timer.enable(ms);
  }

  /** @internal The connection's timer fired: for what it was armed. */
  onTimer(): void {
    if (this.timerFor === "idle") this.onIdleTimeout();
    else this.onHeadersTimer();
  }

  private onIdleTimeout(): void {
    if (this.stream || this.connection.isClosed) return;
    this.server.log.debug(`[C${this.connection.id}] idle timeout`);
    this.stats.downstreamCxIdleTimeout.inc();
    this.close();
  }

  /** @internal The timers its streams take turns arming. */
  streamTimers(): StreamTimers {
    return (this.timersForStreams ??= new StreamTimers(this.server.timers));
  }

  /** @internal Numbers the connection's streams (for traces). */
  nextStreamId(): number {
    return this.streamsCreated++;
  }

  private clearHeadersTimer(): void {
    if (this.timerFor === "headers") this.timer?.disable();
  }

  private clearIdleTimer(): void {
    if (this.timerFor === "idle") this.timer?.disable();
  }
}

/** Envoy's default delayed_close_timeout. */
const DELAYED_CLOSE_TIMEOUT_MS = 1000;
