/**
 * The HTTP/2 frame parser and serializers (RFC 9113 §4, §6): every frame type round-trips,
 * each malformation gets §5.4's classification (connection or stream error, and the code),
 * and, fuzzed: the same bytes cut into any reads give the same events, random and mutated
 * input never throws, and nothing is buffered past SETTINGS_MAX_FRAME_SIZE.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { CLIENT_PREFACE, Http2ErrorCode, type Http2ProtocolError } from "../../../core/http2/frame.ts";
import { type FrameHandler, FrameParser, type FrameParserOptions } from "../../../core/http2/frame-parser.ts";
import {
  encodeDataFrame,
  encodeDataFrameHeader,
  encodeGoAwayFrame,
  encodeHeadersFrames,
  encodePingFrame,
  encodePriorityFrame,
  encodePushPromiseFrames,
  encodeRstStreamFrame,
  encodeSettingsFrame,
  encodeWindowUpdateFrame,
  writeFrameHeader,
} from "../../../core/http2/frame-writer.ts";
import { concatBytes, cutsArb, fuzzParameters, splitAt } from "../../support/fuzz.ts";

type Event = (string | number | boolean | number[])[];

class Recorder implements FrameHandler {
  events: Event[] = [];
  onData(streamId: number, data: Uint8Array, endStream: boolean, flowControlled: number): void {
    this.events.push(["data", streamId, [...data], endStream, flowControlled]);
  }
  onHeaders(streamId: number, block: Uint8Array, endStream: boolean, dependsOn: number): void {
    this.events.push(["headers", streamId, [...block], endStream, dependsOn]);
  }
  onPriority(streamId: number, dependsOn: number): void {
    this.events.push(["priority", streamId, dependsOn]);
  }
  onRstStream(streamId: number, code: number): void {
    this.events.push(["rst", streamId, code]);
  }
  onSettings(ack: boolean, settings: readonly number[]): void {
    this.events.push(["settings", ack, [...settings]]);
  }
  onPushPromise(streamId: number, promised: number, block: Uint8Array): void {
    this.events.push(["push", streamId, promised, [...block]]);
  }
  onPing(ack: boolean, opaque: Uint8Array): void {
    this.events.push(["ping", ack, [...opaque]]);
  }
  onGoAway(lastStreamId: number, code: number, debugData: Uint8Array): void {
    this.events.push(["goaway", lastStreamId, code, [...debugData]]);
  }
  onWindowUpdate(streamId: number, increment: number): void {
    this.events.push(["window", streamId, increment]);
  }
  onUnknownFrame(type: number, streamId: number, length: number): void {
    this.events.push(["unknown", type, streamId, length]);
  }
  onFrameError(error: Http2ProtocolError): void {
    this.events.push(["error", error.scope, error.code, error.streamId]);
  }
}

function parse(chunks: readonly Uint8Array[], options: FrameParserOptions = {}): Event[] {
  const r = new Recorder();
  const p = new FrameParser(r, options);
  for (const c of chunks) p.feed(c);
  return r.events;
}

const bytes = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

/** A frame with a raw header, for malformations the serializers would not make. */
function raw(type: number, flags: number, streamId: number, payload: Uint8Array | number[]): Uint8Array {
  const p = payload instanceof Uint8Array ? payload : Uint8Array.from(payload);
  const out = new Uint8Array(9 + p.length);
  writeFrameHeader(out, 0, p.length, type, flags, streamId);
  out.set(p, 9);
  return out;
}

describe("round trips", () => {
  test("every frame type", () => {
    const block = bytes(40);
    const wire = concatBytes([
      encodeSettingsFrame([1, 4096, 2, 0, 4, 65535, 5, 16384]),
      encodeSettingsFrame([], true),
      encodeHeadersFrames(1, block, false, 16384),
      encodeDataFrame(1, bytes(10), true),
      concatBytes([encodeDataFrameHeader(3, 3, false), Uint8Array.of(7, 8, 9)]),
      encodePriorityFrame(5, 3, 16, true),
      encodeRstStreamFrame(3, Http2ErrorCode.CANCEL),
      encodePingFrame(bytes(8), false),
      encodePingFrame(bytes(8), true),
      encodeGoAwayFrame(7, Http2ErrorCode.ENHANCE_YOUR_CALM, Uint8Array.of(104, 105)),
      encodeWindowUpdateFrame(0, 1000),
      encodeWindowUpdateFrame(1, 2 ** 31 - 1),
      raw(0xfa, 0xff, 9, [1, 2, 3]),
    ]);
    expect(parse([wire])).toEqual([
      ["settings", false, [1, 4096, 2, 0, 4, 65535, 5, 16384]],
      ["settings", true, []],
      ["headers", 1, [...block], false, -1],
      ["data", 1, [...bytes(10)], true, 10],
      ["data", 3, [7, 8, 9], false, 3],
      ["priority", 5, 3],
      ["rst", 3, Http2ErrorCode.CANCEL],
      ["ping", false, [...bytes(8)]],
      ["ping", true, [...bytes(8)]],
      ["goaway", 7, Http2ErrorCode.ENHANCE_YOUR_CALM, [104, 105]],
      ["window", 0, 1000],
      ["window", 1, 2 ** 31 - 1],
      ["unknown", 0xfa, 9, 3],
    ]);
  });

  test("a header block larger than the frame size goes out as HEADERS + CONTINUATIONs and comes back whole", () => {
    const block = bytes(16384 * 2 + 100);
    const wire = encodeHeadersFrames(3, block, true, 16384);
    expect(wire.length).toBe(block.length + 9 * 3);
    expect(parse([wire])).toEqual([["headers", 3, [...block], true, -1]]);
    const push = encodePushPromiseFrames(3, 2, block, 16384);
    expect(parse([push])).toEqual([["push", 3, 2, [...block]]]);
  });

  test("padding and the priority fields of HEADERS are stripped; DATA counts its padding for flow control", () => {
    // HEADERS: PADDED|PRIORITY|END_HEADERS, pad 2, dependency 3 (exclusive), weight, block [1,2], padding.
    const headers = raw(0x1, 0x8 | 0x20 | 0x4, 5, [2, 0x80, 0, 0, 3, 15, 1, 2, 0, 0]);
    const data = raw(0x0, 0x8 | 0x1, 5, [3, 9, 9, 0, 0, 0]);
    expect(parse([headers, data])).toEqual([
      ["headers", 5, [1, 2], false, 3],
      ["data", 5, [9, 9], true, 6],
    ]);
  });

  test("the client preface is read and checked first when asked", () => {
    const settings = encodeSettingsFrame([]);
    expect(parse([concatBytes([CLIENT_PREFACE, settings])], { expectPreface: true })).toEqual([["settings", false, []]]);
    const bad = concatBytes([new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), settings]);
    expect(parse([bad], { expectPreface: true })).toEqual([["error", "connection", Http2ErrorCode.PROTOCOL_ERROR, 0]]);
  });
});

describe("malformed frames (§4.2, §5.4, §6)", () => {
  const C = "connection";
  const S = "stream";
  test.each([
    ["DATA on stream 0", raw(0, 0, 0, [1]), C, Http2ErrorCode.PROTOCOL_ERROR],
    ["DATA padding as long as the payload", raw(0, 0x8, 1, [2, 0]), C, Http2ErrorCode.PROTOCOL_ERROR],
    ["DATA padded but empty", raw(0, 0x8, 1, []), C, Http2ErrorCode.FRAME_SIZE_ERROR],
    ["HEADERS on stream 0", raw(1, 0x4, 0, [0x82]), C, Http2ErrorCode.PROTOCOL_ERROR],
    ["HEADERS too short for its priority", raw(1, 0x24, 1, [0, 0]), C, Http2ErrorCode.FRAME_SIZE_ERROR],
    ["PRIORITY on stream 0", raw(2, 0, 0, [0, 0, 0, 1, 1]), C, Http2ErrorCode.PROTOCOL_ERROR],
    ["PRIORITY of length 4", raw(2, 0, 1, [0, 0, 0, 1]), S, Http2ErrorCode.FRAME_SIZE_ERROR],
    ["RST_STREAM on stream 0", raw(3, 0, 0, [0, 0, 0, 8]), C, Http2ErrorCode.PROTOCOL_ERROR],
    ["RST_STREAM of length 3", raw(3, 0, 1, [0, 0, 8]), C, Http2ErrorCode.FRAME_SIZE_ERROR],
    ["SETTINGS on a stream", raw(4, 0, 1, []), C, Http2ErrorCode.PROTOCOL_ERROR],
    ["SETTINGS of length 5", raw(4, 0, 0, [0, 1, 0, 0, 0]), C, Http2ErrorCode.FRAME_SIZE_ERROR],
    ["SETTINGS ACK with a payload", raw(4, 1, 0, [0, 1, 0, 0, 0, 0]), C, Http2ErrorCode.FRAME_SIZE_ERROR],
    ["SETTINGS_ENABLE_PUSH 2", raw(4, 0, 0, [0, 2, 0, 0, 0, 2]), C, Http2ErrorCode.PROTOCOL_ERROR],
    ["SETTINGS_INITIAL_WINDOW_SIZE 2^31", raw(4, 0, 0, [0, 4, 0x80, 0, 0, 0]), C, Http2ErrorCode.FLOW_CONTROL_ERROR],
    ["SETTINGS_MAX_FRAME_SIZE 16383", raw(4, 0, 0, [0, 5, 0, 0, 0x3f, 0xff]), C, Http2ErrorCode.PROTOCOL_ERROR],
    ["SETTINGS_MAX_FRAME_SIZE 2^24", raw(4, 0, 0, [0, 5, 1, 0, 0, 0]), C, Http2ErrorCode.PROTOCOL_ERROR],
    ["PUSH_PROMISE on stream 0", raw(5, 0x4, 0, [0, 0, 0, 2]), C, Http2ErrorCode.PROTOCOL_ERROR],
    ["PUSH_PROMISE too short", raw(5, 0x4, 1, [0, 0]), C, Http2ErrorCode.FRAME_SIZE_ERROR],
    ["PING on a stream", raw(6, 0, 1, bytes(8)), C, Http2ErrorCode.PROTOCOL_ERROR],
    ["PING of length 7", raw(6, 0, 0, bytes(7)), C, Http2ErrorCode.FRAME_SIZE_ERROR],
    ["GOAWAY on a stream", raw(7, 0, 1, bytes(8)), C, Http2ErrorCode.PROTOCOL_ERROR],
    ["GOAWAY of length 7", raw(7, 0, 0, bytes(7)), C, Http2ErrorCode.FRAME_SIZE_ERROR],
    ["WINDOW_UPDATE of length 5", raw(8, 0, 1, [0, 0, 0, 1, 0]), C, Http2ErrorCode.FRAME_SIZE_ERROR],
    ["WINDOW_UPDATE of 0 on the connection", raw(8, 0, 0, [0, 0, 0, 0]), C, Http2ErrorCode.PROTOCOL_ERROR],
    ["WINDOW_UPDATE of 0 on a stream", raw(8, 0, 1, [0, 0, 0, 0]), S, Http2ErrorCode.PROTOCOL_ERROR],
    ["CONTINUATION without HEADERS", raw(9, 0x4, 1, [0x82]), C, Http2ErrorCode.PROTOCOL_ERROR],
    ["CONTINUATION on another stream", concatBytes([raw(1, 0, 1, [0x82]), raw(9, 0x4, 3, [0x84])]), C, Http2ErrorCode.PROTOCOL_ERROR],
    ["another frame inside a header block", concatBytes([raw(1, 0, 1, [0x82]), encodePingFrame(bytes(8), false)]), C, Http2ErrorCode.PROTOCOL_ERROR],
    ["an unknown frame inside a header block", concatBytes([raw(1, 0, 1, [0x82]), raw(0xfa, 0, 1, [])]), C, Http2ErrorCode.PROTOCOL_ERROR],
    ["a frame longer than SETTINGS_MAX_FRAME_SIZE", raw(0, 0, 1, new Uint8Array(16385)), C, Http2ErrorCode.FRAME_SIZE_ERROR],
  ] as const)("%s", (_name, wire, scope, code) => {
    const events = parse([wire]);
    expect(events.at(-1)?.slice(0, 3)).toEqual(["error", scope, code]);
    expect(events.filter((e) => e[0] === "error")).toHaveLength(1);
  });

  test("after a stream error the parser goes on; after a connection error it reads nothing more", () => {
    const ping = encodePingFrame(bytes(8), false);
    expect(parse([concatBytes([raw(8, 0, 1, [0, 0, 0, 0]), ping])]).map((e) => e[0])).toEqual(["error", "ping"]);
    expect(parse([concatBytes([raw(8, 0, 0, [0, 0, 0, 0]), ping])]).map((e) => e[0])).toEqual(["error"]);
  });

  test("an oversized frame is refused from its header alone: nothing of its payload is waited for or held", () => {
    const header = new Uint8Array(9);
    writeFrameHeader(header, 0, 16_777_215, 0, 0, 1);
    expect(parse([header])).toEqual([["error", "connection", Http2ErrorCode.FRAME_SIZE_ERROR, 0]]);
    // A larger SETTINGS_MAX_FRAME_SIZE of ours lets the same frame through.
    const big = raw(0, 0, 1, new Uint8Array(20000));
    expect(parse([big], { maxFrameSize: 32768 })[0]?.[0]).toBe("data");
  });

  test("CONTINUATION flood: more than 8 CONTINUATIONs, or a block past its byte limit, is ENHANCE_YOUR_CALM", () => {
    const frames = [raw(1, 0, 1, [0x82]), ...Array.from({ length: 9 }, () => raw(9, 0, 1, [0x84]))];
    expect(parse([concatBytes(frames)]).at(-1)).toEqual(["error", "connection", Http2ErrorCode.ENHANCE_YOUR_CALM, 0]);
    const eight = [raw(1, 0, 1, [0x82]), ...Array.from({ length: 7 }, () => raw(9, 0, 1, [0x84])), raw(9, 0x4, 1, [0x86])];
    expect(parse([concatBytes(eight)])).toEqual([["headers", 1, [0x82, ...Array(7).fill(0x84), 0x86], false, -1]]);
    const large = [raw(1, 0, 1, new Uint8Array(16000)), raw(9, 0, 1, new Uint8Array(16000))];
    expect(parse([concatBytes(large)], { maxHeaderBlockBytes: 20000 }).at(-1)).toEqual(["error", "connection", Http2ErrorCode.ENHANCE_YOUR_CALM, 0]);
  });
});

// ------------------------------------------------------------------ fuzzing

const streamIdArb = fc.integer({ min: 1, max: 2 ** 31 - 1 });
const frameArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.tuple(streamIdArb, fc.uint8Array({ maxLength: 300 }), fc.boolean()).map(([s, d, e]) => encodeDataFrame(s, d, e)),
  fc.tuple(streamIdArb, fc.uint8Array({ maxLength: 3000 }), fc.boolean(), fc.constantFrom(16384, 1000, 100)).map(([s, b, e, m]) => encodeHeadersFrames(s, b, e, m)),
  fc.tuple(streamIdArb, fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 256 })).map(([s, d, w]) => encodePriorityFrame(s, d, w)),
  fc.tuple(streamIdArb, fc.integer({ min: 0, max: 2 ** 32 - 1 })).map(([s, c]) => encodeRstStreamFrame(s, c)),
  fc.array(fc.tuple(fc.constantFrom(1, 3, 6, 9, 0x77), fc.integer({ min: 0, max: 2 ** 31 - 1 })), { maxLength: 5 }).map((kv) => encodeSettingsFrame(kv.flat())),
  fc.boolean().map((a) => encodePingFrame(bytes(8, 7), a)),
  fc.tuple(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 20 }), fc.uint8Array({ maxLength: 40 })).map(([l, c, d]) => encodeGoAwayFrame(l, c, d)),
  fc.tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 1, max: 2 ** 31 - 1 })).map(([s, i]) => encodeWindowUpdateFrame(s, i)),
  fc.tuple(fc.integer({ min: 10, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 50 })).map(([t, f, p]) => raw(t, f, 1, p)),
);

describe("fuzz", () => {
  test("valid frame sequences: the same events in one read, random reads, and byte by byte; nothing errors", () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 12 }), cutsArb(), (frames, cuts) => {
        const wire = concatBytes(frames);
        const whole = parse([wire]);
        expect(whole.filter((e) => e[0] === "error")).toEqual([]);
        expect(parse(splitAt(wire, cuts))).toEqual(whole);
        if (wire.length < 4000) expect(parse([...wire].map((b) => Uint8Array.of(b)))).toEqual(whole);
      }),
      fuzzParameters(300),
    );
  });

  test("mutated and random bytes: no throw, the same events however cut, at most one connection error and nothing after it", () => {
    const mutated = fc.tuple(fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 })).map(([frames, edits]) => {
      const wire = concatBytes(frames);
      for (const [at, value] of edits) wire[at % wire.length] = value;
      return wire;
    });
    fc.assert(
      fc.property(fc.oneof(mutated, fc.uint8Array({ maxLength: 400 })), cutsArb(), fc.boolean(), (wire, cuts, preface) => {
        const input = preface ? concatBytes([CLIENT_PREFACE, wire]) : wire;
        const whole = parse([input], { expectPreface: preface });
        expect(parse(splitAt(input, cuts), { expectPreface: preface })).toEqual(whole);
        const connectionErrors = whole.findIndex((e) => e[0] === "error" && e[1] === "connection");
        if (connectionErrors >= 0) expect(connectionErrors).toBe(whole.length - 1);
      }),
      fuzzParameters(1000),
    );
  });
});
