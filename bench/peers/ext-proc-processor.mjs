// The ext-proc-duplex scenario's ExternalProcessor (bench/lib/scenarios.mjs): a @grpc/grpc-js
// server of envoy.service.ext_proc.v3.ExternalProcessor that lets headers and trailers
// through (an empty HeadersResponse / TrailersResponse: CONTINUE) and echoes each request
// body chunk unchanged as it comes, as FULL_DUPLEX_STREAMED wants it: a BodyResponse whose
// body_mutation.streamed_response carries the chunk and its end_of_stream. On the load core
// beside the origin. Prints `listening <port>` once bound.
//
//   node bench/peers/ext-proc-processor.mjs
//
// The answers are encoded by hand (external_processor.proto's field numbers): the proto
// @grpc/grpc-js-xds ships predates StreamedBodyResponse (test/e2e/ext-proc-route.test.ts
// does the same).
import { createRequire } from "node:module";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const require = createRequire(import.meta.url);
const deps = join(require.resolve("@grpc/grpc-js-xds/package.json"), "..", "deps");
const includeDirs = ["envoy-api", "googleapis", "protoc-gen-validate", "xds"].map((d) => join(deps, d));
const definition = protoLoader.loadSync("envoy/service/ext_proc/v3/external_processor.proto", { includeDirs, keepCase: true, oneofs: true });
const service = grpc.loadPackageDefinition(definition).envoy.service.ext_proc.v3.ExternalProcessor.service;

function varint(n) {
  const out = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}
/** A length-delimited field. */
const field = (number, ...parts) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([varint((number << 3) | 2), varint(body.length), body]);
};
const EMPTY = Buffer.alloc(0);
/** ProcessingResponse.request_headers (1): HeadersResponse {}. */
const REQUEST_HEADERS_CONTINUE = field(1);
/** ProcessingResponse.request_trailers (5): TrailersResponse {}. */
const REQUEST_TRAILERS_CONTINUE = field(5);
/**
 * ProcessingResponse.request_body (3) = BodyResponse { CommonResponse response = 1 {
 * BodyMutation body_mutation = 3 { StreamedBodyResponse streamed_response = 3 { bytes body = 1;
 * bool end_of_stream = 2 } } } }.
 */
const echoedChunk = (body, end) => field(3, field(1, field(3, field(3, body.length ? field(1, body) : EMPTY, end ? Buffer.from([2 << 3, 1]) : EMPTY))));

const server = new grpc.Server();
// Requests as proto-loader reads them; answers as the bytes above.
server.addService({ Process: { ...service.Process, responseSerialize: (bytes) => bytes } }, {
  Process: (call) => {
    call.on("data", (message) => {
      if (message.request_headers) call.write(REQUEST_HEADERS_CONTINUE);
      else if (message.request_body) call.write(echoedChunk(message.request_body.body ?? EMPTY, message.request_body.end_of_stream === true));
      else if (message.request_trailers) call.write(REQUEST_TRAILERS_CONTINUE);
    });
    call.on("end", () => call.end());
    call.on("error", () => {});
  },
});
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  console.log(`listening ${port}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.tryShutdown(() => process.exit(0)));
