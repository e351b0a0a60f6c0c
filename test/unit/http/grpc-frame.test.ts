/**
 * gRPC's length-prefixed messages split from a byte stream (core/http/grpc-frame.ts): any
 * chunking gives the same frames, and a header's claimed length costs nothing until the bytes
 * come (a 4 GiB claim within the limit is not allocated).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeGrpcFrame, grpcFrameHeader, GrpcFrameDecoder } from "../../../core/http/grpc-frame.ts";

describe("GrpcFrameDecoder", () => {
  it("any chunking of a stream of frames gives the frames (empty ones included)", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 10 }), (messages, cuts) => {
        const stream = new Uint8Array(messages.reduce((n, m) => n + 5 + m.length, 0));
        let at = 0;
        for (const m of messages) {
          stream.set(encodeGrpcFrame(0, m), at);
          at += 5 + m.length;
        }
        const decoder = new GrpcFrameDecoder(1000);
        const frames: Uint8Array[] = [];
        for (let from = 0, i = 0; from < stream.length; i++) {
          const to = Math.min(stream.length, from + cuts[i % cuts.length]!);
          const chunk = stream.slice(from, to);
          for (const f of decoder.decode(chunk)!) frames.push(f.data);
          // The caller may reuse its buffer: the frames are copies.
          chunk.fill(0xee);
          from = to;
        }
        expect(frames).toEqual(messages);
        expect(decoder.hasBufferedData).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it("a header claiming 4 GiB within the limit holds only what came", () => {
    const decoder = new GrpcFrameDecoder(0xffffffff);
    const claim = grpcFrameHeader(0, 0xfffffff0);
    // The engine's count of ArrayBuffer memory (node, bun and deno give one): a 4 GiB buffer shows in it even before its pages are touched.
    const before = process.memoryUsage().arrayBuffers;
    expect(decoder.decode(new Uint8Array([...claim, 1, 2, 3]))).toEqual([]);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1024 * 1024);
    expect(decoder.hasBufferedData).toBe(true);
  });

  it("a frame over the limit or with flags not allowed is refused, and nothing after it taken", () => {
    const decoder = new GrpcFrameDecoder(4);
    expect(decoder.decode(encodeGrpcFrame(0, new Uint8Array(5)))).toBeUndefined();
    expect(decoder.decode(encodeGrpcFrame(0, new Uint8Array(1)))).toBeUndefined();
    expect(new GrpcFrameDecoder(10).decode(encodeGrpcFrame(0x80, new Uint8Array(1)))).toBeUndefined();
  });
});
