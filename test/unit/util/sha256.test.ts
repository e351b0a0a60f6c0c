/** core/util/sha256.ts against FIPS 180-4's test vectors and node:crypto, fed in pieces of every size. */
import { createHash } from "node:crypto";
import { describe, expect, test } from "vitest";
import { Sha256, sha256 } from "../../../core/util/sha256.ts";

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const text = (s: string) => new TextEncoder().encode(s);

describe("Sha256", () => {
  test("FIPS 180-4 / NIST vectors", () => {
    expect(hex(sha256(text("")))).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(hex(sha256(text("abc")))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(hex(sha256(text("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")))).toBe("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    expect(hex(sha256(new Uint8Array(1_000_000).fill(0x61)))).toBe("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  });

  test("every length around the block and padding edges, fed whole and in pieces, as node:crypto", () => {
    const data = new Uint8Array(300).map((_, i) => (i * 131 + 7) & 0xff);
    for (let length = 0; length <= 200; length++) {
      const input = data.subarray(0, length);
      const expected = createHash("sha256").update(input).digest("hex");
      expect(hex(sha256(input))).toBe(expected);
      for (const piece of [1, 3, 63, 64, 65]) {
        const h = new Sha256();
        for (let at = 0; at < length; at += piece) h.update(input.subarray(at, at + piece));
        expect(hex(h.digest())).toBe(expected);
      }
    }
  });

  test("no input after the digest", () => {
    const h = new Sha256();
    h.digest();
    expect(() => h.update(text("x"))).toThrow(/after digest/);
  });
});
