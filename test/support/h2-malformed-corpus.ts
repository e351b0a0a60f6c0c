/**
 * A corpus of malformed HTTP/2 client byte streams, each with how Envoy answers it
 * (source/common/http/http2/codec_impl.cc on nghttp2, protocol_constraints.cc, and the
 * HCM's premature-reset check): the GOAWAY error code, or the stream's RST_STREAM code with
 * the connection going on, or the connection closed without GOAWAY. The same corpus runs
 * against a whole proxy on the memory runtime (test/memory/http2-malformed.test.ts) and
 * through real sockets on node, bun and deno (test/e2e/http2-malformed.test.ts); after each
 * case the proxy must still serve a well-formed request (no crash, nothing held).
 *
 * The proxy listens with codec_type HTTP2 and routes `/hang` to an upstream that never
 * answers (so a reset stream is reset before its response: the rapid-reset case).
 */
import * as net from "node:net";
import { CLIENT_PREFACE } from "../../core/http2/frame.ts";
import {
  encodeDataFrame,
  encodeHeadersFrames,
  encodePingFrame,
  encodePriorityFrame,
  encodeRstStreamFrame,
  encodeSettingsFrame,
  encodeWindowUpdateFrame,
} from "../../core/http2/frame-writer.ts";
import { HpackEncoder } from "../../core/http2/hpack-encoder.ts";
import { HpackWriter } from "../../core/http2/hpack-primitives.ts";

/** RFC 9113 §7 error codes the cases expect. */
export const H2 = { PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6, COMPRESSION_ERROR: 9, ENHANCE_YOUR_CALM: 11 } as const;

export type Expectation =
  /** The connection ends with GOAWAY carrying this code. */
  | { goAway: number }
  /** Stream 1 is reset with this code; the connection goes on (a PING sent after is answered). */
  | { rstStream: number }
  /** The connection is closed without GOAWAY (Envoy's Abort close). */
  | { closedWithoutGoAway: true };

export interface MalformedCase {
  name: string;
  bytes: Uint8Array;
  expect: Expectation;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

const START = () => concat([CLIENT_PREFACE, encodeSettingsFrame([])]);

function block(fields: readonly string[]): Uint8Array {
  const encoder = new HpackEncoder();
  const w = new HpackWriter();
  encoder.beginBlock(w);
  for (let i = 0; i < fields.length; i += 2) encoder.encodeField(w, fields[i]!, fields[i + 1]!);
  return w.bytes().slice();
}

export const GOOD_REQUEST_FIELDS = [":method", "GET", ":scheme", "http", ":path", "/ok", ":authority", "corpus.test"];

/** A frame header by hand, for frames the writer will not make (oversized, CONTINUATION alone). */
function frameHeader(length: number, type: number, flags: number, streamId: number): Uint8Array {
  return new Uint8Array([(length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff, type, flags, (streamId >>> 24) & 0x7f, (streamId >>> 16) & 0xff, (streamId >>> 8) & 0xff, streamId & 0xff]);
}

/** An HPACK bomb: one 4000-byte field put in the dynamic table, then referenced 30 times (120 KB decoded from ~4 KB). */
function hpackBomb(): Uint8Array {
  const w = new HpackWriter();
  const encoder = new HpackEncoder();
  encoder.beginBlock(w);
  for (let i = 0; i < GOOD_REQUEST_FIELDS.length; i += 2) encoder.encodeField(w, GOOD_REQUEST_FIELDS[i]!, GOOD_REQUEST_FIELDS[i + 1]!);
  // Literal with incremental indexing, new name (RFC 7541 §6.2.1).
  w.writeInteger(0, 6, 0x40);
  w.writeString("x-bomb");
  w.writeString("a".repeat(4000));
  // The newest dynamic entry is index 62 (§2.3.3).
  for (let i = 0; i < 30; i++) w.writeInteger(62, 7, 0x80);
  return w.bytes().slice();
}

function rapidReset(streams: number): Uint8Array {
  const parts = [START()];
  const encoder = new HpackEncoder();
  for (let i = 0; i < streams; i++) {
    const id = 2 * i + 1;
    const w = new HpackWriter();
    encoder.beginBlock(w);
    for (const [name, value] of [[":method", "GET"], [":scheme", "http"], [":path", "/hang"], [":authority", "corpus.test"]] as const) encoder.encodeField(w, name, value);
    parts.push(encodeHeadersFrames(id, w.bytes().slice(), true, 16384), encodeRstStreamFrame(id, 8));
  }
  return concat(parts);
}

export function malformedCorpus(): MalformedCase[] {
  const request = block(GOOD_REQUEST_FIELDS);
  const hangRequest = block([":method", "GET", ":scheme", "http", ":path", "/hang", ":authority", "corpus.test"]);
  return [
    { name: "bad preface", bytes: new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"), expect: { goAway: H2.PROTOCOL_ERROR } },
    { name: "first frame not SETTINGS (a PING)", bytes: concat([CLIENT_PREFACE, encodePingFrame(new Uint8Array(8), false)]), expect: { goAway: H2.PROTOCOL_ERROR } },
    { name: "oversized frame (DATA of 16385 bytes over SETTINGS_MAX_FRAME_SIZE 16384)", bytes: concat([START(), frameHeader(16385, 0x0, 0, 1), new Uint8Array(16385)]), expect: { goAway: H2.FRAME_SIZE_ERROR } },
    { name: "SETTINGS with a length not a multiple of 6", bytes: concat([CLIENT_PREFACE, frameHeader(5, 0x4, 0, 0), new Uint8Array(5)]), expect: { goAway: H2.FRAME_SIZE_ERROR } },
    { name: "HEADERS on stream 0", bytes: concat([START(), encodeHeadersFrames(0, request, true, 16384)]), expect: { goAway: H2.PROTOCOL_ERROR } },
    { name: "HPACK: an index past the tables", bytes: concat([START(), frameHeader(2, 0x1, 0x5, 1), new Uint8Array([0xff, 0x7f])]), expect: { goAway: H2.COMPRESSION_ERROR } },
    { name: "HPACK bomb: 120 KB of headers from 4 KB, over max_request_headers_kb", bytes: concat([START(), encodeHeadersFrames(1, hpackBomb(), true, 16384)]), expect: { rstStream: H2.INTERNAL_ERROR } },
    { name: "flow control: a connection WINDOW_UPDATE past 2^31-1", bytes: concat([START(), encodeWindowUpdateFrame(0, 2 ** 31 - 1), encodeWindowUpdateFrame(0, 2 ** 31 - 1)]), expect: { goAway: H2.FLOW_CONTROL_ERROR } },
    { name: "flow control: a WINDOW_UPDATE of 0 on the connection", bytes: concat([START(), encodeWindowUpdateFrame(0, 0)]), expect: { goAway: H2.PROTOCOL_ERROR } },
    { name: "DATA on an idle stream", bytes: concat([START(), encodeDataFrame(3, new Uint8Array(10), false)]), expect: { goAway: H2.PROTOCOL_ERROR } },
    // The request ended (END_STREAM) and its response is pending: nghttp2 ends the connection.
    { name: "DATA on a half-closed (remote) stream", bytes: concat([START(), encodeHeadersFrames(1, hangRequest, true, 16384), encodeDataFrame(1, new Uint8Array(10), false)]), expect: { goAway: H2.STREAM_CLOSED } },
    {
      name: "CONTINUATION flood: a header block that never ends",
      bytes: concat([START(), frameHeader(request.byteLength, 0x1, 0x0, 1), request, ...Array.from({ length: 64 }, () => concat([frameHeader(1, 0x9, 0, 1), new Uint8Array([0x40])]))]),
      expect: { goAway: H2.ENHANCE_YOUR_CALM },
    },
    { name: "CONTINUATION without HEADERS", bytes: concat([START(), frameHeader(request.byteLength, 0x9, 0x4, 1), request]), expect: { goAway: H2.PROTOCOL_ERROR } },
    {
      name: "empty DATA frames flood (max_consecutive_inbound_frames_with_empty_payload)",
      bytes: concat([START(), encodeHeadersFrames(1, block([":method", "POST", ":scheme", "http", ":path", "/hang", ":authority", "corpus.test"]), false, 16384), ...Array.from({ length: 4 }, () => encodeDataFrame(1, new Uint8Array(0), false))]),
      expect: { goAway: H2.ENHANCE_YOUR_CALM },
    },
    { name: "PRIORITY flood (max_inbound_priority_frames_per_stream)", bytes: concat([START(), ...Array.from({ length: 250 }, (_, i) => encodePriorityFrame(2 * i + 1, 0, 16))]), expect: { goAway: H2.ENHANCE_YOUR_CALM } },
    { name: "rapid reset (CVE-2023-44487): 600 streams opened and reset at once", bytes: rapidReset(600), expect: { closedWithoutGoAway: true } },
  ];
}

/**
 * Requests on streams 3, then 1 (lower than 3, never used), then 5, one HPACK encoder for the
 * three blocks, and a PING: oghttp2 (Envoy's default codec) ends the connection at the HEADERS
 * on 1 (GOAWAY PROTOCOL_ERROR, last stream 3); nghttp2 ignored it and served 3 and 5.
 */
export function lowerStreamIdExchange(): Uint8Array {
  const encoder = new HpackEncoder();
  const blockOf = (fields: readonly string[]) => {
    const w = new HpackWriter();
    encoder.beginBlock(w);
    for (let i = 0; i < fields.length; i += 2) encoder.encodeField(w, fields[i]!, fields[i + 1]!);
    return w.bytes().slice();
  };
  const withField = (name: string) => [...GOOD_REQUEST_FIELDS, name, "1"];
  return concat([
    START(),
    encodeHeadersFrames(3, blockOf(withField("x-three")), true, 16384),
    encodeHeadersFrames(1, blockOf(withField("x-one")), true, 16384),
    encodeHeadersFrames(5, blockOf(withField("x-one")), true, 16384),
    PING_AFTER,
  ]);
}

/** A PING the corpus sends after a stream-level case: its ACK shows the connection goes on. */
export const PING_AFTER = encodePingFrame(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), false);

/** The frames a server wrote, read from its bytes (type, flags, stream, payload). */
export function serverFrames(bytes: Uint8Array): { type: number; flags: number; stream: number; payload: Uint8Array }[] {
  const frames = [];
  let at = 0;
  while (at + 9 <= bytes.byteLength) {
    const length = (bytes[at]! << 16) | (bytes[at + 1]! << 8) | bytes[at + 2]!;
    if (at + 9 + length > bytes.byteLength) break;
    const stream = ((bytes[at + 5]! & 0x7f) << 24) | (bytes[at + 6]! << 16) | (bytes[at + 7]! << 8) | bytes[at + 8]!;
    frames.push({ type: bytes[at + 3]!, flags: bytes[at + 4]!, stream, payload: bytes.subarray(at + 9, at + 9 + length) });
    at += 9 + length;
  }
  return frames;
}

const u32 = (p: Uint8Array, at: number): number => ((p[at]! << 24) >>> 0) + (p[at + 1]! << 16) + (p[at + 2]! << 8) + p[at + 3]!;

/** What the server's bytes say: its GOAWAY code, stream 1's RST_STREAM code, whether it ACKed our PING. */
export function outcome(bytes: Uint8Array): { goAway: number | undefined; rstStream: number | undefined; pingAck: boolean } {
  let goAway: number | undefined;
  let rstStream: number | undefined;
  let pingAck = false;
  for (const frame of serverFrames(bytes)) {
    if (frame.type === 0x7) goAway = u32(frame.payload, 4);
    else if (frame.type === 0x3 && frame.stream === 1) rstStream = u32(frame.payload, 0);
    else if (frame.type === 0x6 && frame.flags & 0x1 && frame.payload[0] === 1) pingAck = true;
  }
  return { goAway, rstStream, pingAck };
}

/** The proxy config both tests start: codec_type HTTP2, `/hang` to an upstream that never answers, the rest a direct response. */
export function corpusProxyConfig(listenPort: number, hangPort: number): object {
  return {
    static_resources: {
      listeners: [
        {
          name: "h2",
          address: { socket_address: { address: "127.0.0.1", port_value: listenPort } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    stat_prefix: "corpus",
                    codec_type: "HTTP2",
                    route_config: {
                      virtual_hosts: [
                        {
                          name: "corpus",
                          domains: ["*"],
                          routes: [
                            { match: { prefix: "/hang" }, route: { cluster: "hang" } },
                            { match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "still serving" } } },
                          ],
                        },
                      ],
                    },
                    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: "hang",
          type: "STATIC",
          connect_timeout: "5s",
          load_assignment: { cluster_name: "hang", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: hangPort } } } }] }] },
        },
      ],
    },
  };
}

/** A well-formed request and a PING on a fresh connection: the proxy still serves. */
export function goodExchange(): Uint8Array {
  return concat([START(), encodeHeadersFrames(1, block(GOOD_REQUEST_FIELDS), true, 16384), PING_AFTER]);
}

/** Whether a server's bytes answered goodExchange() with a 200 HEADERS on stream 1 and the body. */
export function servedGood(bytes: Uint8Array): boolean {
  const frames = serverFrames(bytes);
  const headers = frames.some((f) => f.type === 0x1 && f.stream === 1);
  const body = frames.filter((f) => f.type === 0x0 && f.stream === 1).map((f) => new TextDecoder().decode(f.payload)).join("");
  return headers && body === "still serving";
}

/** Write `bytes` on a new connection; resolve with what came back once the proxy closed it, `until` held, or `settleMs` passed. */
export function exchange(port: number, bytes: Uint8Array, settleMs: number, until?: (received: Uint8Array) => boolean): Promise<{ received: Uint8Array; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ received: new Uint8Array(Buffer.concat(chunks)), closed });
    };
    const timer = setTimeout(() => finish(false), settleMs);
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      if (until?.(new Uint8Array(Buffer.concat(chunks)))) finish(false);
    });
    socket.on("error", () => finish(true));
    socket.on("close", () => finish(true));
    socket.on("end", () => finish(true));
    socket.write(bytes);
  });
}
