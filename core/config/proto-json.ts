/**
 * The config tree read as protobuf's JSON parser reads it for Envoy
 * (source/common/protobuf/yaml_utility.cc, MessageUtil::loadFromJson), walking Envoy's own
 * message types (envoy-messages.ts) from the Bootstrap down:
 * - each field by its proto name (`port_value`) or its JSON name (`portValue`);
 * - enum names in any case (`case_insensitive_enum_parsing`: `round_robin` is ROUND_ROBIN);
 * - an `Any` holding a `TypedStruct` ({type_url, value}) read as the message it names
 *   (Envoy's Config::Utility::translateOpaqueConfig);
 * - map and Struct keys are the user's own and kept as written;
 * - a repeated field given one value instead of a list holds that one value, as protobuf's
 *   JSON parser reads it in the legacy mode Envoy uses ("The original ESF parser permits a
 *   single element in place of an array thereof", json/internal/parser.cc). Envoy's own
 *   tls and double-proxy examples write `tls_certificates:` so;
 * - a number given as a string (`port_value: "8080"`, `max_requests: "1e3"`): protobuf's JSON
 *   mapping takes "a number or a string" for every integer, float and double field, and for
 *   floats and doubles "NaN", "Infinity" and "-Infinity"
 *   (https://protobuf.dev/programming-guides/json/). A string that is no number of the field's
 *   kind (or out of its range) is left as written, for the schema to refuse naming the field;
 * - a field given as null is a field not given (the proto3 JSON mapping: "null is an accepted
 *   value for all field types and treated as the default value"), but for a
 *   google.protobuf.Value, where null is a value. Envoy's tls-inspector example writes an
 *   empty `filter_chain_match:` so.
 * The result keeps, for each object, the Envoy message it is (`messageAt`), so a refused
 * key can be told apart: an Envoy field polyvoy lacks, or no field at all.
 */
import { ANY, BOOTSTRAP, envoyEnumValues, type NumberKind, envoyMessage, isFreeForm, isTypedStruct, messageOfExtensionName, typeNameOfUrl } from "./envoy-messages.ts";
import { ConfigError, problemAt, type ConfigPath } from "./errors.ts";

export interface ProtoTree {
  /** The tree with snake_case keys, enum names in upper case and TypedStructs unwrapped. */
  readonly tree: unknown;
  /** The Envoy message each object of `tree` is, where known. */
  readonly messages: WeakMap<object, string>;
}

/** Fields holding maps keyed by user-chosen names, where the message type is not known. */
const USER_KEYED_MAPS = new Set(["json_format", "typed_json_format"]);
/** Maps of messages keyed by user-chosen names (jwt_authn's), where the message type is not known: keys kept, values walked. */
const USER_KEYED_MESSAGE_MAPS = new Set(["providers", "requirement_map"]);

export function readProtoTree(value: unknown, problems: string[], messages = new WeakMap<object, string>()): ProtoTree {
  const tree = walk(value, BOOTSTRAP, undefined, problems, messages, undefined);
  return { tree, messages };
}

/** readProtoTree for a value that is a `type` (a message's full name, or google.protobuf.Any) rather than a Bootstrap. */
export function readProtoTreeAs(value: unknown, type: string, problems: string[]): ProtoTree {
  const messages = new WeakMap<object, string>();
  const tree = walk(value, type, undefined, problems, messages, undefined);
  return { tree, messages };
}

/** The object at `path` in the tree, if there is one. */
export function valueAt(tree: unknown, path: ConfigPath): unknown {
  let value = tree;
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key as string];
  }
  return value;
}

/**
 * Where a value is in the document: its key under its parent's place (undefined: the root).
 * Made into a ConfigPath only for a problem: a path array per value walked, copied from its
 * parent's, cost a large config's read more than the rest of it.
 */
interface Place {
  readonly parent: Place | undefined;
  readonly key: string | number;
  /** How many places are above this one (the root's children: 0). */
  readonly depth: number;
}

/**
 * How deep a document may nest, counting fields and list items: protobuf stops at 100
 * nested messages (its parsers' default recursion limit), and a message with a repeated
 * field is two places here, so 200 admits whatever protobuf does. Deeper, the checker's
 * recursion would end in a stack overflow rather than a problem line.
 */
const MAX_NESTING = 200;

function placeUnder(parent: Place | undefined, key: string | number): Place {
  const depth = parent === undefined ? 0 : parent.depth + 1;
  if (depth > MAX_NESTING) throw new ConfigError([problemAt(pathOf(parent), `nested deeper than ${MAX_NESTING} levels (fields and list items; protobuf's parsers stop at 100 nested messages)`)]);
  return { parent, key, depth };
}

function pathOf(place: Place | undefined): ConfigPath {
  const path: (string | number)[] = [];
  for (let at = place; at !== undefined; at = at.parent) path.push(at.key);
  return path.reverse();
}

/**
 * Sets `key` as an own enumerable property. Assigned, but for a "__proto__" key: assigned,
 * it would set the object's prototype, hiding its fields from the strict schema's
 * unknown-key check while lookups still find them.
 */
function setOwn(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

/**
 * Walk `value` as a `type` (a message or enum full name; undefined when not known).
 * `parent` is the object holding it, which names the extension of a typed_config given
 * without "@type".
 */
function walk(value: unknown, type: string | undefined, place: Place | undefined, problems: string[], messages: WeakMap<object, string>, parent: unknown): unknown {
  if (Array.isArray(value)) return value.map((item, i) => walk(item, type, placeUnder(place, i), problems, messages, parent));
  if (typeof value === "string" && type !== undefined) return enumName(value, type);
  if (typeof value !== "object" || value === null) return value;
  if (type !== undefined && isFreeForm(type)) return value;

  let object = value as Record<string, unknown>;
  let messageType = type;
  if (type === ANY) {
    object = unwrapTypedStruct(object);
    const typeUrl = object["@type"];
    messageType = typeof typeUrl === "string" ? typeNameOfUrl(typeUrl) : messageOfExtensionName(field(parent, "name"));
  }
  const message = messageType === undefined ? undefined : envoyMessage(messageType);

  const out: Record<string, unknown> = {};
  // The first key spelling each field name: needed only once a key is not its name (a
  // camelCase one), as a field given twice is given under two spellings, one of them that.
  let givenAs: Map<string, string> | undefined;
  for (const key of Object.keys(object)) {
    const child = object[key];
    const name = fieldName(key);
    if (name !== key) givenAs ??= firstSpellings(object);
    const earlier = givenAs?.get(name);
    if (earlier !== undefined && earlier !== key) {
      problems.push(problemAt([...pathOf(place), name], `field given twice, as "${earlier}" and "${key}"`));
      continue;
    }
    const fieldOf = message?.fields.get(name);
    if (child === null && fieldOf !== undefined && fieldOf.type !== "google.protobuf.Value") continue;
    const at = placeUnder(place, name);
    let read: unknown;
    if (fieldOf?.number !== undefined) read = readNumbers(child, fieldOf.number, fieldOf.map, fieldOf.repeated);
    else if (fieldOf?.map) read = walkMap(child, fieldOf.type, at, problems, messages);
    else if (fieldOf?.repeated && child !== null && !Array.isArray(child)) read = [walk(child, fieldOf.type, placeUnder(at, 0), problems, messages, object)];
    else if (message === undefined && USER_KEYED_MAPS.has(name)) read = child;
    else if (message === undefined && USER_KEYED_MESSAGE_MAPS.has(name)) read = walkMap(child, undefined, at, problems, messages);
    else read = walk(child, fieldOf?.type, at, problems, messages, object);
    setOwn(out, name, read);
  }
  if (message !== undefined) messages.set(out, message.name);
  return out;
}

/** A key as its field's proto name: a JSON name (`portValue`) in snake_case (`port_value`). */
function fieldName(key: string): string {
  return /^[a-z][a-zA-Z0-9]*$/.test(key) ? key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : key;
}

/** For each field name the object's keys spell, the first key (in the object's order) that does. */
function firstSpellings(object: Record<string, unknown>): Map<string, string> {
  const first = new Map<string, string>();
  for (const key of Object.keys(object)) {
    const name = fieldName(key);
    if (!first.has(name)) first.set(name, key);
  }
  return first;
}

/** A map field: its keys kept as written, its values walked as `type`. */
function walkMap(value: unknown, type: string | undefined, place: Place, problems: string[], messages: WeakMap<object, string>): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    setOwn(out, key, walk((value as Record<string, unknown>)[key], type, placeUnder(place, key), problems, messages, undefined));
  }
  return out;
}

/** A numeric field's value (a map's values, a list's items), each string that is a number of `kind` read as that number. */
function readNumbers(value: unknown, kind: NumberKind, map: boolean, repeated: boolean): unknown {
  if (map) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) setOwn(out, key, quotedNumber((value as Record<string, unknown>)[key], kind));
    return out;
  }
  if (Array.isArray(value)) return value.map((item) => quotedNumber(item, kind));
  return repeated ? [quotedNumber(value, kind)] : quotedNumber(value, kind);
}

/** A JSON number's text: what protobuf's JSON parser reads in a string too (exponents included). */
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const INTEGER_RANGES: Readonly<Record<Exclude<NumberKind, "double">, readonly [bigint, bigint]>> = {
  int32: [BigInt("-2147483648"), BigInt("2147483647")],
  uint32: [BigInt(0), BigInt("4294967295")],
  int64: [BigInt("-9223372036854775808"), BigInt("9223372036854775807")],
  uint64: [BigInt(0), BigInt("18446744073709551615")],
};

/** `value` read as protobuf's JSON parser reads a string for a number of `kind`; anything else unchanged. */
export function quotedNumber(value: unknown, kind: NumberKind): unknown {
  if (typeof value !== "string") return value;
  if (kind === "double") {
    if (value === "NaN") return Number.NaN;
    if (value === "Infinity") return Number.POSITIVE_INFINITY;
    if (value === "-Infinity") return Number.NEGATIVE_INFINITY;
    return JSON_NUMBER.test(value) ? Number(value) : value;
  }
  const [min, max] = INTEGER_RANGES[kind];
  if (/^-?\d+$/.test(value)) {
    const exact = BigInt(value);
    return exact >= min && exact <= max ? Number(value) : value;
  }
  if (!JSON_NUMBER.test(value)) return value;
  // "1e3", "80.0": an integer written as a float, as the parser takes it.
  const number = Number(value);
  return Number.isInteger(number) && number >= Number(min) && number <= Number(max) ? number : value;
}

/**
 * protobuf's case_insensitive_enum_parsing: a name that is not an enum value as written is
 * tried in upper case. Anything else (not an enum, no such value) is left for the schema.
 */
function enumName(value: string, type: string): string {
  const values = envoyEnumValues(type);
  if (values === undefined || values.includes(value)) return value;
  const upper = value.toUpperCase();
  return values.includes(upper) ? upper : value;
}

/**
 * `{"@type": ".../xds.type.v3.TypedStruct", type_url, value}` → `{"@type": type_url, ...value}`,
 * the message it stands for in the form every other typed_config has.
 */
function unwrapTypedStruct(any: Record<string, unknown>): Record<string, unknown> {
  const typeUrl = any["@type"];
  if (typeof typeUrl !== "string" || !isTypedStruct(typeNameOfUrl(typeUrl))) return any;
  const inner = any["type_url"] ?? any["typeUrl"];
  if (typeof inner !== "string") return any;
  const value = any["value"];
  const fields = typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  // Anything else beside type_url and value stays, for the schema to refuse.
  const { "@type": _, type_url: _u, typeUrl: _c, value: _v, ...rest } = any;
  return { ...rest, "@type": inner, ...fields };
}

function field(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
}
