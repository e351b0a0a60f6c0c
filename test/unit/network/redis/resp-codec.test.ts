/**
 * The RESP2 codec (core/network/redis/resp-*.ts): exact bytes for each type, encode→decode
 * round trips under any chunking (fast-check), Envoy's protocol errors (inline commands,
 * bad lengths, missing CRLF) and the decoder's limits (bulk length, array size, nesting,
 * line length, one value's bytes), each refused before the bytes are held.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { REPLY_RESP_LIMITS, RespDecoder, RespProtocolError } from "../../../../core/network/redis/resp-decoder.ts";
import { encodeResp } from "../../../../core/network/redis/resp-encoder.ts";
import { respArray, respBulk, respBulkText, respError, respInteger, respSimple, RESP_NULL, type RespValue } from "../../../../core/network/redis/resp-value.ts";
import { fuzzParameters } from "../../../support/fuzz.ts";

const latin1 = (bytes: Uint8Array) => String.fromCharCode(...bytes);
const bytesOf = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

function decodeAll(chunks: Uint8Array[], limits = REPLY_RESP_LIMITS): RespValue[] {
  const values: RespValue[] = [];
  const decoder = new RespDecoder((v) => values.push(v), limits);
  for (const chunk of chunks) {
    // Chunks are lent: the decoder must copy what it keeps, so the caller scribbles over them.
    decoder.decode(chunk);
    chunk.fill(0x21);
  }
  return values;
}

const byteString = fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }).map((a) => String.fromCharCode(...a).replace(/[\r\n]/g, ""));
const respValue: fc.Arbitrary<RespValue> = fc.letrec<{ value: RespValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    byteString.map(respSimple),
    byteString.map(respError),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(respInteger),
    fc.uint8Array({ maxLength: 600 }).map(respBulk),
    fc.constant(RESP_NULL),
    fc.array(tie("value"), { maxLength: 5 }).map(respArray),
  ),
})).value;

/** `bytes` cut at the given points. */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))].sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const p of [...points, bytes.byteLength]) {
    out.push(bytes.slice(at, p));
    at = p;
  }
  return out;
}

describe("RESP encoder", () => {
  test("each type's wire form (a null is $-1, as Envoy encodes RespType::Null)", () => {
    expect(latin1(encodeResp(respSimple("OK")))).toBe("+OK\r\n");
    expect(latin1(encodeResp(respError("ERR bad")))).toBe("-ERR bad\r\n");
    expect(latin1(encodeResp(respInteger(-42n)))).toBe(":-42\r\n");
    expect(latin1(encodeResp(respBulkText("hi")))).toBe("$2\r\nhi\r\n");
    expect(latin1(encodeResp(respBulk(new Uint8Array(0))))).toBe("$0\r\n\r\n");
    expect(latin1(encodeResp(RESP_NULL))).toBe("$-1\r\n");
    expect(latin1(encodeResp(respArray([respBulkText("GET"), respArray([])])))).toBe("*2\r\n$3\r\nGET\r\n*0\r\n");
    const big = new Uint8Array(1000).fill(0x61);
    expect(latin1(encodeResp(respBulk(big)))).toBe(`$1000\r\n${"a".repeat(1000)}\r\n`);
  });
});

describe("RESP decoder", () => {
  test("each type, and a null array as null", () => {
    expect(decodeAll([bytesOf("+OK\r\n-ERR x\r\n:12\r\n$3\r\nabc\r\n$-1\r\n*-1\r\n*0\r\n*2\r\n:1\r\n$0\r\n\r\n")])).toEqual([
      respSimple("OK"), respError("ERR x"), respInteger(12n), respBulkText("abc"), RESP_NULL, RESP_NULL, respArray([]), respArray([respInteger(1n), respBulk(new Uint8Array(0))]),
    ]);
  });

  test("encode → decode is the identity, whatever the chunking", () => {
    fc.assert(
      fc.property(fc.array(respValue, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 8 }), (values, cuts) => {
        const wire = Uint8Array.from(values.flatMap((v) => [...encodeResp(v)]));
        expect(decodeAll(split(wire, cuts))).toEqual(values);
      }),
      fuzzParameters(300),
    );
  });

  test.each([
    ["an inline command", "PING\r\n"],
    ["an unknown type byte", "!x\r\n"],
    ["a length below -1", "$-2\r\n"],
    ["an array length below -1", "*-5\r\n"],
    ["a non-numeric length", "$1a\r\nx\r\n"],
    ["an empty integer", ":\r\n"],
    ["an integer past int64", ":9223372036854775808\r\n"],
    ["CR without LF", "+OK\rX"],
    ["a bulk string longer than its length", "$1\r\nab\r\n"],
    ["a bulk string without its CRLF", "$1\r\na\rx"],
  ])("%s is a protocol error", (_name, wire) => {
    expect(() => decodeAll([bytesOf(wire)])).toThrow(RespProtocolError);
  });

  test("limits: bulk length, array size, nesting, line length, one value's bytes — refused from the header", () => {
    const limits = { maxBulkBytes: 10, maxArrayElements: 3, maxDepth: 2, maxLineBytes: 8, maxValueBytes: 40, bulkStringsInArrays: false };
    expect(() => decodeAll([bytesOf("$11\r\n")], limits)).toThrow("bulk string of 11 bytes is over the limit of 10");
    expect(decodeAll([bytesOf("$10\r\n0123456789\r\n")], limits)).toEqual([respBulkText("0123456789")]);
    expect(() => decodeAll([bytesOf("*4\r\n")], limits)).toThrow("array of 4 elements is over the limit of 3");
    expect(() => decodeAll([bytesOf("*1\r\n*1\r\n*1\r\n")], limits)).toThrow("arrays nested deeper than 2");
    expect(() => decodeAll([bytesOf("+123456789")], limits)).toThrow("line longer than 8 bytes");
    expect(() => decodeAll([bytesOf(`*3\r\n${"$10\r\n0123456789\r\n".repeat(3)}`)], limits)).toThrow("value longer than 40 bytes");
    // The count is per value: many values, each under it, pass.
    expect(decodeAll([bytesOf("$10\r\n0123456789\r\n".repeat(5))], limits)).toHaveLength(5);
    // Redis's own bulk bound for replies.
    expect(REPLY_RESP_LIMITS.maxBulkBytes).toBe(512 * 1024 * 1024);
    expect(() => decodeAll([bytesOf(`$${512 * 1024 * 1024 + 1}\r\n`)])).toThrow(RespProtocolError);
  });

  test("a reply has no element cap: an LRANGE of 2^20 + 1 items decodes (bounded by its bytes)", () => {
    const count = 1024 * 1024 + 1;
    const [value] = decodeAll([bytesOf(`*${count}\r\n${":1\r\n".repeat(count)}`)]);
    expect(value?.type === "array" && value.value.length).toBe(count);
  });
});
