/**
 * google.protobuf.Struct from the wire (struct.proto) as the JSON object it stands for, for
 * the dynamic metadata services send (ext_authz's CheckResponse.dynamic_metadata):
 * Struct { map<string, Value> fields = 1 }, Value { null_value = 1; number_value = 2;
 * string_value = 3; bool_value = 4; struct_value = 5; list_value = 6 },
 * ListValue { repeated Value values = 1 }. Nesting is bounded: a deeper message is an error.
 * The xDS decoder (config/xds/proto-to-json.ts) reads the three well-known types with these,
 * passing the depth it has reached.
 */
import { utf8DecodeStrict } from "./utf8.ts";
import { ProtoDecodeError, ProtoReader, WireType, type ProtoWriter } from "./protobuf-wire.ts";

/** How deep messages may nest (protobuf's own parsers stop at 100). */
export const MAX_DEPTH = 100;

export function decodeStruct(bytes: Uint8Array, depth = 0): Record<string, unknown> {
  if (depth > MAX_DEPTH) throw new ProtoDecodeError("message nested too deeply");
  const out: Record<string, unknown> = {};
  const reader = new ProtoReader(bytes);
  while (reader.next()) {
    if (reader.field !== 1 || reader.wire !== WireType.Len) {
      reader.skip();
      continue;
    }
    // A map entry: key = 1, value = 2.
    const entry = new ProtoReader(reader.lengthDelimited());
    let key = "";
    let value: unknown = null;
    while (entry.next()) {
      if (entry.field === 1 && entry.wire === WireType.Len) key = text(entry.lengthDelimited());
      else if (entry.field === 2 && entry.wire === WireType.Len) value = decodeValue(entry.lengthDelimited(), depth + 1);
      else entry.skip();
    }
    // A key "__proto__" is a field like any other, not the object's prototype.
    if (key === "__proto__") Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    else out[key] = value;
  }
  return out;
}

/** A proto3 string: valid UTF-8 or the message is malformed. */
function text(bytes: Uint8Array): string {
  const value = utf8DecodeStrict(bytes);
  if (value === undefined) throw new ProtoDecodeError("a string that is not UTF-8");
  return value;
}

/** google.protobuf.Value: the JSON value it stands for. */
export function decodeValue(bytes: Uint8Array, depth = 0): unknown {
  if (depth > MAX_DEPTH) throw new ProtoDecodeError("message nested too deeply");
  let value: unknown = null;
  const reader = new ProtoReader(bytes);
  while (reader.next()) {
    switch (reader.field) {
      case 1:
        reader.skip();
        value = null;
        break;
      case 2:
        value = reader.double();
        break;
      case 3:
        value = text(reader.lengthDelimited());
        break;
      case 4:
        value = reader.bool();
        break;
      case 5:
        value = decodeStruct(reader.lengthDelimited(), depth + 1);
        break;
      case 6:
        value = decodeList(reader.lengthDelimited(), depth + 1);
        break;
      default:
        reader.skip();
    }
  }
  return value;
}

/** google.protobuf.ListValue: a JSON array. */
export function decodeList(bytes: Uint8Array, depth = 0): unknown[] {
  if (depth > MAX_DEPTH) throw new ProtoDecodeError("message nested too deeply");
  const list: unknown[] = [];
  const items = new ProtoReader(bytes);
  while (items.next()) {
    if (items.field === 1 && items.wire === WireType.Len) list.push(decodeValue(items.lengthDelimited(), depth + 1));
    else items.skip();
  }
  return list;
}

/** The deepest nesting written (the objects are the config's or a filter's; a bound is ours). */
const MAX_ENCODE_DEPTH = 64;

/**
 * A JSON object as google.protobuf.Struct's fields (map<string, Value> = 1) on `writer`: the
 * bootstrap node's metadata, dynamic metadata sent to an authorization service. Deeper than
 * the bound, or undefined, a value goes as null.
 */
export function encodeStruct(writer: ProtoWriter, object: Readonly<Record<string, unknown>>, depth = 0): void {
  for (const [key, value] of Object.entries(object)) writer.message(1, (entry) => entry.explicitString(1, key).message(2, (v) => encodeValue(v, value, depth + 1)));
}

/** google.protobuf.Value: null_value 1, number_value 2, string_value 3, bool_value 4, struct_value 5, list_value 6 (values 1). */
function encodeValue(writer: ProtoWriter, value: unknown, depth: number): void {
  if (depth > MAX_ENCODE_DEPTH || value === null || value === undefined) writer.explicitUint(1, 0);
  else if (typeof value === "number") writer.explicitDouble(2, value);
  else if (typeof value === "string") writer.explicitString(3, value);
  else if (typeof value === "boolean") writer.explicitUint(4, value ? 1 : 0);
  else if (Array.isArray(value)) writer.message(6, (list) => value.forEach((item) => list.message(1, (v) => encodeValue(v, item, depth + 1))));
  else if (typeof value === "object") writer.message(5, (struct) => encodeStruct(struct, value as Record<string, unknown>, depth + 1));
  else writer.explicitString(3, String(value));
}
