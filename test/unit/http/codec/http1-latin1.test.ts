import { describe, expect, test } from "vitest";
import { latin1Decode, latin1Encode, latin1Write } from "../../../../core/util/latin1.ts";
import { headEncoder } from "../../../../core/http/codec/head-encoder.ts";
import { chunkHeader, LAST_CHUNK } from "../../../../core/http/codec/stream-encoder.ts";
import { encodedBytes } from "../../../../core/network/byte-sink.ts";
import { HeaderMap } from "../../../../core/http/header-map.ts";
import { statusLine, statusText } from "../../../../core/http/codec/status-text.ts";

const encodeHead = (startLine: string, headers: HeaderMap, extra?: string[], host?: string) => encodedBytes(headEncoder(startLine, headers, extra, host));
const latin1 = (data: Uint8Array): string => Array.from(data, (b) => String.fromCharCode(b)).join("");

describe("latin1", () => {
  test("every byte value round-trips, short and long", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    for (const [start, end] of [
      [0, 0],
      [0, 10],
      [0, 31],
      [0, 32],
      [10, 256],
    ] as const) {
      const text = latin1Decode(all, start, end);
      expect(text.length).toBe(end - start);
      expect(Array.from(latin1Encode(text))).toEqual(Array.from(all.subarray(start, end)));
    }
    expect(latin1Decode(all, 0xe9, 0xea)).toBe("é");
  });

  test("the ASCII fast path never changes a byte's meaning (UTF-8 sequences, a BOM, invalid bytes)", () => {
    const ascii = "x-forwarded-for: 10.0.0.1, 10.0.0.2";
    const cases = [
      ascii,
      `${ascii}\u00c3\u00a9`, // bytes C3 A9: "é" in UTF-8, "Ã©" in Latin-1
      `\u00ef\u00bb\u00bf${ascii}`, // a UTF-8 BOM, which TextDecoder would drop
      `${ascii}\u0080\u00ff\u00fe`, // invalid UTF-8
      `${ascii}\u00e2\u0082\u00ac${ascii}`, // "€" in UTF-8 in the middle
    ];
    for (const text of cases) {
      const bytes = latin1Encode(text);
      expect(latin1Decode(bytes, 0, bytes.byteLength)).toBe(text);
      expect(latin1Decode(bytes, 3, bytes.byteLength)).toBe(text.slice(3));
    }
  });

  test("large spans decode (no argument-count overflow on any engine)", () => {
    for (const size of [65_535, 65_537, 200_000, 1_000_000]) {
      const data = new Uint8Array(size).fill(0x61);
      data[size - 1] = 0xff;
      const text = latin1Decode(data, 0, size);
      expect(text.length).toBe(size);
      expect(text.charCodeAt(size - 1)).toBe(0xff);
      expect(text.charCodeAt(size - 2)).toBe(0x61);
    }
  });

  test("latin1Write writes at an offset and returns the end", () => {
    const out = new Uint8Array(6);
    expect(latin1Write("abc", out, 2)).toBe(5);
    expect(Array.from(out)).toEqual([0, 0, 97, 98, 99, 0]);
  });
});

describe("head encoding", () => {
  test("start line, host first, fields in order, extras last, blank line", () => {
    const headers = new HeaderMap();
    headers.add("a", "1");
    headers.add("b", "");
    expect(latin1(encodeHead("GET / HTTP/1.1", headers, ["x", "y"], "h:80"))).toBe("GET / HTTP/1.1\r\nhost: h:80\r\na: 1\r\nb: \r\nx: y\r\n\r\n");
    expect(latin1(encodeHead("HTTP/1.1 200 OK", new HeaderMap()))).toBe("HTTP/1.1 200 OK\r\n\r\n");
  });

  test("latin1 values are written as single bytes", () => {
    const headers = new HeaderMap();
    headers.add("x", "café");
    const head = encodeHead("HTTP/1.1 200 OK", headers);
    expect(head.length).toBe("HTTP/1.1 200 OK\r\nx: café\r\n\r\n".length);
    expect(head.includes(0xe9)).toBe(true);
  });

  test("chunk size lines are hex", () => {
    expect(latin1(chunkHeader(1))).toBe("1\r\n");
    expect(latin1(chunkHeader(255))).toBe("ff\r\n");
    expect(latin1(chunkHeader(65536))).toBe("10000\r\n");
    expect(latin1(LAST_CHUNK)).toBe("0\r\n\r\n");
  });

  test("status text", () => {
    expect(statusText(200)).toBe("OK");
    expect(statusText(431)).toBe("Request Header Fields Too Large");
    expect(statusText(599)).toBe("Unknown");
  });

  test("status line, the same string each time for a code", () => {
    expect(statusLine(200)).toBe("HTTP/1.1 200 OK");
    expect(statusLine(599)).toBe("HTTP/1.1 599 Unknown");
    expect(statusLine(503)).toBe("HTTP/1.1 503 Service Unavailable");
    expect(statusLine(200)).toBe(statusLine(200));
  });
});
