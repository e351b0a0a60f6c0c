/** core/util/md5.ts: RFC 1321's test suite (A.5), and lengths around the padding's block edge against node's. */
import { createHash } from "node:crypto";
import { describe, expect, test } from "vitest";
import { md5Hex } from "../../../core/util/md5.ts";

const text = (s: string) => new TextEncoder().encode(s);

describe("md5Hex", () => {
  test("RFC 1321's test suite", () => {
    expect(md5Hex(text(""))).toBe("d41d8cd98f00b204e9800998ecf8427e");
    expect(md5Hex(text("a"))).toBe("0cc175b9c0f1b6a831c399e269772661");
    expect(md5Hex(text("abc"))).toBe("900150983cd24fb0d6963f7d28e17f72");
    expect(md5Hex(text("message digest"))).toBe("f96b697d7cb7938d525a2f31aaf161d0");
    expect(md5Hex(text("abcdefghijklmnopqrstuvwxyz"))).toBe("c3fcd3d76192e4007dfb496cca67e13b");
    expect(md5Hex(text("12345678901234567890123456789012345678901234567890123456789012345678901234567890"))).toBe("57edf4a22be3c955ac49da2e2107b67a");
  });

  test("every length from 0 to 200 bytes (one and two padding blocks) as node's MD5", () => {
    for (let n = 0; n <= 200; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 31 + n) & 0xff);
      expect(md5Hex(bytes)).toBe(createHash("md5").update(bytes).digest("hex"));
    }
  });
});
