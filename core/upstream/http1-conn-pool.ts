import type { SocketAddress, TlsSession } from "../port.ts";
import type { ConnectionEvent } from "../network/connection.ts";
import type { PortError } from "../port.ts";
import type { Dispatcher } from "../event/dispatcher.ts";
import type { RequestEncoder, ResponseDecoder } from "../http/codec/codec.ts";
import { Http1ClientCodec } from "../http/codec/http1-client-codec.ts";
import type { HeaderMap } from "../http/header-map.ts";
import type { RequestHeaders, ResponseHeaders } from "../http/message.ts";
import { StreamResetReason } from "../http/stream-reset-reason.ts";
import type { Cluster } from "./cluster.ts";
import { ActiveClient, ActiveClientState, ConnPoolImplBase, type PoolFailureCallbacks } from "./conn-pool-base.ts";
import type { Host } from "./host.ts";
import { connLogPrefix } from "../log.ts";

export type { PoolHandle } from "./conn-pool-base.ts";

/** The router's side of an upstream stream (Envoy's `Http::ConnectionPool::Callbacks` and `ResponseDecoder`). */
export interface UpstreamCallbacks extends ResponseDecoder, PoolFailureCallbacks {
  onPoolReady(stream: UpstreamStream): void;
  /** The stream ended before its response did; `details` is the codec's error or the port's error code. */
  onUpstreamReset(reason: StreamResetReason, details: string): void;
  onUpstreamAboveWriteBufferHighWatermark(): void;
  onUpstreamBelowWriteBufferLowWatermark(): void;
  /**
   * The callbacks charge the host's rq_success / rq_error themselves, as Envoy's router does
   * (router.cc: onUpstreamHeaders, onUpstreamTrailers, chargeUpstreamAbort): the pool counts
   * neither for this stream. Without it the pool judges the stream when it ends.
   */
  readonly chargesHost?: boolean;
  /**
   * The stream tunnels TCP (tcp_proxy's tunneling_config): its connection is closed once the
   * stream ends, never reused — Envoy's HTTP/1 codec closes the connection after a tunneling
   * request (StreamEncoderImpl::endEncode, codec_impl.cc).
   */
  readonly tunneling?: boolean;
}

/** A request in flight on one upstream connection, as the router drives it. */
export interface UpstreamStream extends RequestEncoder {
  readonly host: Host;
  /** The connection carried an earlier request (so a reset may just be a stale keep-alive). */
  readonly reused: boolean;
  /** Some byte of this stream's response arrived (a status line cut short counts): a reset then is no stale keep-alive. */
  readonly responseStarted: boolean;
  /** The upstream connection's TLS, when it has one (%UPSTREAM_TLS_VERSION% …); optional for other pools. */
  readonly tls?: TlsSession | undefined;
  /** The upstream connection's local address (%UPSTREAM_LOCAL_ADDRESS%). */
  readonly localAddress?: SocketAddress | undefined;
  /** An HTTP/2 stream (an upgrade's answer there is no 101: UpstreamRequest's upgrade pause); absent for HTTP/1.1. */
  readonly http2?: boolean;
  /** Stop/start reading the response (flow control toward a slow downstream). */
  readDisable(disable: boolean): void;
  /** Abandon the stream: its connection is closed, never reused. */
  reset(): void;
}

/**
 * One upstream connection with its HTTP/1 client codec (Envoy's `Http1::ActiveClient`
 * and its `StreamWrapper`): carries one request at a time; reusable once both the
 * request and its response are complete and the upstream allowed keep-alive.
 */
export class Http1ActiveClient extends ActiveClient implements UpstreamStream, ResponseDecoder {
  readonly codec: Http1ClientCodec;
  requestsServed = 0;
  private callbacks: UpstreamCallbacks | undefined;
  /** The codec's request encoder for the current stream. */
  private encoder: RequestEncoder | undefined;
  private requestComplete = false;
  private responseComplete = false;
  /** Set while the stream is active: reads were disabled for flow control. */
  private readsDisabled = 0;
  /** The current stream's response status (0 until its headers came), for the host's rq_success/rq_error. */
  private responseStatus = 0;

  /** `adopted`: the mixed pool's client whose connection, connected and speaking HTTP/1.1, this one takes over. */
  constructor(
    private readonly pool: ConnPoolImplBase<ActiveClient, UpstreamCallbacks>,
    adopted?: ActiveClient,
  ) {
    super(pool, 1, adopted);
    const stats = pool.cluster.stats;
    stats.upstreamCxHttp1Total.inc();
    this.codec = new Http1ClientCodec({
      write: (data, endStream) => {
        stats.upstreamCxTxBytesTotal.inc(data.byteLength);
        this.connection.write(data, endStream);
      },
      writeEncoded: (encoder) => {
        stats.upstreamCxTxBytesTotal.inc(encoder.byteLength);
        this.connection.writeEncoded(encoder);
      },
    }, pool.cluster.config.http1EnableTrailers === true);
    this.connection.setReadSink({ onData: (data, endStream) => this.onUpstreamData(data, endStream) });
  }

  get reused(): boolean {
    return this.requestsServed > 0;
  }

  get tls(): TlsSession | undefined {
    return this.connection.socket.tls;
  }

  get localAddress(): SocketAddress | undefined {
    return this.connection.socket.localAddress;
  }

  get responseStarted(): boolean {
    return this.codec.responseStarted;
  }

  /** Bind a stream to this client (the pool counted it). */
  attach(callbacks: UpstreamCallbacks): void {
    this.callbacks = callbacks;
    this.responseStatus = 0;
    this.requestComplete = false;
    this.responseComplete = false;
    this.encoder = this.codec.newStream(this);
    callbacks.onPoolReady(this);
  }

  /**
   * End this connection's current stream, whichever way it ended (complete, reset by the
   * router, connection lost, protocol error): it stops counting exactly once. Returns the
   * callbacks it had. `close` closes the connection too: after the callbacks are let go
   * (a runtime may report the close from inside it, and the stream must not hear of it)
   * and before the pool is told the stream ended (so it is not offered for reuse).
   */
  private detach(close?: "FlushWrite" | "Abort"): UpstreamCallbacks | undefined {
    const callbacks = this.callbacks;
    this.callbacks = undefined;
    if (callbacks && callbacks.chargesHost !== true) {
      // The host's rq_success/rq_error for callbacks that do not charge it (UpstreamCallbacks.chargesHost):
      // a complete (or upgraded) response below 500 is a success.
      const hostStats = this.host.stats;
      const status = this.responseStatus;
      if (status > 0 && status < 500 && (this.responseComplete || this.codec.isUpgraded)) hostStats.rqSuccess++;
      else hostStats.rqError++;
    }
    if (close) this.close(close);
    if (callbacks) this.pool.onStreamClosed(this, true);
    return callbacks;
  }

  // ---- RequestEncoder (router → upstream) ----
  encodeHeaders(headers: RequestHeaders, endStream: boolean): void {
    this.encoder?.encodeHeaders(headers, endStream);
    if (endStream) this.onRequestComplete();
  }
  encodeData(data: Uint8Array, endStream: boolean): void {
    this.encoder?.encodeData(data, endStream);
    if (endStream) this.onRequestComplete();
  }
  encodeTrailers(trailers: HeaderMap): void {
    this.encoder?.encodeTrailers(trailers);
    this.onRequestComplete();
  }
  encodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.encoder?.encodeUpgradeData(data, endStream);
  }

  readDisable(disable: boolean): void {
    this.readsDisabled += disable ? 1 : -1;
    this.connection.readDisable(disable);
  }

  reset(): void {
    this.detach("Abort");
  }

  private onRequestComplete(): void {
    this.requestComplete = true;
    this.maybeRelease();
  }

  // ---- ResponseDecoder (codec → router) ----
  decodeHeaders(headers: ResponseHeaders, endStream: boolean): void {
    this.responseStatus = headers.status;
    if (endStream) this.responseComplete = true;
    this.callbacks?.decodeHeaders(headers, endStream);
    if (endStream) this.maybeRelease();
  }
  decodeData(data: Uint8Array, endStream: boolean): void {
    if (endStream) this.responseComplete = true;
    this.callbacks?.decodeData(data, endStream);
    if (endStream) this.maybeRelease();
  }
  decodeTrailers(trailers: HeaderMap): void {
    this.responseComplete = true;
    this.callbacks?.decodeTrailers(trailers);
    this.maybeRelease();
  }
  decodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.callbacks?.decodeUpgradeData(data, endStream);
  }

  private onUpstreamData(data: Uint8Array, endStream: boolean): void {
    this.pool.cluster.stats.upstreamCxRxBytesTotal.inc(data.byteLength);
    // Envoy's ConnectionImpl::dispatch, the client side's as the server's (connection-manager.ts).
    const log = this.pool.codecLog;
    if (log?.traceOn) log.trace(`${connLogPrefix(this.connection.id)}parsing ${data.byteLength} bytes`);
    if (!this.codec.dispatch(data, endStream)) {
      this.pool.cluster.stats.upstreamCxProtocolError.inc();
      // No details with it: Envoy's ClientConnectionImpl::onResetStream runs the reset callbacks
      // with the reason alone, so the code details read `…{protocol_error}`.
      this.detach("Abort")?.onUpstreamReset(StreamResetReason.ProtocolError, "");
      return;
    }
    if (!endStream) return;
    // The upstream sent FIN: this connection is done. A stream still waiting for its
    // response has lost it; an idle connection must leave the pool now, not be reused.
    // After an upgrade, FIN is the tunnel's graceful end: the codec already passed it
    // on as the end of the upgrade data, so it is no reset.
    const callbacks = this.detach("FlushWrite");
    if (callbacks && !this.responseComplete && !this.codec.isUpgraded) callbacks.onUpstreamReset(StreamResetReason.ConnectionTermination, "");
  }

  /** Both directions done: give the connection back to the pool, or close it. */
  private maybeRelease(): void {
    if (!this.requestComplete || !this.responseComplete || !this.callbacks) return;
    this.requestsServed++;
    while (this.readsDisabled > 0) this.readDisable(false);
    while (this.readsDisabled < 0) this.readsDisabled++;
    this.detach(this.codec.keepAlive && this.callbacks.tunneling !== true ? undefined : "FlushWrite");
  }

  // ---- ConnectionCallbacks ----
  override onEvent(event: ConnectionEvent, error?: PortError): void {
    super.onEvent(event, error);
    if (event === "Connected" || this.state !== ActiveClientState.Closed) return;
    this.codec.destroy();
    this.detach()?.onUpstreamReset(StreamResetReason.ConnectionTermination, error?.code ?? "");
  }

  override onAboveWriteBufferHighWatermark(): void {
    this.callbacks?.onUpstreamAboveWriteBufferHighWatermark();
  }

  override onBelowWriteBufferLowWatermark(): void {
    this.callbacks?.onUpstreamBelowWriteBufferLowWatermark();
  }
}

/**
 * Envoy's HTTP/1 connection pool for one upstream host (source/common/http/http1/conn_pool.cc),
 * on the shared pool base (conn-pool-base.ts): keep-alive reuse, one request per connection
 * at a time, pending requests queued within the circuit breakers, an idle timeout (Envoy's
 * default 1 h, shortened to an upstream's `Keep-Alive: timeout`), and no reuse of a
 * connection the upstream is closing: a released connection is reused only after one
 * event-loop turn, so a FIN that arrived with the response is seen first.
 */
export class Http1ConnPool extends ConnPoolImplBase<Http1ActiveClient, UpstreamCallbacks> {
  constructor(cluster: Cluster, host: Host, dispatcher: Dispatcher, idleTimeoutMs: number, serverName?: string) {
    super(cluster, host, dispatcher, idleTimeoutMs, serverName);
  }

  protected instantiateActiveClient(): Http1ActiveClient {
    return new Http1ActiveClient(this);
  }

  protected onPoolReady(client: Http1ActiveClient, callbacks: UpstreamCallbacks): void {
    client.attach(callbacks);
  }

  /**
   * An upstream's Keep-Alive timeout is honoured with a margin of a second, so we close
   * first rather than race the upstream's close with a new request.
   */
  protected override idleLimitFor(client: Http1ActiveClient): number {
    return http1IdleLimit(client, this.idleTimeoutMs);
  }
}

/** How long an idle HTTP/1.1 upstream connection is kept: the pool's idle timeout (0: none), within the upstream's Keep-Alive timeout less a second. */
export function http1IdleLimit(client: Http1ActiveClient, idleTimeoutMs: number): number {
  const poolLimit = idleTimeoutMs > 0 ? idleTimeoutMs : Infinity;
  const upstreamLimit = client.codec.keepAliveTimeoutMs;
  return upstreamLimit === undefined ? poolLimit : Math.min(poolLimit, Math.max(0, upstreamLimit - 1000));
}
