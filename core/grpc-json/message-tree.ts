/**
 * A request message being built by the gRPC-JSON codec (json-reader.ts fills it from JSON,
 * request-weaver.ts adds the bindings), and its canonical encoding: fields in number order,
 * packed where packed, proto3 defaults left out (protobuf.dev/programming-guides/encoding).
 */
import { TranscodeError, type FieldDescriptor, type FieldType, type MessageDescriptor } from "./descriptors.ts";
import { fieldsByNumber } from "./descriptor-index.ts";
import { WireWriter } from "./wire-writer.ts";

export type Scalar = number | bigint | boolean | string | Uint8Array;
export type FieldValue = Scalar | MessageNode;

/** One message being built: each field's value (an array for a repeated one) by number. */
export class MessageNode {
  readonly values = new Map<number, FieldValue | FieldValue[]>();
  /** Fields the body named by their .proto name: request_weaver.cc matches bindings by it. */
  readonly protoNamed = new Set<number>();
  /** Each real oneof's member that is set. */
  readonly oneofs = new Map<string, string>();
  constructor(readonly type: MessageDescriptor) {}
}

/** ProtoWriter::InvalidValue through StatusErrorListener::InvalidValue. */
export function invalid(path: string, type: string, shown: string): TranscodeError {
  return new TranscodeError(`${path}: invalid value ${shown} for type ${type}`);
}

/** Sets one field, a oneof's second member refused (ProtoWriter's oneof check). */
export function setField(node: MessageNode, field: FieldDescriptor, value: FieldValue | FieldValue[], path: string): void {
  if (field.oneof !== undefined) {
    const set = node.oneofs.get(field.oneof);
    if (set !== undefined && set !== field.name) {
      throw invalid(path, "oneof", `oneof field '${field.oneof}' is already set. Cannot set '${field.name}'`);
    }
    node.oneofs.set(field.oneof, field.name);
  }
  if (Array.isArray(value)) {
    const existing = node.values.get(field.number);
    if (Array.isArray(existing)) existing.push(...value);
    else node.values.set(field.number, value);
  } else if (value instanceof MessageNode && node.values.get(field.number) instanceof MessageNode) {
    // The same message field twice merges, as protobuf's parser merges a repeated sub-message.
    mergeNodes(node.values.get(field.number) as MessageNode, value);
  } else node.values.set(field.number, value);
}

function mergeNodes(into: MessageNode, from: MessageNode): void {
  for (const [number, value] of from.values) {
    const existing = into.values.get(number);
    if (Array.isArray(value) && Array.isArray(existing)) existing.push(...value);
    else if (value instanceof MessageNode && existing instanceof MessageNode) mergeNodes(existing, value);
    else into.values.set(number, value);
  }
  for (const [oneof, name] of from.oneofs) into.oneofs.set(oneof, name);
}

export function writeMessage(node: MessageNode): Uint8Array {
  const writer = new WireWriter();
  writeFields(writer, node);
  return writer.finish();
}

function writeFields(writer: WireWriter, node: MessageNode): void {
  for (const field of fieldsByNumber(node.type)) {
    const value = node.values.get(field.number);
    if (value === undefined) continue;
    if (Array.isArray(value)) {
      if (value.length === 0) continue;
      if (field.packed) {
        const packed = new WireWriter();
        for (const v of value) writeScalar(packed, field.type, v as Scalar);
        writer.tag(field.number, 2);
        writer.lengthDelimited(packed.finish());
      } else for (const v of value) writeElement(writer, field, v);
      continue;
    }
    // A oneof member or a field with presence is written even at its default (Value's 0, "", false).
    const present = field.explicitPresence || field.oneof !== undefined;
    if (!present && isDefault(value)) continue;
    writeElement(writer, field, value);
  }
}

function isDefault(value: FieldValue): boolean {
  if (value instanceof MessageNode) return false;
  if (value instanceof Uint8Array) return value.byteLength === 0;
  if (typeof value === "number") return value === 0 && !Object.is(value, -0);
  return value === 0n || value === false || value === "";
}

const WIRE_TYPES: Record<FieldType, number> = {
  double: 1,
  float: 5,
  int64: 0,
  uint64: 0,
  int32: 0,
  fixed64: 1,
  fixed32: 5,
  bool: 0,
  string: 2,
  group: 3,
  message: 2,
  bytes: 2,
  uint32: 0,
  enum: 0,
  sfixed32: 5,
  sfixed64: 1,
  sint32: 0,
  sint64: 0,
};

function writeElement(writer: WireWriter, field: FieldDescriptor, value: FieldValue): void {
  writer.tag(field.number, WIRE_TYPES[field.type]);
  if (value instanceof MessageNode) writer.lengthDelimited(writeMessage(value));
  else writeScalar(writer, field.type, value);
}

function writeScalar(writer: WireWriter, type: FieldType, value: Scalar): void {
  switch (type) {
    case "int32":
    case "enum":
      writer.int32(value as number);
      return;
    case "uint32":
      writer.uint32(value as number);
      return;
    case "sint32":
      writer.sint32(value as number);
      return;
    case "int64":
    case "uint64":
      writer.varint64(value as bigint);
      return;
    case "sint64":
      writer.sint64(value as bigint);
      return;
    case "fixed32":
    case "sfixed32":
      writer.fixed32(value as number);
      return;
    case "fixed64":
    case "sfixed64":
      writer.fixed64(value as bigint);
      return;
    case "float":
      writer.float(value as number);
      return;
    case "double":
      writer.double(value as number);
      return;
    case "bool":
      writer.uint32(value ? 1 : 0);
      return;
    case "string":
      writer.string(value as string);
      return;
    case "bytes":
      writer.lengthDelimited(value as Uint8Array);
      return;
    default:
      throw new TranscodeError(`cannot write a field of type ${type}`);
  }
}
