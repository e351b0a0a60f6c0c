/**
 * envoy.config.core.v3.Node as a DiscoveryRequest (state of the world, grpc-mux.ts) or a
 * DeltaDiscoveryRequest (delta-grpc-mux.ts) carries it: the bootstrap's node, and
 * polyvoy as the user agent (Envoy's LocalInfo, source/common/local_info/local_info_impl.h).
 */
import type { NodeConfig } from "../bootstrap.ts";
import type { ProtoWriter } from "../../util/protobuf-wire.ts";
import { VERSION } from "../../version.ts";

/** envoy.config.core.v3.Node: id 1, cluster 2, metadata 3, locality 4 (region 1, zone 2, sub_zone 3), user_agent_name 6, user_agent_version 7. */
export function encodeNode(writer: ProtoWriter, node: NodeConfig | undefined): void {
  writer.string(1, node?.id ?? "").string(2, node?.cluster ?? "");
  const metadata = node?.metadata;
  if (metadata !== undefined) writer.message(3, (struct) => encodeStruct(struct, metadata, 0));
  const locality = node?.locality;
  if (locality) writer.message(4, (l) => l.string(1, locality.region ?? "").string(2, locality.zone ?? "").string(3, locality.sub_zone ?? ""));
  writer.string(6, "polyvoy").string(7, VERSION);
}

/** The deepest node.metadata nesting sent (the config's JSON is the user's; a bound is ours). */
const MAX_METADATA_DEPTH = 64;

/** google.protobuf.Struct: fields 1 (map<string, Value>). */
function encodeStruct(writer: ProtoWriter, object: Record<string, unknown>, depth: number): void {
  for (const [key, value] of Object.entries(object)) writer.message(1, (entry) => entry.explicitString(1, key).message(2, (v) => encodeValue(v, value, depth + 1)));
}

/** google.protobuf.Value: null_value 1, number_value 2, string_value 3, bool_value 4, struct_value 5, list_value 6 (values 1). */
function encodeValue(writer: ProtoWriter, value: unknown, depth: number): void {
  if (depth > MAX_METADATA_DEPTH || value === null || value === undefined) writer.explicitUint(1, 0);
  else if (typeof value === "number") writer.explicitDouble(2, value);
  else if (typeof value === "string") writer.explicitString(3, value);
  else if (typeof value === "boolean") writer.explicitUint(4, value ? 1 : 0);
  else if (Array.isArray(value)) writer.message(6, (list) => value.forEach((item) => list.message(1, (v) => encodeValue(v, item, depth + 1))));
  else if (typeof value === "object") writer.message(5, (struct) => encodeStruct(struct, value as Record<string, unknown>, depth + 1));
  else writer.explicitString(3, String(value));
}
