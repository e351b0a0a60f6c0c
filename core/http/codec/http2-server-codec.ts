/**
 * The HTTP/2 downstream codec behind the codec interfaces (codec.ts): Envoy's
 * `Http2::ServerConnectionImpl` as the connection manager sees it. It wraps an
 * `Http2ConnectionImpl` (core/http2/connection.ts) in the server role; each peer stream
 * becomes an `Http2ServerStream`, the `ResponseEncoder` its ActiveStream answers through
 * and the `Http2StreamCallbacks` that feed that ActiveStream the request.
 *
 * Unlike HTTP/1 there is no single "current" stream: `responseEncoder`, `resume` and the
 * head-in-progress state of the `ServerConnection` interface have nothing to do here.
 */
import type { Connection } from "../../network/connection.ts";
import type { ByteSink } from "../../network/byte-sink.ts";
import type { Http2CodecStats } from "../../http2/codec-stats.ts";
import { type Http2ConnectionCallbacks, type Http2ConnectionError, Http2ConnectionImpl } from "../../http2/connection.ts";
import type { Http2Options } from "../../http2/protocol-options.ts";
import type { Http2Stream, Http2StreamCallbacks } from "../../http2/stream.ts";
import type { HeaderMap } from "../header-map.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import type { RequestDecoder, ResponseEncoder, ServerConnection } from "./codec.ts";
import { requestHeadersFromHttp2, responseFieldsToHttp2, responseFieldsToHttp2ForUpgrade, trailerFieldsToHttp2, trailersFromHttp2 } from "./http2-headers.ts";
import { EMPTY_BYTES } from "../../util/bytes.ts";

/** RST_STREAM code for our own resets: Envoy's reasonToReset sends NO_ERROR for a local reset (codec_impl.cc). */
const LOCAL_RESET_CODE = 0x0;

/** What the HTTP/2 codec asks of the connection manager (Envoy's ServerConnectionCallbacks, per stream). */
export interface Http2ServerCodecCallbacks {
  /** A stream's request head is complete: make its decoder (an ActiveStream) answering through `encoder`. */
  newHttp2Stream(encoder: Http2ServerStream, request: RequestHeaders): RequestDecoder & Http2StreamUser;
  /** The response went to the codec whole (it may still wait for flow-control window). */
  onHttp2ResponseComplete(stream: Http2ServerStream): void;
  /** The stream was reset: by the peer or the connection going away (`remote`), or by us. */
  onHttp2StreamReset(stream: Http2ServerStream, code: number, remote: boolean): void;
  /** The connection failed (a protocol error, a flood): every stream is reset already. */
  onHttp2ConnectionError(error: Http2ConnectionError): void;
  /** After our GOAWAY the last stream closed. */
  onHttp2Drained(): void;
  /** keepAlive went false: the connection manager drains the connection (Envoy's startDrainSequence). */
  startDrainSequence(): void;
  /** The client answered a PING of ours (connection_keepalive). */
  onHttp2PingAck(): void;
}

/** What the codec tells a stream's user beyond the request (flow control of the response). */
export interface Http2StreamUser {
  onDownstreamAboveHighWatermark(): void;
  onDownstreamBelowLowWatermark(): void;
}

export class Http2ServerCodec implements ServerConnection, ByteSink, Http2ConnectionCallbacks {
  readonly impl: Http2ConnectionImpl;
  readonly isUpgraded = false;
  readonly responseInProgress = false;
  /** HTTP/2 frames every body (a stream reset is RST_STREAM). */
  readonly responseFramedByClose = false;
  readonly headInProgress = false;
  readonly responseEncoder: ResponseEncoder = NO_STREAM_ENCODER;
  private keepAliveValue = true;

  constructor(
    private readonly connection: Connection,
    private readonly callbacks: Http2ServerCodecCallbacks,
    stats: Http2CodecStats,
    options: Partial<Http2Options>,
    now: () => number,
  ) {
    this.impl = new Http2ConnectionImpl("server", this, this, stats, options, now);
    this.impl.start();
  }

  /** False once the connection is draining: setting it starts the connection manager's drain sequence (streams in flight finish). */
  get keepAlive(): boolean {
    return this.keepAliveValue;
  }

  set keepAlive(value: boolean) {
    if (value || !this.keepAliveValue) return;
    this.keepAliveValue = false;
    this.callbacks.startDrainSequence();
  }

  /** The drain's first step: GOAWAY with the largest stream id (Envoy's ServerConnection::shutdownNotice). */
  shutdownNotice(): void {
    this.impl.shutdownNotice();
  }

  /** The drain's last step: GOAWAY naming the last stream processed; the connection ends once the streams in flight have. */
  goAway(): void {
    this.impl.goAway();
  }

  dispatch(data: Uint8Array, _endStream: boolean): void {
    this.impl.dispatch(data);
  }

  resume(): void {}

  destroy(): void {
    this.impl.destroy();
  }

  // ---- ByteSink: frames out ----

  write(data: Uint8Array, endStream: boolean): void {
    // The socket holds nothing of ours: every frame written before has left, so the
    // outbound flood counts restart (Envoy's ConnectionImpl releases them as frames drain).
    if (this.connection.writeBufferedBytes === 0) this.impl.onWriteDrained();
    this.connection.write(data, endStream);
  }

  // ---- Http2ConnectionCallbacks ----

  onNewStream(stream: Http2Stream): void {
    stream.callbacks = new Http2ServerStream(stream, this.callbacks);
  }

  onConnectionError(error: Http2ConnectionError): void {
    this.callbacks.onHttp2ConnectionError(error);
  }

  onDrained(): void {
    this.callbacks.onHttp2Drained();
  }

  onPingAck(): void {
    this.callbacks.onHttp2PingAck();
  }
}

/**
 * One downstream HTTP/2 stream (Envoy's `ServerConnectionImpl::ServerStreamImpl`): it
 * feeds its ActiveStream the request and writes the ActiveStream's response as frames.
 */
export class Http2ServerStream implements ResponseEncoder, Http2StreamCallbacks {
  decoder: (RequestDecoder & Http2StreamUser) | undefined;
  /** The RST_STREAM code of a reset from our side: NO_ERROR, or CONNECT_ERROR for a CONNECT whose upstream connection failed (set by the connection manager). */
  localResetCode: number = LOCAL_RESET_CODE;
  /** Our response went whole to the codec. */
  responseEnded = false;
  /** Inside our own reset: the codec calls onReset back at once, which must not reset again. */
  private resetting = false;
  /**
   * The request was an extended CONNECT (RFC 8441), an upgrade to the HCM: its DATA is the
   * tunnel's bytes, handed on as the HTTP/1 codec hands an upgrade's (decodeUpgradeData),
   * and END_STREAM the client's half-close.
   */
  private upgrade = false;

  constructor(
    readonly stream: Http2Stream,
    private readonly callbacks: Http2ServerCodecCallbacks,
  ) {}

  /** The peer's request is complete (END_STREAM or trailers came). */
  get requestEnded(): boolean {
    return this.stream.remoteEnded;
  }

  // ---- the request (Http2StreamCallbacks) ----

  onHeaders(fields: string[], endStream: boolean): void {
    const request = requestHeadersFromHttp2(fields);
    this.upgrade = request.upgrade;
    const decoder = this.callbacks.newHttp2Stream(this, request);
    this.decoder = decoder;
    decoder.decodeHeaders(request, endStream);
  }

  onData(data: Uint8Array, endStream: boolean): void {
    if (this.upgrade) this.decoder?.decodeUpgradeData(data, endStream);
    else this.decoder?.decodeData(data, endStream);
  }

  onTrailers(fields: string[]): void {
    if (this.upgrade) this.decoder?.decodeUpgradeData(EMPTY_BYTES, true);
    else this.decoder?.decodeTrailers(trailersFromHttp2(fields));
  }

  onReset(code: number, remote: boolean): void {
    if (this.resetting) return;
    this.callbacks.onHttp2StreamReset(this, code, remote);
  }

  onWriteBufferWatermark(above: boolean): void {
    // A response handed whole to the codec has no producer left to pause (its ActiveStream is gone).
    if (this.responseEnded) return;
    if (above) this.decoder?.onDownstreamAboveHighWatermark();
    else this.decoder?.onDownstreamBelowLowWatermark();
  }

  onLocalEnd(): void {
    // The response's END_STREAM went out after waiting for window, the request still open:
    // RFC 9113 §8.1's RST_STREAM NO_ERROR, which onHttp2ResponseComplete could not send yet.
    if (this.responseEnded && !this.requestEnded) this.reset();
  }

  /** Reset the stream from our side (RST_STREAM NO_ERROR, as Envoy's local reset, unless `code` says otherwise). */
  reset(code: number = this.localResetCode): void {
    if (this.resetting || this.stream.wasReset) return;
    this.resetting = true;
    this.stream.reset(code);
    this.resetting = false;
  }

  /** Stop (true) or resume reading the request body (per stream: the peer's window is not returned meanwhile). */
  readDisable(disable: boolean): void {
    this.stream.readDisable(disable);
  }

  // ---- the response (ResponseEncoder) ----

  encodeHeaders(headers: ResponseHeaders, endStream: boolean): void {
    // A 101 to an extended CONNECT goes as its 200 (Envoy's transformUpgradeResponseFromH1toH2).
    this.stream.sendHeaders(this.upgrade ? responseFieldsToHttp2ForUpgrade(headers) : responseFieldsToHttp2(headers), endStream);
    if (endStream) this.onResponseEnd();
  }

  encodeData(data: Uint8Array, endStream: boolean): void {
    this.stream.sendData(data, endStream);
    if (endStream) this.onResponseEnd();
  }

  encodeTrailers(trailers: HeaderMap): void {
    this.stream.sendTrailers(trailerFieldsToHttp2(trailers));
    this.onResponseEnd();
  }

  encodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.encodeData(data, endStream);
  }

  private onResponseEnd(): void {
    if (this.responseEnded) return;
    this.responseEnded = true;
    this.callbacks.onHttp2ResponseComplete(this);
  }
}

/** The `ServerConnection.responseEncoder` of a codec that has no stream-less replies. */
const NO_STREAM_ENCODER: ResponseEncoder = {
  encodeHeaders() {},
  encodeData() {},
  encodeTrailers() {},
  encodeUpgradeData() {},
};
