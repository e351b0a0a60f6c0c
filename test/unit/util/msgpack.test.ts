/**
 * MsgpackWriter (core/util/msgpack.ts) read back by a decoder written from the MessagePack
 * spec (test/support/msgpack-decode.ts): any tree of arrays, string-keyed maps, strings,
 * 64-bit integers and doubles round-trips; the headers' boundaries and dd-trace-cpp's
 * fixed-size integers byte for byte; the payload's limit.
 */
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { MsgpackOverflow, MsgpackWriter } from "../../../core/util/msgpack.ts";
import { decodeMsgpack, type MsgpackValue } from "../../support/msgpack-decode.ts";

type Tree = { u64: bigint } | { i64: bigint } | { f64: number } | { s: string } | { a: Tree[] } | { m: [string, Tree][] };

const tree: fc.Arbitrary<Tree> = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((u64) => ({ u64 })),
    fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }).map((i64) => ({ i64 })),
    fc.double({ noNaN: true }).map((f64) => ({ f64 })),
    fc.string({ unit: "binary", maxLength: 300 }).map((s) => ({ s })),
    fc.array(tie("tree"), { maxLength: 20 }).map((a) => ({ a })),
    fc.uniqueArray(fc.tuple(fc.string({ maxLength: 40 }), tie("tree")), { maxLength: 20, selector: ([k]) => k }).map((m) => ({ m })),
  ),
})).tree;

function write(w: MsgpackWriter, t: Tree): void {
  if ("u64" in t) w.uint64(t.u64);
  else if ("i64" in t) w.int64(t.i64);
  else if ("f64" in t) w.double(t.f64);
  else if ("s" in t) w.string(t.s);
  else if ("a" in t) {
    w.arrayHeader(t.a.length);
    for (const x of t.a) write(w, x);
  } else {
    w.mapHeader(t.m.length);
    for (const [k, v] of t.m) {
      w.string(k);
      write(w, v);
    }
  }
}

function expected(t: Tree): MsgpackValue {
  if ("u64" in t) return t.u64;
  if ("i64" in t) return t.i64;
  if ("f64" in t) return t.f64;
  if ("s" in t) return t.s;
  if ("a" in t) return t.a.map(expected);
  return new Map(t.m.map(([k, v]) => [k, expected(v)]));
}

const bytes = (f: (w: MsgpackWriter) => void): number[] => {
  const w = new MsgpackWriter(1);
  f(w);
  return [...w.finish()];
};

describe("MsgpackWriter", () => {
  test("any tree round-trips through a decoder written from the spec", () => {
    fc.assert(
      fc.property(tree, (t) => {
        const w = new MsgpackWriter(8);
        write(w, t);
        expect(decodeMsgpack(w.finish())).toEqual(expected(t));
      }),
      { numRuns: 300 },
    );
  });

  test("headers and strings take the shortest form; integers dd-trace-cpp's fixed 9 bytes", () => {
    expect(bytes((w) => w.arrayHeader(15))).toEqual([0x9f]);
    expect(bytes((w) => w.arrayHeader(16))).toEqual([0xdc, 0, 16]);
    expect(bytes((w) => w.mapHeader(0x10000))).toEqual([0xdf, 0, 1, 0, 0]);
    expect(bytes((w) => w.string("abc"))).toEqual([0xa3, 97, 98, 99]);
    expect(bytes((w) => w.string("x".repeat(32))).slice(0, 2)).toEqual([0xd9, 32]);
    expect(bytes((w) => w.string("x".repeat(256))).slice(0, 3)).toEqual([0xda, 1, 0]);
    expect(bytes((w) => w.uint64(1n))).toEqual([0xcf, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(bytes((w) => w.int64(-1))).toEqual([0xd3, 255, 255, 255, 255, 255, 255, 255, 255]);
    expect(bytes((w) => w.double(1))).toEqual([0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]);
  });

  test("a payload past its limit throws instead of growing", () => {
    const w = new MsgpackWriter(16, 64);
    w.string("x".repeat(40));
    expect(() => w.string("y".repeat(40))).toThrow(MsgpackOverflow);
  });
});
