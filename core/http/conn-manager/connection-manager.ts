import { EMPTY_BYTES } from "../../util/bytes.ts";
import { approximateNow, enterDispatch, exitDispatch } from "../../event/dispatch-scope.ts";
import type { HttpConnectionManagerConfig } from "../../config/bootstrap.ts";
import type { Timer, TimerTarget } from "../../event/timers.ts";
import type { ServerContext } from "../../server-context.ts";
import type { Connection, ConnectionCallbacks, ConnectionEvent } from "../../network/connection.ts";
import { FilterStatus, type ReadFilter, type ReadFilterCallbacks } from "../../network/filter.ts";
import type { ReadBuffer } from "../../network/read-buffer.ts";
import type { CodecError, RequestDecoder, ResponseEncoder, ServerConnection, ServerConnectionCallbacks } from "../codec/codec.ts";
import { Http1ServerCodec } from "../codec/http1-server-codec.ts";
import { statusText } from "../codec/status-text.ts";
import { RequestHeaders } from "../message.ts";
import type { ResponseFlag } from "../filter.ts";
import type { RouteTable } from "../route/route-table.ts";
import type { RouteConfigProvider } from "../route/route-config-provider.ts";
import { ActiveStream } from "./active-stream.ts";
import type { Http2ConnectionManager } from "./http2-connection-manager.ts";
import { DEFAULT_DRAIN_TIMEOUT_MS } from "./drain-timeout.ts";
import { LazyModule } from "../../util/lazy-module.ts";
import { armDelayedClose, DEFAULT_DELAYED_CLOSE_TIMEOUT_MS } from "./delayed-close.ts";
import type { DrainCloseTarget } from "../../network/drain-manager.ts";
import type { Counter } from "../../stats/counter.ts";
import { StreamTimers } from "./stream-timers.ts";
import type { ConnectionManagerStats } from "./connection-manager-stats.ts";
import type { ConnectionManagerContext } from "./connection-manager-context.ts";
import type { AccessLogger } from "../../access-log/logger.ts";
import type { ScaledTimerUser, TimerScaling } from "../../overload/timer-scaling.ts";
import { connLogPrefix, type ComponentLogger } from "../../log.ts";

/**
 * Envoy's HTTP connection manager (`envoy.filters.network.http_connection_manager`):
 * a terminal network read filter that feeds downstream bytes to the HTTP/1 codec and
 * runs one ActiveStream per request. HTTP/1 carries one request at a time: when a
 * request is complete and its response is not, reading is disabled so pipelined
 * requests wait in the kernel (Envoy's readDisable), and resumes after the response —
 * or, when that response left the write buffer above its limit, once the client has
 * read it. The client's FIN ends the connection (HTTP/1 has no half-close here).
 *
 * The codec is chosen on the first bytes (chooseCodec): an HTTP/2 connection is handed to an
 * Http2ConnectionManager (http2-connection-manager.ts), which runs it from then on. Its code
 * loads with the process's first HTTP/2 connection (HTTP2_SIDE): that connection's bytes wait
 * in its read buffer, reading disabled, until it has (awaitHttp2).
 */
export class ConnectionManager implements ReadFilter, ServerConnectionCallbacks, ConnectionCallbacks, ConnectionManagerContext, TimerTarget, ScaledTimerUser, DrainCloseTarget {
  readonly codec: ServerConnection;
  private stream: ActiveStream | undefined;
  /** The current request is complete and its response is not. */
  private awaitingResponse = false;
  /** We disabled reading while a response is outstanding. */
  private readDisabledForResponse = false;
  private closing = false;
  /** The client's FIN has arrived (HTTP/1 has no half-close: it ends the connection). */
  private peerEnded = false;
  /** We closed the connection because the client went away (counted as a remote close). */
  private closedForPeer = false;
  /** The downstream write buffer is above its high watermark (the connection's callbacks say so). */
  private aboveHighWatermark = false;
  /**
   * The next request waits for the client to read: a response left the write buffer
   * above its limit, so reading and parsing stop until it drains (see onResponseComplete).
   */
  private waitingForDrain = false;
  /** Calls into the codec under way (a response may complete inside one). */
  private inCodec = 0;
  /**
   * The connection's one timer (created on first use): idle_timeout between requests
   * (then drain_timeout), the head's timeouts while a request's head comes in. Never
   * two at once.
   */
  private timer: Timer | undefined;
  private timerFor: "idle" | "headers" | "drain" = "idle";
  /** max_connection_duration's, when configured. */
  private durationTimer: Timer | undefined;
  /** envoy.overload_actions.reduce_timeouts, when configured: idle and max_connection_duration scale with it. */
  private readonly scaling: TimerScaling | undefined;
  /** When the idle timer and the duration timer started (a scale change re-arms them from there). */
  private idleArmedAt = 0;
  private durationArmedAt = 0;
  /** A byte came (Envoy's HCM makes its codec then, ConnectionManagerImpl::onData). */
  private sawBytes = false;
  /** idle_timeout fired on a connection that carried requests: it closes after drain_timeout. */
  private draining = false;
  /** Which timeout the head's timer stands for (the first of those configured to expire). */
  private headTimeout: "headers" | "idle" | "request" | "duration" = "headers";
  /** Its streams' request and idle timers, made on the first stream that needs them. */
  private timersForStreams: StreamTimers | undefined;
  /**
   * When the current request's first byte arrived: Envoy's HTTP/1 codec creates the
   * stream there (ServerConnectionImpl::onMessageBegin), and its timers start with it.
   */
  requestBeganAt = 0;
  private streamsCreated = 0;
  /** Requests begun, counted only under max_requests_per_connection. */
  private accumulatedRequests = 0;
  private openedAt = 0;
  /** The connection speaks HTTP/2 (codec_type HTTP2, or AUTO and the client preface): it runs everything from then on. */
  private http2: Http2ConnectionManager | undefined;
  /**
   * The connection chose HTTP/2 before the HTTP/2 code was loaded: its bytes stay in `held`
   * (the read buffer, reading disabled) and a close is kept for the Http2ConnectionManager.
   */
  private awaitingHttp2: { held: ReadBuffer | undefined; endStream: boolean; closed: ConnectionEvent | undefined; failed: boolean } | undefined;
  readonly rqProtocolTotal: Counter;

  /** The "http" component's logger: the HTTP/1 codec's trace lines (Envoy's http1 codec_impl.cc). */
  private readonly log: ComponentLogger;

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
  ) {
    this.accessLoggers = server.accessLoggers(config);
    this.log = server.log.component("http");
    this.rqProtocolTotal = stats.downstreamRqHttp1Total;
    this.scaling = server.overload.timerScaling;
    this.codec = new Http1ServerCodec(connection, this, {
      maxRequestHeadersBytes: config.maxRequestHeadersKb * 1024,
      maxHeadersCount: config.maxHeadersCount,
      properCaseHeaderKeys: config.http1?.properCaseHeaderKeys,
      acceptHttp10: config.http1?.acceptHttp10,
      enableTrailers: config.http1?.enableTrailers,
    });
  }

  /** This HCM's access_log loggers (none: no per-stream logging work at all). */
  readonly accessLoggers: readonly AccessLogger[];

  initializeReadFilterCallbacks(callbacks: ReadFilterCallbacks): void {
    this.openedAt = this.server.runtime.now();
    this.stats.downstreamCxTotal.inc();
    this.stats.downstreamCxActive.inc();
    callbacks.connection.addConnectionCallbacks(this);
  }

  onNewConnection(): FilterStatus {
    this.scaling?.register(this);
    this.server.addDrainCloseTarget?.(this);
    this.armIdleTimer();
    const maxConnectionDurationMs = this.config.maxConnectionDurationMs;
    if (maxConnectionDurationMs !== undefined) {
      this.durationTimer = this.server.timers.create(this);
      this.durationArmedAt = approximateNow(this.server.runtime);
      this.durationTimer.enable(this.scaledTimeout("HTTP_DOWNSTREAM_CONNECTION_MAX", maxConnectionDurationMs));
    }
    return FilterStatus.Continue;
  }

  onData(buffer: ReadBuffer, endStream: boolean): FilterStatus {
    if (this.http2 !== undefined || this.awaitingHttp2 !== undefined || (!this.sawBytes && this.chooseCodec(buffer))) {
      if (this.http2 !== undefined) this.http2.onData(buffer, endStream);
      else {
        // Not drained: the bytes wait in the read buffer for the HTTP/2 side.
        this.awaitingHttp2!.held = buffer;
        if (endStream) this.awaitingHttp2!.endStream = true;
      }
      return FilterStatus.StopIteration;
    }
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
    if (this.log.traceOn) this.log.trace(`${connLogPrefix(this.connection.id)}parsing ${buffer.length} bytes`);
    this.inCodec++;
    for (let i = 0; i < count && !this.closing; i++) this.codec.dispatch(buffer.chunkAt(i), false);
    this.inCodec--;
    buffer.drainAll();
    if (endStream && !this.closing) this.onPeerEnd();
    return FilterStatus.StopIteration;
  }

  /**
   * The connection's first bytes: the codec is chosen now, as Envoy's HCM creates its codec
   * on the first data (ConnectionManagerImpl::onData, ConnectionManagerUtility::autoCreateCodec):
   * HTTP/2 for codec_type HTTP2, HTTP/1 for HTTP1, whatever ALPN chose. For AUTO, the
   * protocol TLS negotiated by ALPN decides when there is one (h2: HTTP/2, any other:
   * HTTP/1, even for bytes that look like the preface), else the bytes do: the client
   * preface's "PRI * HTTP/2" is h2c with prior knowledge (determineNextProtocol).
   * True when the connection is HTTP/2.
   */
  private chooseCodec(buffer: ReadBuffer): boolean {
    this.sawBytes = true;
    const codecType = this.config.codecType;
    if (codecType === "HTTP1" || (codecType === "AUTO" && !autoIsHttp2(this.connection.socket.tls?.alpn, buffer))) {
      this.stats.downstreamCxHttp1Total.inc();
      this.stats.downstreamCxHttp1Active.inc();
      return false;
    }
    this.stats.downstreamCxHttp2Total.inc();
    this.stats.downstreamCxHttp2Active.inc();
    // Our timers are the HTTP/2 side's now.
    this.clearIdleTimer();
    this.durationTimer?.disable();
    this.scaling?.unregister(this);
    const code = HTTP2_SIDE.loaded;
    if (code !== undefined) this.startHttp2(code);
    else this.awaitHttp2();
    return true;
  }

  private startHttp2(code: Http2Side): void {
    this.http2 = new code.Http2ConnectionManager(this.config, this.routes, this.server, this.stats, this.connection, this.accessLoggers, this.server.runtime.now() - this.openedAt);
    if (this.draining) this.http2.startDrainSequence();
  }

  /**
   * The process's first HTTP/2 connection: reading stops (what the kernel holds waits there)
   * until the HTTP/2 code is loaded, then the connection goes on as if it had been: the
   * Http2ConnectionManager gets the bytes held, the client's FIN, a drain and a close that
   * came meanwhile, in that order. A load that fails closes the connection, logged.
   */
  private awaitHttp2(): void {
    const waiting = (this.awaitingHttp2 = { held: undefined as ReadBuffer | undefined, endStream: false, closed: undefined as ConnectionEvent | undefined, failed: false as boolean });
    this.connection.readDisable(true);
    HTTP2_SIDE.load().then(
      (code) => {
        enterDispatch();
        try {
          this.awaitingHttp2 = undefined;
          this.startHttp2(code);
          if (waiting.closed !== undefined) return this.http2!.onEvent(waiting.closed);
          this.connection.readDisable(false);
          if (waiting.held !== undefined && (waiting.held.length > 0 || waiting.endStream)) this.http2!.onData(waiting.held, waiting.endStream);
        } finally {
          exitDispatch();
        }
      },
      (err: unknown) => {
        this.server.log.error(`${connLogPrefix(this.connection.id)}closing the HTTP/2 connection: ${err instanceof Error ? err.message : String(err)}`);
        waiting.failed = true;
        if (waiting.closed !== undefined) this.closeStatsWithoutHttp2(waiting.closed);
        else this.connection.close("Abort");
      },
    );
  }

  /** @internal ConnectionManagerContext: HTTP/1 carries one stream: its reads are the connection's. */
  readDisableStream(_stream: object, disable: boolean): void {
    this.connection.readDisable(disable);
  }

  /**
   * The client's FIN. An upgraded connection half-closes its tunnel. Otherwise HTTP/1
   * has no half-close: Envoy's HCM does not enable it, so the connection treats the FIN
   * as a close (Network::ConnectionImpl::onReadReady), and a stream still in progress is
   * reset with DC (ConnectionManagerImpl::doConnectionClose): its upstream request is
   * cancelled rather than left to run until it answers or times out.
   */
  private onPeerEnd(): void {
    this.peerEnded = true;
    // A head cut short: Envoy's stream exists from the request's first byte, so it is reset too (no reply).
    if (!this.stream && this.codec.headInProgress) this.newStream(this.codec.responseEncoder);
    if (this.stream && !this.codec.isUpgraded) {
      this.closeForPeer();
      return;
    }
    // Between requests, or requests pipelined behind one whose response waits for the
    // client to read (the codec keeps the FIN behind them, and the last response closes
    // the connection).
    this.inCodec++;
    this.codec.dispatch(EMPTY_BYTES, true);
    this.inCodec--;
    this.closeIfPeerEnded();
  }

  /** The client went away while a stream was active: reset it (DC) and drop the connection. */
  private closeForPeer(): void {
    const stream = this.stream!;
    this.stream = undefined;
    this.closedForPeer = true;
    this.closing = true;
    this.countActiveStreamDestroyed(true);
    stream.streamInfo.responseCodeDetails = "downstream_remote_disconnect";
    stream.onDownstreamClosed();
    this.connection.close("Abort");
  }

  /** Envoy's downstream_cx_destroy_{local,remote}_active_rq: a connection ended under a stream. */
  private countActiveStreamDestroyed(remote: boolean): void {
    this.stats.downstreamCxDestroyActiveRq.inc();
    (remote ? this.stats.downstreamCxDestroyRemoteActiveRq : this.stats.downstreamCxDestroyLocalActiveRq).inc();
  }

  // ---- ServerConnectionCallbacks ----

  /**
   * A request's first byte: Envoy's HTTP/1 codec creates the stream here, so its
   * timers start now. Until the head is complete nothing resets them (bytes of an
   * incomplete head are not stream events), so the first to expire of
   * request_headers_timeout, stream_idle_timeout, request_timeout and max_stream_duration cuts a head that
   * trickles in, each with its own local reply (ActiveStream::onRequestHeaderTimeout,
   * onIdleTimeout, onRequestTimeout in conn_manager_impl.cc).
   */
  onRequestBegin(): void {
    this.clearIdleTimer();
    this.requestBeganAt = approximateNow(this.server.runtime);
    const { requestHeadersTimeoutMs, streamIdleTimeoutMs, requestTimeoutMs } = this.config;
    let timeout = 0;
    if (requestHeadersTimeoutMs > 0) {
      timeout = requestHeadersTimeoutMs;
      this.headTimeout = "headers";
    }
    if (streamIdleTimeoutMs > 0 && (timeout === 0 || streamIdleTimeoutMs < timeout)) {
      timeout = streamIdleTimeoutMs;
      this.headTimeout = "idle";
    }
    if (requestTimeoutMs > 0 && (timeout === 0 || requestTimeoutMs < timeout)) {
      timeout = requestTimeoutMs;
      this.headTimeout = "request";
    }
    const maxStreamDurationMs = this.config.maxStreamDurationMs;
    if (maxStreamDurationMs !== undefined && (timeout === 0 || maxStreamDurationMs < timeout)) {
      timeout = maxStreamDurationMs;
      this.headTimeout = "duration";
    }
    if (timeout > 0) this.armTimer("headers", timeout);
  }

  /** The head did not complete in time: Envoy's 408 (maybeRequestTimeoutCode: the request is incomplete). */
  private onHeadersTimer(): void {
    if (this.stream || this.connection.isClosed) return;
    if (this.headTimeout === "headers") {
      this.stats.downstreamRqHeaderTimeout.inc();
      this.replyBeforeHeaders(408, "request header timeout", "request_header_timeout");
    } else if (this.headTimeout === "idle") {
      this.stats.downstreamRqIdleTimeout.inc();
      this.replyBeforeHeaders(408, "stream timeout", "stream_idle_timeout", "SI");
    } else if (this.headTimeout === "request") {
      this.stats.downstreamRqTimeout.inc();
      this.replyBeforeHeaders(408, "request timeout", "request_overall_timeout");
    } else {
      this.stats.downstreamRqMaxDurationReached.inc();
      this.replyBeforeHeaders(408, "downstream duration timeout", "max_duration_timeout");
    }
  }

  /** A local reply for a request whose head never completed; the connection closes after it. */
  private replyBeforeHeaders(status: number, body: string, details: string, flag?: ResponseFlag): void {
    this.codec.keepAlive = false;
    this.newStream(this.codec.responseEncoder).sendLocalReply(status, body, details, flag);
  }

  newStream(encoder: ResponseEncoder, request: RequestHeaders = new RequestHeaders()): ActiveStream {
    this.clearIdleTimer();
    this.clearHeadersTimer();
    // A request that came while draining is the connection's last (Connection: close).
    if (this.draining) this.codec.keepAlive = false;
    // max_requests_per_connection: on HTTP/1 the Nth request's response closes the
    // connection (Envoy's ConnectionManagerImpl::newStream sets saw_connection_close).
    const maxRequests = this.config.maxRequestsPerConnection;
    if (maxRequests !== undefined && ++this.accumulatedRequests >= maxRequests) {
      this.codec.keepAlive = false;
      this.stats.downstreamCxMaxRequestsReached.inc();
    }
    const stream = new ActiveStream(this, encoder, request);
    this.stream = stream;
    return stream;
  }

  replaceStream(stream: object, next: RequestDecoder, _encoder: ResponseEncoder): void {
    // The codec keeps its decoder (the old stream): the request is complete, it sends no more.
    if (this.stream === stream) this.stream = next as ActiveStream;
  }

  onCodecError(error: CodecError): void {
    this.stats.downstreamCxProtocolError.inc();
    // Envoy's ConnectionManagerImpl::onData: ENVOY_CONN_LOG(debug, "dispatch error: {}") (http).
    if (this.log.debugOn) this.log.debug(`[C${this.connection.id}] dispatch error: ${error.reason} (${error.details})`);
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
    if (this.writeBufferFull()) {
      // A client that sends requests and never reads would have us answer all of them
      // into memory. Parse no further request (and read none) until it takes what is
      // written: what a connection holds stays within per_connection_buffer_limit_bytes
      // plus one response, direct responses and local replies included.
      this.waitingForDrain = true;
      this.connection.readDisable(true);
      return;
    }
    this.resumeCodec();
  }

  /** Parse what was pipelined behind the last request (and a FIN behind it). */
  private resumeCodec(): void {
    this.inCodec++;
    this.codec.resume();
    this.inCodec--;
    this.closeIfPeerEnded();
  }

  /**
   * The downstream write buffer is above its high watermark. The bytes of this event are
   * judged as the socket would hold them (they leave when the event ends): only when
   * they pass the limit are they written now, so the watermark sees them.
   */
  private writeBufferFull(): boolean {
    if (!this.aboveHighWatermark && this.connection.writeBufferOverLimit) this.connection.flushBatch();
    return this.aboveHighWatermark;
  }

  /**
   * The client's FIN has been parsed behind every request it sent, and all are answered:
   * close. Checked once the outermost call into the codec returns (a response completed
   * inside one leaves the codec requests still to parse).
   */
  private closeIfPeerEnded(): void {
    if (!this.peerEnded || this.inCodec !== 0 || this.stream || this.codec.isUpgraded || this.waitingForDrain) return;
    // The client ended the connection: Envoy sees its FIN as a RemoteClose
    // (Network::ConnectionImpl::onReadReady without half-close), downstream_cx_destroy_remote.
    this.closedForPeer = true;
    this.close();
  }

  /** @internal The request is in; its response is not: pipelined bytes now stop reading (see onData). */
  onRequestComplete(stream: ActiveStream): void {
    if (stream === this.stream) this.awaitingResponse = true;
  }

  /**
   * @internal A stream was reset (upstream failure after headers, timeouts): the connection
   * cannot continue. Envoy's doEndStream sets drain_state_ Closing on an HTTP/1 reset and
   * checkForDeferredClose closes with FlushWriteAndDelay (conn_manager_impl.cc): what was
   * written (the head, the body so far) reaches the client, then FIN. The response's own
   * framing (content-length, chunked without its last chunk) shows it was cut short.
   * A body delimited by the close (an HTTP/1.0 client, no content-length) or a tunnel (an
   * upgrade, CONNECT) has no such framing: a FIN would end the truncated bytes as if
   * complete, so that connection is reset instead (RFC 9112 §6.3: a close-delimited message
   * is complete at the close). Envoy sends FIN there too; a reset says what happened.
   */
  onStreamReset(stream: ActiveStream): void {
    if (stream === this.stream) this.stream = undefined;
    if (this.codec.responseFramedByClose) {
      this.closing = true;
      this.connection.close("Abort");
      return;
    }
    this.close();
  }

  private close(): void {
    if (this.closing) return;
    this.closing = true;
    this.connection.close("FlushWrite");
    armDelayedClose(this.connection, this.server.timers, this.config.delayedCloseTimeoutMs ?? DEFAULT_DELAYED_CLOSE_TIMEOUT_MS, this.server.log.component("connection"));
  }

  // ---- ConnectionCallbacks ----

  onEvent(event: ConnectionEvent): void {
    if (event === "Connected") return;
    this.server.removeDrainCloseTarget?.(this);
    if (this.http2 !== undefined) return this.http2.onEvent(event);
    if (this.awaitingHttp2 !== undefined) return this.onCloseAwaitingHttp2(event);
    this.scaling?.unregister(this);
    this.durationTimer?.disable();
    this.clearIdleTimer();
    this.clearHeadersTimer();
    const stats = this.stats;
    stats.downstreamCxActive.dec();
    if (this.sawBytes) stats.downstreamCxHttp1Active.dec();
    stats.downstreamCxDestroy.inc();
    const remote = event === "RemoteClose" || this.closedForPeer;
    (remote ? stats.downstreamCxDestroyRemote : stats.downstreamCxDestroyLocal).inc();
    stats.downstreamCxLengthMs.record(this.server.runtime.now() - this.openedAt);
    const stream = this.stream;
    this.stream = undefined;
    if (stream) {
      // The client went away mid-stream: Envoy resets the stream (response flag DC), and
      // its details say so whatever they said before — via_upstream for an upgraded
      // tunnel, say (ConnectionManagerImpl::doConnectionClose sets them over).
      this.countActiveStreamDestroyed(remote);
      if (remote) stream.streamInfo.responseCodeDetails = "downstream_remote_disconnect";
      stream.onDownstreamClosed();
    }
    this.codec.destroy();
  }

  /**
   * Closed while the HTTP/2 code loads: the Http2ConnectionManager gets the close once it
   * is made (its stats then count the connection as any HTTP/2 one's). If the load failed,
   * no HTTP/2 side will be made: the stats are closed here as its onEvent would have.
   */
  private onCloseAwaitingHttp2(event: ConnectionEvent): void {
    const waiting = this.awaitingHttp2!;
    waiting.closed = event;
    if (waiting.failed) this.closeStatsWithoutHttp2(event);
  }

  private closeStatsWithoutHttp2(event: ConnectionEvent): void {
    const stats = this.stats;
    stats.downstreamCxActive.dec();
    stats.downstreamCxHttp2Active.dec();
    stats.downstreamCxDestroy.inc();
    (event === "RemoteClose" ? stats.downstreamCxDestroyRemote : stats.downstreamCxDestroyLocal).inc();
  }

  onAboveWriteBufferHighWatermark(): void {
    if (this.http2 !== undefined) return this.http2.onAboveWriteBufferHighWatermark();
    // Nothing is written before the HTTP/2 side exists.
    if (this.awaitingHttp2 !== undefined) return;
    this.aboveHighWatermark = true;
    this.stream?.onDownstreamAboveHighWatermark();
  }

  onBelowWriteBufferLowWatermark(): void {
    if (this.http2 !== undefined) return this.http2.onBelowWriteBufferLowWatermark();
    if (this.awaitingHttp2 !== undefined) return;
    this.aboveHighWatermark = false;
    if (this.waitingForDrain) {
      // The client read what was written: on to the next request.
      this.waitingForDrain = false;
      this.connection.readDisable(false);
      this.resumeCodec();
      return;
    }
    this.stream?.onDownstreamBelowLowWatermark();
  }

  /**
   * common_http_protocol_options.idle_timeout: a connection with no active stream for
   * that long is closed: armed when a response completes, disarmed by a request's first byte.
   */
  private armIdleTimer(): void {
    const timeout = this.config.idleTimeoutMs;
    if (timeout <= 0) return;
    this.idleArmedAt = approximateNow(this.server.runtime);
    this.armTimer("idle", this.scaledTimeout("HTTP_DOWNSTREAM_CONNECTION_IDLE", timeout));
  }

  /** `ms` as reduce_timeouts scales a timer of `type` now (unchanged without the action). */
  private scaledTimeout(type: "HTTP_DOWNSTREAM_CONNECTION_IDLE" | "HTTP_DOWNSTREAM_CONNECTION_MAX", ms: number): number {
    return this.scaling ? this.scaling.scaled(type, ms) : ms;
  }

  /**
   * @internal reduce_timeouts changed: the idle and duration timers, and the stream's idle
   * timer, now fire at their start plus the newly scaled timeout (at once if that passed),
   * as Envoy's scaled timers do.
   */
  onTimerScaleChanged(): void {
    const now = this.server.runtime.now();
    if (this.timerFor === "idle" && this.timer?.enabled) {
      this.timer.enable(Math.max(0, this.idleArmedAt + this.scaledTimeout("HTTP_DOWNSTREAM_CONNECTION_IDLE", this.config.idleTimeoutMs) - now));
    }
    const maxDuration = this.config.maxConnectionDurationMs;
    if (maxDuration !== undefined && this.durationTimer?.enabled) {
      this.durationTimer.enable(Math.max(0, this.durationArmedAt + this.scaledTimeout("HTTP_DOWNSTREAM_CONNECTION_MAX", maxDuration) - now));
    }
    this.stream?.onTimerScaleChanged();
  }

  /** A scaled timer fired early because the scale went back up: re-armed for the rest; false then. */
  private scaledTimeoutPassed(timer: Timer, armedAt: number, timeoutMs: number): boolean {
    if (this.scaling === undefined) return true;
    const rest = armedAt + timeoutMs - this.server.runtime.now();
    if (rest <= 0) return true;
    timer.enable(rest);
    return false;
  }

  private armTimer(purpose: "idle" | "headers" | "drain", ms: number): void {
    this.timerFor = purpose;
    this.timer ??= this.server.timers.create(this);
    this.timer.enable(ms);
  }

  /** @internal The connection's timer fired: for what it was armed. */
  onTimer(timer: Timer): void {
    if (timer === this.durationTimer) {
      const maxDuration = this.config.maxConnectionDurationMs!;
      if (this.scaledTimeoutPassed(timer, this.durationArmedAt, this.scaledTimeout("HTTP_DOWNSTREAM_CONNECTION_MAX", maxDuration))) this.onConnectionDurationTimeout();
    } else if (this.timerFor === "idle") {
      if (this.scaledTimeoutPassed(timer, this.idleArmedAt, this.scaledTimeout("HTTP_DOWNSTREAM_CONNECTION_IDLE", this.config.idleTimeoutMs))) this.onIdleTimeout();
    }
    else if (this.timerFor === "drain") this.onDrainTimeout();
    else this.onHeadersTimer();
  }

  /**
   * Envoy's ConnectionManagerImpl::onIdleTimeout: a connection that never sent a byte
   * (no codec yet) closes now; one that carried requests starts its drain sequence and
   * closes drain_timeout later (default 5 s), answering a request that comes meanwhile with Connection: close.
   */
  private onIdleTimeout(): void {
    if (this.stream || this.connection.isClosed) return;
    if (this.log.debugOn) this.log.debug(`[C${this.connection.id}] idle timeout`);
    this.stats.downstreamCxIdleTimeout.inc();
    if (!this.sawBytes) {
      this.close();
      return;
    }
    this.draining = true;
    this.armTimer("drain", this.config.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS);
  }

  /**
   * common_http_protocol_options.max_connection_duration (Envoy's
   * ConnectionManagerImpl::onConnectionDurationTimeout): a connection that never sent a
   * byte closes now; otherwise it drains as after idle_timeout — the response in progress
   * (or the request whose head is coming in) is its last, and one with none closes
   * drain_timeout later unless a last request comes.
   */
  private onConnectionDurationTimeout(): void {
    if (this.connection.isClosed) return;
    this.stats.downstreamCxMaxDurationReached.inc();
    if (!this.sawBytes) {
      this.close();
      return;
    }
    if (this.draining) return;
    this.draining = true;
    if (this.stream) this.codec.keepAlive = false;
    else if (this.timerFor !== "headers" || !this.timer?.enabled) this.armTimer("drain", this.config.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS);
  }

  /**
   * The listener or the server drains (Envoy's drain-close callback): HTTP/2 starts its
   * two-step GOAWAY; on HTTP/1 the response in progress (or the request whose head is
   * coming in) is the connection's last, and an idle connection closes drain_timeout
   * later unless a last request comes — so a client sending on it meanwhile is answered.
   */
  onDrainClose(): void {
    if (this.connection.isClosed) return;
    if (this.http2 !== undefined) return this.http2.startDrainSequence();
    if (this.draining) return;
    this.draining = true;
    // The HTTP/2 side starts its drain sequence when it is made (startHttp2).
    if (this.awaitingHttp2 !== undefined) return;
    if (this.stream) this.codec.keepAlive = false;
    else if (this.timerFor !== "headers" || !this.timer?.enabled) this.armTimer("drain", this.config.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS);
  }

  private onDrainTimeout(): void {
    if (!this.stream && !this.connection.isClosed) this.close();
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


type Http2Side = typeof import("./http2-connection-manager.ts");

/**
 * The HTTP/2 side's code (with it the codec, HPACK and frames, ~60 KB), loaded with the
 * process's first HTTP/2 connection: most start-ups serve HTTP/1 only and would pay its
 * compile, evaluation and allocations before listening (docs/performance.md, "Start-up:
 * HTTP/2 and health checkers on first use").
 */
const HTTP2_SIDE = new LazyModule<Http2Side>(() => import("./http2-connection-manager.ts"), "the HTTP/2 code");

/** "PRI * HTTP/2": the start of the HTTP/2 client preface (RFC 9113 §3.4), as Envoy's CLIENT_MAGIC_PREFIX. */
const HTTP2_PREFACE_START = [0x50, 0x52, 0x49, 0x20, 0x2a, 0x20, 0x48, 0x54, 0x54, 0x50, 0x2f, 0x32];

/** AUTO's choice (Envoy's determineNextProtocol): the ALPN protocol if TLS agreed one, else the preface. */
function autoIsHttp2(alpn: string | undefined, buffer: ReadBuffer): boolean {
  return alpn !== undefined ? alpn === "h2" : startsWithHttp2Preface(buffer);
}

/** The first read begins with the client preface (Envoy ignores a preface split before its 12th byte, as here). */
function startsWithHttp2Preface(buffer: ReadBuffer): boolean {
  if (buffer.chunkCount === 0) return false;
  const first = buffer.chunkAt(0);
  if (first.length < HTTP2_PREFACE_START.length) return false;
  for (let i = 0; i < HTTP2_PREFACE_START.length; i++) if (first[i] !== HTTP2_PREFACE_START[i]) return false;
  return true;
}
