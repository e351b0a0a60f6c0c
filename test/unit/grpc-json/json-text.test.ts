import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { JsonTextError, parseJsonText } from "../../../core/grpc-json/json-text.ts";

const error = (text: string) => {
  try {
    parseJsonText(text);
  } catch (e) {
    if (e instanceof JsonTextError) return e.message;
    throw e;
  }
  throw new Error(`parsed: ${text}`);
};

describe("request JSON, read as protobuf's JsonStreamParser reads it", () => {
  it("reads what JSON.parse reads, the same", () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 4 }), (text) => {
        const expected = JSON.parse(text);
        // Integers beyond 2^53 stay exact as text (below).
        fc.pre(!/\d{16,}/.test(text));
        expect(parseJsonText(text)).toEqual(expected);
      }),
    );
  });

  it("takes protobuf's leniencies: single-quoted strings and unquoted keys", () => {
    expect(parseJsonText("{reader: 'bob', \"n\": [1, 'two']}")).toEqual({ reader: "bob", n: [1, "two"] });
  });

  it("keeps an integer beyond 2^53 exact, a bigint", () => {
    expect(parseJsonText('{"id": 9223372036854775807, "small": 12, "f": 1.5e300}')).toEqual({ id: 9223372036854775807n, small: 12, f: 1.5e300 });
  });

  it("__proto__ is an own key", () => {
    const value = parseJsonText('{"__proto__": {"a": 1}}') as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(["__proto__"]);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  });

  it("words errors as protobuf does, with the context and a caret", () => {
    expect(error("{not json")).toBe("Expected : between key:value pair.\n{not json\n     ^");
    expect(error('{ "theme" : "Children"')).toBe("Unexpected end of string. Expected , or } after key:value pair.\n\n^");
    expect(error('{"a": 1} x')).toBe('Parsing terminated before end of input.\n{"a": 1} x\n         ^');
    expect(error("[1 2]")).toBe("Expected , or ] after array value.\n[1 2]\n   ^");
    expect(error('{"a": #}')).toBe('Expected a value.\n{"a": #}\n      ^');
    expect(error('{"a": "b\\q"}')).toBe('Invalid escape sequence.\n{"a": "b\\q"}\n        ^');
    expect(error('"abc')).toBe('Closing quote expected in string.\n"abc\n^');
    expect(error("{1: 2}")).toBe("Expected an object key or }.\n{1: 2}\n ^");
  });

  it("bounds nesting", () => {
    expect(error("[".repeat(150))).toMatch(/^Message too deep/);
  });
});
