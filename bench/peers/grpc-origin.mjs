// The gRPC unary scenario's origin (bench/lib/scenarios.mjs, grpc-unary): a @grpc/grpc-js
// server with one unary method that echoes its message, on the load core beside the HTTP
// origin. Prints `listening <port>` once bound.
//
//   node bench/peers/grpc-origin.mjs <proto file>
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const definition = grpc.loadPackageDefinition(protoLoader.loadSync(process.argv[2]));
const server = new grpc.Server();
server.addService(definition.bench.Echo.service, { Unary: (call, callback) => callback(null, { text: call.request.text }) });
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  console.log(`listening ${port}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.tryShutdown(() => process.exit(0)));
