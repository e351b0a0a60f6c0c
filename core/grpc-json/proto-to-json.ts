/**
 * Protobuf to JSON for the gRPC-JSON transcoder's responses: the text protobuf's JSON printer
 * writes (util/json_util.h BinaryToJsonStream, as grpc-httpjson-transcoding's
 * response_to_json_translator.cc calls it with Envoy's print_options): fields in number order
 * under their JSON names, 64-bit integers as strings, enums by name, bytes as standard base64,
 * floats and doubles as SimpleFtoa/SimpleDtoa print them, the well-known types in their JSON
 * forms, unknown fields skipped (json/internal/unparser.cc). The wire is read by
 * wire-fields.ts, strings quoted by json-escape.ts, the text laid out by json-out.ts.
 */
import { encodeBase64 } from "../util/base64.ts";
import { MAX_DEPTH } from "../util/protobuf-struct.ts";
import { ProtoDecodeError, ProtoReader } from "../util/protobuf-wire.ts";
import { utf8DecodeStrict } from "../util/utf8.ts";
import {
  TranscodeError,
  type DescriptorPool,
  type FieldDescriptor,
  type JsonPrintOptions,
  type MessageDescriptor,
} from "./descriptors.ts";
import { enumIndex, fieldsByNumber } from "./descriptor-index.ts";
import { quoteText, quoteUtf8 } from "./json-escape.ts";
import { JsonOut } from "./json-out.ts";
import { formatDouble, formatFloat } from "./number-format.ts";
import { anyUsesValueKey, fieldMaskPathToJson, formatDuration, formatTimestamp, resolveTypeUrl, wellKnown } from "./well-known.ts";
import { readFields, readScalar, type Raw } from "./wire-fields.ts";

interface Printer {
  readonly pool: DescriptorPool;
  readonly options: JsonPrintOptions;
}

function printMessage(p: Printer, out: JsonOut, type: MessageDescriptor, bytes: Uint8Array, path: string, depth: number): void {
  if (depth > MAX_DEPTH) throw new TranscodeError(`${path}: message nested too deeply (over ${MAX_DEPTH} levels)`);
  const kind = wellKnown(type.fullName);
  if (kind !== undefined && kind !== "Empty") {
    printWellKnown(p, out, type, kind, bytes, path, depth);
    return;
  }
  out.open("{");
  printFields(p, out, type, readFields(type, bytes), path, depth);
  out.close("}");
}

/** A google.protobuf.Value with no kind set: the printer leaves it out wherever it is a field, element or map value. */
function isEmptyValue(field: FieldDescriptor, bytes: Uint8Array): boolean {
  if (field.type !== "message" || wellKnown(field.message!.fullName) !== "Value") return false;
  const reader = new ProtoReader(bytes);
  while (reader.next()) {
    if (field.message!.fieldByNumber(reader.field) !== undefined) return false;
    reader.skip();
  }
  return true;
}

/** Each field's JSON name and .proto name, quoted, in number order: made once per message type. */
const quotedNames = new WeakMap<MessageDescriptor, { readonly json: readonly string[]; readonly proto: readonly string[] }>();

function namesOf(type: MessageDescriptor): { readonly json: readonly string[]; readonly proto: readonly string[] } {
  let names = quotedNames.get(type);
  if (names === undefined) {
    const json: string[] = [];
    const proto: string[] = [];
    for (const field of fieldsByNumber(type)) {
      json.push(quoteText(field.jsonName));
      proto.push(quoteText(field.name));
    }
    names = { json, proto };
    quotedNames.set(type, names);
  }
  return names;
}

function printFields(p: Printer, out: JsonOut, type: MessageDescriptor, fields: Map<number, Raw[]>, path: string, depth: number): void {
  const ordered = fieldsByNumber(type);
  const keys = p.options.preserveProtoFieldNames ? namesOf(type).proto : namesOf(type).json;
  for (let i = 0; i < ordered.length; i++) {
    const field = ordered[i]!;
    const values = fields.get(field.number);
    const key = keys[i]!;
    const fieldPath = path === "" ? field.name : `${path}.${field.name}`;
    if (values === undefined || values.length === 0) {
      // always_print_primitive_fields: a field without presence at its default, lists and maps empty.
      if (!p.options.alwaysPrintPrimitiveFields || field.explicitPresence || field.oneof !== undefined) continue;
      out.item(key);
      if (field.isMap) out.raw("{}");
      else if (field.repeated) out.raw("[]");
      else printScalar(p, out, field, defaultOf(field));
      continue;
    }
    if (field.isMap) {
      out.item(key);
      printMap(p, out, field, values, fieldPath, depth);
    } else if (field.repeated) {
      out.item(key);
      printList(p, out, field, values, fieldPath, depth);
    } else if (field.type === "message") {
      const bytes = concat(values as Uint8Array[]);
      if (isEmptyValue(field, bytes)) continue;
      out.item(key);
      printMessage(p, out, field.message!, bytes, fieldPath, depth + 1);
    } else {
      out.item(key);
      printScalar(p, out, field, values[values.length - 1]!);
    }
  }
}

function printList(p: Printer, out: JsonOut, field: FieldDescriptor, values: Raw[], path: string, depth: number): void {
  out.open("[");
  for (const v of values) {
    if (field.type === "message") {
      if (isEmptyValue(field, v as Uint8Array)) continue;
      out.item(undefined);
      printMessage(p, out, field.message!, v as Uint8Array, path, depth + 1);
    } else {
      out.item(undefined);
      printScalar(p, out, field, v);
    }
  }
  out.close("]");
}

/** A singular message field given more than once merges (encoding#last-one-wins): its bytes concatenated. */
function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  let size = 0;
  for (const c of chunks) size += c.byteLength;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

const EMPTY = new Uint8Array(0);

function defaultOf(field: FieldDescriptor): Raw {
  switch (field.type) {
    case "int64":
    case "uint64":
    case "sint64":
    case "fixed64":
    case "sfixed64":
      return 0n;
    case "bool":
      return false;
    case "string":
    case "bytes":
    case "message":
      return EMPTY;
    default:
      return 0;
  }
}

function printScalar(p: Printer, out: JsonOut, field: FieldDescriptor, value: Raw): void {
  switch (field.type) {
    case "string":
      out.raw(quoteUtf8(value as Uint8Array));
      return;
    case "bytes":
      out.raw(`"${encodeBase64(value as Uint8Array)}"`);
      return;
    case "double":
      out.raw(formatDouble(value as number));
      return;
    case "float":
      out.raw(formatFloat(value as number));
      return;
    case "int64":
    case "uint64":
    case "sint64":
    case "fixed64":
    case "sfixed64":
      out.raw(`"${(value as bigint).toString()}"`);
      return;
    case "bool":
      out.raw(value ? "true" : "false");
      return;
    case "enum":
      out.raw(enumJson(p, field, value as number, false));
      return;
    default:
      out.raw(String(value));
  }
}

/** An enum by name (json.proto), an unknown number as a number; google.protobuf.NullValue is null. */
function enumJson(p: Printer, field: FieldDescriptor, n: number, quoteNumber: boolean): string {
  const enumType = field.enumType!;
  if (enumType.fullName === "google.protobuf.NullValue") return "null";
  const named = p.options.alwaysPrintEnumsAsInts ? undefined : enumIndex(enumType).byNumber.get(n);
  if (named !== undefined) return quoteText(named);
  return quoteNumber ? `"${n}"` : String(n);
}

/** A map's entries in wire order (unparser.cc WriteMap over the parsed entries), keys quoted. */
function printMap(p: Printer, out: JsonOut, field: FieldDescriptor, entries: Raw[], path: string, depth: number): void {
  const entry = field.message!;
  const keyField = entry.fieldByNumber(1)!;
  const valueField = entry.fieldByNumber(2)!;
  out.open("{");
  for (const bytes of entries) {
    const fields = readFields(entry, bytes as Uint8Array);
    const k = fields.get(1);
    const v = fields.get(2);
    const value = v === undefined ? defaultOf(valueField) : valueField.type === "message" ? concat(v as Uint8Array[]) : v[v.length - 1]!;
    if (isEmptyValue(valueField, value as Uint8Array)) continue;
    const key = mapKey(p, keyField, k === undefined ? defaultOf(keyField) : k[k.length - 1]!);
    out.item(key);
    if (valueField.type === "message") printMessage(p, out, valueField.message!, value as Uint8Array, `${path}[${key}]`, depth + 1);
    else printScalar(p, out, valueField, value);
  }
  out.close("}");
}

/** unparser.cc WriteMapKey: every key quoted. */
function mapKey(p: Printer, field: FieldDescriptor, value: Raw): string {
  switch (field.type) {
    case "string":
      return quoteUtf8(value as Uint8Array);
    case "bool":
      return value ? '"true"' : '"false"';
    case "enum":
      return enumJson(p, field, value as number, true);
    default:
      return `"${String(value)}"`;
  }
}

// ---- the well-known types ----

function single(fields: Map<number, Raw[]>, number: number): Raw | undefined {
  const values = fields.get(number);
  return values === undefined ? undefined : values[values.length - 1];
}

function printWellKnown(
  p: Printer,
  out: JsonOut,
  type: MessageDescriptor,
  kind: Exclude<ReturnType<typeof wellKnown>, undefined>,
  bytes: Uint8Array,
  path: string,
  depth: number,
): void {
  if (kind === "Value") {
    printValueMessage(p, out, type, bytes, path, depth);
    return;
  }
  const fields = readFields(type, bytes);
  switch (kind) {
    case "Timestamp":
    case "Duration": {
      const seconds = (single(fields, 1) as bigint | undefined) ?? 0n;
      const nanos = (single(fields, 2) as number | undefined) ?? 0;
      out.raw(`"${kind === "Timestamp" ? formatTimestamp(seconds, nanos) : formatDuration(seconds, nanos)}"`);
      return;
    }
    case "FieldMask": {
      let paths = "";
      for (const raw of fields.get(1) ?? []) {
        const json = fieldMaskPathToJson(decodeText(raw as Uint8Array));
        if (json === undefined) throw new TranscodeError("unexpected character in FieldMask");
        paths += paths === "" ? json : `,${json}`;
      }
      out.raw(quoteText(paths));
      return;
    }
    case "Wrapper": {
      const field = type.fieldByNumber(1)!;
      printScalar(p, out, field, single(fields, 1) ?? defaultOf(field));
      return;
    }
    case "Struct":
      printMap(p, out, type.fieldByNumber(1)!, fields.get(1) ?? [], path, depth);
      return;
    case "ListValue":
      printList(p, out, type.fieldByNumber(1)!, fields.get(1) ?? [], path, depth);
      return;
    case "Any":
      printAny(p, out, fields, path, depth);
      return;
    default:
      out.raw("{}");
  }
}

function decodeText(bytes: Uint8Array): string {
  return utf8DecodeStrict(bytes) ?? "\ufffd";
}

/** struct.proto's Value (unparser.cc WriteValue): the kind set, in field order; none at the top prints nothing. */
function printValueMessage(p: Printer, out: JsonOut, type: MessageDescriptor, bytes: Uint8Array, path: string, depth: number): void {
  const fields = readFields(type, bytes);
  if (fields.has(1)) out.raw("null");
  else if (fields.has(2)) {
    const n = single(fields, 2) as number;
    if (Number.isNaN(n)) throw new TranscodeError("google.protobuf.Value cannot encode double values for nan, because it would be parsed as a string");
    if (!Number.isFinite(n)) {
      throw new TranscodeError("google.protobuf.Value cannot encode double values for infinity, because it would be parsed as a string");
    }
    out.raw(formatDouble(n));
  } else if (fields.has(3)) out.raw(quoteUtf8(single(fields, 3) as Uint8Array));
  else if (fields.has(4)) out.raw(single(fields, 4) ? "true" : "false");
  else if (fields.has(5)) printMessage(p, out, type.fieldByNumber(5)!.message!, concat(fields.get(5) as Uint8Array[]), path, depth + 1);
  else if (fields.has(6)) printMessage(p, out, type.fieldByNumber(6)!.message!, concat(fields.get(6) as Uint8Array[]), path, depth + 1);
}

/** any.proto: type_url = 1, value = 2; `{"@type": url, ...fields}`, a well-known type's JSON under "value". */
function printAny(p: Printer, out: JsonOut, fields: Map<number, Raw[]>, path: string, depth: number): void {
  const urlBytes = single(fields, 1) as Uint8Array | undefined;
  const value = single(fields, 2) as Uint8Array | undefined;
  if (urlBytes === undefined && value === undefined) {
    out.raw("{}");
    return;
  }
  if (urlBytes === undefined) throw new TranscodeError("broken Any: missing type URL");
  const url = decodeText(urlBytes);
  const inner = resolveTypeUrl(p.pool, url);
  if (inner === undefined) throw new TranscodeError(`${path === "" ? "" : `${path}: `}the Any's type ${url} is not in the descriptor set`);
  out.open("{");
  out.item('"@type"');
  out.raw(quoteUtf8(urlBytes));
  if (anyUsesValueKey(wellKnown(inner.fullName))) {
    out.item('"value"');
    printMessage(p, out, inner, value ?? EMPTY, path, depth + 1);
  } else printFields(p, out, inner, readFields(inner, value ?? EMPTY), path, depth + 1);
  out.close("}");
}

// ---- entry point ----

/**
 * A message's JSON text, as BinaryToJsonStream writes it (with add_whitespace, a line break
 * after the top-level value). `responseBody` (an http rule's response_body) prints only that
 * top-level field's value. Malformed protobuf, an out-of-range Timestamp or Duration, and an
 * Any of a type not in the pool are TranscodeError; text past `maxLength` characters,
 * JsonTooLongError (thrown as soon as it is passed).
 */
export function messageToJson(pool: DescriptorPool, message: MessageDescriptor, bytes: Uint8Array, options: JsonPrintOptions, responseBody = "", maxLength = Number.POSITIVE_INFINITY): string {
  const p: Printer = { pool, options };
  const out = new JsonOut(options.addWhitespace, maxLength);
  try {
    if (responseBody === "") printMessage(p, out, message, bytes, "", 0);
    else {
      const field = message.field(responseBody);
      if (field === undefined) throw new TranscodeError(`response_body "${responseBody}" names no field of ${message.fullName}`);
      printFieldOnly(p, out, field, readFields(message, bytes).get(field.number) ?? []);
    }
  } catch (error) {
    if (error instanceof ProtoDecodeError) throw new TranscodeError(`the response is not a valid ${message.fullName}: ${error.message}`);
    throw error;
  }
  out.newline();
  return out.text;
}

/** response_body: the field's value alone (its default when absent). */
function printFieldOnly(p: Printer, out: JsonOut, field: FieldDescriptor, values: Raw[]): void {
  if (field.isMap) printMap(p, out, field, values, field.name, 0);
  else if (field.repeated) printList(p, out, field, values, field.name, 0);
  else if (field.type === "message") printMessage(p, out, field.message!, concat(values.length === 0 ? [EMPTY] : (values as Uint8Array[])), field.name, 1);
  else printScalar(p, out, field, values.length === 0 ? defaultOf(field) : values[values.length - 1]!);
}
