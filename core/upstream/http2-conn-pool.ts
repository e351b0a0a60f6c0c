/**
 * Envoy's HTTP/2 connection pool for one upstream host (source/common/http/http2/conn_pool.cc
 * on conn_pool_base.cc's MultiplexedActiveClientBase), on the shared pool base
 * (conn-pool-base.ts): each connection carries many streams at once.
 *
 * - **Capacity** is streams: a connection starts with the cluster's
 *   `http2_protocol_options.max_concurrent_streams` (bounded by
 *   `max_requests_per_connection`), takes streams once the peer's first SETTINGS came (until
 *   then the connect timer runs), and its limit follows the peer's
 *   SETTINGS_MAX_CONCURRENT_STREAMS below the configured one. A connection with room stays
 *   Ready; a full one is Busy until a stream ends.
 * - **GOAWAY** from the upstream drains the connection: no new stream, the streams at or
 *   below its last-stream-id finish, those above it were never processed and are reset as
 *   refused (REFUSED_STREAM → `RemoteRefusedStreamReset`, which retry_on `refused-stream`
 *   retries on another connection); it closes once its streams end.
 * - **Resets** map to Envoy's reasons: RST_STREAM from the upstream is `RemoteReset`
 *   (`RemoteRefusedStreamReset` for REFUSED_STREAM), a stream or connection error we
 *   detected is `ProtocolError`, a connection that closed under its streams is
 *   `ConnectionTermination`.
 * - **Circuit breakers** count per stream (max_requests, max_pending_requests) and per
 *   connection (max_connections), in the base.
 * - **Flow control**: the request body goes out as the upstream's windows allow; what waits
 *   past the stream's buffer limit (the cluster's per_connection_buffer_limit_bytes) pauses
 *   the downstream (the router's watermark callbacks), as does the connection's write
 *   buffer. The response: the router read-disables the stream while the downstream is
 *   slow, and the upstream's window is returned only for body handed on.
 * - **Upgrades and CONNECT** (Envoy's ClientStreamImpl::encodeHeaders): an HTTP/1 upgrade
 *   (a websocket) goes as an extended CONNECT (RFC 8441) — only to an upstream whose
 *   SETTINGS enabled it, as §3 requires; to another the stream is reset locally — and its
 *   200 comes back as the 101 the downstream expects; a CONNECT goes as one (RFC 9113 §8.5).
 *   After the 2xx the stream's DATA both ways is the tunnel's bytes, END_STREAM its half-close.
 */
import type { Dispatcher } from "../event/dispatcher.ts";
import type { HeaderMap } from "../http/header-map.ts";
import type { RequestHeaders } from "../http/message.ts";
import {
  connectRequestFieldsToHttp2,
  requestFieldsToHttp2,
  responseHeadersFromHttp2,
  trailerFieldsToHttp2,
  trailersFromHttp2,
  transformUpgradeResponseFromH2toH1,
  upgradeOf,
  upgradeRequestFieldsToHttp2,
} from "../http/codec/http2-headers.ts";
import { EMPTY_BYTES } from "../util/bytes.ts";
import { StreamResetReason } from "../http/stream-reset-reason.ts";
import { type Http2ConnectionCallbacks, type Http2ConnectionError, Http2ConnectionImpl } from "../http2/connection.ts";
import { Http2ErrorCode } from "../http2/frame.ts";
import { Http2Keepalive, type Http2KeepaliveOwner } from "../http2/keepalive.ts";
import { DEFAULT_HTTP2_OPTIONS, type Http2Options } from "../http2/protocol-options.ts";
import type { Http2Stream, Http2StreamCallbacks } from "../http2/stream.ts";
import type { ByteSink } from "../network/byte-sink.ts";
import type { ConnectionEvent } from "../network/connection.ts";
import type { PortError, SocketAddress, TlsSession } from "../port.ts";
import type { Cluster } from "./cluster.ts";
import { ActiveClient, ActiveClientState, ConnPoolImplBase } from "./conn-pool-base.ts";
import type { Host } from "./host.ts";
import type { UpstreamCallbacks, UpstreamStream } from "./http1-conn-pool.ts";

/**
 * The reset details of an upgrade to an HTTP/2 upstream that did not send
 * SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3: the extended CONNECT cannot be sent).
 */
export const EXTENDED_CONNECT_NOT_ENABLED = "http2.extended_connect_not_enabled_by_upstream";

/** What the router's reset of an upstream stream sends (Envoy's reasonToReset for a local reset: CANCEL upstream). */
const LOCAL_RESET_CODE = Http2ErrorCode.CANCEL;

/** The codec options of a cluster's HTTP/2 connections: its http2_protocol_options over Envoy's defaults. */
function codecOptions(cluster: Cluster): Partial<Http2Options> {
  const { connectionKeepalive: _keepalive, ...options } = cluster.config.http2 ?? {};
  return { ...options, streamWriteBufferLimit: cluster.config.perConnectionBufferLimitBytes };
}

/** The streams a new HTTP/2 connection is counted for until the peer's SETTINGS come (Envoy's calculateInitialStreamsLimit). */
export function initialStreamLimit(cluster: Cluster): number {
  const configured = cluster.config.http2?.maxConcurrentStreams ?? DEFAULT_HTTP2_OPTIONS.maxConcurrentStreams;
  return Math.min(configured, cluster.config.maxRequestsPerConnection ?? Infinity);
}

/**
 * One request on an HTTP/2 upstream connection (Envoy's `ClientConnectionImpl::ClientStreamImpl`
 * with the pool's stream wrapper): the router's `UpstreamStream`, and the codec stream's callbacks.
 */
class Http2UpstreamStream implements UpstreamStream, Http2StreamCallbacks {
  readonly http2 = true;
  /** The router's side; undefined once the stream ended for it (complete, reset either way). */
  private callbacks: UpstreamCallbacks | undefined;
  readonly stream: Http2Stream;
  /** The pool still counts it (until the codec closes or resets it). */
  private counted = true;
  /** The final response head came (1xx heads are dropped, as the HTTP/1 codec does). */
  responseStarted = false;
  private responseStatus = 0;
  /** Inside our own reset: the codec reports it back at once, which must not be reported again. */
  private resetting = false;
  /** The request is an upgrade (its token) or a CONNECT: a 2xx opens a tunnel. */
  private upgradeType: string | undefined;
  private connect = false;
  /** The tunnel is open: DATA is the tunnel's bytes (decodeUpgradeData), not a body. */
  private tunnel = false;

  constructor(
    private readonly client: Http2ActiveClient,
    callbacks: UpstreamCallbacks,
  ) {
    this.callbacks = callbacks;
    // The pool attaches only to a client whose codec can open a stream.
    this.stream = client.codec.newStream(this)!;
  }

  get host(): Host {
    return this.client.host;
  }

  get localAddress(): SocketAddress | undefined {
    return this.client.connection.socket.localAddress;
  }

  /**
   * Never "a reused keep-alive connection": an HTTP/2 upstream that stops taking streams
   * says so by GOAWAY, and a stream it never processed is a refused stream, retried only
   * as the route's retry_on allows (Envoy has no replay for HTTP/2).
   */
  get reused(): boolean {
    return false;
  }

  // ---- UpstreamStream (router → upstream) ----

  encodeHeaders(headers: RequestHeaders, endStream: boolean): void {
    const upgrade = upgradeOf(headers);
    if (upgrade !== undefined) {
      // RFC 8441 §3: a client MUST NOT send :protocol to a server that did not enable it.
      if (!this.client.codec.peerEnableConnectProtocol) return this.refuse(EXTENDED_CONNECT_NOT_ENABLED);
      this.upgradeType = upgrade;
      this.stream.sendHeaders(upgradeRequestFieldsToHttp2(headers, upgrade), endStream);
      return;
    }
    if (headers.method === "CONNECT") {
      this.connect = true;
      this.stream.sendHeaders(connectRequestFieldsToHttp2(headers), endStream);
      return;
    }
    this.stream.sendHeaders(requestFieldsToHttp2(headers), endStream);
  }

  encodeData(data: Uint8Array, endStream: boolean): void {
    this.stream.sendData(data, endStream);
  }

  encodeTrailers(trailers: HeaderMap): void {
    this.stream.sendTrailers(trailerFieldsToHttp2(trailers));
  }

  /** The tunnel's bytes from downstream (after an upgrade or CONNECT head): DATA; their end, END_STREAM. */
  encodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    if (this.stream.wasReset || this.stream.localEnded) return;
    this.stream.sendData(data, endStream);
  }

  readDisable(disable: boolean): void {
    this.stream.readDisable(disable);
  }

  /**
   * The router abandons the stream: RST_STREAM CANCEL; the connection goes on carrying the
   * others. A stream both sides already ended (a gRPC call's trailers after our half-close)
   * is released, not reset: nothing goes on the wire and upstream_rq_tx_reset does not count
   * it (Envoy's CodecClient counts resets from the codec's callbacks, which a closed stream
   * never runs).
   */
  reset(): void {
    this.detach();
    // A closed stream's reset sends nothing and counts nothing: it only gives the body held
    // for a read-disabled reader back to the connection window (Http2Connection.resetStream).
    if (this.stream.closed) this.stream.reset(LOCAL_RESET_CODE);
    else if (!this.client.codec.closed) {
      this.resetting = true;
      this.stream.reset(LOCAL_RESET_CODE);
      this.resetting = false;
      this.client.countStreamReset(StreamResetReason.LocalReset);
    }
    this.release();
  }

  /** A request this pool cannot carry: the stream is reset locally and the router told why. */
  private refuse(details: string): void {
    const callbacks = this.detach();
    this.release();
    callbacks?.onUpstreamReset(StreamResetReason.LocalReset, details);
  }

  // ---- Http2StreamCallbacks (upstream → router) ----

  onHeaders(fields: string[], endStream: boolean): void {
    const headers = responseHeadersFromHttp2(fields);
    // 1xx: polyvoy answers Expect: 100-continue itself (as the HTTP/1 client codec does), so interim heads go no further.
    if (headers.status < 200) return;
    if (this.upgradeType !== undefined) {
      this.tunnel = headers.status === 200;
      transformUpgradeResponseFromH2toH1(headers, this.upgradeType);
    } else if (this.connect) {
      this.tunnel = headers.status >= 200 && headers.status < 300;
    }
    this.responseStarted = true;
    this.responseStatus = headers.status;
    const callbacks = this.callbacks;
    if (!endStream) return callbacks?.decodeHeaders(headers, false);
    // Ended with its headers: the stream hears nothing more, but is counted once the router
    // has seen the response.
    this.callbacks = undefined;
    callbacks?.decodeHeaders(headers, true);
    if (callbacks) this.countResponse(callbacks, true);
  }

  onData(data: Uint8Array, endStream: boolean): void {
    const callbacks = this.callbacks;
    if (endStream) this.detach(true);
    if (this.tunnel) callbacks?.decodeUpgradeData(data, endStream);
    else callbacks?.decodeData(data, endStream);
  }

  onTrailers(fields: string[]): void {
    const callbacks = this.detach(true);
    // Trailers end a tunnel as END_STREAM does (its upstream half-closed).
    if (this.tunnel) callbacks?.decodeUpgradeData(EMPTY_BYTES, true);
    else callbacks?.decodeTrailers(trailersFromHttp2(fields));
  }

  onReset(code: number, remote: boolean): void {
    if (this.resetting) return;
    // The reason as the codec saw it, before release(): releasing the last stream of a
    // connection that failed closes it, and where the port closes a socket synchronously the
    // connection would already be terminated, making a protocol error (502) a connection
    // termination (503).
    const reason = this.client.resetReason(code, remote);
    const details = this.client.resetDetails(code, remote);
    const callbacks = this.detach();
    this.release();
    this.client.countStreamReset(reason);
    callbacks?.onUpstreamReset(reason, details);
  }

  onClose(): void {
    this.release();
  }

  onWriteBufferWatermark(above: boolean): void {
    if (above) this.callbacks?.onUpstreamAboveWriteBufferHighWatermark();
    else this.callbacks?.onUpstreamBelowWriteBufferLowWatermark();
  }

  /** The connection's write buffer crossed a watermark: every stream's producer pauses or resumes. */
  onConnectionWatermark(above: boolean): void {
    this.onWriteBufferWatermark(above);
  }

  /**
   * The stream ended for the router (its response complete, or reset): it hears nothing
   * more; the host's rq_success / rq_error are counted (countResponse).
   */
  private detach(complete = false): UpstreamCallbacks | undefined {
    const callbacks = this.callbacks;
    if (!callbacks) return undefined;
    this.callbacks = undefined;
    this.countResponse(callbacks, complete);
    return callbacks;
  }

  /** The host's rq_success / rq_error for callbacks that do not charge it (UpstreamCallbacks.chargesHost): a complete response below 500 is a success. */
  private countResponse(callbacks: UpstreamCallbacks, complete: boolean): void {
    if (callbacks.chargesHost === true) return;
    const status = this.responseStatus;
    if (complete && status > 0 && status < 500) this.host.stats.rqSuccess++;
    else this.host.stats.rqError++;
  }

  /** The stream no longer counts against the connection's limit (closed or reset): the pool may use the room. */
  private release(): void {
    if (!this.counted) return;
    this.counted = false;
    this.client.onStreamEnded(this);
  }
}

/**
 * One HTTP/2 upstream connection (Envoy's `Http2::ActiveClient`): its client codec and the
 * streams on it.
 */
export class Http2ActiveClient extends ActiveClient implements ByteSink, Http2ConnectionCallbacks, Http2KeepaliveOwner {
  readonly codec: Http2ConnectionImpl;
  /** http2_protocol_options.connection_keepalive: PINGs once connected, the connection closed when one goes unanswered. */
  private keepalive: Http2Keepalive | undefined;
  /** When the upstream last sent bytes (connection_idle_interval). */
  private lastReceivedAt = 0;
  protected override readonly readyOnConnect = false;
  /** The streams it carries, for the connection's watermarks. */
  private readonly streams = new Set<Http2UpstreamStream>();
  /** The connection closed under its streams: their resets are ConnectionTermination. */
  private terminated = false;
  private readonly configuredLimit: number;

  /** `adopted`: the mixed pool's client whose connection, connected with ALPN h2, this one takes over. */
  constructor(
    private readonly pool: ConnPoolImplBase<ActiveClient, UpstreamCallbacks>,
    adopted?: ActiveClient,
  ) {
    const options = codecOptions(pool.cluster);
    const configured = options.maxConcurrentStreams ?? DEFAULT_HTTP2_OPTIONS.maxConcurrentStreams;
    super(pool, initialStreamLimit(pool.cluster), adopted);
    this.configuredLimit = configured;
    const { runtime } = pool.dispatcher;
    pool.cluster.stats.upstreamCxHttp2Total.inc();
    this.codec = new Http2ConnectionImpl("client", this, this, pool.cluster.http2CodecStats, options, () => runtime.now());
    this.connection.setReadSink({ onData: (data, endStream) => this.onUpstreamData(data, endStream) });
  }

  /** Start a stream for `callbacks` (the pool counted it). */
  attach(callbacks: UpstreamCallbacks): void {
    // Envoy's ClientConnectionImpl::newStream: a connection that received nothing for
    // connection_idle_interval is PINGed first (the stream goes on; no ACK in time closes it).
    const idleInterval = this.pool.cluster.config.http2?.connectionKeepalive?.connectionIdleIntervalMs ?? 0;
    if (idleInterval > 0 && this.pool.dispatcher.runtime.now() - this.lastReceivedAt > idleInterval) this.keepalive?.sendNow();
    if (this.refusesStreams) {
      // Its GOAWAY or failure is being handled: the stream was never started, so it is refused.
      this.pool.onStreamClosed(this, false);
      callbacks.onUpstreamReset(StreamResetReason.LocalRefusedStreamReset, "");
      return;
    }
    const stream = new Http2UpstreamStream(this, callbacks);
    this.streams.add(stream);
    callbacks.onPoolReady(stream);
    // A connection already over its high watermark tells its new stream at once (Envoy's
    // codec_impl.cc ClientConnectionImpl::newStream), or the stream's producer would not be
    // paused until the connection drained and filled again.
    if (this.aboveHighWatermark && this.streams.has(stream)) stream.onConnectionWatermark(true);
  }

  /** @internal One of its streams closed or was reset. */
  onStreamEnded(stream: Http2UpstreamStream): void {
    this.streams.delete(stream);
    // After GOAWAY (or with the connection failing) it takes no new stream: draining, it closes once idle.
    if (this.state !== ActiveClientState.Closed && this.state !== ActiveClientState.Draining && this.refusesStreams) this.pool.drainClient(this);
    this.pool.onStreamClosed(this, false);
  }

  /** Envoy's MultiplexedActiveClientBase::onStreamReset: a stream reset, counted by its reason. */
  countStreamReset(reason: StreamResetReason): void {
    const stats = this.pool.cluster.stats;
    switch (reason) {
      case StreamResetReason.ConnectionTermination:
      case StreamResetReason.LocalConnectionFailure:
      case StreamResetReason.RemoteConnectionFailure:
      case StreamResetReason.ConnectionTimeout:
        stats.upstreamRqPendingFailureEject.inc();
        break;
      case StreamResetReason.LocalReset:
      case StreamResetReason.ProtocolError:
      case StreamResetReason.OverloadManager:
        stats.upstreamRqTxReset.inc();
        break;
      case StreamResetReason.RemoteReset:
        stats.upstreamRqRxReset.inc();
        break;
      default:
        break;
    }
  }

  /** Envoy's reset reason for a codec reset of one of its streams (codec_impl.cc, onStreamClose). */
  resetReason(code: number, remote: boolean): StreamResetReason {
    if (this.terminated) return StreamResetReason.ConnectionTermination;
    if (!remote) return code === Http2ErrorCode.REFUSED_STREAM ? StreamResetReason.LocalRefusedStreamReset : StreamResetReason.ProtocolError;
    if (code === Http2ErrorCode.REFUSED_STREAM) return StreamResetReason.RemoteRefusedStreamReset;
    return code === Http2ErrorCode.CONNECT_ERROR ? StreamResetReason.ConnectError : StreamResetReason.RemoteReset;
  }

  /** The reset's details (Envoy's Http2ResponseCodeDetails), for the response code details. */
  resetDetails(code: number, remote: boolean): string {
    if (this.terminated || !remote) return "";
    return code === Http2ErrorCode.REFUSED_STREAM ? "http2.remote_refuse" : "http2.remote_reset";
  }

  /** No new stream may start on it: GOAWAY either way, or the codec failed. */
  get refusesStreams(): boolean {
    return this.codec.closed || this.codec.goAwayReceived || this.codec.goAwaySent;
  }

  private onUpstreamData(data: Uint8Array, endStream: boolean): void {
    this.pool.cluster.stats.upstreamCxRxBytesTotal.inc(data.byteLength);
    this.lastReceivedAt = this.pool.dispatcher.runtime.now();
    this.keepalive?.onBytesReceived();
    this.codec.dispatch(data);
    // The upstream half-closed: the connection is done; streams still open lose their response.
    if (endStream && this.state !== ActiveClientState.Closed) this.close("FlushWrite");
  }

  // ---- ByteSink: frames out ----

  write(data: Uint8Array, endStream: boolean): void {
    // Nothing of ours is still queued on the socket: the outbound flood counts restart (as the downstream codec does).
    if (this.connection.writeBufferedBytes === 0) this.codec.onWriteDrained();
    this.pool.cluster.stats.upstreamCxTxBytesTotal.inc(data.byteLength);
    this.connection.write(data, endStream);
  }

  // ---- Http2ConnectionCallbacks ----

  onStreamCapacity(): void {
    // SETTINGS (or a stream closing): the peer's limit, below the configured one, is the connection's.
    const limit = Math.min(this.codec.peerMaxConcurrentStreams, this.configuredLimit);
    if (this.state === ActiveClientState.Closed) return;
    if (limit !== this.concurrentStreamLimit) this.pool.onClientStreamLimitChanged(this, limit);
    if (this.state === ActiveClientState.Connecting && this.connectionUp) this.onReady();
  }

  onGoAway(): void {
    // Streams above its last-stream-id were reset as refused already; the others finish.
    if (this.state !== ActiveClientState.Closed && this.state !== ActiveClientState.Draining) this.pool.drainClient(this);
  }

  onConnectionError(error: Http2ConnectionError): void {
    this.pool.cluster.stats.upstreamCxProtocolError.inc();
    if (this.state !== ActiveClientState.Closed) this.close(error.goAwaySent ? "FlushWrite" : "Abort");
  }

  onDrained(): void {
    if (this.state !== ActiveClientState.Closed && this.activeStreams === 0) this.close("FlushWrite");
  }

  onPingAck(): void {
    this.keepalive?.onPingAck();
  }

  // ---- Http2KeepaliveOwner ----

  sendPing(opaque: Uint8Array): void {
    this.codec.ping(opaque);
  }

  /**
   * Envoy's onKeepaliveResponseTimeout on a client connection: http2.keepalive_timeout (the
   * cluster's), and the connection closed without flushing; its streams end as
   * `connection termination`.
   */
  onKeepaliveTimeout(): void {
    if (this.state === ActiveClientState.Closed) return;
    this.pool.cluster.http2CodecStats.keepalive_timeout.inc();
    this.close("Abort");
  }

  // ---- ConnectionCallbacks ----

  /** TCP (and TLS) is up; the client is Ready once the peer's SETTINGS come. */
  private connectionUp = false;

  override onEvent(event: ConnectionEvent, error?: PortError): void {
    super.onEvent(event, error);
    if (event === "Connected") {
      this.connectionUp = true;
      // The preface and our SETTINGS (RFC 9113 §3.4); the peer's come back before any stream starts.
      this.codec.start();
      const settings = this.pool.cluster.config.http2?.connectionKeepalive;
      if (settings !== undefined) {
        const { runtime, timers } = this.pool.dispatcher;
        this.keepalive = new Http2Keepalive(settings, (callback) => timers.create(callback), () => runtime.random(), () => runtime.now(), this);
      }
      return;
    }
    if (this.state !== ActiveClientState.Closed) return;
    this.terminated = true;
    this.keepalive?.destroy();
    this.codec.destroy();
  }

  override onAboveWriteBufferHighWatermark(): void {
    this.aboveHighWatermark = true;
    for (const stream of this.streams) stream.onConnectionWatermark(true);
  }

  override onBelowWriteBufferLowWatermark(): void {
    this.aboveHighWatermark = false;
    for (const stream of this.streams) stream.onConnectionWatermark(false);
  }

  /** The connection's write buffer is over its high watermark (a stream opened now is told so). */
  private aboveHighWatermark = false;
}

/**
 * The HTTP/2 pool of one upstream host (see the file comment). Streams are handed out at
 * once on a Ready connection: no delayed reuse, since a stream's end does not end its
 * connection.
 */
export class Http2ConnPool extends ConnPoolImplBase<Http2ActiveClient, UpstreamCallbacks> {
  constructor(cluster: Cluster, host: Host, dispatcher: Dispatcher, idleTimeoutMs: number, serverName?: string) {
    super(cluster, host, dispatcher, idleTimeoutMs, serverName);
  }

  protected instantiateActiveClient(): Http2ActiveClient {
    return new Http2ActiveClient(this);
  }

  protected onPoolReady(client: Http2ActiveClient, callbacks: UpstreamCallbacks): void {
    client.attach(callbacks);
  }
}
