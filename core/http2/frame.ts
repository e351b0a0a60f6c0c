/**
 * HTTP/2's frame vocabulary (RFC 9113 §4, §6, §7, §11): frame types, flags, error codes,
 * settings identifiers and their initial values, and the errors a malformed frame makes,
 * classified as §5.4 says — a connection error (GOAWAY, then close) or a stream error
 * (RST_STREAM on that stream only).
 */

/** 9-byte frame header (§4.1). */
export const FRAME_HEADER_LENGTH = 9;

export const enum FrameType {
  DATA = 0x0,
  HEADERS = 0x1,
  PRIORITY = 0x2,
  RST_STREAM = 0x3,
  SETTINGS = 0x4,
  PUSH_PROMISE = 0x5,
  PING = 0x6,
  GOAWAY = 0x7,
  WINDOW_UPDATE = 0x8,
  CONTINUATION = 0x9,
}

export const enum FrameFlag {
  END_STREAM = 0x1,
  ACK = 0x1,
  END_HEADERS = 0x4,
  PADDED = 0x8,
  PRIORITY = 0x20,
}

/** Error codes (§7). */
export const enum Http2ErrorCode {
  NO_ERROR = 0x0,
  PROTOCOL_ERROR = 0x1,
  INTERNAL_ERROR = 0x2,
  FLOW_CONTROL_ERROR = 0x3,
  SETTINGS_TIMEOUT = 0x4,
  STREAM_CLOSED = 0x5,
  FRAME_SIZE_ERROR = 0x6,
  REFUSED_STREAM = 0x7,
  CANCEL = 0x8,
  COMPRESSION_ERROR = 0x9,
  CONNECT_ERROR = 0xa,
  ENHANCE_YOUR_CALM = 0xb,
  INADEQUATE_SECURITY = 0xc,
  HTTP_1_1_REQUIRED = 0xd,
}

const ERROR_NAMES = [
  "NO_ERROR",
  "PROTOCOL_ERROR",
  "INTERNAL_ERROR",
  "FLOW_CONTROL_ERROR",
  "SETTINGS_TIMEOUT",
  "STREAM_CLOSED",
  "FRAME_SIZE_ERROR",
  "REFUSED_STREAM",
  "CANCEL",
  "COMPRESSION_ERROR",
  "CONNECT_ERROR",
  "ENHANCE_YOUR_CALM",
  "INADEQUATE_SECURITY",
  "HTTP_1_1_REQUIRED",
];

/** An error code's name (unknown codes must be treated as INTERNAL_ERROR but are named by number, §7). */
export function http2ErrorName(code: number): string {
  return ERROR_NAMES[code] ?? `0x${code.toString(16)}`;
}

/** Settings identifiers (§6.5.2). */
export const enum SettingId {
  HEADER_TABLE_SIZE = 0x1,
  ENABLE_PUSH = 0x2,
  MAX_CONCURRENT_STREAMS = 0x3,
  INITIAL_WINDOW_SIZE = 0x4,
  MAX_FRAME_SIZE = 0x5,
  MAX_HEADER_LIST_SIZE = 0x6,
  /** RFC 8441 (extended CONNECT). */
  ENABLE_CONNECT_PROTOCOL = 0x8,
}

/** §6.5.2's initial values, and the protocol's bounds. */
export const DEFAULT_HEADER_TABLE_SIZE = 4096;
export const DEFAULT_INITIAL_WINDOW_SIZE = 65_535;
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
export const MAX_MAX_FRAME_SIZE = 16_777_215;
export const MAX_WINDOW_SIZE = 2 ** 31 - 1;

/** The client connection preface (§3.4). */
export const CLIENT_PREFACE = new Uint8Array([...'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'].map((c) => c.charCodeAt(0)));

/** A frame that breaks the protocol, and what it costs (§5.4). */
export class Http2ProtocolError {
  constructor(
    /** "connection": GOAWAY with `code` and close; "stream": RST_STREAM `streamId` with `code`. */
    readonly scope: "connection" | "stream",
    readonly code: Http2ErrorCode,
    readonly streamId: number,
    readonly reason: string,
  ) {}

  static connection(code: Http2ErrorCode, reason: string): Http2ProtocolError {
    return new Http2ProtocolError("connection", code, 0, reason);
  }

  static stream(streamId: number, code: Http2ErrorCode, reason: string): Http2ProtocolError {
    return new Http2ProtocolError("stream", code, streamId, reason);
  }
}
