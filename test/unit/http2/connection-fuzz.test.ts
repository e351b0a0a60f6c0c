/**
 * Fuzzing Http2ConnectionImpl in the server role with generated client byte streams:
 * well-formed requests (bodies, trailers, resets, window updates, pings, settings) mixed
 * with malformed frames, random bytes and mutations, cut into random reads. Properties:
 *
 * - nothing throws out of the connection;
 * - the same bytes in any reads give the same bytes written back;
 * - every stream's callbacks are well-formed: headers first, nothing after its end or reset;
 * - after a connection error nothing more is written, and the streams gauge is back to 0;
 * - what a stream holds is bounded by the windows we advertised.
 *
 * A bounded run in CI; longer by hand with FC_NUM_RUNS (see test/support/fuzz.ts).
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { Http2CodecStats } from "../../../core/http2/codec-stats.ts";
import { Http2ConnectionImpl } from "../../../core/http2/connection.ts";
import { CLIENT_PREFACE, SettingId } from "../../../core/http2/frame.ts";
import {
  encodeDataFrame,
  encodeGoAwayFrame,
  encodeHeadersFrames,
  encodePingFrame,
  encodePriorityFrame,
  encodeRstStreamFrame,
  encodeSettingsFrame,
  encodeWindowUpdateFrame,
} from "../../../core/http2/frame-writer.ts";
import { HpackEncoder } from "../../../core/http2/hpack-encoder.ts";
import { HpackWriter } from "../../../core/http2/hpack-primitives.ts";
import type { Http2Stream } from "../../../core/http2/stream.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { concatBytes, cutsArb, fuzzParameters, fuzzTimeout, splitAt } from "../../support/fuzz.ts";

type Op =
  | { kind: "request"; stream: number; fields: readonly string[]; end: boolean }
  | { kind: "block"; stream: number; block: Uint8Array; end: boolean }
  | { kind: "data"; stream: number; size: number; end: boolean }
  | { kind: "trailers"; stream: number }
  | { kind: "rst"; stream: number; code: number }
  | { kind: "window"; stream: number; increment: number }
  | { kind: "settings"; window: number; frame: number }
  | { kind: "ping" }
  | { kind: "priority"; stream: number }
  | { kind: "goaway" }
  | { kind: "raw"; bytes: Uint8Array };

const streamArb = fc.integer({ min: 0, max: 8 }).map((n) => 2 * n + 1);
const fieldsArb = fc.oneof(
  fc.constant([":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a"]),
  fc.constant([":method", "POST", ":scheme", "https", ":path", "/p", ":authority", "a", "content-length", "10"]),
  fc.array(fc.constantFrom(":method", "GET", ":path", "/", "x-A", "te", "trailers", "connection", "cookie", "a=b", ":status", "200"), { maxLength: 10 }),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("request" as const), stream: streamArb, fields: fieldsArb, end: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("block" as const), stream: streamArb, block: fc.uint8Array({ maxLength: 30 }), end: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("data" as const), stream: streamArb, size: fc.integer({ min: 0, max: 20000 }), end: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("trailers" as const), stream: streamArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("rst" as const), stream: streamArb, code: fc.integer({ min: 0, max: 13 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("window" as const), stream: fc.integer({ min: 0, max: 9 }), increment: fc.integer({ min: 0, max: 2 ** 31 - 1 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("settings" as const), window: fc.integer({ min: 0, max: 2 ** 31 }), frame: fc.integer({ min: 16384, max: 70000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("ping" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("priority" as const), stream: streamArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("goaway" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("raw" as const), bytes: fc.uint8Array({ maxLength: 40 }) }) },
);

/**
 * The client's bytes. `tidy` keeps the stream ids a well-behaved client would use (new
 * streams in increasing order, other frames on streams already opened), so runs go deep
 * instead of ending at the first frame on an idle stream.
 */
function wire(ops: readonly Op[], tidy: boolean): Uint8Array {
  let lastOpened = -1;
  const hpack = new HpackEncoder();
  const block = (fields: readonly string[]): Uint8Array => {
    const w = new HpackWriter();
    hpack.beginBlock(w);
    for (let i = 0; i + 1 < fields.length; i += 2) hpack.encodeField(w, fields[i]!, fields[i + 1]!);
    return w.bytes().slice();
  };
  const parts: Uint8Array[] = [CLIENT_PREFACE, encodeSettingsFrame([])];
  for (const original of ops) {
    let op = original;
    if (tidy && op.kind === "window") op = { ...op, stream: op.stream > Math.max(lastOpened, 0) ? 0 : op.stream, increment: 1 + (op.increment % 100_000) };
    if (tidy && op.kind === "settings") op = { ...op, window: op.window % 2 ** 20 };
    if (tidy && "stream" in op && op.kind !== "window") {
      if (op.kind === "request") {
        if (op.stream > lastOpened) op = { ...op, stream: lastOpened + 2 };
        lastOpened = Math.max(lastOpened, op.stream);
      } else if (op.stream > lastOpened) {
        if (lastOpened < 1) continue;
        op = { ...op, stream: lastOpened };
      }
    }
    switch (op.kind) {
      case "request":
        parts.push(encodeHeadersFrames(op.stream, block(op.fields), op.end, 100));
        break;
      case "block":
        parts.push(encodeHeadersFrames(op.stream, op.block, op.end, 16384));
        break;
      case "data":
        parts.push(encodeDataFrame(op.stream, new Uint8Array(Math.min(op.size, 16384)).fill(op.size & 0xff), op.end));
        break;
      case "trailers":
        parts.push(encodeHeadersFrames(op.stream, block(["x-t", "1"]), true, 16384));
        break;
      case "rst":
        parts.push(encodeRstStreamFrame(op.stream, op.code));
        break;
      case "window":
        parts.push(encodeWindowUpdateFrame(op.stream, op.increment));
        break;
      case "settings":
        parts.push(encodeSettingsFrame([SettingId.INITIAL_WINDOW_SIZE, op.window, SettingId.MAX_FRAME_SIZE, op.frame]));
        break;
      case "ping":
        parts.push(encodePingFrame(new Uint8Array(8), false));
        break;
      case "priority":
        parts.push(encodePriorityFrame(op.stream, 0, 16));
        break;
      case "goaway":
        parts.push(encodeGoAwayFrame(0, 0));
        break;
      case "raw":
        parts.push(op.bytes);
        break;
    }
  }
  return concatBytes(parts);
}

interface Run {
  output: number[];
  violations: string[];
}

/** Feed `chunks` to a server whose streams 1, 9, 17 answer, 5 and 13 stop reading, and the others just listen. */
function runServer(chunks: readonly Uint8Array[]): Run {
  const output: number[] = [];
  const violations: string[] = [];
  let failed = false;
  let writesAfterFailure = 0;
  const store = new StatsStore();
  const stats = new Http2CodecStats(store.scope(""));
  const conn = new Http2ConnectionImpl(
    "server",
    {
      write(data) {
        if (failed) writesAfterFailure++;
        output.push(...data);
      },
    },
    {
      onNewStream(stream: Http2Stream) {
        let seenHeaders = false;
        let ended = false;
        let held = 0;
        stream.callbacks = {
          onHeaders(_fields, endStream) {
            if (seenHeaders || ended) violations.push(`stream ${stream.id}: headers twice or after its end`);
            seenHeaders = true;
            ended = endStream;
            if (stream.id % 8 === 5) stream.readDisable(true);
            if (endStream && stream.id % 8 === 1) {
              stream.sendHeaders([":status", "200"], false);
              stream.sendData(new Uint8Array(70000), true);
            }
          },
          onData(data, endStream) {
            if (!seenHeaders || ended) violations.push(`stream ${stream.id}: data before headers or after its end`);
            held += data.length;
            ended = endStream;
          },
          onTrailers() {
            if (!seenHeaders || ended) violations.push(`stream ${stream.id}: trailers before headers or after its end`);
            ended = true;
          },
          onReset() {
            ended = true;
          },
        };
        void held;
      },
      onConnectionError() {
        failed = true;
      },
    },
    stats,
    { initialStreamWindowSize: 65535, initialConnectionWindowSize: 1 << 20, streamErrorOnInvalidHttpMessage: true },
  );
  conn.start();
  for (const chunk of chunks) {
    conn.dispatch(chunk);
    for (const stream of conn.streams.values()) {
      if (stream.heldBytes > 65535) violations.push(`stream ${stream.id} holds ${stream.heldBytes} bytes`);
    }
  }
  if (writesAfterFailure > 0) violations.push(`${writesAfterFailure} writes after the connection failed`);
  if (stats.streams_active.value !== conn.activeStreams) violations.push(`streams_active ${stats.streams_active.value} != ${conn.activeStreams}`);
  if (failed && conn.activeStreams !== 0) violations.push("streams left after a connection error");
  conn.destroy();
  if (stats.streams_active.value !== 0) violations.push("streams_active not 0 after destroy");
  return { output, violations };
}

describe("Http2ConnectionImpl fuzz (server role)", () => {
  test(
    "generated and mutated client streams: no throw, well-formed streams, same output however cut",
    () => {
      const tidy = fc.array(opArb.filter((op) => op.kind !== "raw" && op.kind !== "block"), { maxLength: 30 }).map((ops) => wire(ops, true));
      const hostile = fc.tuple(fc.array(opArb, { maxLength: 25 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 })).map(([ops, edits]) => {
        const bytes = wire(ops, false);
        // Mutations leave the preface alone, so most runs get past it.
        for (const [at, value] of edits) bytes[CLIENT_PREFACE.length + (at % Math.max(1, bytes.length - CLIENT_PREFACE.length))] = value;
        return bytes;
      });
      fc.assert(
        fc.property(fc.oneof(tidy, hostile), cutsArb(), (bytes, cuts) => {
          const whole = runServer([bytes]);
          expect(whole.violations).toEqual([]);
          const cut = runServer(splitAt(bytes, cuts));
          expect(cut.violations).toEqual([]);
          expect(cut.output.length).toBe(whole.output.length);
          expect(cut.output).toEqual(whole.output);
        }),
        fuzzParameters(300),
      );
    },
    fuzzTimeout(300, 60_000),
  );
});
