/**
 * A real @grpc/grpc-js server for one of Envoy's gRPC services (ext_authz's Authorization,
 * the RateLimitService, …), its messages loaded with @grpc/proto-loader from Envoy's own
 * protos (envoy-protos.ts), on 127.0.0.1 over h2c. The e2e tests of the filters that call
 * such services share it.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { envoyProtoDirs } from "./envoy-protos.ts";

/** The service `path` ("envoy.service.auth.v3.Authorization") of the proto `file`, fields as in the proto (snake_case), enums as names. */
export function loadEnvoyService(file: string, path: string): grpc.ServiceClientConstructor {
  const definition = protoLoader.loadSync(file, { includeDirs: envoyProtoDirs(), keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true });
  let at: unknown = grpc.loadPackageDefinition(definition);
  for (const part of path.split(".")) at = (at as Record<string, unknown>)[part];
  return at as grpc.ServiceClientConstructor;
}

export interface EnvoyGrpcService {
  port: number;
  close(): void;
}

/** Serve `implementation` for the service `path` of `file` on a free port. */
export async function startEnvoyGrpcService(file: string, path: string, implementation: grpc.UntypedServiceImplementation): Promise<EnvoyGrpcService> {
  const server = new grpc.Server();
  server.addService(loadEnvoyService(file, path).service, implementation);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, close: () => server.forceShutdown() };
}
