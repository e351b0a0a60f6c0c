/**
 * envoy.config.core.v3.Node as a DiscoveryRequest (state of the world, grpc-mux.ts) or a
 * DeltaDiscoveryRequest (delta-grpc-mux.ts) carries it: the bootstrap's node, and
 * polyvoy as the user agent (Envoy's LocalInfo, source/common/local_info/local_info_impl.h).
 */
import type { NodeConfig } from "../bootstrap.ts";
import type { ProtoWriter } from "../../util/protobuf-wire.ts";
import { VERSION } from "../../version.ts";
import { encodeStruct } from "../../util/protobuf-struct.ts";

/** envoy.config.core.v3.Node: id 1, cluster 2, metadata 3, locality 4 (region 1, zone 2, sub_zone 3), user_agent_name 6, user_agent_version 7. */
export function encodeNode(writer: ProtoWriter, node: NodeConfig | undefined): void {
  writer.string(1, node?.id ?? "").string(2, node?.cluster ?? "");
  const metadata = node?.metadata;
  if (metadata !== undefined) writer.message(3, (struct) => encodeStruct(struct, metadata));
  const locality = node?.locality;
  if (locality) writer.message(4, (l) => l.string(1, locality.region ?? "").string(2, locality.zone ?? "").string(3, locality.sub_zone ?? ""));
  writer.string(6, "polyvoy").string(7, VERSION);
}
