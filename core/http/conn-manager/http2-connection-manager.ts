import { approximateNow } from "../../event/dispatch-scope.ts";
import type { HttpConnectionManagerConfig } from "../../config/bootstrap.ts";
import type { Timer, TimerTarget } from "../../event/timers.ts";
import type { ServerContext } from "../../server-context.ts";
import type { Connection, ConnectionEvent } from "../../network/connection.ts";
import type { ReadBuffer } from "../../network/read-buffer.ts";
import type { Counter } from "../../stats/counter.ts";
import type { Http2ConnectionError } from "../../http2/connection.ts";
import type { Http2CodecStats } from "../../http2/codec-stats.ts";
import { Http2Keepalive, type Http2KeepaliveOwner } from "../../http2/keepalive.ts";
import { Http2ErrorCode } from "../../http2/frame.ts";
import type { CodecError, RequestDecoder, ResponseEncoder } from "../codec/codec.ts";
import { statusText } from "../codec/status-text.ts";
import { Http2ServerCodec, type Http2ServerCodecCallbacks, Http2ServerStream } from "../codec/http2-server-codec.ts";
import type { RequestHeaders } from "../message.ts";
import type { RouteTable } from "../route/route-table.ts";
import type { RouteConfigProvider } from "../route/route-config-provider.ts";
import type { AccessLogger } from "../../access-log/logger.ts";
import { connLogPrefix, type ComponentLogger } from "../../log.ts";
import { ActiveStream } from "./active-stream.ts";
import { StreamTimers } from "./stream-timers.ts";
import { armDelayedClose, DEFAULT_DELAYED_CLOSE_TIMEOUT_MS } from "./delayed-close.ts";
import { DEFAULT_DRAIN_TIMEOUT_MS } from "./drain-timeout.ts";
import type { ConnectionManagerStats } from "./connection-manager-stats.ts";
import type { ConnectionManagerContext } from "./connection-manager-context.ts";

/**
 * The HTTP connection manager's HTTP/2 side (Envoy's ConnectionManagerImpl with an HTTP/2
 * codec): many ActiveStreams at once on one connection, each fed by its `Http2ServerStream`.
 * The ConnectionManager makes one on the connection's first bytes (codec_type HTTP2, or
 * AUTO and the client preface) and hands it the connection's events from then on.
 *
 * A stream's end does not end the connection: a local reset resets the stream
 * (RST_STREAM), and the connection closes on a protocol error, on the client's close, or
 * once drained (drain_close, idle_timeout, max_connection_duration,
 * max_requests_per_connection, overload's disable_keepalive). The drain is Envoy's two-step
 * startDrainSequence: GOAWAY with stream id 2^31-1 first (the client stops opening streams,
 * and those it opened meanwhile are still served), then drain_timeout later the GOAWAY
 * naming the last stream processed; the connection closes once the streams in flight end.
 *
 * Flow control: a stream whose response the client does not take holds at most the HCM's
 * buffer limit beyond its window before its filters (the router) are told to stop
 * (Http2Stream watermarks); the request body of a stream whose upstream cannot take more
 * stays with the client, its window not returned (Http2Stream.readDisable).
 */
export class Http2ConnectionManager implements ConnectionManagerContext, Http2ServerCodecCallbacks, Http2KeepaliveOwner, TimerTarget {
  readonly codec: Http2ServerCodec;
  private readonly codecStats: Http2CodecStats;
  /** http2_protocol_options.connection_keepalive: PINGs, and the connection closed when one goes unanswered. */
  private readonly keepalive: Http2Keepalive | undefined;
  readonly rqProtocolTotal: Counter;
  private readonly streams = new Set<Http2ServerStream>();
  /** The stream whose request head is being decoded (an HCM refusal of its head lands there). */
  private decoding: Http2ServerStream | undefined;
  private closing = false;
  private closedForPeer = false;
  private aboveHighWatermark = false;
  requestBeganAt = 0;
  private streamsCreated = 0;
  private accumulatedRequests = 0;
  /** idle_timeout while no stream is active; max_connection_duration. */
  private idleTimer: Timer | undefined;
  private durationTimer: Timer | undefined;
  /** Between the drain's two GOAWAYs (startDrainSequence). */
  private drainTimer: Timer | undefined;
  /** The "http2" component's logger: the codec's trace lines (Envoy's http2 codec_impl.cc). */
  private readonly log: ComponentLogger;
  /** request_headers_timeout: runs while a request's header block is incomplete. */
  private headersTimer: Timer | undefined;

  get routeTable(): RouteTable {
    return this.routes.routeTable;
  }

  constructor(
    readonly config: HttpConnectionManagerConfig,
    /** The route table now (static, or the last RDS update): each new stream snaps it. */
    private readonly routes: RouteConfigProvider,
    readonly server: ServerContext,
    readonly stats: ConnectionManagerStats,
    readonly connection: Connection,
    readonly accessLoggers: readonly AccessLogger[],
    /** Milliseconds the connection has been open (max_connection_duration counts from its start). */
    openFor: number,
  ) {
    this.rqProtocolTotal = stats.downstreamRqHttp2Total;
    this.log = server.log.component("http2");
    const runtime = server.runtime;
    const { connectionKeepalive, ...codecOptions } = config.http2 ?? {};
    this.codecStats = stats.http2Codec();
    this.codec = new Http2ServerCodec(
      connection,
      this,
      this.codecStats,
      {
        ...codecOptions,
        maxHeadersKb: config.maxRequestHeadersKb,
        maxHeadersCount: config.maxHeadersCount,
        // What a stream may hold of its response beyond the client's window: the connection's buffer limit.
        ...(connection.bufferLimit > 0 ? { streamWriteBufferLimit: connection.bufferLimit } : {}),
      },
      () => runtime.now(),
    );
    if (connectionKeepalive !== undefined) this.keepalive = new Http2Keepalive(connectionKeepalive, (callback) => server.timers.create(callback), () => runtime.random(), () => runtime.now(), this);
    this.armIdleTimer();
    const maxDuration = config.maxConnectionDurationMs;
    if (maxDuration !== undefined) {
      this.durationTimer = server.timers.create(this);
      this.durationTimer.enable(Math.max(0, maxDuration - openFor));
    }
  }

  onData(buffer: ReadBuffer, endStream: boolean): void {
    if (this.closing) {
      buffer.drainAll();
      return;
    }
    this.keepalive?.onBytesReceived();
    if (this.log.traceOn) this.log.trace(`${connLogPrefix(this.connection.id)}dispatching ${buffer.length} bytes`);
    const count = buffer.chunkCount;
    for (let i = 0; i < count && !this.closing; i++) this.codec.dispatch(buffer.chunkAt(i), false);
    buffer.drainAll();
    if (this.config.requestHeadersTimeoutMs > 0) this.checkHeadersTimer();
    // HTTP/2 has no half-close of the connection: the client's FIN ends it, as in Envoy without half-close.
    if (endStream && !this.closing) {
      this.closedForPeer = true;
      this.close("Abort");
    }
  }

  // ---- Http2ServerCodecCallbacks ----

  newHttp2Stream(encoder: Http2ServerStream, request: RequestHeaders): ActiveStream {
    this.idleTimer?.disable();
    this.requestBeganAt = approximateNow(this.server.runtime);
    const stream = new ActiveStream(this, encoder, request);
    this.streams.add(encoder);
    this.decoding = encoder;
    if (this.aboveHighWatermark) stream.onDownstreamAboveHighWatermark();
    // max_requests_per_connection: the Nth stream is the last (Envoy drains the connection).
    const maxRequests = this.config.maxRequestsPerConnection;
    if (maxRequests !== undefined && ++this.accumulatedRequests >= maxRequests) {
      this.stats.downstreamCxMaxRequestsReached.inc();
      this.codec.keepAlive = false;
    }
    return stream;
  }

  replaceStream(_stream: object, next: RequestDecoder, encoder: ResponseEncoder): void {
    const stream = next as ActiveStream;
    (encoder as Http2ServerStream).decoder = stream;
    if (this.aboveHighWatermark) stream.onDownstreamAboveHighWatermark();
  }

  onHttp2ResponseComplete(encoder: Http2ServerStream): void {
    if (this.decoding === encoder) this.decoding = undefined;
    const stream = encoder.decoder as ActiveStream | undefined;
    this.forget(encoder);
    stream?.onResponseComplete();
    // RFC 9113 §8.1: a response complete before its request may end the stream with RST_STREAM
    // NO_ERROR (Envoy's doEndStream resets it), once what waits for window has gone (else the
    // codec's stream does it when its END_STREAM goes out: Http2ServerStream.onLocalEnd);
    // CONNECT_ERROR for a CONNECT whose upstream connection failed (a 503 answered it).
    if (!encoder.requestEnded) {
      if (stream?.connectFailed()) encoder.localResetCode = Http2ErrorCode.CONNECT_ERROR;
      if (encoder.stream.bufferedBytes === 0) encoder.reset();
    }
  }

  onHttp2StreamReset(encoder: Http2ServerStream, code: number, remote: boolean): void {
    void code;
    if (this.decoding === encoder) this.decoding = undefined;
    if (!this.forget(encoder)) return;
    const stream = encoder.decoder as ActiveStream | undefined;
    if (stream === undefined) return;
    if (this.codec.impl.closed || this.connection.isClosed || this.closing) {
      // The connection went away under the stream (a protocol error, the client's close):
      // Envoy's ConnectionTermination, DC.
      this.countActiveStreamDestroyed(remote);
      if (remote) stream.streamInfo.responseCodeDetails = "downstream_remote_disconnect";
      stream.onDownstreamClosed();
      return;
    }
    if (remote) {
      this.stats.downstreamRqRxReset.inc();
      stream.streamInfo.responseCodeDetails = "downstream_remote_reset";
      stream.streamInfo.setResponseFlag("DR");
    }
    stream.onDownstreamReset();
  }

  onHttp2ConnectionError(error: Http2ConnectionError): void {
    if (error.reason === "too_many_premature_resets") this.stats.downstreamRqTooManyPrematureResets.inc();
    else this.stats.downstreamCxProtocolError.inc();
    if (this.log.debugOn) this.log.debug(`[C${this.connection.id}] http/2 connection error: ${error.reason} (code ${error.code})`);
    this.close(error.goAwaySent ? "FlushWrite" : "Abort");
  }

  onHttp2Drained(): void {
    this.close("FlushWrite");
  }

  onHttp2PingAck(): void {
    this.keepalive?.onPingAck();
  }

  // ---- Http2KeepaliveOwner ----

  sendPing(opaque: Uint8Array): void {
    this.codec.impl.ping(opaque);
  }

  /** Envoy's onKeepaliveResponseTimeout: http2.keepalive_timeout, and the connection closed without flushing. */
  onKeepaliveTimeout(): void {
    if (this.closing) return;
    this.codecStats.keepalive_timeout.inc();
    if (this.log.debugOn) this.log.debug(`[C${this.connection.id}] closing connection due to keepalive timeout`);
    this.close("Abort");
  }

  /** Envoy's ConnectionManagerImpl::startDrainSequence: the shutdown notice now, the final GOAWAY at drain_timeout (onDrainTimeout). */
  startDrainSequence(): void {
    if (this.closing || this.drainTimer !== undefined) return;
    this.codec.shutdownNotice();
    this.drainTimer = this.server.timers.create(this);
    this.drainTimer.enable(this.config.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS);
  }

  // ---- ConnectionManagerContext ----

  streamTimers(): StreamTimers {
    // Streams run side by side: each has its own (made only by streams with a timeout configured).
    return new StreamTimers(this.server.timers);
  }

  nextStreamId(): number {
    return this.streamsCreated++;
  }

  onRequestComplete(_stream: object): void {}

  /** The HCM refused a request head (headers_with_underscores_action REJECT_REQUEST): that stream gets Envoy's 400, the connection goes on. */
  onCodecError(error: CodecError): void {
    const encoder = this.decoding;
    const stream = encoder?.decoder as ActiveStream | undefined;
    if (stream === undefined) return;
    stream.sendLocalReply(error.status, statusText(error.status), error.details, "DPE");
  }

  /** A stream was reset by us (an upstream reset after the response began, a timeout): RST_STREAM for it alone. */
  onStreamReset(stream: object, connectError: boolean): void {
    for (const encoder of this.streams) {
      if (encoder.decoder !== stream) continue;
      if (this.log.traceOn) this.log.trace(`${connLogPrefix(this.connection.id)}sending RST_STREAM`);
      this.forget(encoder);
      this.stats.downstreamRqTxReset.inc();
      encoder.reset(connectError ? Http2ErrorCode.CONNECT_ERROR : undefined);
      return;
    }
  }

  readDisableStream(stream: object, disable: boolean): void {
    for (const encoder of this.streams) {
      if (encoder.decoder === stream) return encoder.readDisable(disable);
    }
  }

  // ---- the connection's events (from the ConnectionManager) ----

  onEvent(event: ConnectionEvent): void {
    if (event === "Connected") return;
    this.idleTimer?.disable();
    this.durationTimer?.disable();
    this.drainTimer?.disable();
    this.headersTimer?.disable();
    this.keepalive?.destroy();
    const stats = this.stats;
    stats.downstreamCxActive.dec();
    stats.downstreamCxHttp2Active.dec();
    stats.downstreamCxDestroy.inc();
    const remote = event === "RemoteClose" || this.closedForPeer;
    (remote ? stats.downstreamCxDestroyRemote : stats.downstreamCxDestroyLocal).inc();
    this.closing = true;
    // Every stream still open is reset as by the peer (onHttp2StreamReset: DC).
    this.codec.destroy();
  }

  onAboveWriteBufferHighWatermark(): void {
    this.aboveHighWatermark = true;
    for (const encoder of this.streams) (encoder.decoder as ActiveStream | undefined)?.onDownstreamAboveHighWatermark();
  }

  onBelowWriteBufferLowWatermark(): void {
    this.aboveHighWatermark = false;
    for (const encoder of this.streams) (encoder.decoder as ActiveStream | undefined)?.onDownstreamBelowLowWatermark();
  }

  // ---- timers ----

  onTimer(timer: Timer): void {
    if (this.connection.isClosed) return;
    if (timer === this.headersTimer) return this.onRequestHeadersTimeout();
    if (timer === this.drainTimer) {
      // Envoy's onDrainTimeout: the final GOAWAY; onHttp2Drained closes once no stream is left.
      this.codec.goAway();
      return;
    }
    if (timer === this.durationTimer) {
      this.stats.downstreamCxMaxDurationReached.inc();
    } else {
      if (this.streams.size > 0) return;
      this.stats.downstreamCxIdleTimeout.inc();
    }
    // Both drain (startDrainSequence): the streams in flight finish, then the connection closes.
    this.codec.keepAlive = false;
  }

  /**
   * request_headers_timeout (Envoy's request_header_timer_, armed when a stream begins and
   * stopped when its headers are complete): it runs from the first byte of a request's
   * HEADERS frame to the end of its header block.
   */
  private checkHeadersTimer(): void {
    if (this.closing) return;
    if (!this.codec.impl.receivingHeaders) {
      this.headersTimer?.disable();
      return;
    }
    this.headersTimer ??= this.server.timers.create(this);
    if (!this.headersTimer.enabled) this.headersTimer.enable(this.config.requestHeadersTimeoutMs);
  }

  /**
   * A request head did not complete in time: downstream_rq_header_timeout. Envoy answers
   * the stream 408; here the stream does not exist before its head is decoded, and a
   * connection inside a header block can carry nothing else (RFC 9113 §6.10), so the
   * connection ends: GOAWAY, then it closes (streams in flight with it: their client could
   * not even return window for them).
   */
  private onRequestHeadersTimeout(): void {
    if (this.closing || !this.codec.impl.receivingHeaders) return;
    this.stats.downstreamRqHeaderTimeout.inc();
    if (this.log.debugOn) this.log.debug(`[C${this.connection.id}] request header timeout`);
    this.codec.goAway();
    this.close("FlushWrite");
  }

  private armIdleTimer(): void {
    const timeout = this.config.idleTimeoutMs;
    if (timeout <= 0 || this.closing) return;
    this.idleTimer ??= this.server.timers.create(this);
    this.idleTimer.enable(timeout);
  }

  private forget(encoder: Http2ServerStream): boolean {
    if (!this.streams.delete(encoder)) return false;
    if (this.streams.size === 0) this.armIdleTimer();
    return true;
  }

  private countActiveStreamDestroyed(remote: boolean): void {
    this.stats.downstreamCxDestroyActiveRq.inc();
    (remote ? this.stats.downstreamCxDestroyRemoteActiveRq : this.stats.downstreamCxDestroyLocalActiveRq).inc();
  }

  private close(type: "FlushWrite" | "Abort"): void {
    if (this.closing) return;
    this.closing = true;
    this.connection.close(type);
    if (type === "FlushWrite") armDelayedClose(this.connection, this.server.timers, this.config.delayedCloseTimeoutMs ?? DEFAULT_DELAYED_CLOSE_TIMEOUT_MS, this.server.log.component("connection"));
  }
}

