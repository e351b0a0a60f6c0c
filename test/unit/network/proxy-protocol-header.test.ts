/**
 * The PROXY protocol header parser (core/network/listener-filters/proxy-protocol-header.ts),
 * v1 and v2, against Envoy's rules (proxy_protocol.cc) and the spec's examples; fuzzed.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { ProxyProtocolParser, type ProxyHeaderResult } from "../../../core/network/listener-filters/proxy-protocol-header.ts";
import { fuzzParameters, fuzzTimeout } from "../../support/fuzz.ts";

const text = (s: string) => new TextEncoder().encode(s);
const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

function v2(command: number, familyTransport: number, addresses: number[], tlvs: number[] = []): Uint8Array {
  const length = addresses.length + tlvs.length;
  return new Uint8Array([...V2_SIGNATURE, 0x20 | command, familyTransport, length >> 8, length & 0xff, ...addresses, ...tlvs]);
}

function feed(bytes: Uint8Array, step = bytes.length): ProxyHeaderResult {
  const parser = new ProxyProtocolParser();
  for (let end = Math.min(step, bytes.length); ; end = Math.min(end + step, bytes.length)) {
    const result = parser.parse(bytes.subarray(0, end));
    if (result.kind !== "more" || end === bytes.length) return result;
  }
}

const v4 = (address: string, port: number) => ({ address, port, family: 4 });

describe("PROXY protocol v1", () => {
  test("TCP4: addresses and the header's length (the bytes after it are the client's)", () => {
    const bytes = text("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\nGET / HTTP/1.1\r\n");
    const expected = { kind: "header", version: 1, length: 45, remote: v4("192.0.2.1", 56324), local: v4("198.51.100.7", 443) };
    expect(feed(bytes)).toEqual(expected);
    expect(feed(bytes, 1)).toEqual(expected);
  });

  test("TCP6, with addresses in their canonical form", () => {
    expect(feed(text("PROXY TCP6 2001:DB8:0:0::1 ::2 1 2\r\n"))).toEqual({
      kind: "header", version: 1, length: 36,
      remote: { address: "2001:db8::1", port: 1, family: 6 }, local: { address: "::2", port: 2, family: 6 },
    });
  });

  test("UNKNOWN keeps the real addresses", () => {
    expect(feed(text("PROXY UNKNOWN\r\n"))).toEqual({ kind: "header", version: 1, length: 15 });
    expect(feed(text("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"))).toMatchObject({ kind: "header", version: 1 });
  });

  test.each([
    ["a TCP4 line with an IPv6 address", "PROXY TCP4 ::1 ::1 1 2\r\n"],
    ["a missing port", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"],
    ["a port over 65535", "PROXY TCP4 1.2.3.4 5.6.7.8 70000 2\r\n"],
    ["two spaces", "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n"],
    ["an unknown protocol", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"],
    ["a multicast source", "PROXY TCP4 224.0.0.1 5.6.7.8 1 2\r\n"],
    ["the any address", "PROXY TCP4 0.0.0.0 5.6.7.8 1 2\r\n"],
  ])("error: %s", (_name, line) => {
    expect(feed(text(line))).toEqual({ kind: "error", version: 1 });
  });

  test("no CRLF within 108 bytes is an error", () => {
    expect(feed(text(`PROXY TCP4 ${"1".repeat(120)}`))).toEqual({ kind: "error", version: undefined });
    expect(feed(text(`PROXY TCP4 ${"1".repeat(90)}`))).toEqual({ kind: "more" });
  });
});

describe("PROXY protocol v2", () => {
  const addresses4 = [192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x01, 0xbb];

  test("PROXY over TCP/IPv4, TLVs skipped, fed a byte at a time", () => {
    const bytes = v2(1, 0x11, addresses4, [0x04, 0, 2, 0xaa, 0xbb]);
    const expected = { kind: "header", version: 2, length: 16 + 12 + 5, remote: v4("192.0.2.1", 56324), local: v4("198.51.100.7", 443) };
    expect(feed(bytes)).toEqual(expected);
    expect(feed(bytes, 1)).toEqual(expected);
  });

  test("IPv6", () => {
    const src = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1];
    const dst = [...new Array(15).fill(0), 2];
    expect(feed(v2(1, 0x21, [...src, ...dst, 0, 80, 1, 0xbb]))).toEqual({
      kind: "header", version: 2, length: 52, remote: { address: "2001:db8::1", port: 80, family: 6 }, local: { address: "::2", port: 443, family: 6 },
    });
  });

  test("LOCAL: no addresses, whatever follows in its length", () => {
    expect(feed(v2(0, 0x00, [1, 2, 3]))).toEqual({ kind: "header", version: 2, length: 19 });
  });

  test("a header longer than 232 bytes (long TLVs) raises what it reads", () => {
    const parser = new ProxyProtocolParser();
    const bytes = v2(1, 0x11, addresses4, [0x20, 1, 0x2c, ...new Array(300).fill(0x61)]);
    expect(parser.parse(bytes.subarray(0, 232))).toEqual({ kind: "more" });
    expect(parser.maxReadBytes).toBe(bytes.length);
    expect(parser.parse(bytes)).toMatchObject({ kind: "header", length: bytes.length });
  });

  test.each([
    ["version 1 in the v2 signature's header", new Uint8Array([...V2_SIGNATURE, 0x11, 0x11, 0, 12, ...addresses4])],
    ["AF_UNIX", v2(1, 0x31, new Array(216).fill(0))],
    ["AF_UNSPEC with PROXY", v2(1, 0x01, [])],
    ["a length shorter than the addresses", new Uint8Array([...V2_SIGNATURE, 0x21, 0x11, 0, 8, ...addresses4.slice(0, 8)])],
    ["a TLV running past the header", v2(1, 0x11, addresses4, [0x04, 0, 9, 1])],
    ["an unknown transport", v2(1, 0x13, addresses4)],
    ["an unknown command", v2(2, 0x11, addresses4)],
  ])("error: %s", (_name, bytes) => {
    expect(feed(bytes)).toEqual({ kind: "error", version: 2 });
  });
});

describe("without a header", () => {
  test("16 bytes that are neither signature: not found", () => {
    expect(feed(text("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))).toEqual({ kind: "not_found" });
  });

  test("decided on the first byte that differs from both signatures", () => {
    expect(feed(text("G"))).toEqual({ kind: "not_found" });
    expect(feed(text("GET /\r\n"), 1)).toEqual({ kind: "not_found" });
    expect(feed(text("PRO"))).toEqual({ kind: "more" });
    expect(feed(new Uint8Array(V2_SIGNATURE.slice(0, 5)))).toEqual({ kind: "more" });
    expect(feed(text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"))).toMatchObject({ kind: "header" });
  });
});

describe("PROXY protocol fuzz", () => {
  const RUNS = 300;
  test(
    "random bytes and mutated headers: no throw, the same answer however the bytes arrive, a header never longer than the bytes",
    () => {
      const headers = fc.oneof(
        fc.constant(text("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n")),
        fc.constant(v2(1, 0x11, [192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x01, 0xbb], [4, 0, 1, 9])),
      );
      const mutated = fc.tuple(headers, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.uint8Array({ maxLength: 40 })).map(([bytes, flips, tail]) => {
        const out = new Uint8Array([...bytes, ...tail]);
        for (const [at, value] of flips) out[at % out.length] = value;
        return out;
      });
      fc.assert(
        fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated), fc.integer({ min: 1, max: 50 }), (bytes, step) => {
          const once = feed(bytes);
          expect(feed(bytes, step)).toEqual(once);
          if (once.kind === "header") expect(once.length).toBeLessThanOrEqual(bytes.length);
        }),
        fuzzParameters(RUNS),
      );
    },
    fuzzTimeout(RUNS, 20_000),
  );
});
