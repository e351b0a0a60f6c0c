#!/usr/bin/env node
// Writes core/config/envoy-fields.ts: the field names (and the message or enum type of each
// field) of every Envoy v3 message that a polyvoy config can reach, read from Envoy's own
// .proto files as the pinned `@grpc/grpc-js-xds` devDependency ships them (deps/envoy-api,
// deps/xds, deps/protoc-gen-validate, deps/googleapis). The config loader uses it to tell a
// field polyvoy does not support yet from a key that is no field at all, and to read enum
// names as Envoy does. Run after changing that package's version:
//   node scripts/gen-envoy-fields.mjs
// test/unit/config/envoy-fields.test.ts fails while the output and the protos differ.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const root = join(import.meta.dirname ?? fileURLToPath(new URL(".", import.meta.url)), "..");
const xds = join(root, "node_modules/@grpc/grpc-js-xds");
const INCLUDE = ["deps/envoy-api", "deps/xds", "deps/protoc-gen-validate", "deps/googleapis"].map((dir) => join(xds, dir));
// opentelemetry/proto/common/v1/common.proto, which the package does not ship (scripts/protos/).
INCLUDE.push(join(root, "scripts/protos"));

export const OUTPUT = join(root, "core/config/envoy-fields.ts");

/**
 * Where the config starts, and the messages an `Any` (typed_config) can hold for the
 * extensions polyvoy knows or is about to; everything they reach by field is included.
 * An `Any` is not followed: its message must be listed here.
 */
const ROOTS = [
  ["envoy/config/bootstrap/v3/bootstrap.proto", "envoy.config.bootstrap.v3.Bootstrap"],
  ["envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto", "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"],
  ["envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto", "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"],
  ["envoy/extensions/filters/network/connection_limit/v3/connection_limit.proto", "envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit"],
  ["envoy/extensions/filters/http/router/v3/router.proto", "envoy.extensions.filters.http.router.v3.Router"],
  ["envoy/extensions/upstreams/http/v3/http_protocol_options.proto", "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"],
  ["envoy/extensions/clusters/aggregate/v3/cluster.proto", "envoy.extensions.clusters.aggregate.v3.ClusterConfig"],
  ["envoy/extensions/clusters/dynamic_forward_proxy/v3/cluster.proto", "envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig"],
  ["envoy/extensions/filters/http/dynamic_forward_proxy/v3/dynamic_forward_proxy.proto", "envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig"],
  ["envoy/extensions/filters/http/dynamic_forward_proxy/v3/dynamic_forward_proxy.proto", "envoy.extensions.filters.http.dynamic_forward_proxy.v3.PerRouteConfig"],
  ["envoy/extensions/filters/network/sni_dynamic_forward_proxy/v3/sni_dynamic_forward_proxy.proto", "envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3.FilterConfig"],
  ["envoy/extensions/access_loggers/file/v3/file.proto", "envoy.extensions.access_loggers.file.v3.FileAccessLog"],
  ["envoy/extensions/access_loggers/stream/v3/stream.proto", "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"],
  ["envoy/extensions/access_loggers/stream/v3/stream.proto", "envoy.extensions.access_loggers.stream.v3.StderrAccessLog"],
  ["envoy/extensions/filters/http/cors/v3/cors.proto", "envoy.extensions.filters.http.cors.v3.Cors"],
  ["envoy/extensions/filters/http/cors/v3/cors.proto", "envoy.extensions.filters.http.cors.v3.CorsPolicy"],
  ["envoy/extensions/filters/http/fault/v3/fault.proto", "envoy.extensions.filters.http.fault.v3.HTTPFault"],
  ["envoy/extensions/filters/http/rbac/v3/rbac.proto", "envoy.extensions.filters.http.rbac.v3.RBAC"],
  ["envoy/extensions/filters/http/rbac/v3/rbac.proto", "envoy.extensions.filters.http.rbac.v3.RBACPerRoute"],
  ["envoy/extensions/transport_sockets/tls/v3/tls.proto", "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"],
  ["envoy/extensions/transport_sockets/tls/v3/tls.proto", "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"],
  ["xds/type/v3/typed_struct.proto", "xds.type.v3.TypedStruct"],
  ["udpa/type/v1/typed_struct.proto", "udpa.type.v1.TypedStruct"],
];

/**
 * The load-balancing policies lb-policy-schema.ts takes by type URL (written there as
 * `${EXTENSION}round_robin.v3.RoundRobin`, which the scan below does not see).
 */
const LB_POLICIES = ["round_robin.v3.RoundRobin", "least_request.v3.LeastRequest", "random.v3.Random", "ring_hash.v3.RingHash", "maglev.v3.Maglev", "client_side_weighted_round_robin.v3.ClientSideWeightedRoundRobin", "wrr_locality.v3.WrrLocality", "pick_first.v3.PickFirst"].map((name) => `envoy.extensions.load_balancing_policies.${name}`);

/**
 * Every message polyvoy takes in a typed_config (an `Any`): each type URL written in core/,
 * so that the loader reads every typed_config as Envoy's does (enum names in any case,
 * quoted numbers), not only those of ROOTS. A message Envoy's protos lack (polyvoy's own) is skipped.
 */
function typedConfigRoots() {
  const found = new Set(LB_POLICIES);
  const scan = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) scan(path);
      else if (entry.name.endsWith(".ts") && path !== OUTPUT) {
        for (const match of readFileSync(path, "utf8").matchAll(/type\.googleapis\.com\/((?:[a-z0-9_]+\.)+[A-Z][A-Za-z0-9_.]*)/g)) found.add(match[1]);
      }
    }
  };
  scan(join(root, "core"));
  const roots = [];
  for (const name of [...found].sort()) {
    const dir = name.split(".").filter((part) => /^[a-z0-9_]+$/.test(part)).join("/");
    for (const base of INCLUDE) {
      if (!existsSync(join(base, dir))) continue;
      // The file declaring the message (not every file of the package: some import protos not shipped).
      const message = name.split(".").find((part) => /^[A-Z]/.test(part));
      const file = readdirSync(join(base, dir)).sort().find((each) => each.endsWith(".proto") && new RegExp(`^message ${message} \\{`, "m").test(readFileSync(join(base, dir, each), "utf8")));
      if (file !== undefined) roots.push([`${dir}/${file}`, name]);
      break;
    }
  }
  return roots;
}

/** Well-known types the config reads as one JSON value (a number, a string), not as an object of fields. */
const JSON_SCALARS = new Set([
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
/**
 * The numeric scalars (and their wrappers), by the kind of number the loader reads a quoted
 * one as (protobuf's JSON mapping takes a number or a string for each): i int32, u uint32,
 * I int64, U uint64, f float or double.
 */
const NUMBER_KINDS = {
  int32: "i", sint32: "i", sfixed32: "i", "google.protobuf.Int32Value": "i",
  uint32: "u", fixed32: "u", "google.protobuf.UInt32Value": "u",
  int64: "I", sint64: "I", sfixed64: "I", "google.protobuf.Int64Value": "I",
  uint64: "U", fixed64: "U", "google.protobuf.UInt64Value": "U",
  float: "f", double: "f", "google.protobuf.FloatValue": "f", "google.protobuf.DoubleValue": "f",
};
/** Read by name in the loader: Any (its "@type" says the message), Struct and Value (user-keyed JSON). */
const OPAQUE = new Set(["google.protobuf.Any", "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"]);

/** The module's text. */
export function generate() {
  // protobufjs's parser, as the package's own loader (@grpc/proto-loader) depends on it.
  const loaderRequire = createRequire(require.resolve("@grpc/proto-loader", { paths: [xds] }));
  const protobuf = loaderRequire("protobufjs");
  // google/protobuf/descriptor.proto (for options) ships with protobufjs; the other
  // well-known types are built into it.
  const protobufDir = join(loaderRequire.resolve("protobufjs/package.json"), "..");
  const pkg = JSON.parse(readFileSync(join(xds, "package.json"), "utf8"));
  const rootNs = new protobuf.Root();
  rootNs.resolvePath = (_origin, target) => {
    for (const dir of [...INCLUDE, protobufDir]) {
      const path = join(dir, target);
      if (existsSync(path)) return path;
    }
    return target; // google/protobuf/*.proto: protobufjs carries the well-known types itself
  };
  const roots = [...ROOTS, ...typedConfigRoots()];
  rootNs.loadSync([...new Set(roots.map(([file]) => file))], { keepCase: true, alternateCommentMode: false });
  rootNs.resolveAll();

  /** @type {Map<string, object>} */
  const types = new Map(); // full name → protobufjs Type or Enum, in the order reached
  const queue = roots.map(([, name]) => rootNs.lookup(name)).filter((type) => type !== null);
  while (queue.length > 0) {
    const type = queue.shift();
    const name = type.fullName.slice(1);
    if (types.has(name)) continue;
    types.set(name, type);
    if (!(type instanceof protobuf.Type) || OPAQUE.has(name)) continue;
    for (const field of type.fieldsArray) {
      const target = field.resolvedType;
      if (target && !JSON_SCALARS.has(target.fullName.slice(1))) queue.push(target);
    }
  }

  const names = [...types.keys()].sort();
  const index = new Map(names.map((name, i) => [name, i]));
  const messages = [];
  const oneofs = [];
  const enums = [];
  for (const name of names) {
    const type = types.get(name);
    if (type instanceof protobuf.Enum) {
      enums.push(`  ${index.get(name)}: ${JSON.stringify(Object.keys(type.values).join(" "))},`);
      continue;
    }
    if (OPAQUE.has(name)) continue;
    const fields = type.fieldsArray.map((field) => {
      const target = field.resolvedType ? field.resolvedType.fullName.slice(1) : undefined;
      const ref = target !== undefined && !JSON_SCALARS.has(target) ? index.get(target) : undefined;
      const number = NUMBER_KINDS[target ?? field.type];
      if (field.map) return ref === undefined ? `${field.name}{${number ? `#${number}` : ""}` : `${field.name}{${ref}`;
      const name = field.repeated ? `${field.name}[]` : field.name;
      if (ref !== undefined) return `${name}=${ref}`;
      return number ? `${name}#${number}` : name;
    });
    messages.push(`  ${index.get(name)}: ${JSON.stringify(fields.join(" "))},`);
    // Real oneofs only: proto3 `optional` makes a one-member oneof named "_<field>".
    const groups = type.oneofsArray.filter((oneof) => !(oneof.name.startsWith("_") && oneof.fieldsArray.length === 1));
    if (groups.length > 0) oneofs.push(`  ${index.get(name)}: ${JSON.stringify(groups.map((oneof) => oneof.fieldsArray.map((field) => field.name).join(" ")).join("|"))},`);
  }

  return `/**
 * Envoy's v3 messages as a polyvoy config reaches them: generated by
 * scripts/gen-envoy-fields.mjs from the .proto files in @grpc/grpc-js-xds@${pkg.version}. Do not edit.
 *
 * ENVOY_TYPE_NAMES lists every message and enum by full name; the other tables are keyed
 * by an index into it. A message's entry lists its fields, space-separated: \`name\` (a
 * scalar or a well-known type read as one JSON value), \`name=N\` (a message or enum, N),
 * \`name{N\` (a map whose values are N) or \`name{\` (a map of scalars); \`name[]\` or
 * \`name[]=N\` is a repeated field; \`#k\` after a scalar (or a map of scalars) says it is a
 * number, of kind k: i int32, u uint32, I int64, U uint64, f float or double. An enum's entry lists its value names. A message's
 * oneofs (ENVOY_MESSAGE_ONEOFS) list each group's members, space-separated, groups by "|".
 */
export const ENVOY_PROTOS_SOURCE = "@grpc/grpc-js-xds@${pkg.version}";

export const ENVOY_TYPE_NAMES: readonly string[] = [
${names.map((name) => `  ${JSON.stringify(name)},`).join("\n")}
];

export const ENVOY_MESSAGE_FIELDS: { readonly [index: number]: string } = {
${messages.join("\n")}
};

export const ENVOY_ENUM_VALUES: { readonly [index: number]: string } = {
${enums.join("\n")}
};

export const ENVOY_MESSAGE_ONEOFS: { readonly [index: number]: string } = {
${oneofs.join("\n")}
};
`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = generate();
  writeFileSync(OUTPUT, text);
  console.log(`wrote ${OUTPUT}: ${text.length} characters`);
}
