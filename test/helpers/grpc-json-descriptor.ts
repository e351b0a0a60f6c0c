/**
 * test/fixtures/grpc-json/library.proto's FileDescriptorSet, made at test time by protoc the
 * way a user makes one for Envoy's gRPC-JSON transcoder (the command in the fixture's
 * header). google/api/*.proto come from @grpc/grpc-js-xds's googleapis copy; the
 * google/protobuf imports from /usr/include (Debian's libprotobuf-dev, which protoc searches
 * by default). Made once per process.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const LIBRARY_PROTO_DIR = join(ROOT, "test/fixtures/grpc-json");
export const GOOGLEAPIS_DIR = join(ROOT, "node_modules/@grpc/grpc-js-xds/deps/googleapis");

let cached: Uint8Array | undefined;

export function libraryDescriptorSet(): Uint8Array {
  if (cached !== undefined) return cached;
  const dir = mkdtempSync(join(tmpdir(), "polyvoy-grpc-json-"));
  try {
    const out = join(dir, "library.pb");
    execFileSync(
      "protoc",
      ["-I", LIBRARY_PROTO_DIR, "-I", GOOGLEAPIS_DIR, "--include_imports", `--descriptor_set_out=${out}`, "library.proto"],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    cached = new Uint8Array(readFileSync(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return cached;
}
