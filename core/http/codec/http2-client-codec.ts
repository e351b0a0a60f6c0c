/**
 * A one-stream-at-a-time HTTP/2 client codec behind the same interface as the HTTP/1 client
 * codec (`newStream`, `dispatch`, `keepAlive`, `destroy`), for users that send one request
 * on a connection of their own — the HTTP health checker with `codec_client_type: HTTP2`
 * (Envoy's CodecClientProd of type HTTP2). The connection pool's HTTP/2 streams are
 * core/upstream/http2-conn-pool.ts.
 *
 * The preface goes out with the first stream (the connection is up by then); a reset of the
 * stream or a failure of the connection is reported to `onStreamReset`.
 */
import type { Http2CodecStats } from "../../http2/codec-stats.ts";
import { type Http2ConnectionCallbacks, type Http2ConnectionError, Http2ConnectionImpl } from "../../http2/connection.ts";
import type { Http2Options } from "../../http2/protocol-options.ts";
import type { Http2Stream, Http2StreamCallbacks } from "../../http2/stream.ts";
import type { ByteSink } from "../../network/byte-sink.ts";
import type { Connection } from "../../network/connection.ts";
import type { HeaderMap } from "../header-map.ts";
import type { RequestHeaders } from "../message.ts";
import type { RequestEncoder, ResponseDecoder } from "./codec.ts";
import { requestFieldsToHttp2, responseHeadersFromHttp2, trailerFieldsToHttp2, trailersFromHttp2 } from "./http2-headers.ts";

export class Http2ClientCodec implements ByteSink, Http2ConnectionCallbacks {
  private readonly impl: Http2ConnectionImpl;
  private started = false;
  /** Set when the connection failed (a protocol error, a flood): `dispatch` returns false. */
  protocolError: string | undefined;

  constructor(
    private readonly connection: Connection,
    stats: Http2CodecStats,
    /** The stream was reset, by the peer or by a connection error. */
    private readonly onStreamReset: (code: number) => void,
    options: Partial<Http2Options> = {},
  ) {
    this.impl = new Http2ConnectionImpl("client", this, this, stats, options);
  }

  /** False once the peer sent GOAWAY or the connection failed: no further stream on it. */
  get keepAlive(): boolean {
    return !this.impl.closed && !this.impl.goAwayReceived;
  }

  newStream(decoder: ResponseDecoder): RequestEncoder {
    if (!this.started) {
      this.started = true;
      this.impl.start();
    }
    const callbacks = new ClientStream(decoder, this.onStreamReset);
    callbacks.stream = this.impl.newStream(callbacks);
    return callbacks;
  }

  /** Bytes from the upstream; false when they broke the protocol (the stream was reset). */
  dispatch(data: Uint8Array, _endStream: boolean): boolean {
    this.impl.dispatch(data);
    return this.protocolError === undefined;
  }

  destroy(): void {
    this.impl.destroy();
  }

  write(data: Uint8Array, endStream: boolean): void {
    if (this.connection.writeBufferedBytes === 0) this.impl.onWriteDrained();
    this.connection.write(data, endStream);
  }

  onConnectionError(error: Http2ConnectionError): void {
    this.protocolError = error.reason;
  }
}

/** One request and its response on the codec. */
class ClientStream implements RequestEncoder, Http2StreamCallbacks {
  stream: Http2Stream | undefined;

  constructor(
    private readonly decoder: ResponseDecoder,
    private readonly onStreamReset: (code: number) => void,
  ) {}

  encodeHeaders(headers: RequestHeaders, endStream: boolean): void {
    if (!this.stream) return this.onStreamReset(0x7);
    this.stream.sendHeaders(requestFieldsToHttp2(headers), endStream);
  }
  encodeData(data: Uint8Array, endStream: boolean): void {
    this.stream?.sendData(data, endStream);
  }
  encodeTrailers(trailers: HeaderMap): void {
    this.stream?.sendTrailers(trailerFieldsToHttp2(trailers));
  }
  encodeUpgradeData(): void {}

  onHeaders(fields: string[], endStream: boolean): void {
    const headers = responseHeadersFromHttp2(fields);
    if (headers.status < 200) return; // interim
    this.decoder.decodeHeaders(headers, endStream);
  }
  onData(data: Uint8Array, endStream: boolean): void {
    this.decoder.decodeData(data, endStream);
  }
  onTrailers(fields: string[]): void {
    this.decoder.decodeTrailers(trailersFromHttp2(fields));
  }
  onReset(code: number): void {
    this.onStreamReset(code);
  }
}
