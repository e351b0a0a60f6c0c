/**
 * The printer's string quoting (json-escape.ts, writer.cc WriteEscapedUtf8): a protobuf
 * string's bytes quoted as the same text quoted code point by code point, whatever the mix of
 * plain ASCII runs (copied at once) and characters that need an escape; bytes that do not
 * decode become one space each sequence.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { quoteText, quoteUtf8 } from "../../../core/grpc-json/json-escape.ts";
import { utf8Encode } from "../../../core/util/utf8.ts";

const PIECES = ["a", "Z", " ", "~", "<", ">", '"', "\\", "\n", "\u0000", "\u001f", "\u007f", "\u0085", "é", "€", "\u2028", "\ufeff", "😀", "abcdefgh".repeat(3)];

describe("quoteUtf8", () => {
  it("quotes valid UTF-8 as quoteText quotes its text", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom(...PIECES), fc.string({ unit: "binary-ascii" }), fc.string({ unit: "grapheme" }))), (parts) => {
        const text = parts.join("");
        expect(quoteUtf8(utf8Encode(text))).toBe(quoteText(text));
      }),
      { numRuns: 300 },
    );
  });

  it("a long ASCII run (past one copy's chunk) with escapes at its edges", () => {
    const text = `<${"x".repeat(20_000)}"${"y".repeat(9000)}>`;
    expect(quoteUtf8(utf8Encode(text))).toBe(`"\\u003c${"x".repeat(20_000)}\\"${"y".repeat(9000)}\\u003e"`);
  });

  it("a sequence that does not decode is one space (the byte that broke it taken with it), the ASCII runs around it kept", () => {
    expect(quoteUtf8(new Uint8Array([0x61, 0xff, 0x62, 0xc3, 0x63, 0xe2, 0x82]))).toBe('"a b  "');
  });
});
