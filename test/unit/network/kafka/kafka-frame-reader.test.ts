/**
 * Kafka's size-prefixed framing (core/network/kafka/kafka-frame-reader.ts) and the headers
 * read from it (kafka-headers.ts): random frames, cut at every byte boundary and at random
 * ones, give the same frames as one read; a negative size or a malformed header stops the
 * reader there; the reader never keeps more than a frame's head.
 */
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { KafkaFrameReader } from "../../../../core/network/kafka/kafka-frame-reader.ts";
import { REQUEST_HEAD_SIZE, requestHeader, responseCorrelationId } from "../../../../core/network/kafka/kafka-headers.ts";

function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setInt32(0, body.length);
  out.set(body, 4);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** What the reader hands on for `chunks`: [size, head bytes] per frame, and whether it stopped. */
function read(headSize: number, chunks: Uint8Array[], accept: (size: number) => boolean = () => true): { frames: [number, number[]][]; ok: boolean } {
  const frames: [number, number[]][] = [];
  const reader = new KafkaFrameReader(headSize, (size, head) => {
    frames.push([size, [...head]]);
    return accept(size);
  });
  let ok = true;
  for (const chunk of chunks) ok = reader.feed(chunk) && ok;
  return { frames, ok };
}

const bodies = fc.array(fc.uint8Array({ minLength: 0, maxLength: 24 }), { minLength: 0, maxLength: 6 });

describe("KafkaFrameReader", () => {
  test("frames cut at every byte boundary read as one read", () => {
    fc.assert(
      fc.property(bodies, fc.integer({ min: 0, max: 12 }), (parts, headSize) => {
        const stream = concat(parts.map(frame));
        const whole = read(headSize, [stream]);
        expect(whole.frames).toEqual(parts.map((p) => [p.length, [...p.subarray(0, headSize)]]));
        for (let cut = 0; cut <= stream.length; cut++) expect(read(headSize, [stream.subarray(0, cut), stream.subarray(cut)])).toEqual(whole);
        // Byte by byte.
        expect(read(headSize, [...stream].map((b) => Uint8Array.of(b)))).toEqual(whole);
      }),
    );
  });

  test("frames cut at random places read as one read", () => {
    fc.assert(
      fc.property(bodies, fc.array(fc.nat(), { maxLength: 10 }), (parts, cuts) => {
        const stream = concat(parts.map(frame));
        const at = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const chunks = [0, ...at].map((from, i) => stream.subarray(from, [...at, stream.length][i]));
        expect(read(REQUEST_HEAD_SIZE, chunks)).toEqual(read(REQUEST_HEAD_SIZE, [stream]));
      }),
    );
  });

  test("a negative size stops the reader at that frame, however it is cut", () => {
    const stream = concat([frame(Uint8Array.of(1, 2)), Uint8Array.of(0xff, 0xff, 0xff, 0xfe), frame(Uint8Array.of(3))]);
    for (let cut = 0; cut <= stream.length; cut++) {
      expect(read(4, [stream.subarray(0, cut), stream.subarray(cut)], (size) => size >= 0)).toEqual({ frames: [[2, [1, 2]], [-2, []]], ok: false });
    }
  });

  test("a frame of a gigabyte is stepped over without keeping it", () => {
    const head = new Uint8Array(8);
    new DataView(head.buffer).setInt32(0, 1 << 30);
    const frames: number[] = [];
    const reader = new KafkaFrameReader(4, (size) => frames.push(size) > 0);
    reader.feed(head);
    const chunk = new Uint8Array(1 << 20);
    // The 4 head bytes came with the size.
    for (let i = 0; i < 1024; i++) reader.feed(i === 1023 ? chunk.subarray(4) : chunk);
    reader.feed(frame(Uint8Array.of(9)));
    expect(frames).toEqual([1 << 30, 1]);
  });
});

describe("Kafka headers", () => {
  const request = (size: number, apiKey: number, version: number, correlationId: number, clientIdLength: number) => {
    const head = new Uint8Array(REQUEST_HEAD_SIZE);
    const view = new DataView(head.buffer);
    view.setInt16(0, apiKey);
    view.setInt16(2, version);
    view.setInt32(4, correlationId);
    view.setInt16(8, clientIdLength);
    return requestHeader(size, head);
  };

  test("a request header: api key, version and correlation id", () => {
    expect(request(14, 18, 3, 7, 4)).toEqual({ apiKey: 18, apiVersion: 3, correlationId: 7 });
    expect(request(10, 3, 0, -5, -1)).toEqual({ apiKey: 3, apiVersion: 0, correlationId: -5 });
  });

  test("malformed: a client_id length below -1, a client_id past the frame, a frame shorter than the header", () => {
    expect(request(100, 18, 3, 7, -2)).toBeUndefined();
    expect(request(13, 18, 3, 7, 4)).toBeUndefined();
    expect(requestHeader(9, new Uint8Array(9))).toBeUndefined();
    expect(requestHeader(-1, new Uint8Array(0))).toBeUndefined();
  });

  test("a response's correlation id; a frame shorter than 4 bytes has none", () => {
    expect(responseCorrelationId(4, Uint8Array.of(0, 0, 1, 2))).toBe(258);
    expect(responseCorrelationId(3, Uint8Array.of(0, 0, 1))).toBeUndefined();
    expect(responseCorrelationId(-7, new Uint8Array(0))).toBeUndefined();
  });
});
