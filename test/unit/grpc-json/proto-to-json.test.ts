/**
 * The gRPC-JSON transcoder's protobuf → JSON printer: the texts pinned are those protobuf's
 * own tests pin for its JSON printer (src/google/protobuf/util/json_util_test.cc:
 * TestWhitespaces, TestDefaultValues, ParseMessage, TestDuration, TestTimestamp,
 * TestFieldMask, TestParsingNestedAnys; json/internal/writer.cc for escapes), on
 * library.proto's messages; the bytes printed are protobufjs's (an independent encoder).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeDescriptorSet } from "../../../core/grpc-json/descriptor-set.ts";
import { TranscodeError, type JsonParseOptions, type JsonPrintOptions } from "../../../core/grpc-json/descriptors.ts";
import { encodeMessage } from "../../../core/grpc-json/json-to-proto.ts";
import { formatDouble, formatFloat } from "../../../core/grpc-json/number-format.ts";
import { WireWriter } from "../../../core/grpc-json/wire-writer.ts";
import { messageToJson } from "../../../core/grpc-json/proto-to-json.ts";
import { JsonTooLongError } from "../../../core/grpc-json/json-out.ts";
import { ProtoWriter } from "../../../core/util/protobuf-wire.ts";
import { libraryDescriptorSet } from "../../helpers/grpc-json-descriptor.ts";
import { libraryProtobufjs } from "../../helpers/grpc-json-protobufjs.ts";

const pool = decodeDescriptorSet(libraryDescriptorSet());
const root = libraryProtobufjs();
const PRINT: JsonPrintOptions = { addWhitespace: false, alwaysPrintPrimitiveFields: false, alwaysPrintEnumsAsInts: false, preserveProtoFieldNames: false };
const PARSE: JsonParseOptions = { caseInsensitiveEnumParsing: false, rejectBindingBodyFieldCollisions: false };

/** protobufjs writes the message; we print it. */
function print(type: string, object: Record<string, unknown>, options: Partial<JsonPrintOptions> = {}, responseBody = ""): string {
  const T = root.lookupType(type);
  const bytes = T.encode(T.fromObject(object)).finish();
  return messageToJson(pool, pool.message(type)!, bytes, { ...PRINT, ...options }, responseBody);
}

function printError(type: string, bytes: Uint8Array): string {
  try {
    messageToJson(pool, pool.message(type)!, bytes, PRINT);
  } catch (error) {
    if (error instanceof TranscodeError) return error.message;
    throw error;
  }
  throw new Error("no error");
}

/** `inner` as a length-delimited field of a new message. */
function wrap(field: number, inner: Uint8Array): Uint8Array {
  const w = new WireWriter();
  w.tag(field, 2);
  w.lengthDelimited(inner);
  return w.finish();
}

describe("messageToJson", () => {
  it("bounds nesting", () => {
    // Value { list_value = 6: ListValue { values = 1: Value … } }, 60 levels of each.
    let value: Uint8Array = Uint8Array.of(0x08, 0x00);
    for (let i = 0; i < 60; i++) value = wrap(6, wrap(1, value));
    expect(() => messageToJson(pool, pool.message("google.protobuf.Value")!, value, PRINT)).toThrow(/message nested too deeply \(over 100 levels\)$/);
    let shallow: Uint8Array = Uint8Array.of(0x08, 0x00);
    for (let i = 0; i < 40; i++) shallow = wrap(6, wrap(1, shallow));
    expect(messageToJson(pool, pool.message("google.protobuf.Value")!, shallow, PRINT)).toBe(`${"[".repeat(40)}null${"]".repeat(40)}`);
  });

  it("prints fields in number order under their JSON names, 64-bit integers as strings, enums by name", () => {
    expect(
      print("library.v1.Room", {
        curator_name: "Ann",
        id: "-9007199254740993",
        title: "Map room",
        kind: 2,
        floor: 4294967295,
        tags: ["a", "b"],
        open: true,
        temperature: -55.3,
      }),
    ).toBe('{"id":"-9007199254740993","title":"Map room","kind":"ARCHIVE","floor":4294967295,"tags":["a","b"],"open":true,"temperature":-55.3,"curator":"Ann"}');
    expect(print("library.v1.Volume", { pages: "18446744073709551615", isbn: "1", edition: -7, cover: Buffer.from([0xfb, 0xff]) })).toBe(
      '{"cover":"+/8=","pages":"18446744073709551615","edition":-7,"isbn":"1"}',
    );
  });

  it("add_whitespace: one space per level, a line break after the top-level value (json_util_test.cc TestWhitespaces)", () => {
    expect(print("library.v1.Volume", { id: "foo", attributes: {}, authors: ["a", "b"] }, { addWhitespace: true })).toBe(
      '{\n "id": "foo",\n "authors": [\n  "a",\n  "b"\n ],\n "attributes": {}\n}\n',
    );
    expect(print("library.v1.Room", {}, { addWhitespace: true })).toBe("{}\n");
    expect(print("library.v1.ListRoomsResponse", { rooms: [{ id: 1 }, {}] }, { addWhitespace: true })).toBe(
      '{\n "rooms": [\n  {\n   "id": "1"\n  },\n  {}\n ]\n}\n',
    );
  });

  it("always_print_primitive_fields prints fields without presence at their defaults (TestDefaultValues)", () => {
    expect(print("library.v1.Room", {}, { alwaysPrintPrimitiveFields: true })).toBe(
      '{"id":"0","title":"","kind":"KIND_UNSPECIFIED","floor":0,"tags":[],"shelfCounts":{},"open":false,"temperature":0,"curator":""}',
    );
    // Messages, oneof members and proto3 `optional` fields have presence: still left out.
    expect(print("library.v1.Volume", {}, { alwaysPrintPrimitiveFields: true })).toBe(
      '{"id":"","name":"","authors":[],"cover":"","pages":"0","edition":0,"isbn":"0","weight":0,"kinds":[],"related":{}}',
    );
  });

  it("preserve_proto_field_names and always_print_enums_as_ints; an unknown enum number as a number", () => {
    expect(print("library.v1.Room", { curator_name: "x", opened_at: { seconds: 1 } }, { preserveProtoFieldNames: true })).toBe(
      '{"opened_at":"1970-01-01T00:00:01Z","curator_name":"x"}',
    );
    expect(print("library.v1.Volume", { kinds: [1, 2] }, { alwaysPrintEnumsAsInts: true })).toBe('{"kinds":[1,2]}');
    expect(print("library.v1.Room", { kind: 7 })).toBe('{"kind":7}');
  });

  it("prints doubles as SimpleDtoa and floats as SimpleFtoa do", () => {
    expect(print("library.v1.Volume", { weight: 3.4e38 })).toBe('{"weight":3.4e+38}');
    expect(print("library.v1.Volume", { weight: 0.1 })).toBe('{"weight":0.1}');
    expect(print("library.v1.Volume", { weight: NaN })).toBe('{"weight":"NaN"}');
    expect(formatDouble(1e21)).toBe("1e+21");
    expect(formatDouble(123456789012345680)).toBe("1.2345678901234568e+17");
    expect(formatDouble(1e-7)).toBe("1e-07");
    expect(formatDouble(0.1 + 0.2)).toBe("0.30000000000000004");
    expect(formatDouble(-0)).toBe("-0");
    expect(formatDouble(-Infinity)).toBe('"-Infinity"');
    expect(formatFloat(Math.fround(16777217))).toBe("16777216");
    expect(formatFloat(Math.fround(1.1))).toBe("1.1");
    expect(formatFloat(Math.fround(3.14159274))).toBe("3.14159274");
  });

  it("prints the well-known types in their JSON forms", () => {
    expect(
      print("library.v1.Volume", {
        loan_period: { seconds: 123456, nanos: 789000000 },
        copies: {},
        attributes: { fields: { a: { listValue: { values: [{ numberValue: 1 }, { stringValue: "x" }, { nullValue: 0 }, { boolValue: false }, {}] } } } },
        update_mask: { paths: ["foo", "bar.baz_baz"] },
      }),
    ).toBe('{"loanPeriod":"123456.789s","copies":0,"attributes":{"a":[1,"x",null,false]},"updateMask":"foo,bar.bazBaz"}');
    expect(print("library.v1.Volume", { loan_period: { nanos: 100000000 } })).toBe('{"loanPeriod":"0.100s"}');
    expect(print("library.v1.Volume", { loan_period: { seconds: -1, nanos: -1000 } })).toBe('{"loanPeriod":"-1.000001s"}');
    expect(print("library.v1.Room", { opened_at: { seconds: 825422400 } })).toBe('{"openedAt":"1996-02-27T12:00:00Z"}');
    expect(print("library.v1.Room", { opened_at: { seconds: 253402300799, nanos: 10 } })).toBe('{"openedAt":"9999-12-31T23:59:59.000000010Z"}');
    // An empty Value is left out.
    expect(print("library.v1.Volume", { extra: {} })).toBe("{}");
  });

  it("prints Any with its type from the pool, a well-known type under value (TestParsingNestedAnys)", () => {
    const Echo = root.lookupType("library.v1.Echo");
    const Any = root.lookupType("google.protobuf.Any");
    const echo = Echo.encode({ text: "hi", n: 5 }).finish();
    const inner = Any.encode({ type_url: "type.googleapis.com/library.v1.Echo", value: echo }).finish();
    const anyType = pool.message("google.protobuf.Any")!;
    expect(messageToJson(pool, anyType, inner, PRINT)).toBe('{"@type":"type.googleapis.com/library.v1.Echo","text":"hi","n":"5"}');
    const outer = Any.encode({ type_url: "type.googleapis.com/google.protobuf.Any", value: inner }).finish();
    expect(messageToJson(pool, anyType, outer, PRINT)).toBe(
      '{"@type":"type.googleapis.com/google.protobuf.Any","value":{"@type":"type.googleapis.com/library.v1.Echo","text":"hi","n":"5"}}',
    );
    const missing = Any.encode({ type_url: "type.googleapis.com/x.Nope", value: echo }).finish();
    expect(() => messageToJson(pool, anyType, missing, PRINT)).toThrow("the Any's type type.googleapis.com/x.Nope is not in the descriptor set");
  });

  it("escapes as protobuf's JSON writer does; undecodable UTF-8 is a space", () => {
    expect(print("library.v1.Room", { title: '</script>"\\\n\u2028\u00ad\u{1d173}é' })).toBe(
      '{"title":"\\u003c/script\\u003e\\"\\\\\\n\\u2028\\u00ad\\ud834\\udd73é"}',
    );
    const bytes = Uint8Array.of(0x12, 4, 0x61, 0xff, 0xc3, 0x62);
    expect(messageToJson(pool, pool.message("library.v1.Room")!, bytes, PRINT)).toBe('{"title":"a  "}');
  });

  it("response_body prints only that field's value", () => {
    expect(print("library.v1.ListRoomsResponse", { rooms: [{ id: 1 }] }, {}, "rooms")).toBe('[{"id":"1"}]');
    expect(print("library.v1.Loan", { reader: "r" }, {}, "reader")).toBe('"r"');
    expect(print("library.v1.Loan", {}, {}, "due")).toBe('"1970-01-01T00:00:00Z"');
  });

  it("refuses bytes that are not the message, a singular field given twice, and out-of-range well-known values", () => {
    expect(printError("library.v1.Room", Uint8Array.of(0x0a, 5, 1))).toBe("the response is not a valid library.v1.Room: truncated field");
    // title = 2 twice: valid protobuf, but protobuf's JSON printer (untyped_message.cc) refuses it.
    expect(printError("library.v1.Room", Uint8Array.of(0x12, 1, 0x61, 0x12, 1, 0x62))).toBe("repeated entries for singular field number 2");
    const Room = root.lookupType("library.v1.Room");
    expect(printError("library.v1.Room", Room.encode({ opened_at: { seconds: 253402300800 } }).finish())).toBe(
      "maximum acceptable time value is 9999-12-31T23:59:59Z",
    );
    const Volume = root.lookupType("library.v1.Volume");
    expect(printError("library.v1.Volume", Volume.encode({ loan_period: { seconds: 1, nanos: -1 } }).finish())).toBe("nanos and seconds signs do not match");
    expect(printError("library.v1.Volume", Volume.encode({ extra: { numberValue: NaN } }).finish())).toBe(
      "google.protobuf.Value cannot encode double values for nan, because it would be parsed as a string",
    );
  });
});

// Canonical JSON (as the printer writes it) of library.v1.Room and a Volume, any of their fields.
const int64Text = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).filter((n) => n !== 0n).map(String);
const text = fc.string({ minLength: 1 });
const timestamp = fc
  .tuple(fc.integer({ min: -62135596800, max: 253402300799 }), fc.constantFrom(0, 5e8, 123e6, 456000, 1))
  // Written with nine fractional digits; the canonical form is what the printer makes of it.
  .map(([s, n]) => `${new Date(s * 1000).toISOString().slice(0, 19)}.${String(n).padStart(9, "0")}Z`)
  .map((iso) => {
    const type = pool.message("google.protobuf.Timestamp")!;
    return JSON.parse(messageToJson(pool, type, encodeMessage(pool, type, iso, PARSE), PRINT)) as string;
  });

const room = fc.record(
  {
    id: int64Text,
    title: text,
    kind: fc.constantFrom("READING", "ARCHIVE"),
    floor: fc.integer({ min: 1, max: 4294967295 }),
    tags: fc.array(fc.string(), { minLength: 1, maxLength: 4 }),
    shelfCounts: fc.dictionary(fc.string(), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minKeys: 1, maxKeys: 3 }),
    openedAt: timestamp,
    open: fc.constant(true),
    temperature: fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => x !== 0),
    curator: text,
  },
  { requiredKeys: [] },
);
const volume = fc.record(
  {
    id: text,
    authors: fc.array(fc.string(), { minLength: 1, maxLength: 3 }),
    cover: fc.uint8Array({ minLength: 1, maxLength: 12 }).map((b) => Buffer.from(b).toString("base64")),
    pages: fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }).map(String),
    edition: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).filter((n) => n !== 0),
    isbn: fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }).map(String),
    loanPeriod: fc.tuple(fc.integer({ min: 0, max: 315576000000 }), fc.constantFrom("", ".500", ".000001", ".123456789")).map(([s, f]) => `${s}${f}s`),
    copies: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    attributes: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 }),
    shelf: fc.string(),
    note: fc.string(),
    kinds: fc.array(fc.constantFrom("KIND_UNSPECIFIED", "READING", "ARCHIVE"), { minLength: 1, maxLength: 3 }),
  },
  { requiredKeys: [] },
);

describe("round trip, by property", () => {
  it("canonical Room and Volume JSON → encodeMessage → messageToJson is the same JSON", { timeout: 60_000 }, () => {
    for (const [type, arbitrary] of [
      ["library.v1.Room", room],
      ["library.v1.Volume", volume],
    ] as const) {
      const descriptor = pool.message(type)!;
      fc.assert(
        fc.property(arbitrary, (json) => {
          const bytes = encodeMessage(pool, descriptor, json, PARSE);
          const printed = messageToJson(pool, descriptor, bytes, PRINT);
          expect(JSON.parse(printed)).toEqual(json);
          // The printed text reads back to the same bytes.
          expect(encodeMessage(pool, descriptor, JSON.parse(printed), PARSE)).toEqual(bytes);
        }),
        { numRuns: 200 },
      );
    }
  });
});

describe("the printer's length bound", () => {
  /** A Volume of 40 levels of `related` map entries around 20,000 empty ones: ~60 KB of wire, ×40 in JSON with add_whitespace. */
  function nestedVolume(): Uint8Array {
    let inner: Uint8Array = new Uint8Array(20_000 * 3);
    for (let i = 0; i < 20_000; i++) inner.set([0x8a, 0x01, 0x00], i * 3);
    for (let d = 0; d < 40; d++) inner = new ProtoWriter().bytesField(17, new ProtoWriter().bytesField(2, inner).finish()).finish();
    return inner;
  }

  it("stops as soon as the text passes maxLength (JsonTooLongError), and prints the same text within it", () => {
    const bytes = nestedVolume();
    const volume = pool.message("library.v1.Volume")!;
    const whole = messageToJson(pool, volume, bytes, { ...PRINT, addWhitespace: true });
    expect(whole.length).toBeGreaterThan(30 * bytes.length);
    expect(messageToJson(pool, volume, bytes, { ...PRINT, addWhitespace: true }, "", whole.length)).toBe(whole);
    expect(() => messageToJson(pool, volume, bytes, { ...PRINT, addWhitespace: true }, "", whole.length - 1)).toThrow(JsonTooLongError);
    expect(() => messageToJson(pool, volume, bytes, { ...PRINT, addWhitespace: true }, "", bytes.length)).toThrow(JsonTooLongError);
  });
});
