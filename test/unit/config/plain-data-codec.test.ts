/**
 * core/config/plain-data-codec.ts: what a checked config is kept as between starts. Every
 * value of plain data decodes to the same data (test/support/plain-data.ts compares what a
 * program could tell apart: -0, NaN, undefined-valued keys, prototypes, frozen state, key
 * order, sharing); anything else is refused, never approximated.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { decodePlainData, encodePlainData } from "../../../core/config/plain-data-codec.ts";
import { plainDataDifference } from "../../support/plain-data.ts";
import { fuzzParameters } from "../../support/fuzz.ts";

const roundTrip = (value: unknown): unknown => {
  const text = encodePlainData(value);
  if (text === undefined) throw new Error("refused");
  return decodePlainData(text);
};

/** Plain data of every kind the codec keeps, some objects reached twice. */
const plainData = (): fc.Arbitrary<unknown> => {
  const { tree } = fc.letrec<{ tree: unknown; leaf: unknown; node: unknown }>((tie) => ({
    leaf: fc.oneof(
      fc.string(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.double(),
      fc.constantFrom(-0, NaN, Infinity, -Infinity, 0),
      fc.bigInt(),
      fc.uint8Array({ maxLength: 8 }),
    ),
    node: fc.oneof(
      fc.array(tie("tree"), { maxLength: 4 }),
      fc.dictionary(fc.oneof(fc.string(), fc.constantFrom("__proto__", "constructor", "0", "10", "length")), tie("tree"), { maxKeys: 4 }).map((o) => ({ ...o })),
      fc.dictionary(fc.string(), tie("tree"), { maxKeys: 3 }).map((o) => Object.assign(Object.create(null) as object, o)),
      fc.array(tie("tree"), { maxLength: 3 }).map((a) => Object.freeze(a)),
      fc.dictionary(fc.string(), tie("tree"), { maxKeys: 3 }).map((o) => Object.freeze({ ...o })),
      fc.array(fc.tuple(fc.oneof(fc.string(), fc.integer(), tie("tree")), tie("tree")), { maxLength: 3 }).map((entries) => new Map(entries)),
      fc.array(tie("tree"), { maxLength: 3 }).map((items) => new Set(items)),
    ),
    tree: fc.oneof({ depthSize: "small", withCrossShrink: true }, tie("leaf"), tie("node")),
  }));
  // Sharing: the same value put in two places.
  return tree.chain((value) => fc.constantFrom(value, [value, value], { a: value, b: [value] }));
};

describe("plain data", () => {
  test("decodes to the same data, whatever it holds", () => {
    fc.assert(
      fc.property(plainData(), (value) => {
        expect(plainDataDifference(value, roundTrip(value))).toBeUndefined();
      }),
      fuzzParameters(500),
    );
  });

  test("an undefined-valued key, -0, NaN, a bigint, bytes and a __proto__ key stay what they were", () => {
    const withProto = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as object;
    const value = { u: undefined, z: -0, n: NaN, i: -Infinity, b: 12345678901234567890n, y: new Uint8Array([0, 255]), p: withProto };
    const back = roundTrip(value) as typeof value;
    expect(plainDataDifference(value, back)).toBeUndefined();
    expect("u" in back).toBe(true);
    expect(Object.is(back.z, -0)).toBe(true);
    // An own property, not the prototype: nothing reaches Object.prototype.
    expect(Object.getPrototypeOf(back.p)).toBe(Object.prototype);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });

  test("a Map and a Set keep their entries, in order, keys of any kind", () => {
    const key = { k: 1 };
    const value = { m: new Map<unknown, unknown>([["b", 1], [key, [2]], [NaN, undefined]]), s: new Set([3, key, "x"]) };
    const back = roundTrip(value) as typeof value;
    expect(plainDataDifference(value, back)).toBeUndefined();
    expect([...back.m.keys()][1]).toBe([...back.s][1]);
  });

  test("one object reached twice is one object again, and so is a cycle", () => {
    const shared = { x: [1] };
    const value: Record<string, unknown> = { a: shared, b: [shared, shared.x] };
    value["self"] = value;
    const back = roundTrip(value) as { a: object; b: [object, object]; self: unknown };
    expect(back.b[0]).toBe(back.a);
    expect(back.b[1]).toBe((back.a as { x: object }).x);
    expect(back.self).toBe(back);
    expect(plainDataDifference(value, back)).toBeUndefined();
  });

  test("anything else is refused", () => {
    class Config {
      x = 1;
    }
    const accessor = Object.defineProperty({}, "x", { get: () => 1, enumerable: true });
    const hidden = Object.defineProperty({}, "x", { value: 1, enumerable: false });
    const withExtra = Object.assign([1, 2], { extra: true });
    const refused: unknown[] = [
      new Config(),
      Object.assign(new Map([[1, 2]]), { extra: true }),
      Object.freeze(new Set([1])),
      new Map([[1, new Config()]]),
      new Date(0),
      /re/,
      () => 1,
      Symbol("s"),
      { [Symbol("k")]: 1 },
      accessor,
      hidden,
      // eslint-disable-next-line no-sparse-arrays
      [1, , 3],
      withExtra,
      Object.seal({ a: 1 }),
      Object.preventExtensions({ a: 1 }),
      new Uint16Array(2),
      { deep: [{ deeper: new Config() }] },
    ];
    for (const value of refused) expect(encodePlainData(value), String(value)).toBeUndefined();
  });

  test("text it did not write is an error, not a value", () => {
    for (const text of ["{}", '["X"]', '["R", 0]', '["O", "a"]', '["D", "zero"]', '["O", 1, 2]', "not json", "[1]"]) {
      expect(() => decodePlainData(text), text).toThrow();
    }
  });
});
