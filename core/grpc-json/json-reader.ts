/**
 * JSON values into a request message tree (message-tree.ts): proto3's JSON mapping
 * (protobuf.dev/programming-guides/json) as protobuf's converter reads it for Envoy's
 * transcoder (util/internal datapiece.cc, protostream_objectwriter.cc), the well-known types
 * in their JSON forms. A JSON name the message does not have is skipped: grpc-httpjson-
 * transcoding's request_message_translator.cc sets ignore_unknown_fields ("Don't fail the
 * translation if there are unknown fields in JSON … backward and forward compatible APIs").
 * Errors are TranscodeError, worded as its StatusErrorListener words them
 * ("<field path>: invalid value <value> for type <type>").
 */
import { MAX_DEPTH } from "../util/protobuf-struct.ts";
import { decodeBase64Any } from "../util/base64.ts";
import { TranscodeError, type DescriptorPool, type FieldDescriptor, type FieldType, type JsonParseOptions, type MessageDescriptor } from "./descriptors.ts";
import { enumIndex } from "./descriptor-index.ts";
import { invalid, MessageNode, setField, writeMessage, type FieldValue, type Scalar } from "./message-tree.ts";
import { formatDouble } from "./number-format.ts";
import { anyUsesValueKey, fieldMaskPathFromJson, parseDuration, parseTimestamp, resolveTypeUrl, wellKnown } from "./well-known.ts";

export interface Context {
  readonly pool: DescriptorPool;
  readonly options: JsonParseOptions;
  /** The request message's type (the converter's master type, named in Any's errors). */
  readonly root: MessageDescriptor;
}

export function join(path: string, name: string): string {
  return path === "" ? name : `${path}.${name}`;
}

/**
 * A value as the converter's errors show it (datapiece.cc ValueAsStringOrDefault): a string
 * quoted, an integer in decimal, another number as DoubleAsString writes it.
 */
function show(value: unknown): string {
  if (typeof value === "string") return `"${value}"`;
  if (typeof value === "number") return Number.isSafeInteger(value) ? String(value) : formatDouble(value);
  if (typeof value === "boolean" || typeof value === "bigint" || value === null) return String(value);
  return Array.isArray(value) ? "[…]" : "{…}";
}

/** google::protobuf::Field::Kind's name, as the converter names a scalar's type in errors. */
const KIND_NAMES: Record<FieldType, string> = {
  double: "TYPE_DOUBLE",
  float: "TYPE_FLOAT",
  int64: "TYPE_INT64",
  uint64: "TYPE_UINT64",
  int32: "TYPE_INT32",
  fixed64: "TYPE_FIXED64",
  fixed32: "TYPE_FIXED32",
  bool: "TYPE_BOOL",
  string: "TYPE_STRING",
  group: "TYPE_GROUP",
  message: "TYPE_MESSAGE",
  bytes: "TYPE_BYTES",
  uint32: "TYPE_UINT32",
  enum: "TYPE_ENUM",
  sfixed32: "TYPE_SFIXED32",
  sfixed64: "TYPE_SFIXED64",
  sint32: "TYPE_SINT32",
  sint64: "TYPE_SINT64",
};

function typeName(field: FieldDescriptor): string {
  if (field.type === "enum") return `type.googleapis.com/${field.enumType!.fullName}`;
  if (field.type === "message") return `type.googleapis.com/${field.message!.fullName}`;
  return KIND_NAMES[field.type];
}

/** safe_strto32/64 (strutil.cc): decimal digits, a sign allowed. */
const INTEGER = /^[+-]?\d+$/;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const UINT32_MAX = 2 ** 32 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const FLOAT_MAX = 3.4028234663852886e38;

/**
 * An integer from a JSON number that is whole (1e3 and 7.0 are), or from decimal text exactly
 * (datapiece.cc: a string goes through safe_strto64, so "1e3" in quotes is not one);
 * undefined when it is neither. A bigint is a JSON integer a lossless parser kept exact
 * (JSON.parse rounds one past 2^53; Envoy's parser does not).
 */
function integer(value: unknown): bigint | undefined {
  if (typeof value === "bigint") return value;
  if (typeof value === "number") return Number.isInteger(value) ? BigInt(value) : undefined;
  if (typeof value !== "string" || !INTEGER.test(value)) return undefined;
  return BigInt(value);
}

/** safe_strtob (strutil.cc), as datapiece.cc ToBool reads a string: true/t/yes/y/1, false/f/no/n/0, any case. */
const TRUE_TEXT = new Set(["true", "t", "yes", "y", "1"]);
const FALSE_TEXT = new Set(["false", "f", "no", "n", "0"]);

function floating(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  if (typeof value !== "string") return undefined;
  if (value === "NaN") return NaN;
  if (value === "Infinity") return Infinity;
  if (value === "-Infinity") return -Infinity;
  if (value === "" || value.trim() !== value) return undefined;
  const n = Number(value);
  return Number.isNaN(n) || !Number.isFinite(n) ? undefined : n;
}

/** One scalar of `field`'s type from a JSON value (strings too, as bindings give them). */
export function scalar(ctx: Context, field: FieldDescriptor, value: unknown, path: string): Scalar {
  switch (field.type) {
    case "int32":
    case "sint32":
    case "sfixed32": {
      const n = integer(value);
      if (n === undefined || n < BigInt(INT32_MIN) || n > BigInt(INT32_MAX)) throw scalarError(field, value, path);
      return Number(n);
    }
    case "uint32":
    case "fixed32": {
      const n = integer(value);
      if (n === undefined || n < 0n || n > BigInt(UINT32_MAX)) throw scalarError(field, value, path);
      return Number(n);
    }
    case "int64":
    case "sint64":
    case "sfixed64": {
      const n = integer(value);
      if (n === undefined || n < INT64_MIN || n > INT64_MAX) throw scalarError(field, value, path);
      return n;
    }
    case "uint64":
    case "fixed64": {
      const n = integer(value);
      if (n === undefined || n < 0n || n > UINT64_MAX) throw scalarError(field, value, path);
      return n;
    }
    case "double": {
      const n = floating(value);
      if (n === undefined) throw scalarError(field, value, path);
      return n;
    }
    case "float": {
      const n = floating(value);
      if (n === undefined || (Number.isFinite(n) && Math.abs(n) > FLOAT_MAX)) throw scalarError(field, value, path);
      return n;
    }
    case "bool":
      if (typeof value === "boolean") return value;
      if (typeof value === "string") {
        const lower = value.toLowerCase();
        if (TRUE_TEXT.has(lower)) return true;
        if (FALSE_TEXT.has(lower)) return false;
      }
      throw scalarError(field, value, path);
    case "string":
      if (typeof value !== "string") throw scalarError(field, value, path);
      return value;
    case "bytes": {
      const bytes = typeof value === "string" ? decodeBase64Any(value) : undefined;
      if (bytes === undefined) throw scalarError(field, value, path);
      return bytes;
    }
    case "enum":
      return enumNumber(ctx, field, value, path);
    default:
      throw scalarError(field, value, path);
  }
}

function scalarError(field: FieldDescriptor, value: unknown, path: string): TranscodeError {
  return invalid(path, typeName(field), show(value));
}

function enumNumber(ctx: Context, field: FieldDescriptor, value: unknown, path: string): number {
  if (typeof value === "number") {
    if (!Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) throw scalarError(field, value, path);
    return value;
  }
  if (typeof value !== "string") throw scalarError(field, value, path);
  // datapiece.cc ToEnum: the name; a declared number in text; with case_insensitive_enum_parsing
  // the name upper-cased, "-" read as "_".
  const index = enumIndex(field.enumType!);
  const named = index.byName.get(value);
  if (named !== undefined) return named;
  if (INTEGER.test(value)) {
    const n = Number(value);
    if (index.byNumber.has(n)) return n;
  }
  if (ctx.options.caseInsensitiveEnumParsing) {
    const normalized = index.byName.get(value.toUpperCase().replaceAll("-", "_"));
    if (normalized !== undefined) return normalized;
  }
  throw scalarError(field, value, path);
}

/** A JSON object's own keys and values, "__proto__" too (JSON.parse makes it an own property). */
function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** A message from its JSON form into `node` (merged into what is there). */
/** `key`: the JSON name the value came under ("" for an element), as the converter's WKT errors quote it. */
export function parseMessageInto(ctx: Context, node: MessageNode, json: unknown, path: string, depth: number, key = ""): void {
  if (depth > MAX_DEPTH) throw new TranscodeError(`${path}: message nested too deeply (over ${MAX_DEPTH} levels)`);
  const kind = wellKnown(node.type.fullName);
  if (kind !== undefined && kind !== "Empty") {
    parseWellKnownInto(ctx, node, kind, json, path, depth, key);
    return;
  }
  if (!isObject(json)) throw invalid(path === "" ? node.type.fullName : path, `type.googleapis.com/${node.type.fullName}`, show(json));
  for (const key of Object.keys(json)) {
    const field = node.type.field(key);
    if (field === undefined) continue;
    const value = json[key];
    const fieldPath = join(path, field.name);
    if (value === null && !(field.type === "message" && wellKnown(field.message!.fullName) === "Value" && !field.repeated)) {
      // null is the field's default: it is left unset (json.proto: "null is accepted for all field types").
      continue;
    }
    setField(node, field, parseField(ctx, field, value, fieldPath, depth, key), fieldPath);
    if (key === field.name) node.protoNamed.add(field.number);
  }
}

/** A field's value: one element, or the elements of a repeated field or map. */
export function parseField(ctx: Context, field: FieldDescriptor, value: unknown, path: string, depth: number, key: string): FieldValue | FieldValue[] {
  if (field.isMap) {
    if (!isObject(value)) throw invalid(path, typeName(field), show(value));
    const entry = field.message!;
    const keyField = entry.fieldByNumber(1)!;
    const valueField = entry.fieldByNumber(2)!;
    const entries: FieldValue[] = [];
    for (const key of Object.keys(value)) {
      const node = new MessageNode(entry);
      const elementPath = `${path}["${key}"]`;
      node.values.set(1, mapKey(ctx, keyField, key, elementPath));
      const v = value[key];
      if (v === null && !(valueField.type === "message" && wellKnown(valueField.message!.fullName) === "Value")) {
        throw invalid(elementPath, typeName(valueField), "null");
      }
      node.values.set(2, element(ctx, valueField, v, elementPath, depth, key));
      entries.push(node);
    }
    return entries;
  }
  if (field.repeated) {
    // A single value for a repeated field is its one element (the converter writes it as such).
    if (!Array.isArray(value)) return [element(ctx, field, value, path, depth, key)];
    const elements: FieldValue[] = [];
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (v === null && !(field.type === "message" && wellKnown(field.message!.fullName) === "Value")) {
        throw invalid(`${path}[${i}]`, typeName(field), "null");
      }
      elements.push(element(ctx, field, v, `${path}[${i}]`, depth, ""));
    }
    return elements;
  }
  return element(ctx, field, value, path, depth, key);
}

/** Map keys come as JSON object keys: their string form is parsed by the key's type. */
function mapKey(ctx: Context, field: FieldDescriptor, key: string, path: string): Scalar {
  return scalar(ctx, field, key, path);
}

function element(ctx: Context, field: FieldDescriptor, value: unknown, path: string, depth: number, key: string): FieldValue {
  if (field.type === "message") {
    const node = new MessageNode(field.message!);
    parseMessageInto(ctx, node, value, path, depth + 1, key);
    return node;
  }
  if (field.type === "group") throw new TranscodeError(`${path}: proto2 groups are not supported`);
  return scalar(ctx, field, value, path);
}
// ---- the well-known types ----

function parseWellKnownInto(
  ctx: Context,
  node: MessageNode,
  kind: Exclude<ReturnType<typeof wellKnown>, undefined>,
  json: unknown,
  path: string,
  depth: number,
  key: string,
): void {
  const type = node.type;
  const where = path === "" ? type.fullName : path;
  switch (kind) {
    case "Timestamp":
    case "Duration": {
      if (typeof json !== "string") {
        const what = kind === "Timestamp" ? "timestamp" : "duration";
        throw wellKnownError(type, key, where, `Invalid data type for ${what}, value is ${show(json)}`);
      }
      const parsed = kind === "Timestamp" ? parseTimestamp(json) : parseDuration(json);
      if (typeof parsed === "string") throw wellKnownError(type, key, where, parsed);
      node.values.set(1, parsed.seconds);
      node.values.set(2, parsed.nanos);
      return;
    }
    case "FieldMask": {
      if (typeof json !== "string") throw wellKnownError(type, key, where, `Invalid data type for field mask, value is ${show(json)}`);
      const paths: string[] = [];
      if (json !== "") for (const p of json.split(",")) paths.push(fieldMaskPathFromJson(p));
      node.values.set(1, paths);
      return;
    }
    case "Wrapper": {
      const field = type.fieldByNumber(1)!;
      if (json === null) return;
      // RenderWrapperType renders the value as the wrapper's "value" field.
      node.values.set(1, scalar(ctx, field, json, `${where}.value`));
      return;
    }
    case "Struct": {
      if (!isObject(json)) throw invalid(where, `type.googleapis.com/${type.fullName}`, show(json));
      const entryType = type.fieldByNumber(1)!.message!;
      const valueType = entryType.fieldByNumber(2)!.message!;
      const entries: FieldValue[] = [];
      for (const key of Object.keys(json)) {
        const entry = new MessageNode(entryType);
        entry.values.set(1, key);
        const value = new MessageNode(valueType);
        parseMessageInto(ctx, value, json[key], `${join(path, "fields")}["${key}"]`, depth + 1);
        entry.values.set(2, value);
        entries.push(entry);
      }
      node.values.set(1, entries);
      return;
    }
    case "ListValue": {
      if (!Array.isArray(json)) throw invalid(where, `type.googleapis.com/${type.fullName}`, show(json));
      const valueType = type.fieldByNumber(1)!.message!;
      const values: FieldValue[] = [];
      for (let i = 0; i < json.length; i++) {
        const value = new MessageNode(valueType);
        parseMessageInto(ctx, value, json[i], `${join(path, "values")}[${i}]`, depth + 1);
        values.push(value);
      }
      node.values.set(1, values);
      return;
    }
    case "Value":
      parseValueInto(ctx, node, json, path, depth);
      return;
    case "Any":
      parseAnyInto(ctx, node, json, where, depth);
      return;
    case "Empty":
      return;
  }
}

/**
 * A well-known type's text that does not parse: ProtoStreamObjectWriter::RenderDataPiece
 * reports `Field '<json name>', <the renderer's message>` as the value.
 */
function wellKnownError(type: MessageDescriptor, key: string, where: string, message: string): TranscodeError {
  return invalid(where, `type.googleapis.com/${type.fullName}`, `Field '${key}', ${message}`);
}

/** struct.proto's Value: null_value = 1, number_value = 2, string_value = 3, bool_value = 4, struct_value = 5, list_value = 6. */
function parseValueInto(ctx: Context, node: MessageNode, json: unknown, path: string, depth: number): void {
  const type = node.type;
  if (json === null) node.values.set(1, 0);
  else if (typeof json === "bigint") node.values.set(2, Number(json));
  else if (typeof json === "number") {
    if (!Number.isFinite(json)) throw invalid(path, "type.googleapis.com/google.protobuf.Value", show(json));
    node.values.set(2, json);
  } else if (typeof json === "string") node.values.set(3, json);
  else if (typeof json === "boolean") node.values.set(4, json);
  else if (Array.isArray(json)) {
    const list = new MessageNode(type.fieldByNumber(6)!.message!);
    parseMessageInto(ctx, list, json, path, depth + 1);
    node.values.set(6, list);
  } else if (isObject(json)) {
    const struct = new MessageNode(type.fieldByNumber(5)!.message!);
    parseMessageInto(ctx, struct, json, path, depth + 1);
    node.values.set(5, struct);
  } else throw invalid(path, "type.googleapis.com/google.protobuf.Value", show(json));
}

/** any.proto: type_url = 1, value = 2 (the message's bytes). */
function parseAnyInto(ctx: Context, node: MessageNode, json: unknown, path: string, depth: number): void {
  if (!isObject(json)) throw invalid(path, "type.googleapis.com/google.protobuf.Any", show(json));
  const url = json["@type"];
  if (Object.keys(json).length === 0) return;
  // protostream_objectwriter.cc AnyWriter: its errors are InvalidValue("Any", …).
  if (typeof url !== "string") throw invalid(path, "Any", `Missing @type for any field in ${ctx.root.fullName}`);
  const slash = url.lastIndexOf("/");
  if (slash < 0 || slash === url.length - 1) {
    throw invalid(path, "Any", `Invalid type URL, type URLs must be of the form 'type.googleapis.com/<typename>', got: ${url}`);
  }
  const inner = resolveTypeUrl(ctx.pool, url);
  if (inner === undefined) throw invalid(path, "Any", `Invalid type URL, unknown type: ${url.slice(slash + 1)}`);
  const value = new MessageNode(inner);
  if (anyUsesValueKey(wellKnown(inner.fullName))) {
    if ("value" in json) parseMessageInto(ctx, value, json.value, path, depth + 1);
  } else {
    const rest: Record<string, unknown> = {};
    for (const key of Object.keys(json)) {
      if (key !== "@type") Object.defineProperty(rest, key, { value: json[key], enumerable: true, writable: true, configurable: true });
    }
    parseMessageInto(ctx, value, rest, path, depth + 1);
  }
  node.values.set(1, url);
  node.values.set(2, writeMessage(value));
}
