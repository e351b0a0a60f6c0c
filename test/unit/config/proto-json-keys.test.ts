/**
 * readProtoTree's reading of keys (core/config/proto-json.ts): a JSON name in snake_case, a
 * field given under two spellings reported once per later spelling at its path, a
 * "__proto__" key kept as an own field. Checked against a plain reading of the rule (a
 * running map of the spellings seen, a path array per value) on random trees of objects
 * whose keys collide in every order.
 */
import fc from "fast-check";
import { expect, test } from "vitest";
import { readProtoTree } from "../../../core/config/proto-json.ts";
import { problemAt, type ConfigPath } from "../../../core/config/errors.ts";
import { fuzzParameters } from "../../support/fuzz.ts";

// None is a Bootstrap field, so every object is read as one of no known message.
const KEYS = ["fooBar", "foo_bar", "aB", "a_b", "aBC", "a_b_c", "x", "__proto__", "Upper", "b1"];

function reference(value: unknown, path: ConfigPath, problems: string[]): unknown {
  if (Array.isArray(value)) return value.map((item, i) => reference(item, [...path, i], problems));
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  const givenAs = new Map<string, string>();
  for (const [key, child] of Object.entries(value)) {
    const name = /^[a-z][a-zA-Z0-9]*$/.test(key) ? key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : key;
    const earlier = givenAs.get(name);
    if (earlier !== undefined) {
      problems.push(problemAt([...path, name], `field given twice, as "${earlier}" and "${key}"`));
      continue;
    }
    givenAs.set(name, key);
    Object.defineProperty(out, name, { value: reference(child, [...path, name], problems), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** An object with own keys in the order given (a "__proto__" key as an own field, as JSON.parse makes it). */
function objectOf(entries: [string, unknown][]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of entries) Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

const tree = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, fc.oneof(fc.integer(), fc.constant(null), fc.string({ maxLength: 3 })), tie("object"), fc.array(tie("value"), { maxLength: 3 })),
  object: fc.uniqueArray(fc.tuple(fc.constantFrom(...KEYS), tie("value")), { selector: ([key]) => key, maxLength: 6 }).map(objectOf),
})).object;

test("keys read as the plain rule reads them: names, twice-given fields and their paths, __proto__", () => {
  fc.assert(
    fc.property(tree, (value) => {
      const problems: string[] = [];
      const read = readProtoTree(value, problems).tree as Record<string, unknown>;
      const expected: string[] = [];
      const want = reference(value, [], expected);
      expect(problems).toEqual(expected);
      // JSON text: own "__proto__" fields included, and key order.
      expect(JSON.stringify(read)).toBe(JSON.stringify(want));
      expect(Object.getPrototypeOf(read)).toBe(Object.prototype);
    }),
    fuzzParameters(300),
  );
});

test("a field given as camelCase after its snake_case spelling, deep in a list: one problem at its path", () => {
  const problems: string[] = [];
  readProtoTree({ a: [{ x: objectOf([["foo_bar", 1], ["x", 2], ["fooBar", 3]]) }] }, problems);
  expect(problems).toEqual([problemAt(["a", 0, "x", "foo_bar"], 'field given twice, as "foo_bar" and "fooBar"')]);
});
