/**
 * The interfaces between the HTTP/1 codecs and what drives them (Envoy's
 * `Http::RequestDecoder`, `ResponseEncoder`, `RequestEncoder`, `ResponseDecoder`).
 */
import type { HeaderMap } from "../header-map.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";

/** Receives one downstream request, piece by piece. */
export interface RequestDecoder {
  decodeHeaders(headers: RequestHeaders, endStream: boolean): void;
  decodeData(data: Uint8Array, endStream: boolean): void;
  decodeTrailers(trailers: HeaderMap): void;
  /** After a 101/CONNECT upgrade: raw bytes from the client (endStream on its FIN). */
  decodeUpgradeData(data: Uint8Array, endStream: boolean): void;
}

/** Sends one response downstream. */
export interface ResponseEncoder {
  encodeHeaders(headers: ResponseHeaders, endStream: boolean): void;
  encodeData(data: Uint8Array, endStream: boolean): void;
  encodeTrailers(trailers: HeaderMap): void;
  /** After a 101: raw bytes to the client. */
  encodeUpgradeData(data: Uint8Array, endStream: boolean): void;
}

/** Sends one request upstream. */
export interface RequestEncoder {
  encodeHeaders(headers: RequestHeaders, endStream: boolean): void;
  encodeData(data: Uint8Array, endStream: boolean): void;
  encodeTrailers(trailers: HeaderMap): void;
  encodeUpgradeData(data: Uint8Array, endStream: boolean): void;
}

/** Receives one upstream response. */
export interface ResponseDecoder {
  decodeHeaders(headers: ResponseHeaders, endStream: boolean): void;
  decodeData(data: Uint8Array, endStream: boolean): void;
  decodeTrailers(trailers: HeaderMap): void;
  decodeUpgradeData(data: Uint8Array, endStream: boolean): void;
}

/** Why a codec refused the bytes it was given. */
export interface CodecError {
  /** The local reply Envoy sends: 400 for malformed input, 431 for oversized headers. */
  status: 400 | 431;
  /** Envoy's response code details, e.g. "http1.codec_error" or "http1.headers_too_large". */
  details: string;
  /** llhttp's reason, for logs. */
  reason: string;
}
