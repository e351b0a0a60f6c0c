/** google.protobuf.Struct from the wire (core/util/protobuf-struct.ts), as ext_authz reads a CheckResponse's dynamic_metadata. */
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { decodeStruct } from "../../../core/util/protobuf-struct.ts";
import { ProtoDecodeError } from "../../../core/util/protobuf-wire.ts";

/** A varint, a field key and a length-delimited field, by hand (struct.proto field numbers). */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
const len = (field: number, body: number[]): number[] => [...varint((field << 3) | 2), ...varint(body.length), ...body];
const utf8 = (text: string): number[] => [...new TextEncoder().encode(text)];

function value(v: unknown): number[] {
  if (v === null) return [0x08, 0x00];
  if (typeof v === "number") {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setFloat64(0, v, true);
    return [0x11, ...bytes];
  }
  if (typeof v === "string") return len(3, utf8(v));
  if (typeof v === "boolean") return [0x20, v ? 1 : 0];
  if (Array.isArray(v)) return len(6, v.flatMap((item) => len(1, value(item))));
  return len(5, struct(v as Record<string, unknown>));
}

function struct(object: Record<string, unknown>): number[] {
  return Object.entries(object).flatMap(([key, v]) => len(1, [...len(1, utf8(key)), ...len(2, value(v))]));
}

function encode(object: Record<string, unknown>): Uint8Array {
  return Uint8Array.from(struct(object));
}

describe("decodeStruct", () => {
  test("every kind of Value, nested structs and lists", () => {
    const object = { s: "alice", n: 7.5, t: true, z: null, list: ["a", 1, false, { deep: ["x"] }], nested: { k: "v" } };
    expect(decodeStruct(encode(object))).toEqual(object);
  });

  test("a string that is not UTF-8 and a truncated message are errors", () => {
    const bad = new Uint8Array([0x0a, 0x07, 0x0a, 0x01, 0x6b, 0x12, 0x02, 0x1a, 0x00]);
    expect(decodeStruct(bad)).toEqual({ k: "" });
    expect(() => decodeStruct(new Uint8Array([0x0a, 0x08, 0x0a, 0x01, 0x6b, 0x12, 0x03, 0x1a, 0x01, 0xff]))).toThrow(ProtoDecodeError);
    expect(() => decodeStruct(new Uint8Array([0x0a, 0x09, 0x0a]))).toThrow(ProtoDecodeError);
  });

  test("round trip of JSON-like objects; random bytes never throw anything but ProtoDecodeError", () => {
    const json = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: "small" }, fc.constant(null), fc.string(), fc.boolean(), fc.double({ noNaN: true }), fc.array(tie("value"), { maxLength: 3 }), tie("object")),
      object: fc.dictionary(fc.string(), tie("value"), { maxKeys: 3 }),
    }));
    fc.assert(
      fc.property(json.object, (object) => {
        expect(decodeStruct(encode(object as Record<string, unknown>))).toEqual(object);
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeStruct(bytes);
        } catch (e) {
          if (!(e instanceof ProtoDecodeError)) throw e;
        }
      }),
    );
  });
});
