/**
 * ProtoWriter (core/util/protobuf-wire.ts) against a reference encoding built by hand, and
 * utf8Encode (core/util/utf8.ts) against the runtime's TextEncoder: a sub-message is built
 * in its parent's buffer with one byte kept for its length, moved along when the length
 * takes more (a body of 128 bytes or more), and strings are written in place.
 */
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { ProtoWriter } from "../../../core/util/protobuf-wire.ts";
import { utf8Encode } from "../../../core/util/utf8.ts";

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
const utf8 = (text: string): number[] => [...new TextEncoder().encode(text)];
const len = (field: number, body: number[]): number[] => [...varint(field * 8 + 2), ...varint(body.length), ...body];

/** Any UTF-16 code units, lone surrogates included. */
const anyUtf16 = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 }).map((units) => String.fromCharCode(...units));

describe("utf8Encode", () => {
  test("the bytes TextEncoder writes, lone surrogates as U+FFFD", () => {
    for (const text of ["", "abc", "é€😀", "\ud800", "a\udc00b", "\ud83d\ude00\ud83d", "\udbff\udfff"]) expect([...utf8Encode(text)]).toEqual(utf8(text));
    fc.assert(fc.property(fc.oneof(anyUtf16, fc.string({ unit: "grapheme" })), (text) => {
      expect([...utf8Encode(text)]).toEqual(utf8(text));
    }));
  });
});

describe("ProtoWriter", () => {
  test("nested messages of any size carry their length before their body", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(anyUtf16, fc.nat({ max: 300 })), { maxLength: 6 }), fc.nat({ max: 20_000 }), (entries, padding) => {
        const pad = "x".repeat(padding);
        const written = new ProtoWriter()
          .message(1, (outer) => {
            for (const [text, repeat] of entries) outer.message(2, (kv) => kv.string(1, text).message(2, (any) => any.explicitString(1, text.repeat(repeat))));
            outer.string(3, pad);
          })
          .uint(4, 7)
          .finish();
        const inner = entries.flatMap(([text, repeat]) => len(2, [...(text === "" ? [] : len(1, utf8(text))), ...len(2, len(1, utf8(text.repeat(repeat))))]));
        const expected = [...len(1, [...inner, ...(pad === "" ? [] : len(3, utf8(pad)))]), 4 * 8, 7];
        expect([...written]).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  test("a body at each varint length's edge (1 to 4 bytes of length), nested twice", () => {
    for (const size of [127, 128, 16383, 16384, 2097151, 2097152]) {
      const body = "y".repeat(size);
      const written = new ProtoWriter().message(1, (outer) => outer.message(2, (inner) => inner.string(1, body))).finish();
      // Built and compared as bytes: arrays of numbers 2 MiB long took 16-30 s under load.
      const lenBytes = (field: number, inner: Uint8Array): Uint8Array => Buffer.concat([Uint8Array.from([...varint(field * 8 + 2), ...varint(inner.length)]), inner]);
      const expected = lenBytes(1, lenBytes(2, lenBytes(1, new TextEncoder().encode(body))));
      expect(written.byteLength).toBe(expected.byteLength);
      expect(Buffer.compare(written, expected)).toBe(0);
    }
  });

  test("a value that is not a string is thrown, never written as an empty field", () => {
    expect(() => new ProtoWriter().string(1, 5 as unknown as string)).toThrow(TypeError);
  });

  test("fixed64 is eight little-endian bytes, 0 left out", () => {
    for (const value of [1n, 0xffn, 1733500000123456789n, 2n ** 64n - 1n, -1n]) {
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setBigUint64(0, BigInt.asUintN(64, value), true);
      expect([...new ProtoWriter().fixed64(7, value).finish()]).toEqual([7 * 8 + 1, ...bytes]);
    }
    expect(new ProtoWriter().fixed64(7, 0n).finish().byteLength).toBe(0);
  });

  test("a writer given the message's size fills it and hands that buffer over; one it outgrew or did not fill is copied", () => {
    const exact = new ProtoWriter(4).uint(1, 300);
    const bytes = exact.finish();
    expect([...bytes]).toEqual([0x08, 0xac, 0x02]);
    const filled = new ProtoWriter(3).uint(1, 300);
    expect(filled.finish()).toBe(filled.finish());
    const short = new ProtoWriter(1).uint(1, 300);
    expect([...short.finish()]).toEqual([0x08, 0xac, 0x02]);
    expect(short.finish()).not.toBe(short.finish());
  });
});
