/** SHA-1 (core/util/sha1.ts) against FIPS 180-4's vectors and node's own, and RFC 6455's accept example (core/http/websocket-handshake.ts). */
import { createHash } from "node:crypto";
import { describe, expect, test } from "vitest";
import { sha1 } from "../../../core/util/sha1.ts";
import { computeWebSocketAccept, generateWebSocketKey } from "../../../core/http/websocket-handshake.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const text = (s: string) => new TextEncoder().encode(s);

describe("sha1", () => {
  test("FIPS 180-4's examples", () => {
    expect(hex(sha1(text("abc")))).toBe("a9993e364706816aba3e25717850c26c9cd0d89d");
    expect(hex(sha1(text("")))).toBe("da39a3ee5e6b4b0d3255bfef95601890afd80709");
    expect(hex(sha1(text("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")))).toBe("84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  });

  test("every length across the padding's block boundaries, as node's crypto", () => {
    for (let length = 0; length <= 200; length++) {
      const data = new Uint8Array(length).map((_, i) => (i * 31 + length) & 0xff);
      expect(hex(sha1(data))).toBe(createHash("sha1").update(data).digest("hex"));
    }
  });
});

describe("the WebSocket key exchange", () => {
  test("RFC 6455 §1.3's example accept", () => {
    expect(computeWebSocketAccept("dGhlIHNhbXBsZSBub25jZQ==")).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  });

  test("a key is 16 bytes from the given random source, base64", () => {
    const key = generateWebSocketKey((into) => into.set(Array.from({ length: into.length }, (_, i) => i)));
    expect(key).toBe(Buffer.from(Array.from({ length: 16 }, (_, i) => i)).toString("base64"));
  });
});
