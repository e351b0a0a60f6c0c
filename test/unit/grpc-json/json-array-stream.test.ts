import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { JsonArrayStream } from "../../../core/grpc-json/json-array-stream.ts";
import { JsonTextError } from "../../../core/grpc-json/json-text.ts";

const decoder = new TextDecoder();

function elements(chunks: Uint8Array[]): string[] {
  const stream = new JsonArrayStream();
  const out: string[] = [];
  for (const chunk of chunks) for (const e of stream.push(chunk)) out.push(decoder.decode(e));
  stream.finish();
  return out;
}

function cut(bytes: Uint8Array, at: number[]): Uint8Array[] {
  const points = [...new Set(at.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

describe("a client stream's JSON array, cut into elements as it comes", () => {
  it("gives each element's text, however the bytes are chunked (strings with brackets, quotes, escapes, UTF-8)", () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 5 }), fc.array(fc.nat(), { maxLength: 6 }), (values, at) => {
        const texts = values.map((v) => JSON.stringify(v));
        const body = new TextEncoder().encode(` [ ${texts.join(" ,\n")} ] `);
        expect(elements(cut(body, at)).map((t) => JSON.parse(t))).toEqual(values.map((v) => JSON.parse(JSON.stringify(v))));
      }),
    );
  });

  it("holds only the element being read", () => {
    const stream = new JsonArrayStream();
    expect(stream.push(new TextEncoder().encode('[{"id":"a"},{"id":'))).toHaveLength(1);
    expect(stream.held).toBe(6);
  });

  it("refuses what is no array, a missing value, an unclosed array and bytes after it", () => {
    const fails = (text: string) => () => elements([new TextEncoder().encode(text)]);
    expect(fails('{"id":1}')).toThrow(JsonTextError);
    expect(fails("[1,,2]")).toThrow("Expected a value.");
    expect(fails("[1,]")).toThrow("Expected a value.");
    expect(fails("[1, 2")).toThrow("Unexpected end of string. Expected , or ] after array value.");
    expect(fails("[1] 2")).toThrow("Parsing terminated before end of input.");
    expect(elements([new TextEncoder().encode(" [ ] ")])).toEqual([]);
  });
});
