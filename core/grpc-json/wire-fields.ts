/**
 * A response message's fields from the wire (protobuf.dev/programming-guides/encoding), for the
 * JSON printer: each present field's values in wire order, scalars decoded to JS values,
 * messages left as their bytes. Unknown fields are skipped; a packable field is read packed or
 * not, whatever its declaration.
 */
import { ProtoDecodeError, ProtoReader, WireType } from "../util/protobuf-wire.ts";
import { TranscodeError, type FieldDescriptor, type FieldType, type MessageDescriptor } from "./descriptors.ts";

/** A decoded field value: scalars as JS values, messages as their bytes (decoded when printed). */
export type Raw = number | bigint | boolean | string | Uint8Array;

/** The fields present in one message: number → values in wire order (one for a singular field). */
export function readFields(type: MessageDescriptor, bytes: Uint8Array): Map<number, Raw[]> {
  const fields = new Map<number, Raw[]>();
  const reader = new ProtoReader(bytes);
  while (reader.next()) {
    const field = type.fieldByNumber(reader.field);
    if (field === undefined || field.type === "group") {
      reader.skip();
      continue;
    }
    let values = fields.get(field.number);
    if (values === undefined) fields.set(field.number, (values = []));
    // A packable field may come packed or not, whatever its declaration (encoding#packed).
    if (reader.wire === WireType.Len && isPackable(field.type)) {
      const packed = new ProtoReader(reader.lengthDelimited());
      while (!packed.atEnd()) values.push(readPacked(packed, field.type));
      continue;
    }
    // json/internal/untyped_message.cc InsertField: the printer refuses a singular field given
    // twice, where a protobuf parser would keep the last (or merge a message).
    if (!field.repeated && values.length > 0) throw new TranscodeError(`repeated entries for singular field number ${field.number}`);
    values.push(readScalar(reader, field));
  }
  return fields;
}

function isPackable(type: FieldType): boolean {
  return type !== "string" && type !== "bytes" && type !== "message" && type !== "group";
}

function expectWire(reader: ProtoReader, wire: number): void {
  if (reader.wire !== wire) throw new ProtoDecodeError(`field ${reader.field}: wire type ${reader.wire}, expected ${wire}`);
}

export function readScalar(reader: ProtoReader, field: FieldDescriptor): Raw {
  switch (field.type) {
    case "string":
    case "bytes":
    case "message":
      return reader.lengthDelimited();
    case "double":
    case "fixed64":
    case "sfixed64":
      expectWire(reader, WireType.I64);
      return fixed64(reader.fixed64View(), field.type);
    case "float":
    case "fixed32":
    case "sfixed32":
      expectWire(reader, WireType.I32);
      return fixed32(reader.fixed32View(), field.type);
    default:
      expectWire(reader, WireType.Varint);
      return varint(reader.varint64(), field.type);
  }
}

function readPacked(reader: ProtoReader, type: FieldType): Raw {
  switch (type) {
    case "double":
    case "fixed64":
    case "sfixed64":
      return fixed64(reader.rawView(8), type);
    case "float":
    case "fixed32":
    case "sfixed32":
      return fixed32(reader.rawView(4), type);
    default:
      return varint(reader.varint64(), type);
  }
}

function fixed64(view: DataView, type: FieldType): Raw {
  if (type === "double") return view.getFloat64(0, true);
  return type === "fixed64" ? view.getBigUint64(0, true) : view.getBigInt64(0, true);
}

function fixed32(view: DataView, type: FieldType): Raw {
  if (type === "float") return view.getFloat32(0, true);
  return type === "fixed32" ? view.getUint32(0, true) : view.getInt32(0, true);
}

function varint(v: bigint, type: FieldType): Raw {
  switch (type) {
    case "int64":
      return BigInt.asIntN(64, v);
    case "uint64":
      return v;
    case "sint64":
      return (v >> 1n) ^ -(v & 1n);
    case "sint32": {
      const n = Number(BigInt.asUintN(32, v));
      return (n >>> 1) ^ -(n & 1);
    }
    case "uint32":
      return Number(BigInt.asUintN(32, v));
    case "bool":
      return v !== 0n;
    default:
      // int32 and enum: the low 32 bits, signed.
      return Number(BigInt.asIntN(32, v));
  }
}
