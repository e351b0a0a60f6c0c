import type { SocketAddress, TlsSession } from "../port.ts";
import type { Timer, Timers } from "../event/timers.ts";
import type { TcpTunnelingConfig } from "../config/bootstrap.ts";
import type { HeaderMap } from "../http/header-map.ts";
import { RequestHeaders, type ResponseHeaders } from "../http/message.ts";
import { applyHeaderValueOptions, type HeaderFormatterSource } from "../http/route/custom-headers.ts";
import type { StreamResetReason } from "../http/stream-reset-reason.ts";
import type { HttpConnPool } from "./cluster-manager.ts";
import type { PoolHandle } from "./conn-pool-base.ts";
import { Http1ActiveClient, type UpstreamCallbacks, type UpstreamStream } from "./http1-conn-pool.ts";
import { PoolFailureReason } from "./pool-failure.ts";
import { EMPTY_BYTES } from "../util/bytes.ts";
import type { ConnectionEvent } from "../network/connection.ts";

/** What tcp_proxy hears from its tunnel (Envoy's GenericConnectionPoolCallbacks and Tcp::ConnectionPool::UpstreamCallbacks). */
export interface HttpTunnelCallbacks {
  /** The response opened the tunnel: bytes may flow. */
  onTunnelReady(tunnel: HttpTunnelUpstream): void;
  /** No tunnel: the connect failed, timed out, or the response did not accept it (RemoteConnectionFailure). */
  onPoolFailure(reason: PoolFailureReason, transportFailureReason: string): void;
  onUpstreamData(data: Uint8Array, endStream: boolean): void;
  /** An open tunnel ended: reset by the upstream, or both directions done. */
  onEvent(event: ConnectionEvent): void;
  onAboveWriteBufferHighWatermark(): void;
  onBelowWriteBufferLowWatermark(): void;
}

/**
 * The tunnel's request head, Envoy's HttpUpstream::setRequestEncoder: :method CONNECT (or
 * POST with :path post_path), :authority the hostname, :scheme for a POST only (the HTTP/2
 * codec sends none for CONNECT, RFC 9113 §8.5), then headers_to_add.
 */
export function tunnelRequest(tunneling: TcpTunnelingConfig, hostname: string, tls: boolean, source: HeaderFormatterSource): RequestHeaders {
  const request = new RequestHeaders();
  request.method = tunneling.usePost ? "POST" : "CONNECT";
  request.authority = hostname;
  // HTTP/1.1's CONNECT names the authority in its request line (RFC 9112 §3.2.3).
  request.path = tunneling.usePost ? tunneling.postPath : hostname;
  request.scheme = tls ? "https" : "http";
  // A CONNECT's head is followed by raw bytes, not a framed body (the client codecs read this).
  request.upgrade = !tunneling.usePost;
  if (tunneling.headersToAdd.length > 0) applyHeaderValueOptions(request, [], tunneling.headersToAdd, source, undefined);
  return request;
}

/**
 * tcp_proxy's upstream when `tunneling_config` is set: the downstream's bytes are the body
 * of one HTTP request to the cluster — Envoy's HttpConnPool and HttpUpstream
 * (source/common/tcp_proxy/upstream.cc). The request is `CONNECT hostname` (or `POST
 * post_path` with `host: hostname`) on a stream of the host's HTTP pool, HTTP/1.1 or HTTP/2
 * as the cluster says. Over HTTP/1.1 any 2xx opens the tunnel (RFC 9110 §9.3.6: its framing
 * fields are ignored); over HTTP/2 only a 200 (HttpUpstream::isValidResponse). Anything else,
 * a response that ends with its head, or a stream reset before, is a connect failure. The
 * cluster's connect_timeout runs until the response head, not only the TCP connect.
 */
export class HttpTunnelUpstream implements UpstreamCallbacks, PoolHandle {
  private stream: UpstreamStream | undefined;
  private poolHandle: PoolHandle | undefined;
  /** The response head accepted the tunnel. */
  private established = false;
  /** Over HTTP/1.1 (a POST's body is chunked; a CONNECT's bytes are raw). */
  private http1 = false;
  /** Each direction's end went through (Envoy's read_half_closed_ / write_half_closed_). */
  private readHalfClosed = false;
  private writeHalfClosed = false;
  private done = false;
  private readonly timer: Timer;
  /** UpstreamCallbacks: an HTTP/1.1 connection that carried a tunnel is closed after it, never reused. */
  readonly tunneling = true;
  /**
   * UpstreamCallbacks: the pool charges the host no rq_success / rq_error for a tunnel. Envoy's
   * tcp_proxy (source/common/tcp_proxy/upstream.cc, HttpUpstream) runs no router filter, and
   * only a router (or a Redis/Thrift/Dubbo proxy) charges those.
   */
  readonly chargesHost = true;

  constructor(
    private readonly callbacks: HttpTunnelCallbacks,
    private readonly request: RequestHeaders,
    private readonly usePost: boolean,
    timers: Timers,
    private readonly connectTimeoutMs: number,
  ) {
    this.timer = timers.create(() => this.onResponseTimeout());
  }

  /** Ask the pool for a stream; a failure may be reported from inside. */
  start(pool: HttpConnPool): void {
    if (this.connectTimeoutMs > 0) this.timer.enable(this.connectTimeoutMs);
    const handle = pool.newStream(this);
    if (!this.done && !this.stream) this.poolHandle = handle;
  }

  get tls(): TlsSession | undefined {
    return this.stream?.tls;
  }

  get localAddress(): SocketAddress | undefined {
    return this.stream?.localAddress;
  }

  /** Downstream bytes: a POST's body, or a CONNECT tunnel's raw bytes; `endStream` is the downstream's FIN. */
  encodeData(data: Uint8Array, endStream: boolean): void {
    const stream = this.stream;
    if (!stream || this.done || this.writeHalfClosed) return;
    if (endStream) this.writeHalfClosed = true;
    if (this.usePost) stream.encodeData(data, endStream);
    else stream.encodeUpgradeData(data, endStream);
    if (endStream && this.readHalfClosed) this.finish();
  }

  readDisable(disable: boolean): void {
    if (!this.done) this.stream?.readDisable(disable);
  }

  /** PoolHandle: tcp_proxy gave up on this attempt (the downstream closed, an idle timeout): the stream is reset, if any. */
  cancel(): void {
    this.reset();
  }

  /** Abandon the tunnel (Envoy's resetEncoder on a downstream close): nothing is reported. */
  reset(): void {
    if (this.done) return;
    this.done = true;
    this.timer.disable();
    this.poolHandle?.cancel();
    this.poolHandle = undefined;
    const stream = this.stream;
    this.stream = undefined;
    // Both directions ended: the stream is over already (an HTTP/1.1 connection went back
    // to its pool or closed), there is nothing to reset.
    if (stream && !(this.readHalfClosed && this.writeHalfClosed)) stream.reset();
  }

  // ---- UpstreamCallbacks (the pool and the response) ----

  onPoolReady(stream: UpstreamStream): void {
    this.poolHandle = undefined;
    if (this.done) return stream.reset();
    this.stream = stream;
    this.http1 = stream instanceof Http1ActiveClient;
    stream.encodeHeaders(this.request, false);
  }

  onPoolFailure(reason: PoolFailureReason, transportFailureReason: string): void {
    this.poolHandle = undefined;
    if (this.done) return;
    this.done = true;
    this.timer.disable();
    this.callbacks.onPoolFailure(reason, transportFailureReason);
  }

  decodeHeaders(headers: ResponseHeaders, endStream: boolean): void {
    if (this.done || this.established) return;
    const status = headers.status;
    const valid = this.http1 ? status >= 200 && status < 300 : status === 200;
    if (!valid || endStream) return this.fail();
    this.established = true;
    this.timer.disable();
    this.callbacks.onTunnelReady(this);
  }

  decodeData(data: Uint8Array, endStream: boolean): void {
    this.onResponseBytes(data, endStream);
  }

  decodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.onResponseBytes(data, endStream);
  }

  /** Trailers end the response: the tunnel's read side is done (propagate_response_trailers is refused). */
  decodeTrailers(_trailers: HeaderMap): void {
    this.onResponseBytes(EMPTY_BYTES, true);
  }

  onUpstreamReset(_reason: StreamResetReason, details: string): void {
    if (this.done) return;
    this.stream = undefined;
    if (!this.established) return this.fail(details);
    this.done = true;
    this.callbacks.onEvent("RemoteClose");
  }

  onUpstreamAboveWriteBufferHighWatermark(): void {
    if (!this.done) this.callbacks.onAboveWriteBufferHighWatermark();
  }

  onUpstreamBelowWriteBufferLowWatermark(): void {
    if (!this.done) this.callbacks.onBelowWriteBufferLowWatermark();
  }

  private onResponseBytes(data: Uint8Array, endStream: boolean): void {
    if (this.done || !this.established || this.readHalfClosed) return;
    if (endStream) this.readHalfClosed = true;
    this.callbacks.onUpstreamData(data, endStream);
    // Envoy's doneReading: with the write side done too, the tunnel is over. Over HTTP/1.1
    // the response's end is the connection's (its FIN; the pool closes it), so the tunnel is
    // over whatever the downstream still sends — Envoy's codec client resets the stream then.
    if (endStream && (this.writeHalfClosed || this.http1) && !this.done) this.finish();
  }

  /**
   * The tunnel is over (both directions ended, or an HTTP/1.1 response ended first): tcp_proxy
   * closes the downstream (Envoy's resetEncoder → onEvent(LocalClose)). A request still being
   * sent is reset, which closes its connection: a response complete before its request leaves
   * the connection unusable (Envoy's HTTP/1 pool closes it, StreamWrapper::onDecodeComplete),
   * and the stream would otherwise hold its pool slot until the upstream closes.
   */
  private finish(): void {
    const stream = this.stream;
    this.done = true;
    this.stream = undefined;
    this.timer.disable();
    if (stream && !this.writeHalfClosed) stream.reset();
    this.callbacks.onEvent("LocalClose");
  }

  /** The response refused the tunnel (or the stream ended first): Envoy's onFailure, a remote connection failure. */
  private fail(details = ""): void {
    const stream = this.stream;
    this.stream = undefined;
    this.done = true;
    this.timer.disable();
    stream?.reset();
    this.callbacks.onPoolFailure(PoolFailureReason.RemoteConnectionFailure, details);
  }

  /** connect_timeout passed before the response head: a connect timeout (UF, as Envoy's onConnectTimeout). */
  private onResponseTimeout(): void {
    if (this.done) return;
    const stream = this.stream;
    this.stream = undefined;
    this.done = true;
    this.poolHandle?.cancel();
    this.poolHandle = undefined;
    stream?.reset();
    this.callbacks.onPoolFailure(PoolFailureReason.Timeout, "");
  }
}
