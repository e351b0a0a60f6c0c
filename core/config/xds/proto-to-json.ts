/**
 * Binary protobuf → proto3 JSON (protobuf.dev/programming-guides/json) for the Envoy
 * messages a management server sends, so the resources of a gRPC DiscoveryResponse are
 * checked by the same schemas as a file's. Field names stay as the .proto spells them
 * (snake_case, as polyvoy's YAML); enums become their names; an Any becomes its message
 * with "@type" (recursively: a Listener's typed_config holds an HttpConnectionManager);
 * Duration "1.5s", wrappers their value, Struct/Value plain JSON, bytes base64, 64-bit
 * integers numbers when exact and strings otherwise (proto3 JSON accepts both). The
 * tables come from envoy-wire-types.ts (generated); an Any of a message not in them is
 * kept as {"@type", "value" (base64)}, which the schemas refuse by name.
 */
import { encodeBase64 as base64Encode } from "../../util/base64.ts";
import { isoTimestamp } from "../../util/civil-time.ts";
import { decodeList, decodeStruct, decodeValue, MAX_DEPTH } from "../../util/protobuf-struct.ts";
import { ProtoDecodeError, ProtoReader, WireType } from "../../util/protobuf-wire.ts";
import { utf8Decode } from "../../util/utf8.ts";
import { WIRE_ENUM_VALUES, WIRE_MESSAGE_FIELDS, WIRE_PROTOS_SOURCE, WIRE_TYPE_NAMES } from "./envoy-wire-types.ts";

interface WireField {
  readonly name: string;
  readonly kind: string;
  readonly repeated: boolean;
  /** A map's key scalar (the field is then a map of kind values). */
  readonly mapKey: string | undefined;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };


let messages: Map<string, Map<number, WireField>> | undefined;
let enums: Map<string, Map<number, string>> | undefined;
let indexToName: readonly string[] = [];

function tables(): { messages: Map<string, Map<number, WireField>>; enums: Map<string, Map<number, string>> } {
  if (messages && enums) return { messages, enums };
  indexToName = WIRE_TYPE_NAMES;
  messages = new Map();
  enums = new Map();
  for (const [index, text] of Object.entries(WIRE_MESSAGE_FIELDS)) {
    const fields = new Map<number, WireField>();
    for (const spec of text === "" ? [] : text.split(" ")) {
      const colon = spec.indexOf(":");
      const number = Number(spec.slice(0, colon));
      const rest = spec.slice(colon + 1);
      const brace = rest.indexOf("{");
      if (brace >= 0) {
        const [key, kind] = rest.slice(brace + 1).split(",") as [string, string];
        fields.set(number, { name: rest.slice(0, brace), kind, repeated: false, mapKey: key });
        continue;
      }
      const [rawName, kind] = rest.split(":") as [string, string];
      const repeated = rawName.endsWith("[]");
      fields.set(number, { name: repeated ? rawName.slice(0, -2) : rawName, kind, repeated, mapKey: undefined });
    }
    messages.set(indexToName[Number(index)]!, fields);
  }
  for (const [index, text] of Object.entries(WIRE_ENUM_VALUES)) {
    const values = new Map<number, string>();
    for (const spec of text.split(" ")) {
      const colon = spec.indexOf(":");
      const number = Number(spec.slice(0, colon));
      // The first name of a number is its JSON name (allow_alias enums list more).
      if (!values.has(number)) values.set(number, spec.slice(colon + 1));
    }
    enums.set(indexToName[Number(index)]!, values);
  }
  return { messages, enums };
}

/** Whether the tables know message `name` (full name). */
export function knowsMessage(name: string): boolean {
  return tables().messages.has(name);
}

/** Decode `bytes` as message `type` (full name) into proto3 JSON; throws ProtoDecodeError. */
export function protoToJson(type: string, bytes: Uint8Array): Record<string, Json> {
  const fields = tables().messages.get(type);
  if (fields === undefined) throw new ProtoDecodeError(`unknown message ${type}`);
  return decodeMessage(fields, bytes, 0, type);
}

/** A google.protobuf.Any's bytes as proto3 JSON: {"@type", ...its message's fields}. */
export function anyToJson(bytes: Uint8Array): Record<string, Json> {
  return decodeAny(bytes, 0);
}

/**
 * Messages whose unknown field is refused, not skipped:
 * - CustomTag, a oneof of kinds that newer Envoy APIs add to. Skipped, a tag of a newer kind
 *   would read as a tag of none and be refused as "must set one of ...", which names every
 *   kind but the one sent.
 * - OpenTelemetryAccessLogConfig, whose newer fields (8 on: http_service, the top-level
 *   grpc_service, log_name and buffer settings, filter_state_objects_to_log, custom_tags,
 *   resource_detectors) polyvoy refuses by name in a YAML or JSON config: skipped, a
 *   management server's would be accepted and ignored.
 * - RBAC's Permission and Principal, oneofs too: the pinned protos predate their
 *   sourced_metadata (which polyvoy implements from YAML and JSON). Skipped, a management
 *   server's sourced_metadata rule would read as {} and be refused as "must set one of …,
 *   sourced_metadata", naming the very field sent.
 */
const REFUSE_UNKNOWN_FIELDS = new Set([
  "envoy.type.tracing.v3.CustomTag",
  "envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig",
  "envoy.config.rbac.v3.Permission",
  "envoy.config.rbac.v3.Principal",
]);

function decodeMessage(fields: Map<number, WireField>, bytes: Uint8Array, depth: number, name: string): Record<string, Json> {
  if (depth > MAX_DEPTH) throw new ProtoDecodeError("message nested too deeply");
  const out: Record<string, Json> = {};
  const reader = new ProtoReader(bytes);
  while (reader.next()) {
    const field = fields.get(reader.field);
    if (field === undefined) {
      if (REFUSE_UNKNOWN_FIELDS.has(name)) throw new ProtoDecodeError(`${name}: field ${reader.field} is not one polyvoy knows (a newer Envoy API than its tables: ${WIRE_PROTOS_SOURCE} and the fields scripts/gen-envoy-wire.mjs adds)`);
      // An unknown field (a newer Envoy API than the tables'): skipped, as protobuf parsers do.
      reader.skip();
      continue;
    }
    if (field.mapKey !== undefined) {
      const entry = new ProtoReader(reader.lengthDelimited());
      let key: Json = defaultScalar(field.mapKey);
      let value: Json | undefined;
      while (entry.next()) {
        if (entry.field === 1) key = readScalar(entry, field.mapKey);
        else if (entry.field === 2) value = readValue(entry, field.kind, depth);
        else entry.skip();
      }
      const map = (out[field.name] ??= {}) as Record<string, Json>;
      setOwn(map, String(key), value ?? defaultValue(field.kind));
      continue;
    }
    if (field.repeated) {
      const list = (out[field.name] ??= []) as Json[];
      if (reader.wire === WireType.Len && isPackable(field.kind)) {
        const packed = new ProtoReader(reader.lengthDelimited());
        while (!packed.atEnd()) list.push(readPacked(packed, field.kind));
      } else {
        list.push(readValue(reader, field.kind, depth));
      }
      continue;
    }
    out[field.name] = readValue(reader, field.kind, depth);
  }
  return out;
}

function readValue(reader: ProtoReader, kind: string, depth: number): Json {
  const first = kind.charCodeAt(0);
  // "mN" / "eN": a message or an enum of the tables.
  if ((first === 109 || first === 101) && kind.length > 1 && kind.charCodeAt(1) <= 57) {
    const name = indexToName[Number(kind.slice(1))]!;
    if (first === 101) {
      const number = reader.int32();
      return tables().enums.get(name)?.get(number) ?? number;
    }
    return decodeMessage(tables().messages.get(name)!, reader.lengthDelimited(), depth + 1, name);
  }
  if (kind in WELL_KNOWN) return WELL_KNOWN[kind]!(reader.lengthDelimited(), depth + 1);
  return readScalar(reader, kind);
}

function readScalar(reader: ProtoReader, kind: string): Json {
  switch (kind) {
    case "s":
      return utf8Decode(reader.lengthDelimited());
    case "y":
      return base64Encode(reader.lengthDelimited());
    case "b":
      return reader.bool();
    case "i32":
      return reader.int32();
    case "u32":
      return reader.uint32();
    case "si32":
      return zigzag32(reader);
    case "i64":
      return int64Json(BigInt.asIntN(64, varint(reader)));
    case "u64":
      return int64Json(varint(reader));
    case "si64": {
      const v = varint(reader);
      return int64Json((v >> 1n) ^ -(v & 1n));
    }
    case "d":
      return finite(reader.fixed64View().getFloat64(0, true));
    case "f":
      return finite(reader.fixed32View().getFloat32(0, true));
    case "x32":
      return reader.fixed32View().getUint32(0, true);
    case "sx32":
      return reader.fixed32View().getInt32(0, true);
    case "x64":
      return int64Json(reader.fixed64View().getBigUint64(0, true));
    case "sx64":
      return int64Json(reader.fixed64View().getBigInt64(0, true));
    default:
      throw new ProtoDecodeError(`unknown field kind ${kind}`);
  }
}

/** One element of a packed repeated field (numbers, bools and enums pack). */
function readPacked(reader: ProtoReader, kind: string): Json {
  switch (kind) {
    case "d":
      return finite(reader.rawView(8).getFloat64(0, true));
    case "f":
      return finite(reader.rawView(4).getFloat32(0, true));
    case "x32":
      return reader.rawView(4).getUint32(0, true);
    case "sx32":
      return reader.rawView(4).getInt32(0, true);
    case "x64":
      return int64Json(reader.rawView(8).getBigUint64(0, true));
    case "sx64":
      return int64Json(reader.rawView(8).getBigInt64(0, true));
  }
  const v = reader.varint64();
  switch (kind) {
    case "b":
      return v !== 0n;
    case "i32":
      return Number(BigInt.asIntN(32, v));
    case "u32":
      return Number(BigInt.asUintN(32, v));
    case "si32": {
      const u = Number(BigInt.asUintN(32, v));
      return (u >>> 1) ^ -(u & 1);
    }
    case "i64":
      return int64Json(BigInt.asIntN(64, v));
    case "u64":
      return int64Json(v);
    case "si64":
      return int64Json((v >> 1n) ^ -(v & 1n));
  }
  // An enum.
  const number = Number(BigInt.asIntN(32, v));
  return tables().enums.get(indexToName[Number(kind.slice(1))]!)?.get(number) ?? number;
}

function isPackable(kind: string): boolean {
  return kind !== "s" && kind !== "y" && !(kind.startsWith("m") && kind.length > 1 && kind.charCodeAt(1) <= 57) && !(kind in WELL_KNOWN);
}

function varint(reader: ProtoReader): bigint {
  if (reader.wire !== WireType.Varint) throw new ProtoDecodeError(`field ${reader.field}: wire type ${reader.wire}, expected 0`);
  return reader.varint64();
}

function zigzag32(reader: ProtoReader): number {
  const u = Number(BigInt.asUintN(32, varint(reader)));
  return (u >>> 1) ^ -(u & 1);
}

function int64Json(v: bigint): number | string {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

/** proto3 JSON writes NaN and the infinities as strings. */
function finite(n: number): number | string {
  return Number.isFinite(n) ? n : Number.isNaN(n) ? "NaN" : n > 0 ? "Infinity" : "-Infinity";
}

function defaultScalar(kind: string): Json {
  return kind === "s" ? "" : kind === "b" ? false : 0;
}

function defaultValue(kind: string): Json {
  if (kind.startsWith("m") && kind.length > 1 && kind.charCodeAt(1) <= 57) return {};
  if (kind.startsWith("e") && kind.length > 1 && kind.charCodeAt(1) <= 57) return tables().enums.get(indexToName[Number(kind.slice(1))]!)?.get(0) ?? 0;
  if (kind in WELL_KNOWN) return WELL_KNOWN[kind]!(new Uint8Array(0), 0);
  return defaultScalar(kind);
}

/** Reads field 1 (and 2) of a small well-known message. */
function wrapped(bytes: Uint8Array, kind: string): Json {
  const reader = new ProtoReader(bytes);
  let value: Json = defaultScalar(kind === "y" ? "s" : kind);
  while (reader.next()) {
    if (reader.field === 1) value = readScalar(reader, kind);
    else reader.skip();
  }
  return value;
}

function durationJson(bytes: Uint8Array): string {
  const reader = new ProtoReader(bytes);
  let seconds = 0n;
  let nanos = 0;
  while (reader.next()) {
    if (reader.field === 1) seconds = BigInt.asIntN(64, varint(reader));
    else if (reader.field === 2) nanos = reader.int32();
    else reader.skip();
  }
  const negative = seconds < 0n || nanos < 0;
  const s = (seconds < 0n ? -seconds : seconds).toString();
  const n = Math.abs(nanos);
  const fraction = n === 0 ? "" : `.${String(n).padStart(9, "0").replace(/0+$/, "")}`;
  return `${negative ? "-" : ""}${s}${fraction}s`;
}

function timestampJson(bytes: Uint8Array): string {
  const reader = new ProtoReader(bytes);
  let seconds = 0;
  let nanos = 0;
  while (reader.next()) {
    if (reader.field === 1) seconds = Number(BigInt.asIntN(64, varint(reader)));
    else if (reader.field === 2) nanos = reader.int32();
    else reader.skip();
  }
  const iso = isoTimestamp(seconds * 1000).slice(0, 19);
  const fraction = nanos === 0 ? "" : `.${String(nanos).padStart(9, "0").replace(/0+$/, "")}`;
  return `${iso}${fraction}Z`;
}

/** A key from the wire as an own property, `__proto__` too (a plain assignment would set the prototype), as JSON.parse does. */
function setOwn(target: Record<string, Json>, key: string, value: Json): void {
  if (key === "__proto__") Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/** google.protobuf.Any: type_url 1, value 2. */
function decodeAny(bytes: Uint8Array, depth: number): Record<string, Json> {
  if (depth > MAX_DEPTH) throw new ProtoDecodeError("message nested too deeply");
  const reader = new ProtoReader(bytes);
  let typeUrl = "";
  let value: Uint8Array = new Uint8Array(0);
  while (reader.next()) {
    if (reader.field === 1) typeUrl = utf8Decode(reader.lengthDelimited());
    else if (reader.field === 2) value = reader.lengthDelimited();
    else reader.skip();
  }
  const name = typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
  const fields = tables().messages.get(name);
  if (fields !== undefined) return { "@type": typeUrl, ...decodeMessage(fields, value, depth + 1, name) };
  const short = name.startsWith("google.protobuf.") ? name.slice("google.protobuf.".length) : "";
  // A well-known type in an Any is {"@type", "value": its JSON} (proto3 JSON's rule).
  if (short !== "" && short !== "Any" && short in WELL_KNOWN) return { "@type": typeUrl, value: WELL_KNOWN[short]!(value, depth + 1) };
  return { "@type": typeUrl, value: base64Encode(value) };
}

const WELL_KNOWN: Readonly<Record<string, (bytes: Uint8Array, depth: number) => Json>> = {
  Any: (bytes, depth) => decodeAny(bytes, depth),
  // Struct, Value and ListValue hold plain JSON values by construction.
  Struct: (bytes, depth) => decodeStruct(bytes, depth) as Json,
  Value: (bytes, depth) => decodeValue(bytes, depth) as Json,
  ListValue: (bytes, depth) => decodeList(bytes, depth) as Json,
  Duration: (bytes) => durationJson(bytes),
  Timestamp: (bytes) => timestampJson(bytes),
  FieldMask: (bytes) => {
    const reader = new ProtoReader(bytes);
    const paths: string[] = [];
    while (reader.next()) {
      if (reader.field === 1) paths.push(utf8Decode(reader.lengthDelimited()));
      else reader.skip();
    }
    return paths.join(",");
  },
  Empty: () => ({}),
  BoolValue: (bytes) => wrapped(bytes, "b"),
  BytesValue: (bytes) => wrapped(bytes, "y"),
  DoubleValue: (bytes) => wrapped(bytes, "d"),
  FloatValue: (bytes) => wrapped(bytes, "f"),
  Int32Value: (bytes) => wrapped(bytes, "i32"),
  Int64Value: (bytes) => wrapped(bytes, "i64"),
  StringValue: (bytes) => wrapped(bytes, "s"),
  UInt32Value: (bytes) => wrapped(bytes, "u32"),
  UInt64Value: (bytes) => wrapped(bytes, "u64"),
};
