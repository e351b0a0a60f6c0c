// The gRPC services bench/filter-chain-throughput.mjs runs beside the origin, in its own
// process, unpinned (@grpc/grpc-js on 127.0.0.1, any port): a service is described either by
// Envoy's API protos (those @grpc/grpc-js-xds ships) or, for a collector that only counts
// what it is sent, by one raw method whose messages stay bytes, never decoded.
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(import.meta.url);
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

/** The service `name` (e.g. `envoy.service.accesslog.v3.AccessLogService`) of Envoy's API, loaded from `protoFile`. */
export function envoyApiService(protoFile, name) {
  const deps = join(require.resolve("@grpc/grpc-js-xds/package.json"), "..", "deps");
  const includeDirs = ["envoy-api", "googleapis", "protoc-gen-validate", "xds"].map((d) => join(deps, d));
  const definition = protoLoader.loadSync(protoFile, { includeDirs, keepCase: true, oneofs: true });
  return name.split(".").reduce((at, key) => at[key], grpc.loadPackageDefinition(definition)).service;
}

/** The service `name` of the proto text `proto`, written to `file` for proto-loader. */
export function protoService(proto, name, file) {
  writeFileSync(file, proto);
  return name.split(".").reduce((at, key) => at[key], grpc.loadPackageDefinition(protoLoader.loadSync(file))).service;
}

const bytes = (b) => b;

/** A service of the one method at `path` (`/package.Service/Method`), its messages raw bytes. */
export function rawService(path, { requestStream, responseStream }) {
  const method = path.slice(path.lastIndexOf("/") + 1);
  return { [method]: { path, requestStream, responseStream, requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes } };
}

/** Serve `service` with `handlers`; {port, close}. */
export async function serveGrpc(service, handlers) {
  const server = new grpc.Server();
  server.addService(service, handlers);
  const port = await new Promise((ok, fail) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p))));
  return { port, close: () => server.forceShutdown() };
}

/**
 * A collector of the raw method at `path` that counts the messages it is sent and answers an
 * empty message (a client stream's at its end, a unary call's at once): an empty message is
 * the collectors' whole answer (SkyWalking's Commands with none, OTLP's Export*ServiceResponse
 * without partial_success). On close it says how many it got, `what` naming them: a tracer
 * or logger that sent nothing would make a run measure work built and dropped.
 */
export async function startCountingCollector(path, requestStream, what) {
  let received = 0;
  const empty = Buffer.alloc(0);
  const method = path.slice(path.lastIndexOf("/") + 1);
  const handler = requestStream
    ? (call, callback) => {
        call.on("data", () => received++);
        call.on("end", () => callback(null, empty));
        call.on("error", () => {});
      }
    : (_call, callback) => (received++, callback(null, empty));
  const served = await serveGrpc(rawService(path, { requestStream, responseStream: false }), { [method]: handler });
  return {
    port: served.port,
    close: () => {
      console.log(`  the collector received ${received} ${what}`);
      served.close();
    },
  };
}
