/**
 * HTTP/2 conformance, black-box, on node, bun and deno: h2spec's checklist (RFC 9113, RFC 7540
 * where h2spec cites it, RFC 7541) sent as exact frames over a raw TCP socket to the proxy
 * (codec_type HTTP2), each case on a connection of its own, asserting the outcome the RFC
 * requires — or, where Envoy (nghttp2) answers differently but still within the RFC, Envoy's:
 * GOAWAY with a code, RST_STREAM on stream 1 with the connection going on, or a connection
 * that stays usable (either way a request on a new stream sent behind the case is answered
 * 200 by the upstream, and a PING behind it ACKed). Then the upstream side: the proxy
 * talking HTTP/2 to a raw upstream this file controls, which misbehaves.
 *
 * h2spec's case numbers are given where a case is one of its (summerwind/h2spec, http2/ and
 * hpack/). Cases test/e2e/http2-malformed.test.ts already runs are not repeated.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { CLIENT_PREFACE } from "../../core/http2/frame.ts";
import { encodeHeadersFrames, encodePingFrame, encodeSettingsFrame } from "../../core/http2/frame-writer.ts";
import { HpackEncoder } from "../../core/http2/hpack-encoder.ts";
import { HpackWriter } from "../../core/http2/hpack-primitives.ts";
import { HpackDecoder } from "../../core/http2/hpack-decoder.ts";
import * as http from "node:http";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { corpusProxyConfig, exchange, GOOD_REQUEST_FIELDS, outcome, PING_AFTER, serverFrames } from "../support/h2-malformed-corpus.ts";
import { httpProxyConfig } from "../support/configs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const E = { PROTOCOL_ERROR: 1, FLOW_CONTROL_ERROR: 3, STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, COMPRESSION_ERROR: 9, ENHANCE_YOUR_CALM: 11 } as const;

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** Any frame, by hand (RFC 9113 §4.1). */
function frame(type: number, flags: number, streamId: number, payload: Uint8Array | number[] = []): Uint8Array {
  const p = payload instanceof Uint8Array ? payload : new Uint8Array(payload);
  const length = p.byteLength;
  return concat([new Uint8Array([(length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff, type, flags, (streamId >>> 24) & 0xff, (streamId >>> 16) & 0xff, (streamId >>> 8) & 0xff, streamId & 0xff]), p]);
}

const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const setting = (id: number, value: number) => [(id >>> 8) & 0xff, id & 0xff, ...u32(value)];
const START = () => concat([CLIENT_PREFACE, encodeSettingsFrame([])]);
const T = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
const F = { END_STREAM: 1, ACK: 1, END_HEADERS: 4, PADDED: 8, PRIORITY: 0x20 } as const;

/** A header block from a fresh encoder (each case is a new connection). */
function block(fields: readonly string[]): Uint8Array {
  const encoder = new HpackEncoder();
  const w = new HpackWriter();
  encoder.beginBlock(w);
  for (let i = 0; i < fields.length; i += 2) encoder.encodeField(w, fields[i]!, fields[i + 1]!);
  return w.bytes().slice();
}

/** HPACK literals without indexing, new name (RFC 7541 §6.2.2): the fields exactly as given. */
function literalBlock(fields: readonly string[]): Uint8Array {
  const w = new HpackWriter();
  for (let i = 0; i < fields.length; i += 2) {
    w.writeInteger(0, 4, 0x00);
    w.writeInteger(fields[i]!.length, 7, 0);
    for (const c of fields[i]!) w.writeInteger(c.charCodeAt(0), 8, 0);
    w.writeInteger(fields[i + 1]!.length, 7, 0);
    for (const c of fields[i + 1]!) w.writeInteger(c.charCodeAt(0), 8, 0);
  }
  return w.bytes().slice();
}

const GET = GOOD_REQUEST_FIELDS; // GET /ok: a direct response
const HANG = [":method", "GET", ":scheme", "http", ":path", "/hang", ":authority", "corpus.test"];
const POST_HANG = [":method", "POST", ":scheme", "http", ":path", "/hang", ":authority", "corpus.test"];
const headers = (id: number, fields: readonly string[], endStream: boolean) => frame(T.HEADERS, F.END_HEADERS | (endStream ? F.END_STREAM : 0), id, block(fields));
const raw = (id: number, fragment: Uint8Array | Uint8Array<ArrayBufferLike>, endStream = true) => frame(T.HEADERS, F.END_HEADERS | (endStream ? F.END_STREAM : 0), id, fragment);
const data = (id: number, bytes: number[] | Uint8Array, flags = 0) => frame(T.DATA, flags, id, bytes);

type Expect = { goAway: number } | { rstStream: number } | { ok: true };
interface Case {
  name: string;
  bytes: () => Uint8Array;
  expect: Expect;
}

const cases: Case[] = [
  // §3.4, §4.1: frame format.
  { name: "4.1/1 an unknown frame type is ignored", bytes: () => concat([START(), frame(0x16, 0, 0, [1, 2, 3])]), expect: { ok: true } },
  { name: "4.1/2 undefined flags on PING are ignored", bytes: () => concat([START(), frame(T.PING, 0x16, 0, [9, 9, 9, 9, 9, 9, 9, 9])]), expect: { ok: true } },
  { name: "4.1/3 the reserved bit of the stream id is ignored", bytes: () => concat([START(), frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 0x80000001, block(GET))]), expect: { ok: true } },
  // §4.2: frame size.
  { name: "4.2/1 DATA of exactly SETTINGS_MAX_FRAME_SIZE", bytes: () => concat([START(), headers(1, POST_HANG, false), data(1, new Uint8Array(16384))]), expect: { ok: true } },
  { name: "4.2/3 HEADERS larger than SETTINGS_MAX_FRAME_SIZE", bytes: () => concat([START(), frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, concat([block(GET), literalBlock(["x-big", "a".repeat(16400)])]))]), expect: { goAway: E.FRAME_SIZE_ERROR } },
  // §4.3: header compression and decompression.
  { name: "4.3/1 an invalid header block fragment", bytes: () => concat([START(), raw(1, new Uint8Array([0x00, 0x01, 0x61]))]), expect: { goAway: E.COMPRESSION_ERROR } },
  { name: "4.3/2 PRIORITY while a header block is open", bytes: () => concat([START(), frame(T.HEADERS, F.END_STREAM, 1, block(GET)), frame(T.PRIORITY, 0, 1, [0, 0, 0, 0, 16])]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "4.3/3 HEADERS on another stream while a header block is open", bytes: () => concat([START(), frame(T.HEADERS, F.END_STREAM, 1, block(GET)), headers(3, GET, true)]), expect: { goAway: E.PROTOCOL_ERROR } },
  // §5.1: stream states.
  { name: "5.1/idle RST_STREAM", bytes: () => concat([START(), frame(T.RST_STREAM, 0, 1, u32(8))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "5.1/idle WINDOW_UPDATE", bytes: () => concat([START(), frame(T.WINDOW_UPDATE, 0, 1, u32(100))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "5.1/idle CONTINUATION", bytes: () => concat([START(), frame(T.CONTINUATION, F.END_HEADERS, 1, block(GET))]), expect: { goAway: E.PROTOCOL_ERROR } },
  // nghttp2 ends the connection (RFC 9113 allows a stream error); h2spec accepts either.
  { name: "5.1/half-closed (remote) HEADERS", bytes: () => concat([START(), headers(1, HANG, true), headers(1, HANG, true)]), expect: { goAway: E.STREAM_CLOSED } },
  { name: "5.1/half-closed (remote) CONTINUATION", bytes: () => concat([START(), headers(1, HANG, true), frame(T.CONTINUATION, F.END_HEADERS, 1, block(GET))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "5.1.1/1 an even stream id from a client", bytes: () => concat([START(), headers(2, GET, true)]), expect: { goAway: E.PROTOCOL_ERROR } },
  // §5.5: extensions.
  { name: "5.5/2 an unknown frame inside a header block", bytes: () => concat([START(), frame(T.HEADERS, F.END_STREAM, 1, block(GET)), frame(0x16, 0, 1, [1])]), expect: { goAway: E.PROTOCOL_ERROR } },
  // §6.1 DATA.
  { name: "6.1/1 DATA on stream 0", bytes: () => concat([START(), data(0, [1, 2, 3])]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "6.1/3 DATA with a pad length past the payload", bytes: () => concat([START(), headers(1, POST_HANG, false), data(1, [6, 1, 2, 3, 4, 5], F.PADDED)]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "6.1 padded DATA within the payload", bytes: () => concat([START(), headers(1, POST_HANG, false), data(1, [2, 0x61, 0, 0], F.PADDED)]), expect: { ok: true } },
  // §6.2 HEADERS.
  { name: "6.2/1 HEADERS without END_HEADERS then a PRIORITY", bytes: () => concat([START(), frame(T.HEADERS, 0, 1, block(GET)), frame(T.PRIORITY, 0, 3, [0, 0, 0, 0, 16])]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "6.2/3 HEADERS with a pad length past the payload", bytes: () => concat([START(), frame(T.HEADERS, F.END_HEADERS | F.END_STREAM | F.PADDED, 1, concat([new Uint8Array([200]), block(GET)]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "6.2 padded HEADERS with a priority", bytes: () => concat([START(), frame(T.HEADERS, F.END_HEADERS | F.END_STREAM | F.PADDED | F.PRIORITY, 1, concat([new Uint8Array([3, 0, 0, 0, 0, 15]), block(GET), new Uint8Array(3)]))]), expect: { ok: true } },
  // §6.3 PRIORITY.
  { name: "6.3/1 PRIORITY on stream 0", bytes: () => concat([START(), frame(T.PRIORITY, 0, 0, [0, 0, 0, 1, 16])]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "6.3/2 PRIORITY of length 4: a stream error", bytes: () => concat([START(), frame(T.PRIORITY, 0, 1, [0, 0, 0, 0])]), expect: { rstStream: E.FRAME_SIZE_ERROR } },
  { name: "6.3 PRIORITY on an idle stream is allowed", bytes: () => concat([START(), frame(T.PRIORITY, 0, 9, [0, 0, 0, 0, 16])]), expect: { ok: true } },
  // §6.4 RST_STREAM.
  { name: "6.4/1 RST_STREAM on stream 0", bytes: () => concat([START(), frame(T.RST_STREAM, 0, 0, u32(8))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "6.4/3 RST_STREAM of length 3", bytes: () => concat([START(), headers(1, HANG, true), frame(T.RST_STREAM, 0, 1, [0, 0, 8])]), expect: { goAway: E.FRAME_SIZE_ERROR } },
  // §6.5 SETTINGS.
  { name: "6.5/1 SETTINGS ACK with a payload", bytes: () => concat([START(), frame(T.SETTINGS, F.ACK, 0, setting(3, 100))]), expect: { goAway: E.FRAME_SIZE_ERROR } },
  { name: "6.5/2 SETTINGS on a stream", bytes: () => concat([START(), frame(T.SETTINGS, 0, 1, setting(3, 100))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "6.5.2/1 SETTINGS_ENABLE_PUSH 2", bytes: () => concat([START(), frame(T.SETTINGS, 0, 0, setting(2, 2))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "6.5.2/2 SETTINGS_INITIAL_WINDOW_SIZE 2^31", bytes: () => concat([START(), frame(T.SETTINGS, 0, 0, setting(4, 2 ** 31))]), expect: { goAway: E.FLOW_CONTROL_ERROR } },
  { name: "6.5.2/3 SETTINGS_MAX_FRAME_SIZE 16383", bytes: () => concat([START(), frame(T.SETTINGS, 0, 0, setting(5, 16383))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "6.5.2/4 SETTINGS_MAX_FRAME_SIZE 2^24", bytes: () => concat([START(), frame(T.SETTINGS, 0, 0, setting(5, 2 ** 24))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "6.5.2/5 an unknown setting is ignored", bytes: () => concat([START(), frame(T.SETTINGS, 0, 0, setting(0xff, 1))]), expect: { ok: true } },
  // §6.7 PING.
  { name: "6.7/2 a PING ACK is not answered", bytes: () => concat([START(), frame(T.PING, F.ACK, 0, [7, 7, 7, 7, 7, 7, 7, 7])]), expect: { ok: true } },
  { name: "6.7/3 PING on a stream", bytes: () => concat([START(), frame(T.PING, 0, 1, [1, 2, 3, 4, 5, 6, 7, 8])]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "6.7/4 PING of length 6", bytes: () => concat([START(), frame(T.PING, 0, 0, [1, 2, 3, 4, 5, 6])]), expect: { goAway: E.FRAME_SIZE_ERROR } },
  // §6.8 GOAWAY.
  { name: "6.8/1 GOAWAY on a stream", bytes: () => concat([START(), frame(T.GOAWAY, 0, 1, [0, 0, 0, 0, 0, 0, 0, 0])]), expect: { goAway: E.PROTOCOL_ERROR } },
  // §6.9 WINDOW_UPDATE.
  { name: "6.9/2 WINDOW_UPDATE of 0 on a stream: a stream error", bytes: () => concat([START(), headers(1, HANG, true), frame(T.WINDOW_UPDATE, 0, 1, u32(0))]), expect: { rstStream: E.PROTOCOL_ERROR } },
  { name: "6.9/3 WINDOW_UPDATE of length 3", bytes: () => concat([START(), frame(T.WINDOW_UPDATE, 0, 0, [0, 0, 1])]), expect: { goAway: E.FRAME_SIZE_ERROR } },
  { name: "6.9.1/3 a stream window past 2^31-1: a stream error", bytes: () => concat([START(), headers(1, HANG, true), frame(T.WINDOW_UPDATE, 0, 1, u32(2 ** 31 - 1)), frame(T.WINDOW_UPDATE, 0, 1, u32(2 ** 31 - 1))]), expect: { rstStream: E.FLOW_CONTROL_ERROR } },
  { name: "6.9.2/3 SETTINGS_INITIAL_WINDOW_SIZE pushing an open stream's window past 2^31-1", bytes: () => concat([START(), headers(1, HANG, true), frame(T.WINDOW_UPDATE, 0, 1, u32(2 ** 31 - 1 - 65535)), frame(T.SETTINGS, 0, 0, setting(4, 65536))]), expect: { goAway: E.FLOW_CONTROL_ERROR } },
  // §6.10 CONTINUATION.
  { name: "6.10/1 a header block in several CONTINUATIONs", bytes: () => { const b = block(GET); return concat([START(), frame(T.HEADERS, F.END_STREAM, 1, b.subarray(0, 3)), frame(T.CONTINUATION, 0, 1, b.subarray(3, 6)), frame(T.CONTINUATION, F.END_HEADERS, 1, b.subarray(6))]); }, expect: { ok: true } },
  { name: "6.10/2 CONTINUATION then a non-CONTINUATION", bytes: () => { const b = block(GET); return concat([START(), frame(T.HEADERS, F.END_STREAM, 1, b.subarray(0, 3)), frame(T.CONTINUATION, 0, 1, b.subarray(3)), data(1, [1])]); }, expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "6.10/3 CONTINUATION on stream 0", bytes: () => { const b = block(GET); return concat([START(), frame(T.HEADERS, F.END_STREAM, 1, b.subarray(0, 3)), frame(T.CONTINUATION, F.END_HEADERS, 0, b.subarray(3))]); }, expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "6.10/4 CONTINUATION after HEADERS with END_HEADERS", bytes: () => concat([START(), headers(1, HANG, false), frame(T.CONTINUATION, F.END_HEADERS, 1, literalBlock(["x-a", "b"]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "6.10/5 CONTINUATION after a CONTINUATION with END_HEADERS", bytes: () => { const b = block(HANG); return concat([START(), frame(T.HEADERS, 0, 1, b.subarray(0, 3)), frame(T.CONTINUATION, F.END_HEADERS, 1, b.subarray(3)), frame(T.CONTINUATION, F.END_HEADERS, 1, literalBlock(["x-a", "b"]))]); }, expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "6.10/6 CONTINUATION after DATA", bytes: () => concat([START(), headers(1, POST_HANG, false), data(1, [1]), frame(T.CONTINUATION, F.END_HEADERS, 1, literalBlock(["x-a", "b"]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  // §8.1 message exchange (malformed: Envoy's default widens the stream error to the connection).
  { name: "8.1/1 a second HEADERS without END_STREAM", bytes: () => concat([START(), headers(1, POST_HANG, false), raw(1, literalBlock(["x-t", "1"]), false)]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "8.1.2/1 an uppercase header name", bytes: () => concat([START(), raw(1, concat([block(GET), literalBlock(["X-Upper", "1"])]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "8.1.2.1/1 an unknown pseudo-header", bytes: () => concat([START(), raw(1, concat([block(GET), literalBlock([":foo", "1"])]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "8.1.2.1/2 a response pseudo-header in a request", bytes: () => concat([START(), raw(1, concat([block(GET), literalBlock([":status", "200"])]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "8.1.2.1/3 a pseudo-header in trailers", bytes: () => concat([START(), headers(1, POST_HANG, false), raw(1, literalBlock([":method", "GET"]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "8.1.2.1/4 a pseudo-header after a regular one", bytes: () => concat([START(), raw(1, literalBlock([":method", "GET", ":scheme", "http", "x-a", "1", ":path", "/ok", ":authority", "a"]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "8.1.2.2/1 a connection-specific header", bytes: () => concat([START(), raw(1, concat([block(GET), literalBlock(["connection", "keep-alive"])]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "8.1.2.2/2 te other than trailers", bytes: () => concat([START(), raw(1, concat([block(GET), literalBlock(["te", "gzip"])]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "8.1.2.2 te: trailers is allowed", bytes: () => concat([START(), raw(1, concat([block(GET), literalBlock(["te", "trailers"])]))]), expect: { ok: true } },
  // Envoy's default codec, oghttp2, takes only token characters in a name and HTAB, SP,
  // VCHAR, obs-text in a value, and no leading/trailing whitespace check (codec_impl.cc turns
  // nghttp2's off too).
  { name: "8.2.1 a name outside the token characters (a=b)", bytes: () => concat([START(), raw(1, concat([block(GET), literalBlock(["a=b", "1"])]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "8.2.1 a control character in a value", bytes: () => concat([START(), raw(1, concat([block(GET), literalBlock(["x-a", "b\u0001c"])]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "8.2.1 a value with leading and trailing whitespace is served (as Envoy)", bytes: () => concat([START(), raw(1, concat([block(GET), literalBlock(["x-a", " b "])]))]), expect: { ok: true } },
  // Pseudo-header values go into the HTTP/1 request line upstream: whitespace there is refused.
  { name: "8.3.1 a space at the end of :method", bytes: () => concat([START(), raw(1, literalBlock([":method", "GET ", ":scheme", "http", ":path", "/ok", ":authority", "a"]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "8.3.1 a request line in :method", bytes: () => concat([START(), raw(1, literalBlock([":method", "GET /admin HTTP/1.1", ":scheme", "http", ":path", "/ok", ":authority", "a"]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "8.3.1 a tab at the end of :path", bytes: () => concat([START(), raw(1, literalBlock([":method", "GET", ":scheme", "http", ":path", "/ok\t", ":authority", "a"]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "8.1.2.3/1 an empty :path", bytes: () => concat([START(), raw(1, literalBlock([":method", "GET", ":scheme", "http", ":path", "", ":authority", "a"]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "8.1.2.3/2 no :method", bytes: () => concat([START(), raw(1, literalBlock([":scheme", "http", ":path", "/ok", ":authority", "a"]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "8.1.2.3/4 no :scheme", bytes: () => concat([START(), raw(1, literalBlock([":method", "GET", ":path", "/ok", ":authority", "a"]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "8.1.2.3/5 no :path", bytes: () => concat([START(), raw(1, literalBlock([":method", "GET", ":scheme", "http", ":authority", "a"]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "8.1.2.3/6 a duplicated :method", bytes: () => concat([START(), raw(1, literalBlock([":method", "GET", ":method", "GET", ":scheme", "http", ":path", "/ok", ":authority", "a"]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "8.1.2.6/1 content-length above the DATA", bytes: () => concat([START(), raw(1, concat([block(POST_HANG), literalBlock(["content-length", "5"])]), false), data(1, [1, 2, 3], F.END_STREAM)]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "8.1.2.6/2 content-length below several DATA", bytes: () => concat([START(), raw(1, concat([block(POST_HANG), literalBlock(["content-length", "2"])]), false), data(1, [1, 2]), data(1, [3], F.END_STREAM)]), expect: { goAway: E.PROTOCOL_ERROR } },
  { name: "8.2/1 PUSH_PROMISE from a client", bytes: () => concat([START(), headers(1, HANG, true), frame(T.PUSH_PROMISE, F.END_HEADERS, 1, concat([new Uint8Array(u32(2)), block(GET)]))]), expect: { goAway: E.PROTOCOL_ERROR } },
  // RFC 7541 (h2spec hpack/).
  { name: "hpack 2.3.3/1 a literal's name index past the tables", bytes: () => concat([START(), raw(1, concat([block(GET), new Uint8Array([0x0f, 0x30, 0x01, 0x61])]))]), expect: { goAway: E.COMPRESSION_ERROR } },
  { name: "hpack 4.2/1 a table size update above SETTINGS_HEADER_TABLE_SIZE", bytes: () => concat([START(), raw(1, concat([new Uint8Array([0x3f, 0xe2, 0x1f]), block(GET)]))]), expect: { goAway: E.COMPRESSION_ERROR } },
  { name: "hpack 4.2 a table size update after a field", bytes: () => concat([START(), raw(1, concat([block(GET), new Uint8Array([0x20])]))]), expect: { goAway: E.COMPRESSION_ERROR } },
  { name: "hpack 4.2 two table size updates first are allowed", bytes: () => concat([START(), raw(1, concat([new Uint8Array([0x20, 0x3f, 0xe1, 0x1f]), block(GET)]))]), expect: { ok: true } },
  { name: "hpack 5.1 an integer past 2^32", bytes: () => concat([START(), raw(1, concat([block(GET), new Uint8Array([0x0f, 0x01, 0xff, 0xff, 0xff, 0xff, 0x7f])]))]), expect: { goAway: E.COMPRESSION_ERROR } },
  { name: "hpack 5.2/1 a Huffman string with EOS", bytes: () => concat([START(), raw(1, concat([block(GET), new Uint8Array([0x00, 0x84, 0xff, 0xff, 0xff, 0xff, 0x01, 0x61])]))]), expect: { goAway: E.COMPRESSION_ERROR } },
  { name: "hpack 5.2/2 Huffman padding longer than 7 bits", bytes: () => concat([START(), raw(1, concat([block(GET), new Uint8Array([0x00, 0x82, 0x1f, 0xff, 0x01, 0x61])]))]), expect: { goAway: E.COMPRESSION_ERROR } },
  { name: "hpack 5.2/3 Huffman padding of zeros", bytes: () => concat([START(), raw(1, concat([block(GET), new Uint8Array([0x00, 0x81, 0x00, 0x01, 0x61])]))]), expect: { goAway: E.COMPRESSION_ERROR } },
  { name: "hpack 6.1/1 index 0", bytes: () => concat([START(), raw(1, concat([block(GET), new Uint8Array([0x80])]))]), expect: { goAway: E.COMPRESSION_ERROR } },
  // Envoy's flood protection counts a DATA frame by its payload without the padding
  // (codec_impl.cc trackInboundFrames: is_empty = length - padding_length == 0).
  // Envoy counts each HEADERS and CONTINUATION frame (codec_impl.cc onBeforeFrameReceived).
  { name: "envoy: empty CONTINUATION frames are empty frames (max_consecutive_inbound_frames_with_empty_payload)", bytes: () => concat([START(), frame(T.HEADERS, F.END_STREAM, 1, block(GET)), frame(T.CONTINUATION, 0, 1), frame(T.CONTINUATION, 0, 1), frame(T.CONTINUATION, F.END_HEADERS, 1)]), expect: { goAway: E.ENHANCE_YOUR_CALM } },
  { name: "envoy: one empty CONTINUATION frame is allowed", bytes: () => { const b = block(GET); return concat([START(), frame(T.HEADERS, F.END_STREAM, 1, b.subarray(0, 3)), frame(T.CONTINUATION, 0, 1), frame(T.CONTINUATION, F.END_HEADERS, 1, b.subarray(3))]); }, expect: { ok: true } },
  { name: "envoy: padded DATA frames without a byte of body are empty frames (max_consecutive_inbound_frames_with_empty_payload)", bytes: () => concat([START(), headers(1, POST_HANG, false), ...Array.from({ length: 4 }, () => data(1, [0], F.PADDED))]), expect: { goAway: E.ENHANCE_YOUR_CALM } },
];

/**
 * The request that shows a connection goes on after a case: a new stream (above every stream
 * a case uses) to the upstream, then the PING. A proxy that silently stopped serving the
 * connection would ACK the PING and never answer it.
 */
const NEXT_STREAM = 101;
const UPSTREAM_BODY = "from the upstream";
const NEXT_REQUEST = (stream = NEXT_STREAM) => concat([headers(stream, [":method", "GET", ":scheme", "http", ":path", "/up", ":authority", "corpus.test"], true), PING_AFTER]);

/** The response on `stream` in the server's bytes: its :status (every header block decoded in order) and its body, once ended. */
function response(received: Uint8Array, stream: number): { status: string | undefined; body: string; ended: boolean } {
  const decoder = new HpackDecoder();
  let status: string | undefined;
  let body = "";
  let ended = false;
  for (const f of serverFrames(received)) {
    if (f.type === T.HEADERS) {
      // The proxy sends no padding or priority on its HEADERS, and no CONTINUATION for a
      // response this small.
      decoder.decode(f.payload, { onHeader: (name, value) => void (f.stream === stream && name === ":status" && (status = value)) });
      if (f.stream === stream && f.flags & F.END_STREAM) ended = true;
    } else if (f.type === T.DATA && f.stream === stream) {
      body += new TextDecoder().decode(f.payload);
      if (f.flags & F.END_STREAM) ended = true;
    }
  }
  return { status, body, ended };
}

/** An HTTP/1 upstream answering every request 200 with UPSTREAM_BODY. */
async function answeringUpstream(): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((_req, res) => res.end(UPSTREAM_BODY));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port };
}

function proxyConfigWith(port: number, hangPort: number, adminPort: number, http2Options: Record<string, unknown> = {}, upPort?: number): Record<string, unknown> {
  const config = corpusProxyConfig(port, hangPort) as { static_resources: { listeners: { filter_chains: { filters: { typed_config: Record<string, any> }[] }[] }[]; clusters: object[] } } & Record<string, unknown>;
  const hcm = config.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config;
  hcm["http2_protocol_options"] = http2Options;
  if (upPort !== undefined) {
    hcm.route_config.virtual_hosts[0].routes.unshift({ match: { prefix: "/up" }, route: { cluster: "up" } });
    config.static_resources.clusters.push({ name: "up", type: "STATIC", connect_timeout: "5s", load_assignment: { cluster_name: "up", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: upPort } } } }] }] } });
  }
  config["admin"] = { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } };
  return config;
}

describe.each(RUNTIMES)("HTTP/2 conformance (h2spec's checklist) downstream on %s", (runtime) => {
  let hang: net.Server;
  let up: http.Server;
  let proxy: ProxyProcess;
  let port: number;

  beforeAll(async () => {
    hang = net.createServer((socket) => socket.on("error", () => {}));
    await new Promise<void>((r) => hang.listen(0, "127.0.0.1", r));
    const upstream = await answeringUpstream();
    up = upstream.server;
    port = await freePort();
    proxy = await ProxyProcess.start(runtime, proxyConfigWith(port, (hang.address() as AddressInfo).port, await freePort(), {}, upstream.port));
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    hang?.close();
    up?.close();
  });

  test.each(cases.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    if ("goAway" in c.expect) {
      const { received, closed } = await exchange(port, c.bytes(), 15_000);
      expect(outcome(received).goAway).toBe(c.expect.goAway);
      expect(closed).toBe(true);
      return;
    }
    // The connection goes on: a request on a new stream behind the case is answered by the
    // upstream, and the PING behind it ACKed.
    const { received } = await exchange(port, concat([c.bytes(), NEXT_REQUEST()]), 15_000, (r) => outcome(r).pingAck && response(r, NEXT_STREAM).ended);
    const seen = outcome(received);
    expect(seen.goAway).toBeUndefined();
    expect(seen.pingAck).toBe(true);
    expect(seen.rstStream).toBe("rstStream" in c.expect ? c.expect.rstStream : undefined);
    expect(response(received, NEXT_STREAM)).toEqual({ status: "200", body: UPSTREAM_BODY, ended: true });
  });

  test("3.5 the server's preface is a SETTINGS frame; 6.5.3 our SETTINGS are ACKed; 6.7/1 a PING is ACKed with its payload", async () => {
    const opaque = [0x70, 0x6f, 0x6c, 0x79, 0x76, 0x6f, 0x79, 0x21];
    const { received } = await exchange(port, concat([START(), frame(T.PING, 0, 0, opaque)]), 15_000, (r) => serverFrames(r).some((f) => f.type === T.PING));
    const frames = serverFrames(received);
    expect(frames[0]).toMatchObject({ type: T.SETTINGS, flags: 0, stream: 0 });
    expect(frames.some((f) => f.type === T.SETTINGS && f.flags === F.ACK && f.payload.byteLength === 0)).toBe(true);
    const pong = frames.find((f) => f.type === T.PING)!;
    expect(pong.flags).toBe(F.ACK);
    expect([...pong.payload]).toEqual(opaque);
  });

  test("6.9.1/1 SETTINGS_INITIAL_WINDOW_SIZE 1: the response body comes one byte at a time, and the rest after a WINDOW_UPDATE", async () => {
    const bytes = concat([CLIENT_PREFACE, frame(T.SETTINGS, 0, 0, setting(4, 1)), headers(1, GET, true)]);
    const body = (r: Uint8Array) => serverFrames(r).filter((f) => f.type === T.DATA && f.stream === 1);
    const first = await new Promise<Uint8Array[]>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      const chunks: Buffer[] = [];
      let opened = false;
      socket.on("data", (d: Buffer) => {
        chunks.push(d);
        const got = body(new Uint8Array(Buffer.concat(chunks)));
        if (got.length === 1 && !opened) {
          opened = true;
          socket.write(frame(T.WINDOW_UPDATE, 0, 1, u32(100)));
        }
        if (got.some((f) => f.flags & F.END_STREAM)) {
          socket.destroy();
          resolve(got.map((f) => f.payload));
        }
      });
      socket.on("error", () => resolve([]));
      socket.write(bytes);
    });
    expect(first[0]!.byteLength).toBe(1);
    expect(new TextDecoder().decode(concat(first))).toBe("still serving");
  });

});

describe.each(RUNTIMES)("HTTP/2 conformance downstream, max_concurrent_streams 1, on %s", (runtime) => {
  let hang: net.Server;
  let up: http.Server;
  let proxy: ProxyProcess;
  let port: number;

  beforeAll(async () => {
    hang = net.createServer((socket) => socket.on("error", () => {}));
    await new Promise<void>((r) => hang.listen(0, "127.0.0.1", r));
    const upstream = await answeringUpstream();
    up = upstream.server;
    port = await freePort();
    proxy = await ProxyProcess.start(runtime, proxyConfigWith(port, (hang.address() as AddressInfo).port, await freePort(), { max_concurrent_streams: 1 }, upstream.port));
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    hang?.close();
    up?.close();
  });

  test("5.1.2/1 the second concurrent stream is refused (REFUSED_STREAM), the connection goes on", async () => {
    // The connection goes on: once the client cancels stream 1, a request on a new stream is
    // answered by the upstream.
    const bytes = concat([START(), headers(1, HANG, true), headers(3, HANG, true), frame(T.RST_STREAM, 0, 1, u32(8)), NEXT_REQUEST()]);
    const { received } = await exchange(port, bytes, 15_000, (r) => outcome(r).pingAck && response(r, NEXT_STREAM).ended);
    const rst = serverFrames(received).find((f) => f.type === T.RST_STREAM)!;
    expect(rst.stream).toBe(3);
    expect(rst.payload[3]).toBe(E.REFUSED_STREAM);
    expect(outcome(received).goAway).toBeUndefined();
    expect(response(received, NEXT_STREAM)).toEqual({ status: "200", body: UPSTREAM_BODY, ended: true });
  });
});

// ---------------------------------------------------------------------------------------- upstream

interface UpstreamLog {
  connections: number;
  goAways: number[];
  rsts: number[];
}

/**
 * A raw HTTP/2 upstream: SETTINGS, then, on each request HEADERS, `respond(streamId, encoder)`
 * writes what the scenario wants. Logs the GOAWAY codes and RST_STREAM codes the proxy sends.
 */
async function rawUpstream(respond: (streamId: number, encoder: HpackEncoder) => Uint8Array[]): Promise<{ server: net.Server; port: number; log: UpstreamLog }> {
  const log: UpstreamLog = { connections: 0, goAways: [], rsts: [] };
  const server = net.createServer((socket) => {
    log.connections++;
    socket.on("error", () => {});
    const encoder = new HpackEncoder();
    let buffered: Uint8Array = new Uint8Array(0);
    let prefaceSeen = false;
    socket.write(frame(T.SETTINGS, 0, 0, []));
    socket.on("data", (d: Buffer) => {
      buffered = concat([buffered, new Uint8Array(d)]);
      if (!prefaceSeen) {
        if (buffered.byteLength < CLIENT_PREFACE.byteLength) return;
        buffered = buffered.subarray(CLIENT_PREFACE.byteLength);
        prefaceSeen = true;
      }
      for (;;) {
        if (buffered.byteLength < 9) return;
        const length = (buffered[0]! << 16) | (buffered[1]! << 8) | buffered[2]!;
        if (buffered.byteLength < 9 + length) return;
        const type = buffered[3]!;
        const flags = buffered[4]!;
        const stream = ((buffered[5]! & 0x7f) << 24) | (buffered[6]! << 16) | (buffered[7]! << 8) | buffered[8]!;
        const payload = buffered.subarray(9, 9 + length);
        buffered = buffered.subarray(9 + length);
        if (type === T.SETTINGS && !(flags & F.ACK)) socket.write(frame(T.SETTINGS, F.ACK, 0, []));
        else if (type === T.GOAWAY) log.goAways.push(payload[7]!);
        else if (type === T.RST_STREAM) log.rsts.push(payload[3]!);
        else if (type === T.HEADERS) for (const out of respond(stream, encoder)) socket.write(out);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port, log };
}

function responseBlock(encoder: HpackEncoder, fields: readonly string[]): Uint8Array {
  const w = new HpackWriter();
  encoder.beginBlock(w);
  for (let i = 0; i < fields.length; i += 2) encoder.encodeField(w, fields[i]!, fields[i + 1]!);
  return w.bytes().slice();
}

const UPSTREAM_SCENARIOS: Record<string, (id: number, encoder: HpackEncoder) => Uint8Array[]> = {
  // RFC 9110 §9.3.2, §15.4.5: a HEAD or 304 response's content-length describes the body it
  // does not have; a server may still end the stream with an empty DATA frame.
  head: (id, enc) => [encodeHeadersFrames(id, responseBlock(enc, [":status", "200", "content-length", "1234"]), false, 16384), data(id, [], F.END_STREAM)],
  notmodified: (id, enc) => [encodeHeadersFrames(id, responseBlock(enc, [":status", "304", "content-length", "1234"]), false, 16384), data(id, [], F.END_STREAM)],
  push: (id, enc) => [frame(T.PUSH_PROMISE, F.END_HEADERS, id, concat([new Uint8Array(u32(2)), responseBlock(enc, [":method", "GET", ":scheme", "http", ":path", "/p", ":authority", "a"])]))],
  evenstream: (id, enc) => [encodeHeadersFrames(id + 1, responseBlock(enc, [":status", "200"]), true, 16384)],
  badlength: (id, enc) => [encodeHeadersFrames(id, responseBlock(enc, [":status", "200", "content-length", "10"]), false, 16384), data(id, [1, 2, 3], F.END_STREAM)],
  // RFC 9113 §8.6: HTTP/2 has no 101.
  switching: (id, enc) => [encodeHeadersFrames(id, responseBlock(enc, [":status", "101"]), false, 16384), encodeHeadersFrames(id, responseBlock(enc, [":status", "200"]), true, 16384)],
  rstnoerror: (id, enc) => [encodeHeadersFrames(id, responseBlock(enc, [":status", "200"]), false, 16384), data(id, [0x6f, 0x6b], F.END_STREAM)],
};

describe.each(RUNTIMES)("HTTP/2 conformance upstream (a raw HTTP/2 upstream that misbehaves) on %s", (runtime) => {
  const upstreams: Record<string, Awaited<ReturnType<typeof rawUpstream>>> = {};
  let proxy: ProxyProcess;
  let port: number;

  beforeAll(async () => {
    for (const [name, respond] of Object.entries(UPSTREAM_SCENARIOS)) upstreams[name] = await rawUpstream(respond);
    port = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: Object.fromEntries(Object.entries(upstreams).map(([name, u]) => [name, [u.port]])),
      routes: Object.keys(upstreams).map((name) => ({ match: { prefix: `/${name}` }, cluster: name })),
      clusterExtra: {
        typed_extension_protocol_options: {
          "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            explicit_http_config: { http2_protocol_options: {} },
          },
        },
      },
    });
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    for (const u of Object.values(upstreams)) u.server.close();
  });

  const url = (path: string) => `http://127.0.0.1:${port}${path}`;

  test("a HEAD response with content-length, ended by an empty DATA frame: served, the upstream connection kept (nghttp2 expects no body after HEAD)", async () => {
    const res = await fetch(url("/head"), { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe("1234");
    const again = await fetch(url("/head"), { method: "HEAD" });
    expect(again.status).toBe(200);
    const after = await fetch(url("/head"), { method: "HEAD" });
    expect(after.status).toBe(200);
    expect(upstreams["head"]!.log.goAways).toEqual([]);
    expect(upstreams["head"]!.log.connections).toBe(1);
  });

  test("a 304 with content-length, ended by an empty DATA frame: served, the upstream connection kept", async () => {
    const res = await fetch(url("/notmodified"));
    expect(res.status).toBe(304);
    const again = await fetch(url("/notmodified"));
    expect(again.status).toBe(304);
    expect(upstreams["notmodified"]!.log.goAways).toEqual([]);
    expect(upstreams["notmodified"]!.log.connections).toBe(1);
  });

  test("8.4 PUSH_PROMISE from an upstream (we sent SETTINGS_ENABLE_PUSH 0): GOAWAY PROTOCOL_ERROR, a 502 downstream", async () => {
    const res = await fetch(url("/push"));
    // Envoy's answer to an upstream protocol error (router.cc: 502 for ProtocolError).
    expect(res.status).toBe(502);
    await res.text();
    expect(upstreams["push"]!.log.goAways).toEqual([E.PROTOCOL_ERROR]);
  });

  test("5.1.1 a server-initiated (even) stream's HEADERS: GOAWAY PROTOCOL_ERROR, a 502 downstream", async () => {
    const res = await fetch(url("/evenstream"));
    // Envoy's answer to an upstream protocol error (router.cc: 502 for ProtocolError).
    expect(res.status).toBe(502);
    await res.text();
    expect(upstreams["evenstream"]!.log.goAways).toEqual([E.PROTOCOL_ERROR]);
  });

  test("8.1.1 a response body shorter than its content-length: malformed, GOAWAY PROTOCOL_ERROR (Envoy's default), the downstream response cut", async () => {
    await expect(fetch(url("/badlength")).then((r) => r.arrayBuffer())).rejects.toThrow();
    await expect.poll(() => upstreams["badlength"]!.log.goAways).toEqual([E.PROTOCOL_ERROR]);
  });

  test("8.6 a 101 from an HTTP/2 upstream: malformed, GOAWAY PROTOCOL_ERROR (nghttp2 and oghttp2 refuse it), a 502 downstream", async () => {
    const res = await fetch(url("/switching"));
    expect(res.status).toBe(502);
    await res.text();
    expect(upstreams["switching"]!.log.goAways).toEqual([E.PROTOCOL_ERROR]);
  });

  test("a well-formed response through the same proxy", async () => {
    const res = await fetch(url("/rstnoerror"));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("ok");
  });
});
