/**
 * HPACK (RFC 7541): the Appendix C examples, the primitives' edge cases, the §5.2 Huffman
 * padding rules, the limits, and properties: encode → decode gives the fields back, and
 * random bytes never make the decoder throw anything but HpackError.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { HpackDecoder, type HpackHeaderSink } from "../../../core/http2/hpack-decoder.ts";
import { HpackEncoder } from "../../../core/http2/hpack-encoder.ts";
import { HpackError } from "../../../core/http2/hpack-error.ts";
import { HpackReader, HpackWriter, HuffmanScratch } from "../../../core/http2/hpack-primitives.ts";
import { huffmanCode, huffmanDecode, huffmanEncode, huffmanEncodedLength } from "../../../core/http2/huffman.ts";
import { fuzzParameters } from "../../support/fuzz.ts";

const hex = (s: string): Uint8Array => new Uint8Array((s.replace(/\s+/g, "").match(/../g) ?? []).map((b) => parseInt(b, 16)));
const toHex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

type Field = [string, string];

function decodeAll(decoder: HpackDecoder, block: Uint8Array): { fields: Field[]; result: string; never: boolean[] } {
  const fields: Field[] = [];
  const never: boolean[] = [];
  const sink: HpackHeaderSink = {
    onHeader(name, value, neverIndex) {
      fields.push([name, value]);
      never.push(neverIndex);
    },
  };
  const result = decoder.decode(block, sink);
  return { fields, result, never };
}

function tableOf(decoder: HpackDecoder | HpackEncoder): Field[] {
  const t = decoder.table;
  const out: Field[] = [];
  for (let i = 1; i <= t.length; i++) out.push([t.name(i)!, t.value(i)]);
  return out;
}

function encodeBlock(encoder: HpackEncoder, fields: readonly Field[], neverIndex: readonly boolean[] = []): Uint8Array {
  const out = new HpackWriter(16);
  encoder.beginBlock(out);
  fields.forEach(([n, v], i) => encoder.encodeField(out, n, v, neverIndex[i] ?? false));
  return out.bytes().slice();
}

const REQUESTS: Field[][] = [
  [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"]],
  [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"], ["cache-control", "no-cache"]],
  [[":method", "GET"], [":scheme", "https"], [":path", "/index.html"], [":authority", "www.example.com"], ["custom-key", "custom-value"]],
];
const REQUEST_TABLES: Field[][] = [
  [[":authority", "www.example.com"]],
  [["cache-control", "no-cache"], [":authority", "www.example.com"]],
  [["custom-key", "custom-value"], ["cache-control", "no-cache"], [":authority", "www.example.com"]],
];
const COOKIE = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
const RESPONSES: Field[][] = [
  [[":status", "302"], ["cache-control", "private"], ["date", "Mon, 21 Oct 2013 20:13:21 GMT"], ["location", "https://www.example.com"]],
  [[":status", "307"], ["cache-control", "private"], ["date", "Mon, 21 Oct 2013 20:13:21 GMT"], ["location", "https://www.example.com"]],
  [
    [":status", "200"],
    ["cache-control", "private"],
    ["date", "Mon, 21 Oct 2013 20:13:22 GMT"],
    ["location", "https://www.example.com"],
    ["content-encoding", "gzip"],
    ["set-cookie", COOKIE],
  ],
];
const RESPONSE_TABLES: Field[][] = [
  [["location", "https://www.example.com"], ["date", "Mon, 21 Oct 2013 20:13:21 GMT"], ["cache-control", "private"], [":status", "302"]],
  [[":status", "307"], ["location", "https://www.example.com"], ["date", "Mon, 21 Oct 2013 20:13:21 GMT"], ["cache-control", "private"]],
  [["set-cookie", COOKIE], ["content-encoding", "gzip"], ["date", "Mon, 21 Oct 2013 20:13:22 GMT"]],
];

const C3 = [
  "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
  "8286 84be 5808 6e6f 2d63 6163 6865",
  "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
];
const C4 = ["8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", "8286 84be 5886 a8eb 1064 9cbf", "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"];
const C5 = [
  "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
  "4803 3330 37c1 c0bf",
  "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
];
const C6 = [
  "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
  "4883 640e ffc1 c0bf",
  "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
];

describe("RFC 7541 Appendix C", () => {
  test("C.1 integers: 10 in a 5-bit prefix, 1337 in a 5-bit prefix, 42 at an octet boundary", () => {
    const w = new HpackWriter(1);
    w.writeInteger(10, 5, 0);
    w.writeInteger(1337, 5, 0);
    w.writeInteger(42, 8, 0);
    expect(toHex(w.bytes())).toBe("0a1f9a0a2a");
    const r = new HpackReader(w.bytes());
    expect([r.readInteger(5), r.readInteger(5), r.readInteger(8)]).toEqual([10, 1337, 42]);
  });

  test.each([
    ["C.2.1", "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572", ["custom-key", "custom-header"], false, 1],
    ["C.2.2", "040c 2f73 616d 706c 652f 7061 7468", [":path", "/sample/path"], false, 0],
    ["C.2.3", "1008 7061 7373 776f 7264 0673 6563 7265 74", ["password", "secret"], true, 0],
    ["C.2.4", "82", [":method", "GET"], false, 0],
  ] as const)("%s", (_name, block, field, never, tableLength) => {
    const d = new HpackDecoder();
    const got = decodeAll(d, hex(block));
    expect(got.fields).toEqual([field]);
    expect(got.never).toEqual([never]);
    expect(d.table.length).toBe(tableLength);
  });

  test.each([
    ["C.3 (plain)", C3, 4096, REQUESTS, REQUEST_TABLES],
    ["C.4 (Huffman)", C4, 4096, REQUESTS, REQUEST_TABLES],
    ["C.5 (plain, evicting)", C5, 256, RESPONSES, RESPONSE_TABLES],
    ["C.6 (Huffman, evicting)", C6, 256, RESPONSES, RESPONSE_TABLES],
  ] as const)("%s decodes, with the dynamic table after each block", (_name, blocks, tableSize, fields, tables) => {
    const d = new HpackDecoder({ maxTableSize: tableSize });
    blocks.forEach((block, i) => {
      expect(decodeAll(d, hex(block)).fields).toEqual(fields[i]);
      expect(tableOf(d)).toEqual(tables[i]);
    });
  });

  test("C.4 encodes byte for byte (the same indexing choices as nghttp2)", () => {
    const e = new HpackEncoder();
    REQUESTS.forEach((fields, i) => {
      expect(toHex(encodeBlock(e, fields))).toBe(C4[i]!.replace(/\s+/g, ""));
      expect(tableOf(e)).toEqual(REQUEST_TABLES[i]);
    });
  });
});

describe("Huffman code (RFC 7541 Appendix B, §5.2)", () => {
  test("derived codes match Appendix B", () => {
    expect(huffmanCode(0)).toEqual({ code: 0x1ff8, length: 13 });
    expect(huffmanCode(48)).toEqual({ code: 0x0, length: 5 });
    expect(huffmanCode(32)).toEqual({ code: 0x14, length: 6 });
    expect(huffmanCode(255)).toEqual({ code: 0x3ffffee, length: 26 });
    expect(huffmanCode(256)).toEqual({ code: 0x3fffffff, length: 30 });
    expect(huffmanCode(10)).toEqual({ code: 0x3ffffffc, length: 30 });
    let kraft = 0;
    for (let s = 0; s <= 256; s++) kraft += 2 ** -huffmanCode(s).length;
    expect(kraft).toBe(1);
  });

  const decode = (bytes: Uint8Array): string => {
    const out = new Uint8Array(bytes.length * 2 + 8);
    return String.fromCharCode(...out.subarray(0, huffmanDecode(bytes, 0, bytes.length, out)));
  };

  test("every byte value round-trips, alone and in runs", () => {
    for (let s = 0; s < 256; s++) {
      const text = String.fromCharCode(s).repeat(1 + (s % 5));
      const out = new Uint8Array(huffmanEncodedLength(text));
      expect(huffmanEncode(text, out, 0)).toBe(out.length);
      expect(decode(out)).toBe(text);
    }
  });

  test("padding: up to 7 one-bits is fine; 8 or more, or a zero bit, or EOS, is an error", () => {
    expect(decode(hex("07"))).toBe("0"); // "0" is 00000, then 111 padding
    expect(() => decode(hex("ff"))).toThrow(HpackError); // 8 bits of padding
    expect(() => decode(hex("1fff"))).toThrow(HpackError); // "a" (00011) then 11 bits of padding
    expect(() => decode(hex("1e"))).toThrow(HpackError); // padding with a zero bit
    expect(() => decode(hex("ffffffff"))).toThrow(HpackError); // EOS (30 one-bits)
    expect(decode(new Uint8Array(0))).toBe("");
  });

  test("encode then decode gives the text back (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const text = String.fromCharCode(...bytes);
        const out = new Uint8Array(huffmanEncodedLength(text));
        huffmanEncode(text, out, 0);
        expect(decode(out)).toBe(text);
      }),
      fuzzParameters(300),
    );
  });
});

describe("primitives", () => {
  test("integers at the 32-bit limit round-trip; larger or over-long encodings are refused", () => {
    for (const n of [0, 30, 31, 127, 128, 255, 16383, 2 ** 31 - 1, 2 ** 32 - 1]) {
      const w = new HpackWriter(1);
      w.writeInteger(n, 5, 0xe0);
      const r = new HpackReader(w.bytes());
      expect(r.readInteger(5)).toBe(n);
      expect(r.done).toBe(true);
    }
    expect(() => new HpackReader(hex("1f ffffffff0f")).readInteger(5)).toThrow(HpackError);
    expect(() => new HpackReader(hex("1f 8080808080 00")).readInteger(5)).toThrow(HpackError);
    expect(() => new HpackReader(hex("1f 80")).readInteger(5)).toThrow(HpackError);
  });

  test("a string longer than the block is refused", () => {
    expect(() => new HpackReader(hex("05 6162")).readString(new HuffmanScratch())).toThrow(HpackError);
  });
});

describe("decoder", () => {
  test("index 0, an index past the tables, and a truncated block are errors", () => {
    expect(() => decodeAll(new HpackDecoder(), hex("80"))).toThrow(HpackError);
    expect(() => decodeAll(new HpackDecoder(), hex("be"))).toThrow(HpackError); // 62: empty dynamic table
    expect(() => decodeAll(new HpackDecoder(), hex("7e 01 61"))).toThrow(HpackError); // name index 62
    expect(() => decodeAll(new HpackDecoder(), hex("40 03 6162"))).toThrow(HpackError);
  });

  test("table size updates: only at the block's start, never above our setting; required after we lower it", () => {
    const d = new HpackDecoder();
    expect(decodeAll(d, hex("3f e11f 82")).fields).toEqual([[":method", "GET"]]); // 4096
    expect(() => decodeAll(new HpackDecoder(), hex("3f e21f"))).toThrow(HpackError); // 4097
    expect(() => decodeAll(new HpackDecoder(), hex("82 20"))).toThrow(HpackError);
    // Two updates in a row are allowed (§4.2: the smallest, then the final).
    expect(decodeAll(new HpackDecoder(), hex("20 3f e10f 82")).fields).toEqual([[":method", "GET"]]);

    const lowered = new HpackDecoder();
    decodeAll(lowered, hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
    lowered.setMaxTableSizeLimit(0);
    expect(() => decodeAll(lowered, hex("82"))).toThrow(HpackError);
    const again = new HpackDecoder();
    again.setMaxTableSizeLimit(0);
    expect(decodeAll(again, hex("20 82")).fields).toEqual([[":method", "GET"]]);
  });

  test("a table size update to 0 empties the table; a field larger than the table empties it too", () => {
    const d = new HpackDecoder({ maxTableSize: 100 });
    decodeAll(d, hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
    expect(d.table.length).toBe(1);
    decodeAll(d, hex("20"));
    expect(d.table.length).toBe(0);
    expect(d.table.size).toBe(0);
    decodeAll(d, hex("3f 45")); // back to 100
    decodeAll(d, hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
    decodeAll(d, hex(`40 01 61 7f 06 ${"62".repeat(133)}`)); // 1 + 133 + 32 > 100
    expect(d.table.length).toBe(0);
  });

  test("past the header list limits the block is decoded to its end (the table stays in step) but the rest is dropped", () => {
    const e = new HpackEncoder();
    const fields: Field[] = [
      ["a", "x".repeat(50)],
      ["b", "y".repeat(50)],
      ["c", "z".repeat(50)],
    ];
    const block = encodeBlock(e, fields);
    const d = new HpackDecoder({ maxHeaderListBytes: 110 });
    const got = decodeAll(d, block);
    expect(got.result).toBe("overflow");
    expect(got.fields).toEqual(fields.slice(0, 2));
    expect(tableOf(d)).toEqual(tableOf(e));
    // The next block reads the table as the encoder left it.
    const next = encodeBlock(e, [["c", "z".repeat(50)]]);
    expect(next.length).toBe(1);
    expect(decodeAll(d, next)).toEqual({ fields: [["c", "z".repeat(50)]], result: "ok", never: [false] });

    const counted = new HpackDecoder({ maxHeaderCount: 2 });
    expect(decodeAll(counted, hex("82 86 84")).result).toBe("overflow");
  });

  test("a compression bomb (one big entry indexed again and again) is refused", () => {
    const big = `40 01 61 7f a1 1e ${"78".repeat(4000)}`; // a: 4000 x's, indexed
    const fine = decodeAll(new HpackDecoder(), hex(big + " be".repeat(10)));
    expect(fine.result).toBe("ok");
    expect(fine.fields.length).toBe(11);
    const block = hex(big + " be".repeat(100)); // 100 × 4 KB from 100 bytes
    expect(() => decodeAll(new HpackDecoder(), block)).toThrow(HpackError);
    expect(() => decodeAll(new HpackDecoder(), block)).toThrow(/decoded size/);
  });

  test("random bytes: the decoder returns or throws HpackError, nothing else (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 4 }), (blocks) => {
        const d = new HpackDecoder({ maxHeaderListBytes: 512, maxTableSize: 256 });
        for (const block of blocks) {
          try {
            decodeAll(d, block);
          } catch (e) {
            expect(e).toBeInstanceOf(HpackError);
            return;
          }
        }
      }),
      fuzzParameters(2000),
    );
  });
});

describe("encoder", () => {
  test("authorization and short cookies are never indexed; long cookies are; :path and set-cookie are not added", () => {
    const e = new HpackEncoder();
    const fields: Field[] = [
      ["authorization", "Bearer x"],
      ["cookie", "a=1"],
      ["cookie", "session=0123456789abcdef"],
      [":path", "/a/b"],
      ["set-cookie", "x=y"],
      ["x-custom", "v"],
    ];
    const block = encodeBlock(e, fields);
    const got = decodeAll(new HpackDecoder(), block);
    expect(got.fields).toEqual(fields);
    expect(got.never).toEqual([true, true, false, false, false, false]);
    expect(tableOf(e)).toEqual([
      ["x-custom", "v"],
      ["cookie", "session=0123456789abcdef"],
    ]);
    // The second time, the indexed fields are one byte each and the sensitive ones are literal again.
    const again = encodeBlock(e, [["x-custom", "v"], ["authorization", "Bearer x"]]);
    expect(again[0]).toBe(0x80 | 62);
    expect(again[1]! & 0xf0).toBe(0x10);
  });

  test("the peer's table size: smaller then larger sends both updates, and the tables agree after", () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    decodeAll(d, encodeBlock(e, [["x-a", "1"]]));
    e.setPeerTableSize(0);
    e.setPeerTableSize(2048);
    const block = encodeBlock(e, [["x-b", "2"]]);
    expect(toHex(block.subarray(0, 4))).toBe("203fe10f");
    expect(decodeAll(d, block).fields).toEqual([["x-b", "2"]]);
    expect(tableOf(d)).toEqual([["x-b", "2"]]);
    expect(tableOf(e)).toEqual(tableOf(d));
  });

  const fieldArb = fc.tuple(
    fc.oneof(fc.constantFrom(":path", ":authority", "cookie", "authorization", "content-type", "x-a", "set-cookie", "date"), fc.string({ minLength: 1, maxLength: 12 }).map((s) => s.toLowerCase())),
    fc.oneof(fc.constantFrom("", "GET", "/", "text/html"), fc.string({ maxLength: 40 }).map((s) => s.replace(/[^\x00-\xff]/g, "?")), fc.uint8Array({ maxLength: 300 }).map((b) => String.fromCharCode(...b))),
    fc.boolean(),
  );

  test("encode → decode gives the fields back, block after block, with the peer's table size changing (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.array(fieldArb, { maxLength: 12 }), fc.option(fc.integer({ min: 0, max: 4096 }))), { maxLength: 8 }), (blocks) => {
        const e = new HpackEncoder();
        const d = new HpackDecoder({ maxHeaderListBytes: 1 << 20, maxHeaderCount: 1000 });
        for (const [fields, size] of blocks) {
          if (size !== null) e.setPeerTableSize(size);
          const pairs = fields.map(([n, v]) => [n, v] as Field);
          const got = decodeAll(d, encodeBlock(e, pairs, fields.map((f) => f[2])));
          expect(got.fields).toEqual(pairs);
          fields.forEach((f, i) => {
            if (f[2]) expect(got.never[i]).toBe(true);
          });
          expect(tableOf(d)).toEqual(tableOf(e));
        }
      }),
      fuzzParameters(300),
    );
  });
});
