#!/usr/bin/env node
// Writes core/config/xds/envoy-wire-types.ts: field numbers and wire types of the Envoy v3
// messages an xDS management server sends polyvoy as google.protobuf.Any (Listener,
// Cluster, RouteConfiguration, ClusterLoadAssignment, and every extension message a
// typed_config of theirs can hold that core/ names by type URL), plus the discovery
// messages themselves, read from Envoy's own .proto files as the pinned
// `@grpc/grpc-js-xds` devDependency ships them. core/config/xds/proto-to-json.ts turns
// binary messages into proto3 JSON with it, so the config schemas check them.
// Run after changing that package's version or naming a new extension type in core/:
//   node scripts/gen-envoy-wire.mjs
// test/unit/config/xds/envoy-wire-types.test.ts fails while the output and the protos differ.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const root = join(import.meta.dirname ?? fileURLToPath(new URL(".", import.meta.url)), "..");
const xds = join(root, "node_modules/@grpc/grpc-js-xds");
const INCLUDE = ["deps/envoy-api", "deps/xds", "deps/protoc-gen-validate", "deps/googleapis"].map((dir) => join(xds, dir));
// opentelemetry/proto/common/v1/common.proto, which the package does not ship (scripts/protos/).
INCLUDE.push(join(root, "scripts/protos"));

export const OUTPUT = join(root, "core/config/xds/envoy-wire-types.ts");

/** The discovery protocol's own messages. */
const DISCOVERY = [
  "envoy.service.discovery.v3.DiscoveryRequest",
  "envoy.service.discovery.v3.DiscoveryResponse",
  "envoy.service.discovery.v3.DeltaDiscoveryRequest",
  "envoy.service.discovery.v3.DeltaDiscoveryResponse",
];

/** Well-known types proto-to-json.ts reads by hand (their JSON is not their fields'). */
const WELL_KNOWN = new Set([
  "google.protobuf.Any",
  "google.protobuf.Struct",
  "google.protobuf.Value",
  "google.protobuf.ListValue",
  "google.protobuf.Duration",
  "google.protobuf.Timestamp",
  "google.protobuf.FieldMask",
  "google.protobuf.Empty",
  "google.protobuf.BoolValue",
  "google.protobuf.BytesValue",
  "google.protobuf.DoubleValue",
  "google.protobuf.FloatValue",
  "google.protobuf.Int32Value",
  "google.protobuf.Int64Value",
  "google.protobuf.StringValue",
  "google.protobuf.UInt32Value",
  "google.protobuf.UInt64Value",
]);

/** A scalar's code in the table. */
const SCALAR = {
  double: "d", float: "f", int64: "i64", uint64: "u64", int32: "i32", fixed64: "x64", fixed32: "x32", bool: "b",
  string: "s", bytes: "y", uint32: "u32", sfixed32: "sx32", sfixed64: "sx64", sint32: "si32", sint64: "si64",
};

/**
 * Fields newer than the pinned protos that polyvoy's schemas take by name, added to their
 * message so a management server's binary proto carries them (unknown fields are skipped).
 *
 * envoy.type.tracing.v3.CustomTag.value (the formatter tag, Envoy's FormatterCustomTag):
 * field 6. Envoy's api/envoy/type/tracing/v3/custom_tag.proto with `value` marks
 * `[#next-free-field: 7]` with value the only field beside tag (1) and literal, environment,
 * request_header, metadata (2-5), as the v1.37 docs list them; so 6. (One stored copy of that
 * file has an unreleased `Header response_header = 6` instead of `value`: no released
 * Envoy has it, and the docs of those that have `value` show no response_header.)
 */
const NEWER_FIELDS = [
  { message: "envoy.type.tracing.v3.CustomTag", name: "value", id: 6, type: "string", oneof: "type" },
  // The network RBAC filter's delay_deny (envoyproxy/envoy#33875, Envoy 1.31): field 8, the
  // proto's next-free-field going from 8 to 9 with it.
  { message: "envoy.extensions.filters.network.rbac.v3.RBAC", name: "delay_deny", id: 8, type: ".google.protobuf.Duration" },
];

/**
 * Messages newer than the pinned protos that polyvoy's schemas take by type URL, added to the
 * tables so a management server's Any of one decodes (an Any of a message not in the tables
 * stays {"@type", "value"}, which the schemas refuse). Each is given with its fields as
 * NEWER_FIELDS gives them; all so far are empty.
 *
 * envoy.type.matcher.v3.HttpResponseLocalReplyMatchInput: custom_response's local-reply
 * input, Envoy 1.38's api/envoy/type/matcher/v3/status_code_input.proto (envoyproxy/envoy#43838),
 * a message with no fields.
 */
const NEWER_MESSAGES = [
  { name: "envoy.type.matcher.v3.HttpResponseLocalReplyMatchInput", fields: [] },
];

/** The .proto file (under deps/envoy-api) that defines top-level message `name`, if any. */
function fileOf(name) {
  const parts = name.split(".");
  const dir = parts.slice(0, -1).join("/");
  const path = join(xds, "deps/envoy-api", dir);
  if (!existsSync(path)) return undefined;
  const pattern = new RegExp(`^message ${parts.at(-1)} \\{`, "m");
  for (const entry of readdirSync(path).sort()) if (entry.endsWith(".proto") && pattern.test(readFileSync(join(path, entry), "utf8"))) return `${dir}/${entry}`;
  return undefined;
}

/** Every type URL core/ names: the extensions polyvoy knows. */
function typeUrlsInCore() {
  const names = new Set();
  const walk = (dir) => {
    for (const entry of readdirSync(dir).sort()) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (entry.endsWith(".ts")) for (const m of readFileSync(path, "utf8").matchAll(/type\.googleapis\.com\/([A-Za-z0-9_.]+[A-Za-z0-9_])/g)) names.add(m[1]);
    }
  };
  walk(join(root, "core"));
  return [...names].sort();
}

/** The module's text. */
export function generate() {
  const loaderRequire = createRequire(require.resolve("@grpc/proto-loader", { paths: [xds] }));
  const protobuf = loaderRequire("protobufjs");
  const protobufDir = join(loaderRequire.resolve("protobufjs/package.json"), "..");
  const pkg = JSON.parse(readFileSync(join(xds, "package.json"), "utf8"));
  const rootNs = new protobuf.Root();
  rootNs.resolvePath = (_origin, target) => {
    for (const dir of [...INCLUDE, protobufDir]) {
      const path = join(dir, target);
      if (existsSync(path)) return path;
    }
    return target;
  };
  const wanted = [...DISCOVERY, ...typeUrlsInCore()];
  const files = [...new Set(wanted.map(fileOf).filter((file) => file !== undefined))];
  rootNs.loadSync(files, { keepCase: true, alternateCommentMode: false });
  const added = [];
  for (const extra of NEWER_FIELDS) {
    const type = rootNs.lookup(extra.message);
    if (!(type instanceof protobuf.Type)) continue;
    if (type.fieldsById[extra.id] !== undefined) throw new Error(`${extra.message} already has field ${extra.id}: drop it from NEWER_FIELDS`);
    const field = new protobuf.Field(extra.name, extra.id, extra.type);
    type.add(field);
    type.oneofs?.[extra.oneof]?.add(field);
    added.push(field);
  }
  for (const extra of NEWER_MESSAGES) {
    if (rootNs.lookup(extra.name) !== null) throw new Error(`${extra.name} is in the pinned protos: drop it from NEWER_MESSAGES`);
    const dot = extra.name.lastIndexOf(".");
    const type = new protobuf.Type(extra.name.slice(dot + 1));
    for (const field of extra.fields) type.add(new protobuf.Field(field.name, field.id, field.type));
    rootNs.define(extra.name.slice(0, dot)).add(type);
  }
  rootNs.resolveAll();
  // A field of message type added to a message the loader already resolved is not resolved again by resolveAll.
  for (const field of added) field.resolve();

  const roots = wanted.filter((name) => rootNs.lookup(name) instanceof protobuf.Type);
  /** @type {Map<string, object>} */
  const types = new Map();
  const queue = roots.map((name) => rootNs.lookup(name));
  while (queue.length > 0) {
    const type = queue.shift();
    const name = type.fullName.slice(1);
    if (types.has(name) || WELL_KNOWN.has(name)) continue;
    types.set(name, type);
    if (!(type instanceof protobuf.Type)) continue;
    for (const field of type.fieldsArray) if (field.resolvedType) queue.push(field.resolvedType);
  }

  const names = [...types.keys()].sort();
  const index = new Map(names.map((name, i) => [name, i]));
  const kindOf = (field, typeName) => {
    if (SCALAR[typeName] !== undefined) return SCALAR[typeName];
    const target = field.resolvedType.fullName.slice(1);
    if (WELL_KNOWN.has(target)) return target.slice("google.protobuf.".length);
    return `${field.resolvedType instanceof protobuf.Enum ? "e" : "m"}${index.get(target)}`;
  };
  const messages = [];
  const enums = [];
  for (const name of names) {
    const type = types.get(name);
    if (type instanceof protobuf.Enum) {
      enums.push(`  ${index.get(name)}: ${JSON.stringify(Object.entries(type.values).map(([n, v]) => `${v}:${n}`).join(" "))},`);
      continue;
    }
    const fields = type.fieldsArray.map((field) => {
      const kind = kindOf(field, field.type);
      if (field.map) return `${field.id}:${field.name}{${SCALAR[field.keyType]},${kind}`;
      return `${field.id}:${field.name}${field.repeated ? "[]" : ""}:${kind}`;
    });
    messages.push(`  ${index.get(name)}: ${JSON.stringify(fields.join(" "))},`);
  }

  return `/**
 * The wire shape of the Envoy v3 messages an xDS management server sends: generated by
 * scripts/gen-envoy-wire.mjs from the .proto files in @grpc/grpc-js-xds@${pkg.version} (plus the
 * newer fields and messages its NEWER_FIELDS and NEWER_MESSAGES list). Do not edit.
 *
 * WIRE_TYPE_NAMES lists every message and enum by full name; the other tables are keyed
 * by an index into it. A message's entry lists its fields, space-separated:
 * \`number:name:kind\` or \`number:name[]:kind\` (repeated) or \`number:name{key,kind\` (a map).
 * A kind is a scalar (d f i64 u64 i32 x64 x32 b s y u32 sx32 sx64 si32 si64), \`mN\` or \`eN\`
 * (message or enum N), or a google.protobuf well-known type by its short name (Any,
 * Duration, UInt32Value, …). An enum's entry lists \`number:NAME\`.
 */
export const WIRE_PROTOS_SOURCE = "@grpc/grpc-js-xds@${pkg.version}";

export const WIRE_TYPE_NAMES: readonly string[] = [
${names.map((name) => `  ${JSON.stringify(name)},`).join("\n")}
];

export const WIRE_MESSAGE_FIELDS: { readonly [index: number]: string } = {
${messages.join("\n")}
};

export const WIRE_ENUM_VALUES: { readonly [index: number]: string } = {
${enums.join("\n")}
};
`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = generate();
  writeFileSync(OUTPUT, text);
  console.log(`wrote ${OUTPUT}: ${text.length} characters`);
}
