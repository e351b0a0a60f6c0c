/** Envoy's API protos and their dependencies, as @grpc/grpc-js-xds ships them, for @grpc/proto-loader. */
import { createRequire } from "node:module";
import { join } from "node:path";

export function envoyProtoDirs(): string[] {
  const deps = join(createRequire(import.meta.url).resolve("@grpc/grpc-js-xds/package.json"), "..", "deps");
  return ["envoy-api", "googleapis", "protoc-gen-validate", "xds"].map((d) => join(deps, d));
}
