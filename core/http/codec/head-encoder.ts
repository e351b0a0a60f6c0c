import type { ByteEncoder } from "../../network/byte-sink.ts";
import { latin1Write } from "../../util/latin1.ts";
import type { HeaderMap } from "../header-map.ts";

/**
 * Serializes a start line and header fields, with no intermediate string: sized
 * first, then written byte by byte into the buffer the connection picks (one write per
 * head; byte-sink.ts). `extra` holds name/value pairs the codec adds (framing,
 * connection), `host` a request's authority.
 *
 * One instance serves every head: it is set up and used within one synchronous write.
 */
class HeadEncoder implements ByteEncoder {
  private startLine = "";
  /** A request line made of its parts (no string is built for it): `method SP path SP HTTP/1.1`. */
  private method: string | undefined;
  private path = "";
  private headers: HeaderMap | undefined;
  private extra: readonly string[] | undefined;
  private host: string | undefined;
  private properCase = false;
  byteLength = 0;

  set(
    startLine: string,
    headers: HeaderMap,
    extra: readonly string[] | undefined,
    host: string | undefined,
    method?: string,
    path = "",
    properCase = false,
  ): this {
    this.startLine = startLine;
    this.properCase = properCase;
    this.method = method;
    this.path = path;
    this.headers = headers;
    this.extra = extra;
    this.host = host;
    const count = headers.size;
    let size = (method === undefined ? startLine.length : method.length + path.length + REQUEST_LINE_VERSION.length + 1) + 4; // CRLF after the start line and the blank line
    if (host) size += host.length + 8;
    for (let i = 0; i < count; i++) size += headers.nameAt(i).length + headers.valueAt(i).length + 4;
    if (extra) for (let i = 0; i < extra.length; i += 2) size += extra[i]!.length + extra[i + 1]!.length + 4;
    this.byteLength = size;
    return this;
  }

  encodeInto(out: Uint8Array, at: number): void {
    const headers = this.headers!;
    const extra = this.extra;
    if (this.method === undefined) at = latin1Write(this.startLine, out, at);
    else {
      at = latin1Write(this.method, out, at);
      out[at++] = 32;
      at = latin1Write(this.path, out, at);
      at = latin1Write(REQUEST_LINE_VERSION, out, at);
    }
    out[at++] = 13;
    out[at++] = 10;
    // Host first, as clients send it (RFC 9112 §3.2 wants it in every HTTP/1.1 request).
    const properCase = this.properCase;
    if (this.host) at = writeField(out, at, "host", this.host, properCase);
    for (let i = 0; i < headers.size; i++) at = writeField(out, at, headers.nameAt(i), headers.valueAt(i), properCase);
    if (extra) for (let i = 0; i < extra.length; i += 2) at = writeField(out, at, extra[i]!, extra[i + 1]!, properCase);
    out[at++] = 13;
    out[at] = 10;
    // Let go of the message: the encoder outlives it.
    this.startLine = this.path = "";
    this.method = undefined;
    this.headers = this.extra = this.host = undefined;
  }
}

const REQUEST_LINE_VERSION = " HTTP/1.1";

const HEAD = new HeadEncoder();

/**
 * The head as an encoder, to hand to `writeEncoded` at once (the next head reuses it).
 * `properCase`: header names written Proper-Case (Http1ProtocolOptions.header_key_format).
 */
export function headEncoder(startLine: string, headers: HeaderMap, extra?: readonly string[], host?: string, properCase = false): ByteEncoder {
  return HEAD.set(startLine, headers, extra, host, undefined, "", properCase);
}

/** A request head, its request line made of `method` and `path`, as an encoder to hand to `writeEncoded` at once. */
export function requestHeadEncoder(method: string, path: string, headers: HeaderMap, extra?: readonly string[], host?: string): ByteEncoder {
  return HEAD.set("", headers, extra, host, method, path);
}

/** `name: value\r\n` at `at`; returns the new offset. */
function writeField(out: Uint8Array, at: number, name: string, value: string, properCase: boolean): number {
  const start = at;
  at = latin1Write(name, out, at);
  if (properCase) properCaseInPlace(out, start, at);
  out[at++] = 58; // ':'
  out[at++] = 32;
  at = latin1Write(value, out, at);
  out[at++] = 13;
  out[at++] = 10;
  return at;
}

/**
 * Envoy's ProperCaseHeaderKeyFormatter (http1/header_formatter.cc), on the name's bytes
 * where they were written: the first letter, and each letter after a character that is
 * neither a letter nor a digit, in upper case ("x-envoy-upstream" → "X-Envoy-Upstream").
 */
function properCaseInPlace(out: Uint8Array, start: number, end: number): void {
  let capitalize = true;
  for (let i = start; i < end; i++) {
    const c = out[i]!;
    const lower = c >= 97 && c <= 122;
    const alpha = lower || (c >= 65 && c <= 90);
    if (capitalize && lower) out[i] = c - 32;
    capitalize = !alpha && !(c >= 48 && c <= 57);
  }
}
