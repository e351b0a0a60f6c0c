/**
 * Envoy's own messages and enums, as read from its .proto files (envoy-fields.ts, generated):
 * which fields a message has and of what type, and which names an enum has. The loader
 * uses them to read a config as Envoy's does (enum names in any case, TypedStruct) and to
 * say of a key the schema refuses whether Envoy has it (polyvoy does not support it yet)
 * or not (a typo).
 */
import { ENVOY_ENUM_VALUES, ENVOY_MESSAGE_FIELDS, ENVOY_MESSAGE_ONEOFS, ENVOY_TYPE_NAMES } from "./envoy-fields.ts";

export const BOOTSTRAP = "envoy.config.bootstrap.v3.Bootstrap";
export const ANY = "google.protobuf.Any";
/** Messages whose JSON form is free-form (keys are the user's own): not walked. */
const FREE_FORM = new Set(["google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"]);
/** The two TypedStruct messages an `Any` may hold instead of the message itself (Envoy's translateOpaqueConfig). */
const TYPED_STRUCTS = new Set(["xds.type.v3.TypedStruct", "udpa.type.v1.TypedStruct"]);

export interface EnvoyField {
  readonly name: string;
  /** The full name of its message or enum type; undefined for scalars and well-known one-value types. */
  readonly type: string | undefined;
  /** A map field: its keys are the user's, its values of `type`. */
  readonly map: boolean;
  /** A repeated field (a list in JSON). */
  readonly repeated: boolean;
  /** A member of a oneof: every member of its group, itself included. */
  readonly oneof: readonly string[] | undefined;
  /** A number (a numeric scalar or its wrapper; for a map, its values): which kind. */
  readonly number?: NumberKind;
}

/** int32, uint32, int64, uint64, or float/double: what a quoted number is read as. */
export type NumberKind = "int32" | "uint32" | "int64" | "uint64" | "double";
const NUMBER_KINDS: Readonly<Record<string, NumberKind>> = { i: "int32", u: "uint32", I: "int64", U: "uint64", f: "double" };

export interface EnvoyMessage {
  readonly name: string;
  readonly fields: ReadonlyMap<string, EnvoyField>;
}

let indexByName: Map<string, number> | undefined;
const messages = new Map<string, EnvoyMessage | null>();

function indexOf(name: string): number | undefined {
  indexByName ??= new Map(ENVOY_TYPE_NAMES.map((each, i) => [each, i]));
  return indexByName.get(name);
}

/** The message by full name (e.g. "envoy.config.cluster.v3.Cluster"), if the config can reach it. */
export function envoyMessage(name: string): EnvoyMessage | undefined {
  const cached = messages.get(name);
  if (cached !== undefined) return cached ?? undefined;
  const index = indexOf(name);
  const spec = index === undefined ? undefined : ENVOY_MESSAGE_FIELDS[index];
  if (spec === undefined) {
    messages.set(name, null);
    return undefined;
  }
  const groupOf = new Map<string, readonly string[]>();
  for (const group of ENVOY_MESSAGE_ONEOFS[index!]?.split("|") ?? []) {
    const members = group.split(" ");
    for (const member of members) groupOf.set(member, members);
  }
  const fields = new Map<string, EnvoyField>();
  for (const each of spec.split(" ")) {
    if (each === "") continue;
    const match = /^([A-Za-z0-9_]+)(\[\])?(?:([={])(\d*))?(?:#([iuIUf]))?$/.exec(each)!;
    const type = match[4] ? ENVOY_TYPE_NAMES[Number(match[4])] : undefined;
    const number = match[5] ? NUMBER_KINDS[match[5]] : undefined;
    fields.set(match[1]!, { name: match[1]!, type, map: match[3] === "{", repeated: match[2] !== undefined, oneof: groupOf.get(match[1]!), ...(number ? { number } : {}) });
  }
  const message = { name, fields };
  messages.set(name, message);
  return message;
}

/** An enum's value names, by the enum's full name; undefined when `name` is no enum. */
export function envoyEnumValues(name: string): readonly string[] | undefined {
  const index = indexOf(name);
  const values = index === undefined ? undefined : ENVOY_ENUM_VALUES[index];
  return values === undefined ? undefined : values.split(" ");
}

export function isFreeForm(type: string): boolean {
  return FREE_FORM.has(type);
}

export function isTypedStruct(type: string): boolean {
  return TYPED_STRUCTS.has(type);
}

/** "type.googleapis.com/envoy.config.cluster.v3.Cluster" → "envoy.config.cluster.v3.Cluster" (an Any's type is named after the last "/"). */
export function typeNameOfUrl(url: string): string {
  return url.slice(url.lastIndexOf("/") + 1);
}

/**
 * The message of a typed_config given without "@type" (polyvoy then goes by the
 * extension's name, Envoy's canonical one or a deprecated alias).
 */
const MESSAGE_BY_EXTENSION_NAME: Readonly<Record<string, string>> = {
  "envoy.filters.network.http_connection_manager": "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  "envoy.http_connection_manager": "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  "envoy.filters.network.tcp_proxy": "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
  "envoy.tcp_proxy": "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
  "envoy.filters.network.connection_limit": "envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit",
  "envoy.filters.http.router": "envoy.extensions.filters.http.router.v3.Router",
  "envoy.router": "envoy.extensions.filters.http.router.v3.Router",
  "envoy.access_loggers.file": "envoy.extensions.access_loggers.file.v3.FileAccessLog",
  "envoy.file_access_log": "envoy.extensions.access_loggers.file.v3.FileAccessLog",
  "envoy.access_loggers.stdout": "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
  "envoy.access_loggers.stderr": "envoy.extensions.access_loggers.stream.v3.StderrAccessLog",
  "envoy.access_loggers.http_grpc": "envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig",
  "envoy.access_loggers.tcp_grpc": "envoy.extensions.access_loggers.grpc.v3.TcpGrpcAccessLogConfig",
};

export function messageOfExtensionName(name: unknown): string | undefined {
  return typeof name === "string" ? MESSAGE_BY_EXTENSION_NAME[name] : undefined;
}
