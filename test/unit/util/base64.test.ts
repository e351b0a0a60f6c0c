/**
 * The strict base64 decoders of core/util/base64.ts against the runtime's own (Buffer):
 * decodeBase64Url as a JWT's parts need it (RFC 7515 §2: URL alphabet, no padding) and
 * decodeBase64Any as protobuf's JSON parser reads `bytes` (either alphabet, padding optional
 * but whole). Buffer is lenient (whitespace, stray "=", both alphabets everywhere), so each
 * property says which strings are accepted and that an accepted one decodes as Buffer does.
 */
import { Buffer } from "node:buffer";
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { decodeBase64Any, decodeBase64Url } from "../../../core/util/base64.ts";

const bytes = fc.uint8Array({ maxLength: 64 });
/** Strings of base64's characters, the other alphabet's, "=", whitespace and a few others. */
const nearBase64 = fc.array(fc.constantFrom(..."AQgw09azZ+/-_= \n.é"), { maxLength: 24 }).map((chars) => chars.join(""));
const list = (out: Uint8Array | undefined) => (out === undefined ? undefined : [...out]);

describe("decodeBase64Url", () => {
  test("decodes what Buffer encodes as base64url", () => {
    fc.assert(fc.property(bytes, (data) => {
      expect(list(decodeBase64Url(Buffer.from(data).toString("base64url")))).toEqual([...data]);
    }));
  });

  test("takes exactly the URL alphabet without padding, of a length an encoding has, and decodes it as Buffer", () => {
    fc.assert(
      fc.property(nearBase64, (text) => {
        const accepted = /^[A-Za-z0-9_-]*$/.test(text) && text.length % 4 !== 1;
        expect(list(decodeBase64Url(text))).toEqual(accepted ? [...Buffer.from(text, "base64url")] : undefined);
      }),
    );
  });

  test("refuses padding, the standard alphabet and whitespace", () => {
    for (const text of ["QQ==", "QUI=", "a+b/", "QU I", "QUJD\n", "Q"]) expect(decodeBase64Url(text)).toBeUndefined();
    expect(list(decodeBase64Url("-_8"))).toEqual([0xfb, 0xff]);
  });
});

describe("decodeBase64Any", () => {
  test("decodes what Buffer encodes, standard or URL-safe, padded or not", () => {
    fc.assert(
      fc.property(bytes, fc.constantFrom("base64", "base64url") as fc.Arbitrary<BufferEncoding>, fc.boolean(), (data, encoding, strip) => {
        let text = Buffer.from(data).toString(encoding);
        if (strip) text = text.replace(/=+$/, "");
        expect(list(decodeBase64Any(text))).toEqual([...data]);
      }),
    );
  });

  test("takes either alphabet, padding only as a whole group's end, and decodes it as Buffer", () => {
    fc.assert(
      fc.property(nearBase64, (text) => {
        const unpadded = text.length % 4 === 0 ? text.replace(/={1,2}$/, "") : text;
        const accepted = /^[A-Za-z0-9+/_-]*$/.test(unpadded) && unpadded.length % 4 !== 1;
        expect(list(decodeBase64Any(text))).toEqual(accepted ? [...Buffer.from(unpadded, "base64")] : undefined);
      }),
    );
  });

  test("refuses padding that is not a group's end, whitespace and other characters", () => {
    for (const text of ["QQ=", "Q===", "QQ==QQ==", "=", "QU I", " QUI", "QUJD\n", "QUJ.", "QUé="]) expect(decodeBase64Any(text)).toBeUndefined();
    expect(list(decodeBase64Any("+-/_"))).toEqual([0xfb, 0xef, 0xff]);
    expect(list(decodeBase64Any(""))).toEqual([]);
  });
});
