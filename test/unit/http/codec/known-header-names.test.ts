import { describe, expect, test } from "vitest";
import { knownHeaderName } from "../../../../core/http/codec/known-header-names.ts";

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const lookup = (s: string) => knownHeaderName(bytes(s), 0, s.length);

describe("knownHeaderName", () => {
  test("a known name in any letter case gives the one shared lowercase string", () => {
    expect(lookup("Content-Length")).toBe("content-length");
    expect(lookup("CONTENT-LENGTH")).toBe("content-length");
    expect(lookup("content-length")).toBe("content-length");
    expect(lookup("Host")).toBe("host");
    expect(lookup("ETag")).toBe("etag");
  });

  test("anything else is not recognised (the caller decodes and lowercases it)", () => {
    expect(lookup("Content-Lengtx")).toBeUndefined(); // same length, first and last letter differ
    expect(lookup("Hoxt")).toBeUndefined(); // same length, first and last letter
    expect(lookup("X-Custom")).toBeUndefined();
    expect(lookup("")).toBeUndefined();
    expect(lookup("Content-Lengt")).toBeUndefined(); // a prefix
    // Only A-Z fold: bytes that are a letter's code minus 0x20 but not upper-case letters do not.
    expect(lookup("\u0008ost")).toBeUndefined();
    expect(lookup("Content\rLength")).toBeUndefined();
  });

  test("works on a span inside a larger buffer", () => {
    const head = bytes("GET / HTTP/1.1\r\nHost: a\r\n");
    expect(knownHeaderName(head, 16, 20)).toBe("host");
    expect(knownHeaderName(head, 16, 19)).toBeUndefined();
  });
});
