/**
 * util/kept-chunks.ts: the copies a filter keeps of a body's chunks — every byte kept in
 * order, bytes already kept never written again, and small chunks held in shared blocks
 * whatever chunks come between them.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { KeptChunks } from "../../../core/util/kept-chunks.ts";

/** Bytes the pieces hold on to: each distinct ArrayBuffer once, plus ~100 bytes of object per piece. */
function held(pieces: Uint8Array[]): number {
  const buffers = new Set(pieces.map((piece) => piece.buffer));
  let bytes = 0;
  for (const buffer of buffers) bytes += buffer.byteLength;
  return bytes + pieces.length * 100;
}

const concat = (pieces: Uint8Array[]) => Uint8Array.from(pieces.flatMap((piece) => [...piece]));

describe("KeptChunks", () => {
  test("every chunk's bytes, in order; pieces handed out before never change", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 3000 }), { maxLength: 60 }), fc.integer({ min: 0, max: 60 }), (chunks, releaseAt) => {
        const kept = new KeptChunks();
        let pieces: Uint8Array[] = [];
        const released: [Uint8Array, Uint8Array][] = [];
        let expected: number[] = [];
        chunks.forEach((chunk, i) => {
          if (i === releaseAt) {
            // The router hands its pieces to a socket and starts a new list.
            for (const piece of pieces) released.push([piece, piece.slice()]);
            pieces = [];
            expected = [];
          }
          kept.keep(pieces, chunk);
          expected.push(...chunk);
        });
        expect([...concat(pieces)]).toEqual(expected);
        for (const [piece, copy] of released) expect(piece).toEqual(copy);
      }),
    );
  });

  test("1-byte chunks between larger ones share blocks: what is held stays near the bytes kept", () => {
    const kept = new KeptChunks();
    const pieces: Uint8Array[] = [];
    let bytes = 0;
    for (let i = 0; i < 2000; i++) {
      const chunk = new Uint8Array(i % 2 === 0 ? 1024 : 1).fill(i & 0xff);
      kept.keep(pieces, chunk);
      bytes += chunk.byteLength;
    }
    // One 16 KiB block per 1-byte chunk would hold ~17 times the bytes.
    expect(held(pieces)).toBeLessThan(bytes * 1.5);
    const tiny = new KeptChunks();
    const tinyPieces: Uint8Array[] = [];
    for (let i = 0; i < 100_000; i++) tiny.keep(tinyPieces, new Uint8Array([i & 0xff]));
    expect(tinyPieces.length).toBeLessThan(10);
    expect(held(tinyPieces)).toBeLessThan(200_000);
  });
});
