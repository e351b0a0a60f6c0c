/**
 * Http2ConnectionImpl driven by byte sequences (a raw peer written with the frame
 * serializers and an HPACK encoder) and back to back with another connection: preface and
 * SETTINGS, stream states, flow control both ways, PING, GOAWAY, RST_STREAM, header limits,
 * malformed messages, Envoy's flood protections and the rapid-reset defence.
 */
import { describe, expect, test } from "vitest";
import { CLIENT_PREFACE, Http2ErrorCode, SettingId } from "../../../core/http2/frame.ts";
import {
  encodeDataFrame,
  encodeGoAwayFrame,
  encodeHeadersFrames,
  encodePingFrame,
  encodePriorityFrame,
  encodePushPromiseFrames,
  encodeRstStreamFrame,
  encodeSettingsFrame,
  encodeWindowUpdateFrame,
} from "../../../core/http2/frame-writer.ts";
import { HpackEncoder } from "../../../core/http2/hpack-encoder.ts";
import { HpackWriter } from "../../../core/http2/hpack-primitives.ts";
import { StreamLog, connection, pair } from "./h2-harness.ts";

const enc = new TextEncoder();

/** Byte equality without the matcher's per-element cost on large bodies. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
const GET = [":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a"];
const POST = [":method", "POST", ":scheme", "http", ":path", "/up", ":authority", "a"];

/** A raw client: its own HPACK encoder, so header blocks stay in step across frames. */
function rawClient() {
  const hpack = new HpackEncoder();
  return {
    headers(streamId: number, fields: readonly string[], endStream: boolean, maxFrameSize = 16384): Uint8Array {
      const w = new HpackWriter();
      hpack.beginBlock(w);
      for (let i = 0; i < fields.length; i += 2) hpack.encodeField(w, fields[i]!, fields[i + 1]!);
      return encodeHeadersFrames(streamId, w.bytes().slice(), endStream, maxFrameSize);
    },
  };
}

/** A server that has read the client preface and its SETTINGS, its own output read and cleared. */
function startedServer(options = {}, now?: () => number) {
  const h = connection("server", options, now);
  h.conn.start();
  h.conn.dispatch(CLIENT_PREFACE);
  h.conn.dispatch(encodeSettingsFrame([]));
  h.conn.onWriteDrained();
  h.reader.take();
  return { ...h, client: rawClient() };
}

describe("preface and SETTINGS (§3.4, §6.5)", () => {
  test("the server sends SETTINGS with Envoy's windows, raises the connection window, and ACKs the client's SETTINGS", () => {
    const { conn, reader } = connection("server");
    conn.start();
    conn.dispatch(CLIENT_PREFACE);
    conn.dispatch(encodeSettingsFrame([SettingId.INITIAL_WINDOW_SIZE, 1000]));
    expect(reader.take()).toEqual([
      { type: "settings", ack: false, settings: [SettingId.MAX_CONCURRENT_STREAMS, 2 ** 31 - 1, SettingId.INITIAL_WINDOW_SIZE, 256 * 1024 * 1024] },
      { type: "window", streamId: 0, increment: 256 * 1024 * 1024 - 65535 },
      { type: "settings", ack: true, settings: [] },
    ]);
    expect(conn.peerInitialWindowSize).toBe(1000);
  });

  test("the client sends the preface, then SETTINGS with push disabled", () => {
    const { conn, written } = connection("client");
    conn.start();
    expect(written[0]).toEqual(CLIENT_PREFACE);
    expect([...written[1]!.subarray(9, 15)]).toEqual([0, SettingId.ENABLE_PUSH, 0, 0, 0, 0]);
  });

  test("a bad preface, or a first frame other than SETTINGS, is a connection error PROTOCOL_ERROR", () => {
    const bad = connection("server");
    bad.conn.start();
    bad.reader.take();
    bad.conn.dispatch(enc.encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    expect(bad.reader.take()).toEqual([{ type: "goaway", lastStreamId: 0, code: Http2ErrorCode.PROTOCOL_ERROR, debug: "bad client preface" }]);
    expect(bad.log.errors).toEqual([{ code: Http2ErrorCode.PROTOCOL_ERROR, reason: "bad client preface", goAwaySent: true }]);

    const noSettings = connection("server");
    noSettings.conn.dispatch(CLIENT_PREFACE);
    noSettings.conn.dispatch(encodePingFrame(new Uint8Array(8), false));
    expect(noSettings.reader.take().at(-1)).toMatchObject({ type: "goaway", code: Http2ErrorCode.PROTOCOL_ERROR });
  });

  test("PING is answered with PING ACK carrying the same bytes", () => {
    const { conn, reader } = startedServer();
    conn.dispatch(encodePingFrame(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), false));
    expect(reader.take()).toEqual([{ type: "ping", ack: true, opaque: [1, 2, 3, 4, 5, 6, 7, 8] }]);
  });

  test("PUSH_PROMISE is refused with PROTOCOL_ERROR (push is never enabled)", () => {
    const { conn, reader } = startedServer();
    conn.dispatch(encodePushPromiseFrames(1, 2, Uint8Array.of(0x82), 16384));
    expect(reader.take()).toMatchObject([{ type: "goaway", code: Http2ErrorCode.PROTOCOL_ERROR }]);
  });
});

describe("streams (§5.1, §8.1)", () => {
  test("a request with body and trailers reaches the stream's callbacks; the response goes out as HEADERS, DATA, trailers", () => {
    const { conn, reader, log, client } = startedServer();
    conn.dispatch(client.headers(1, [...POST, "content-length", "5"], false));
    conn.dispatch(encodeDataFrame(1, enc.encode("hello"), false));
    conn.dispatch(client.headers(1, ["x-checksum", "abc"], true));
    expect(log.logs[0]!.events).toEqual([
      ["headers", [...POST, "content-length", "5"], false],
      ["data", 5, false],
      ["trailers", ["x-checksum", "abc"]],
    ]);
    const stream = log.streams[0]!;
    stream.sendHeaders([":status", "200", "content-type", "text/plain"], false);
    stream.sendData(enc.encode("world"), false);
    stream.sendTrailers(["grpc-status", "0"]);
    expect(reader.take()).toEqual([
      { type: "headers", streamId: 1, fields: [":status", "200", "content-type", "text/plain"], endStream: false },
      { type: "data", streamId: 1, data: [...enc.encode("world")], endStream: false },
      { type: "headers", streamId: 1, fields: ["grpc-status", "0"], endStream: true },
    ]);
    expect(conn.activeStreams).toBe(0);
  });

  test("HEADERS on an even stream, DATA or WINDOW_UPDATE or RST_STREAM on an idle stream: connection errors PROTOCOL_ERROR", () => {
    for (const frame of [rawClient().headers(2, GET, true), encodeDataFrame(3, Uint8Array.of(1), false), encodeWindowUpdateFrame(5, 1), encodeRstStreamFrame(7, 8)]) {
      const { conn, reader } = startedServer();
      conn.dispatch(frame);
      expect(reader.take()).toMatchObject([{ type: "goaway", code: Http2ErrorCode.PROTOCOL_ERROR }]);
    }
  });

  test("DATA or HEADERS on a half-closed (remote) stream: a connection error STREAM_CLOSED, as nghttp2's", () => {
    for (const after of [(_c: ReturnType<typeof rawClient>) => encodeDataFrame(1, Uint8Array.of(1), false), (c: ReturnType<typeof rawClient>) => c.headers(1, ["x-late", "1"], true)]) {
      const { conn, reader, client, log } = startedServer();
      conn.dispatch(client.headers(1, GET, true));
      conn.dispatch(after(client));
      expect(reader.take()).toMatchObject([{ type: "goaway", lastStreamId: 1, code: Http2ErrorCode.STREAM_CLOSED }]);
      expect(log.logs[0]!.events.at(-1)?.[0]).toBe("reset");
    }
  });

  test("WINDOW_UPDATE, PRIORITY and RST_STREAM on a half-closed (remote) stream are no connection error", () => {
    for (const after of [encodeWindowUpdateFrame(1, 100), encodePriorityFrame(1, 0, 16), encodeRstStreamFrame(1, Http2ErrorCode.CANCEL)]) {
      const { conn, reader, client } = startedServer();
      conn.dispatch(client.headers(1, GET, true));
      conn.dispatch(after);
      expect(reader.take().filter((frame) => frame.type === "goaway")).toEqual([]);
    }
  });

  test("HEADERS on a stream reset lately (trailers in flight after our RST_STREAM, or a refused stream's) are ignored; HPACK stays in step", () => {
    const { conn, reader, client, log } = startedServer({ maxConcurrentStreams: 2 });
    conn.dispatch(client.headers(1, GET, false));
    log.streams[0]!.reset(Http2ErrorCode.CANCEL);
    expect(reader.take()).toEqual([{ type: "rst", streamId: 1, code: Http2ErrorCode.CANCEL }]);
    conn.dispatch(client.headers(3, GET, false));
    conn.dispatch(client.headers(5, GET, false));
    conn.dispatch(client.headers(7, POST, false)); // over max_concurrent_streams: refused
    expect(reader.take()).toEqual([{ type: "rst", streamId: 7, code: Http2ErrorCode.REFUSED_STREAM }]);
    conn.dispatch(client.headers(1, ["x-new", "1"], true));
    conn.dispatch(client.headers(7, ["x-other", "2"], true));
    expect(reader.take()).toEqual([]);
    expect(log.errors).toEqual([]);
    expect(log.streams.map((s) => s.id)).toEqual([1, 3, 5]);
    // The ignored blocks' dynamic-table entries were taken in: the next block decodes.
    log.streams[1]!.reset(Http2ErrorCode.CANCEL);
    conn.dispatch(client.headers(9, [...GET, "x-new", "1", "x-other", "2"], true));
    expect(log.logs[3]!.events).toEqual([["headers", [...GET, "x-new", "1", "x-other", "2"], true]]);
  });

  // Envoy's default codec, oghttp2 (OgHttp2Session::OnHeaders): a HEADERS frame on an id at or
  // below the highest stream opened, with no stream, is a connection error PROTOCOL_ERROR —
  // a stream closed by END_STREAM both ways, or an id skipped; DATA there is ignored
  // (OnDataFrameHeader), its bytes counted against the connection window.
  test("HEADERS on a stream closed by END_STREAM both ways, or on a lower id never used: GOAWAY PROTOCOL_ERROR; DATA on the closed stream is ignored", () => {
    {
      const { conn, reader, client, log } = startedServer();
      conn.dispatch(client.headers(1, GET, true));
      log.streams[0]!.sendHeaders([":status", "204"], true);
      expect(conn.activeStreams).toBe(0);
      reader.take();
      conn.dispatch(encodeDataFrame(1, Uint8Array.of(1, 2), true));
      expect(reader.take().filter((f) => f.type === "goaway" || f.type === "rst")).toEqual([]);
      expect(log.errors).toEqual([]);
      conn.dispatch(client.headers(1, GET, true));
      expect(reader.take()).toMatchObject([{ type: "goaway", lastStreamId: 1, code: Http2ErrorCode.PROTOCOL_ERROR }]);
    }
    {
      const { conn, reader, client } = startedServer();
      conn.dispatch(client.headers(3, GET, false));
      conn.dispatch(client.headers(1, GET, true));
      expect(reader.take()).toMatchObject([{ type: "goaway", lastStreamId: 3, code: Http2ErrorCode.PROTOCOL_ERROR }]);
    }
  });

  test("client: HEADERS on a stream of ours already reset are ignored; on a server-opened id, a connection error", () => {
    const { client, pump } = pair();
    const a = new StreamLog();
    const s1 = client.newStream(a)!;
    s1.sendHeaders(GET, true);
    pump();
    s1.reset(Http2ErrorCode.CANCEL);
    const peer = rawClient();
    client.dispatch(peer.headers(1, [":status", "200"], true));
    expect(a.events).toEqual([["reset", Http2ErrorCode.CANCEL, false]]);
    const fresh = connection("client");
    fresh.conn.start();
    fresh.conn.dispatch(encodeSettingsFrame([]));
    fresh.reader.take();
    fresh.conn.dispatch(rawClient().headers(2, [":status", "200"], true));
    expect(fresh.reader.take()).toMatchObject([{ type: "goaway", code: Http2ErrorCode.PROTOCOL_ERROR }]);
  });

  test("RST_STREAM from the peer resets the stream (rx_reset); a local reset sends RST_STREAM (tx_reset)", () => {
    const { conn, reader, client, log, stats } = startedServer();
    conn.dispatch(client.headers(1, GET, false));
    conn.dispatch(encodeRstStreamFrame(1, Http2ErrorCode.CANCEL));
    expect(log.logs[0]!.events.at(-1)).toEqual(["reset", Http2ErrorCode.CANCEL, true]);
    expect(stats.rx_reset.value).toBe(1);
    conn.dispatch(client.headers(3, GET, false));
    log.streams[1]!.reset(Http2ErrorCode.INTERNAL_ERROR);
    expect(reader.take()).toEqual([{ type: "rst", streamId: 3, code: Http2ErrorCode.INTERNAL_ERROR }]);
    expect(stats.tx_reset.value).toBe(1);
    expect(conn.activeStreams).toBe(0);
  });

  test("more streams than max_concurrent_streams are refused with REFUSED_STREAM", () => {
    const { conn, reader, client } = startedServer({ maxConcurrentStreams: 1 });
    conn.dispatch(client.headers(1, GET, false));
    conn.dispatch(client.headers(3, GET, false));
    expect(reader.take()).toEqual([{ type: "rst", streamId: 3, code: Http2ErrorCode.REFUSED_STREAM }]);
  });

  test("headers over max_request_headers_kb: RST_STREAM INTERNAL_ERROR and http2.header_overflow; the HPACK table stays in step", () => {
    const { conn, reader, client, stats, log } = startedServer({ maxHeadersKb: 1 });
    conn.dispatch(client.headers(1, [...GET, "x-big", "v".repeat(1100)], true));
    expect(reader.take()).toEqual([{ type: "rst", streamId: 1, code: Http2ErrorCode.INTERNAL_ERROR }]);
    expect(stats.header_overflow.value).toBe(1);
    conn.dispatch(client.headers(3, GET, true));
    expect(log.logs[0]!.events).toEqual([["headers", GET, true]]);
  });

  test("a malformed request costs the connection by default (rx_messaging_error), the stream with override_stream_error_on_invalid_http_message", () => {
    const cases = [
      [":method", "GET", ":scheme", "http", ":path", "/", "X-Upper", "1"],
      [":method", "GET", ":path", "/"],
      [...GET, "connection", "close"],
      [...GET, "te", "gzip"],
      ["x-a", "1", ...GET],
    ];
    for (const fields of cases) {
      const strict = startedServer();
      strict.conn.dispatch(strict.client.headers(1, fields, true));
      expect(strict.reader.take()).toMatchObject([{ type: "goaway", code: Http2ErrorCode.PROTOCOL_ERROR }]);
      expect(strict.stats.rx_messaging_error.value).toBe(1);
      const lenient = startedServer({ streamErrorOnInvalidHttpMessage: true });
      lenient.conn.dispatch(lenient.client.headers(1, fields, true));
      expect(lenient.reader.take()).toEqual([{ type: "rst", streamId: 1, code: Http2ErrorCode.PROTOCOL_ERROR }]);
    }
  });

  test("a body longer or shorter than content-length is malformed (§8.1.1)", () => {
    const longer = startedServer();
    longer.conn.dispatch(longer.client.headers(1, [...POST, "content-length", "2"], false));
    longer.conn.dispatch(encodeDataFrame(1, Uint8Array.of(1, 2, 3), true));
    expect(longer.reader.take()).toMatchObject([{ type: "goaway", code: Http2ErrorCode.PROTOCOL_ERROR }]);
    const shorter = startedServer();
    shorter.conn.dispatch(shorter.client.headers(1, [...POST, "content-length", "2"], false));
    shorter.conn.dispatch(encodeDataFrame(1, Uint8Array.of(1), true));
    expect(shorter.reader.take()).toMatchObject([{ type: "goaway", code: Http2ErrorCode.PROTOCOL_ERROR }]);
  });

  test("an HPACK error is a connection error COMPRESSION_ERROR", () => {
    const { conn, reader } = startedServer();
    conn.dispatch(encodeHeadersFrames(1, Uint8Array.of(0x80), true, 16384));
    expect(reader.take()).toMatchObject([{ type: "goaway", code: Http2ErrorCode.COMPRESSION_ERROR }]);
  });
});

describe("flow control (§5.2, §6.9)", () => {
  test("DATA beyond the stream window: RST_STREAM FLOW_CONTROL_ERROR; beyond the connection window: GOAWAY FLOW_CONTROL_ERROR", () => {
    const s = startedServer({ initialStreamWindowSize: 65535 });
    s.conn.dispatch(s.client.headers(1, POST, false));
    s.log.streams[0]!.readDisable(true); // nothing consumed, so no WINDOW_UPDATE
    for (let i = 0; i < 4; i++) s.conn.dispatch(encodeDataFrame(1, new Uint8Array(16384), false));
    expect(s.reader.take()).toEqual([{ type: "rst", streamId: 1, code: Http2ErrorCode.FLOW_CONTROL_ERROR }]);

    const c = startedServer({ initialConnectionWindowSize: 65535 });
    for (let i = 0; i < 5; i++) c.conn.dispatch(c.client.headers(1 + 2 * i, POST, false));
    for (let i = 0; i < 5; i++) c.conn.dispatch(encodeDataFrame(1 + 2 * i, new Uint8Array(16000), false));
    // Half the window consumed comes back by WINDOW_UPDATE, so only a peer ignoring that goes over.
    const frames = c.reader.take();
    expect(frames.filter((f) => f.type === "window" && f.streamId === 0)).toHaveLength(1);
    expect(frames.some((f) => f.type === "goaway")).toBe(false);
  });

  test("a stream reset while its body waits for the connection window is forgotten at once (a peer that never opens the window cannot pile them up)", () => {
    const { conn, client, log } = startedServer();
    const blocked = () => (conn as unknown as { blocked: unknown[] }).blocked.length;
    for (let id = 1; id <= 9; id += 2) {
      conn.dispatch(client.headers(id, GET, true));
      const stream = log.streams.at(-1)!;
      stream.sendHeaders([":status", "200"], false);
      // More than the peer's default connection window (65 535): the rest waits.
      stream.sendData(new Uint8Array(70_000), true);
      conn.dispatch(encodeRstStreamFrame(id, Http2ErrorCode.CANCEL));
    }
    expect(conn.streams.size).toBe(0);
    expect(blocked()).toBe(0);
  });

  test("a read-disabled stream holds DATA and returns no window; re-enabled, it delivers and WINDOW_UPDATEs", () => {
    const { conn, reader, client, log } = startedServer({ initialStreamWindowSize: 65535, initialConnectionWindowSize: 65535 });
    conn.dispatch(client.headers(1, POST, false));
    const stream = log.streams[0]!;
    stream.readDisable(true);
    stream.readDisable(true);
    conn.dispatch(encodeDataFrame(1, new Uint8Array(16384), false));
    conn.dispatch(encodeDataFrame(1, new Uint8Array(16384), false));
    conn.dispatch(encodeDataFrame(1, new Uint8Array(10), true));
    expect(log.logs[0]!.events).toEqual([["headers", POST, false]]);
    expect(reader.take()).toEqual([]);
    stream.readDisable(false);
    expect(log.logs[0]!.events).toHaveLength(1);
    stream.readDisable(false);
    expect(log.logs[0]!.events.slice(1)).toEqual([
      ["data", 16384, false],
      ["data", 16384, false],
      ["data", 10, true],
    ]);
    // The stream ended, so only the connection window comes back.
    expect(reader.take()).toEqual([{ type: "window", streamId: 0, increment: 16384 * 2 }]);
  });

  test("a reset stream's held body gives its share of the connection window back", () => {
    const { conn, reader, client, log } = startedServer({ initialConnectionWindowSize: 65535 });
    conn.dispatch(client.headers(1, POST, false));
    log.streams[0]!.readDisable(true);
    conn.dispatch(encodeDataFrame(1, new Uint8Array(16384), false));
    conn.dispatch(encodeDataFrame(1, new Uint8Array(16384), false));
    expect(reader.take()).toEqual([]);
    conn.dispatch(encodeRstStreamFrame(1, Http2ErrorCode.CANCEL));
    expect(reader.take()).toEqual([{ type: "window", streamId: 0, increment: 32768 }]);
  });

  test("the peer's small window holds our body; WINDOW_UPDATEs release it in order, with END_STREAM and trailers last", () => {
    const { conn, reader, client, log } = startedServer();
    conn.dispatch(encodeSettingsFrame([SettingId.INITIAL_WINDOW_SIZE, 4]));
    conn.dispatch(client.headers(1, GET, true));
    reader.take();
    const stream = log.streams[0]!;
    stream.sendHeaders([":status", "200"], false);
    stream.sendData(enc.encode("abcdef"), false);
    stream.sendData(enc.encode("gh"), false);
    stream.sendTrailers(["x-t", "1"]);
    expect(reader.take()).toEqual([
      { type: "headers", streamId: 1, fields: [":status", "200"], endStream: false },
      { type: "data", streamId: 1, data: [...enc.encode("abcd")], endStream: false },
    ]);
    expect(stream.bufferedBytes).toBe(4);
    conn.dispatch(encodeWindowUpdateFrame(1, 3));
    // One frame per chunk written: "ef" ends the first, "g" starts the second.
    expect(reader.take()).toEqual([
      { type: "data", streamId: 1, data: [...enc.encode("ef")], endStream: false },
      { type: "data", streamId: 1, data: [...enc.encode("g")], endStream: false },
    ]);
    conn.dispatch(encodeWindowUpdateFrame(1, 100));
    expect(reader.take()).toEqual([
      { type: "data", streamId: 1, data: [...enc.encode("h")], endStream: false },
      { type: "headers", streamId: 1, fields: ["x-t", "1"], endStream: true },
    ]);
    expect(conn.activeStreams).toBe(0);
  });

  test("a SETTINGS_INITIAL_WINDOW_SIZE change moves open streams' windows, even below zero (§6.9.2)", () => {
    const { conn, reader, client, log } = startedServer();
    conn.dispatch(encodeSettingsFrame([SettingId.INITIAL_WINDOW_SIZE, 10]));
    conn.dispatch(client.headers(1, GET, true));
    const stream = log.streams[0]!;
    stream.sendHeaders([":status", "200"], false);
    stream.sendData(new Uint8Array(10), false);
    conn.dispatch(encodeSettingsFrame([SettingId.INITIAL_WINDOW_SIZE, 5]));
    stream.sendData(new Uint8Array(3), true);
    // 10 sent of 10, then the window drops by 5: -5. Five more bring it to 0: still nothing.
    conn.dispatch(encodeWindowUpdateFrame(1, 5));
    expect(reader.take().filter((f) => f.type === "data")).toEqual([{ type: "data", streamId: 1, data: Array(10).fill(0), endStream: false }]);
    conn.dispatch(encodeWindowUpdateFrame(1, 3));
    expect(reader.take().filter((f) => f.type === "data")).toEqual([{ type: "data", streamId: 1, data: [0, 0, 0], endStream: true }]);
  });

  test("a body held over the stream write buffer limit raises the watermark; sent down, it lowers it", () => {
    const { conn, client, log } = startedServer({ streamWriteBufferLimit: 100 });
    conn.dispatch(encodeSettingsFrame([SettingId.INITIAL_WINDOW_SIZE, 0]));
    conn.dispatch(client.headers(1, GET, true));
    const stream = log.streams[0]!;
    const events = new StreamLog();
    stream.callbacks = events;
    stream.sendHeaders([":status", "200"], false);
    stream.sendData(new Uint8Array(150), false);
    expect(events.events).toEqual([["watermark", true]]);
    conn.dispatch(encodeWindowUpdateFrame(1, 100));
    expect(events.events).toEqual([["watermark", true], ["watermark", false]]);
  });

  test("a window pushed past 2^31-1: stream error on a stream, connection error on the connection", () => {
    const s = startedServer();
    s.conn.dispatch(s.client.headers(1, GET, true));
    s.conn.dispatch(encodeWindowUpdateFrame(1, 2 ** 31 - 1));
    expect(s.reader.take()).toEqual([{ type: "rst", streamId: 1, code: Http2ErrorCode.FLOW_CONTROL_ERROR }]);
    s.conn.dispatch(encodeWindowUpdateFrame(0, 2 ** 31 - 1));
    expect(s.reader.take()).toMatchObject([{ type: "goaway", code: Http2ErrorCode.FLOW_CONTROL_ERROR }]);
  });
});

describe("flood protections (Envoy's http2_protocol_options)", () => {
  test("max_outbound_control_frames: PINGs answered and never drained drop the connection, without GOAWAY (http2.outbound_control_flood)", () => {
    const { conn, reader, stats, log } = startedServer({ maxOutboundControlFrames: 10 });
    const ping = encodePingFrame(new Uint8Array(8), false);
    for (let i = 0; i < 10; i++) conn.dispatch(ping);
    expect(reader.take()).toHaveLength(10);
    conn.onWriteDrained();
    for (let i = 0; i < 11; i++) conn.dispatch(ping);
    expect(reader.take()).toHaveLength(10);
    expect(stats.outbound_control_flood.value).toBe(1);
    expect(log.errors).toMatchObject([{ goAwaySent: false }]);
  });

  test("max_outbound_frames: a response that writes too many frames before the sink drains", () => {
    const { conn, client, stats, log } = startedServer({ maxOutboundFrames: 5 });
    conn.dispatch(client.headers(1, GET, true));
    const stream = log.streams[0]!;
    stream.sendHeaders([":status", "200"], false);
    for (let i = 0; i < 5; i++) stream.sendData(Uint8Array.of(1), false);
    expect(stats.outbound_flood.value).toBe(1);
    expect(log.logs[0]!.events.at(-1)).toEqual(["reset", Http2ErrorCode.ENHANCE_YOUR_CALM, false]);
  });

  test("max_consecutive_inbound_frames_with_empty_payload: a second empty DATA in a row is ENHANCE_YOUR_CALM", () => {
    const { conn, reader, client, stats } = startedServer();
    conn.dispatch(client.headers(1, POST, false));
    conn.dispatch(encodeDataFrame(1, new Uint8Array(0), false));
    expect(reader.take()).toEqual([]);
    conn.dispatch(encodeDataFrame(1, new Uint8Array(0), false));
    expect(reader.take()).toMatchObject([{ type: "goaway", code: Http2ErrorCode.ENHANCE_YOUR_CALM }]);
    expect(stats.inbound_empty_frames_flood.value).toBe(1);
  });

  test("max_inbound_priority_frames_per_stream: 100 × (1 + opened streams)", () => {
    const { conn, reader, stats } = startedServer();
    for (let i = 0; i < 100; i++) conn.dispatch(encodePriorityFrame(3, 0, 16));
    expect(reader.take()).toEqual([]);
    conn.dispatch(encodePriorityFrame(3, 0, 16));
    expect(reader.take()).toMatchObject([{ type: "goaway", code: Http2ErrorCode.ENHANCE_YOUR_CALM }]);
    expect(stats.inbound_priority_frames_flood.value).toBe(1);
  });

  test("max_inbound_window_update_frames_per_data_frame_sent: 5 + 2 × (opened streams + 10 × DATA frames sent)", () => {
    const { conn, reader, stats } = startedServer();
    for (let i = 0; i < 5; i++) conn.dispatch(encodeWindowUpdateFrame(0, 1));
    expect(reader.take()).toEqual([]);
    conn.dispatch(encodeWindowUpdateFrame(0, 1));
    expect(reader.take()).toMatchObject([{ type: "goaway", code: Http2ErrorCode.ENHANCE_YOUR_CALM }]);
    expect(stats.inbound_window_update_frames_flood.value).toBe(1);
  });

  test("rapid reset (CVE-2023-44487): streams reset by the peer before their response end the connection once they pass half of 500", () => {
    const { conn, client, log } = startedServer();
    for (let i = 0; i < 249; i++) {
      conn.dispatch(client.headers(1 + 2 * i, GET, false));
      conn.dispatch(encodeRstStreamFrame(1 + 2 * i, Http2ErrorCode.CANCEL));
    }
    expect(log.errors).toEqual([]);
    conn.dispatch(client.headers(499, GET, false));
    conn.dispatch(encodeRstStreamFrame(499, Http2ErrorCode.CANCEL));
    expect(log.errors).toEqual([{ code: Http2ErrorCode.ENHANCE_YOUR_CALM, reason: "too_many_premature_resets", goAwaySent: false }]);
  });

  test("rapid reset: resets after a second, or after the response ended, do not count", () => {
    let now = 0;
    const { conn, client, log } = startedServer({}, () => now);
    for (let i = 0; i < 300; i++) {
      conn.dispatch(client.headers(1 + 2 * i, GET, false));
      now += 1001;
      conn.dispatch(encodeRstStreamFrame(1 + 2 * i, Http2ErrorCode.CANCEL));
    }
    expect(log.errors).toEqual([]);
  });
});

describe("GOAWAY (§6.8)", () => {
  test("server graceful drain: shutdown notice, then GOAWAY with the last stream; later streams are ignored, open ones finish, then drained", () => {
    const { conn, reader, client, log, stats } = startedServer();
    conn.dispatch(client.headers(1, GET, true));
    conn.shutdownNotice();
    conn.goAway();
    expect(reader.take()).toEqual([
      { type: "goaway", lastStreamId: 2 ** 31 - 1, code: 0, debug: "" },
      { type: "goaway", lastStreamId: 1, code: 0, debug: "" },
    ]);
    expect(stats.goaway_graceful_sent.value).toBe(1);
    conn.dispatch(client.headers(3, GET, true));
    expect(log.streams).toHaveLength(1);
    log.streams[0]!.sendHeaders([":status", "204"], true);
    expect(log.events).toEqual([["drained"]]);
  });

  test("after our GOAWAY, the body of a stream it ignored is ignored too (no connection error for the streams in flight)", () => {
    const { conn, reader, client, log } = startedServer();
    conn.dispatch(client.headers(1, GET, true));
    conn.goAway();
    reader.take();
    // The client opened stream 3 with a body before it read our GOAWAY.
    conn.dispatch(client.headers(3, POST, false));
    conn.dispatch(encodeDataFrame(3, enc.encode("late body"), true));
    expect(log.errors).toEqual([]);
    expect(reader.take()).toEqual([]);
    log.streams[0]!.sendHeaders([":status", "204"], true);
    expect(log.events).toEqual([["drained"]]);
  });

  test("client: a GOAWAY refuses our streams above its last id (REFUSED_STREAM, safe to retry) and stops new ones", () => {
    const { client, clientLog, server, pump } = pair();
    const a = new StreamLog();
    const b = new StreamLog();
    const s1 = client.newStream(a)!;
    const s3 = client.newStream(b)!;
    s1.sendHeaders(GET, true);
    s3.sendHeaders(GET, true);
    client.dispatch(encodeGoAwayFrame(1, Http2ErrorCode.NO_ERROR));
    expect(b.events).toEqual([["reset", Http2ErrorCode.REFUSED_STREAM, true]]);
    expect(a.events).toEqual([]);
    expect(clientLog.events).toEqual([["goaway", 1, 0]]);
    expect(client.canOpenStream).toBe(false);
    expect(client.newStream(new StreamLog())).toBeUndefined();
    void server;
    void pump;
  });
});

describe("client and server back to back", () => {
  test("requests and responses with bodies and trailers, interim 100, many streams, large bodies through small windows", () => {
    const { client, serverLog, pump } = pair({ initialStreamWindowSize: 65535, initialConnectionWindowSize: 65535 }, { initialStreamWindowSize: 65535 });
    const logs: StreamLog[] = [];
    const body = Uint8Array.from({ length: 200_000 }, (_, i) => i & 0xff);
    for (let i = 0; i < 3; i++) {
      const log = new StreamLog();
      logs.push(log);
      const s = client.newStream(log)!;
      s.sendHeaders([...POST, "expect", "100-continue"], false);
      s.sendData(body, false);
      s.sendTrailers(["x-sum", String(i)]);
    }
    pump();
    expect(serverLog.streams.map((s) => s.id)).toEqual([1, 3, 5]);
    serverLog.streams.forEach((s, i) => {
      expect(sameBytes(serverLog.logs[i]!.bodyBytes(), body)).toBe(true);
      expect(serverLog.logs[i]!.events.at(-1)).toEqual(["trailers", ["x-sum", String(i)]]);
      s.sendHeaders([":status", "100"], false);
      s.sendHeaders([":status", "200", "content-length", String(body.length)], false);
      s.sendData(body, true);
    });
    pump();
    logs.forEach((log) => {
      expect(log.events[0]).toEqual(["headers", [":status", "100"], false]);
      expect(log.events[1]).toEqual(["headers", [":status", "200", "content-length", String(body.length)], false]);
      expect(sameBytes(log.bodyBytes(), body)).toBe(true);
      expect(log.events.at(-1)?.[2]).toBe(true);
    });
    expect(client.activeStreams).toBe(0);
  });
});

describe("HPACK table size (RFC 7541 §4.2, RFC 9113 §6.5.2)", () => {
  test("a smaller hpack_table_size applies once our SETTINGS is ACKed; the peer must then shrink its table first", () => {
    const h = connection("server", { hpackTableSize: 0 });
    h.conn.start();
    expect(h.reader.take()[0]).toMatchObject({ type: "settings", settings: [SettingId.HEADER_TABLE_SIZE, 0, SettingId.MAX_CONCURRENT_STREAMS, 2 ** 31 - 1, SettingId.INITIAL_WINDOW_SIZE, 256 * 1024 * 1024] });
    h.conn.dispatch(CLIENT_PREFACE);
    h.conn.dispatch(encodeSettingsFrame([]));
    // Before the ACK, the peer may still index with the default 4096.
    const client = rawClient();
    h.conn.dispatch(client.headers(1, GET, true));
    expect(h.log.logs[0]!.events).toEqual([["headers", GET, true]]);
    h.conn.dispatch(encodeSettingsFrame([], true));
    // Without the size update the next block is a COMPRESSION_ERROR.
    h.conn.dispatch(client.headers(3, GET, true));
    expect(h.reader.take().at(-1)).toMatchObject({ type: "goaway", code: Http2ErrorCode.COMPRESSION_ERROR });
  });

  test("the peer's SETTINGS_HEADER_TABLE_SIZE 0: our next block starts with a size update to 0 and indexes nothing", () => {
    const { conn, reader, client, log, written } = startedServer();
    conn.dispatch(encodeSettingsFrame([SettingId.HEADER_TABLE_SIZE, 0]));
    conn.dispatch(client.headers(1, GET, true));
    reader.take();
    log.streams[0]!.sendHeaders([":status", "200", "x-a", "b"], true);
    expect(reader.take()).toEqual([{ type: "headers", streamId: 1, fields: [":status", "200", "x-a", "b"], endStream: true }]);
    const block = written.at(-1)!.subarray(9);
    expect(block[0]).toBe(0x20); // size update to 0
    expect(block[1]).toBe(0x88); // :status 200, indexed (static)
    expect(block[2]! & 0xf0).toBe(0x00); // x-a: literal without indexing, the table having no room
  });
});

describe("a closed stream's held body, abandoned", () => {
  // The router read-disables an upstream stream for a slow client; the response ends (the
  // stream is closed) while its body is still held; the client goes away and the router
  // resets the stream. The held bytes must come back to the connection window, or every
  // such response shrinks it for the streams after (Envoy's onStreamClose).
  test("gives its share of the connection window back", () => {
    const W = 65535;
    const { client, serverLog, pump } = pair({}, { initialConnectionWindowSize: W, initialStreamWindowSize: W });
    const first = new StreamLog();
    const s1 = client.newStream(first)!;
    s1.sendHeaders(GET, true);
    s1.readDisable(true);
    pump();
    serverLog.streams[0]!.sendHeaders([":status", "200"], false);
    serverLog.streams[0]!.sendData(new Uint8Array(60_000), true);
    pump();
    s1.reset();
    pump();
    const second = new StreamLog();
    const s2 = client.newStream(second)!;
    s2.sendHeaders(GET, true);
    pump();
    serverLog.streams[1]!.sendHeaders([":status", "200"], false);
    serverLog.streams[1]!.sendData(new Uint8Array(20_000), true);
    pump();
    expect(second.body.reduce((n, c) => n + c.length, 0)).toBe(20_000);
  });
});
