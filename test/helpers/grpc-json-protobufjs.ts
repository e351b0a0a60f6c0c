/**
 * test/fixtures/grpc-json/library.proto read by protobufjs (what @grpc/proto-loader uses): an
 * implementation of protobuf independent of polyvoy's, to check the gRPC-JSON codec's bytes
 * against. Imports resolved as protoc resolves them (see grpc-json-descriptor.ts).
 */
import { join } from "node:path";
import protobuf from "protobufjs";
import { GOOGLEAPIS_DIR, LIBRARY_PROTO_DIR } from "./grpc-json-descriptor.ts";

let cached: protobuf.Root | undefined;

export function libraryProtobufjs(): protobuf.Root {
  if (cached !== undefined) return cached;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (target.startsWith("google/protobuf/")) return join("/usr/include", target);
    if (target.startsWith("google/")) return join(GOOGLEAPIS_DIR, target);
    return join(LIBRARY_PROTO_DIR, target);
  };
  root.loadSync("library.proto", { keepCase: true });
  root.resolveAll();
  cached = root;
  return root;
}
