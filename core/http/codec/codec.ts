/**
 * The protocol-neutral codec interfaces (Envoy's envoy/http/codec.h): a `ServerConnection`
 * turns downstream bytes into streams, each with a `RequestDecoder` it feeds and a
 * `ResponseEncoder` it is answered through; a `ClientConnection` opens streams toward an
 * upstream, each a `RequestEncoder` with the `ResponseDecoder` that receives the answer.
 * The connection manager, the filters and the router see only these: HTTP/1 is one
 * implementation (http1-server-codec.ts, http1-client-codec.ts), HTTP/2 would be another.
 */
import type { HeaderMap } from "../header-map.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";

/**
 * What every stream encoder does (Envoy's `StreamEncoder`). After a 101, or a 2xx to
 * CONNECT, the stream is a tunnel: its bytes go through `encodeUpgradeData`, unframed.
 */
export interface StreamEncoder {
  encodeData(data: Uint8Array, endStream: boolean): void;
  /** Ends the stream. */
  encodeTrailers(trailers: HeaderMap): void;
  /** Tunnel bytes (after a 101 or a 2xx to CONNECT); `endStream` half-closes. */
  encodeUpgradeData(data: Uint8Array, endStream: boolean): void;
}

/** Sends one response downstream (Envoy's `ResponseEncoder`). 1xx heads other than 101 are interim. */
export interface ResponseEncoder extends StreamEncoder {
  encodeHeaders(headers: ResponseHeaders, endStream: boolean): void;
}

/** Sends one request upstream (Envoy's `RequestEncoder`). */
export interface RequestEncoder extends StreamEncoder {
  encodeHeaders(headers: RequestHeaders, endStream: boolean): void;
}

/** What every stream decoder receives (Envoy's `StreamDecoder`). */
export interface StreamDecoder {
  decodeData(data: Uint8Array, endStream: boolean): void;
  /** Ends the stream. */
  decodeTrailers(trailers: HeaderMap): void;
  /** Tunnel bytes from the peer; `endStream` on its half-close. */
  decodeUpgradeData(data: Uint8Array, endStream: boolean): void;
}

/** Receives one downstream request (Envoy's `RequestDecoder`). */
export interface RequestDecoder extends StreamDecoder {
  decodeHeaders(headers: RequestHeaders, endStream: boolean): void;
}

/** Receives one upstream response (Envoy's `ResponseDecoder`). */
export interface ResponseDecoder extends StreamDecoder {
  decodeHeaders(headers: ResponseHeaders, endStream: boolean): void;
}

/** What both directions' connections do (Envoy's `Http::Connection`). */
export interface Connection {
  /** False once the connection must close after its current stream. */
  keepAlive: boolean;
  /** A stream became a tunnel: the connection now carries raw bytes both ways. */
  readonly isUpgraded: boolean;
  /** Free what the codec holds; from inside one of its own callbacks too. */
  destroy(): void;
}

/** The downstream side (Envoy's `ServerConnection`). */
export interface ServerConnection extends Connection {
  /** Bytes read from the client; `endStream` is its half-close. Errors go to `onCodecError`. */
  dispatch(data: Uint8Array, endStream: boolean): void;
  /** Where a reply goes when no stream has begun yet (a codec error, a head that timed out). */
  readonly responseEncoder: ResponseEncoder;
  /** A response has started and not ended: an error now can only reset the stream. */
  readonly responseInProgress: boolean;
  /**
   * The response in progress is delimited by the connection's close (HTTP/1.0, no
   * content-length; a tunnel): a FIN would end a truncated body as if complete.
   */
  readonly responseFramedByClose: boolean;
  /** A request's first byte came and its head is not complete (Envoy's codec has made its stream by now). */
  readonly headInProgress: boolean;
  /** The current stream is over: go on with the next request, if any is waiting. */
  resume(): void;
}

/** What a server connection asks of the connection manager (Envoy's `ServerConnectionCallbacks`). */
export interface ServerConnectionCallbacks {
  /** The first byte of a request arrived (its headers are not complete yet). */
  onRequestBegin(): void;
  /** A request's headers are complete; the returned decoder receives `request`. Its response goes out through `encoder`. */
  newStream(encoder: ResponseEncoder, request: RequestHeaders): RequestDecoder;
  /** The bytes are not a request we accept: answer with `error` and close. */
  onCodecError(error: CodecError): void;
  /** The current response has been written completely. */
  onResponseComplete(): void;
}

/** The upstream side (Envoy's `ClientConnection`). */
export interface ClientConnection extends Connection {
  /** Start a stream on this connection; its response goes to `decoder`. */
  newStream(decoder: ResponseDecoder): RequestEncoder;
  /** Bytes read from the upstream; `endStream` is its half-close. False on a protocol error (see `protocolError`). */
  dispatch(data: Uint8Array, endStream: boolean): boolean;
  /** Why the upstream's bytes were refused (a response code detail, or the parser's reason). */
  readonly protocolError: string | undefined;
  /** Some of the current stream's response has arrived (so a reset is not "before any response"). */
  readonly responseStarted: boolean;
  /** How long the upstream said it keeps an idle connection (`Keep-Alive: timeout`), in ms. */
  readonly keepAliveTimeoutMs: number | undefined;
}

/** Why a server connection refused the bytes it was given: Envoy's local reply for it. */
export interface CodecError {
  /** 400 for a malformed request, 431 for oversized headers, 501 for a transfer coding we do not implement. */
  status: 400 | 431 | 501;
  /** Envoy's response code details, e.g. "http1.codec_error" or "http1.invalid_transfer_encoding". */
  details: string;
  /** The parser's reason, for logs. */
  reason: string;
}
