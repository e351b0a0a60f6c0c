/**
 * What the gRPC filter e2e tests (grpc_web, grpc_http1_bridge) share: gRPC framing, a real
 * @grpc/grpc-js server over h2c with an echo service written without protobuf (raw bytes),
 * and a proxy with one HTTP filter before the router and an HTTP/2 cluster to that server.
 */
import * as grpc from "@grpc/grpc-js";
import { ProxyProcess, type RuntimeName } from "./proxy-process.ts";
import { freePort } from "./net-helpers.ts";
import { fileAccessLog, httpProxyConfig } from "./configs.ts";

/** One gRPC length-prefixed message (flags 0x80: a gRPC-Web trailer frame). */
export function grpcFrame(flags: number, payload: Buffer | string): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(5);
  header[0] = flags;
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

/** Split a body of length-prefixed messages into its frames. */
export function grpcFrames(body: Buffer): { flags: number; data: string }[] {
  const out: { flags: number; data: string }[] = [];
  for (let at = 0; at + 5 <= body.length; ) {
    const length = body.readUInt32BE(at + 1);
    out.push({ flags: body[at]!, data: body.subarray(at + 5, at + 5 + length).toString() });
    at += 5 + length;
  }
  return out;
}

const raw = (b: Buffer): Buffer => b;
const unary = (path: string) => ({ path, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw });

export interface EchoGrpcServer {
  server: grpc.Server;
  port: number;
  /** The messages the server received, in order. */
  received: string[];
}

/**
 * A @grpc/grpc-js server (h2c) with `/pkg.Echo/Say` (answers the message upper-cased) and `/pkg.Echo/Fail` (NOT_FOUND "not found").
 */
export async function startEchoGrpcServer(): Promise<EchoGrpcServer> {
  const server = new grpc.Server();
  const received: string[] = [];
  server.addService(
    { Say: unary("/pkg.Echo/Say"), Fail: unary("/pkg.Echo/Fail") },
    {
      Say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        received.push(call.request.toString());
        callback(null, Buffer.from(call.request.toString().toUpperCase()));
      },
      Fail: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        received.push(call.request.toString());
        callback({ code: grpc.status.NOT_FOUND, details: "not found" });
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { server, port, received };
}

/**
 * A proxy on `runtime` with `filter` before the router: `/down.*` goes to a cluster with no
 * host, the rest to the gRPC server over an HTTP/2 cluster.
 */
export async function startGrpcFilterProxy(runtime: RuntimeName, filter: object, grpcPort: number, accessLog?: { path: string; format: string }): Promise<{ proxy: ProxyProcess; port: number }> {
  const port = await freePort();
  const config = httpProxyConfig({
    listenPort: port,
    clusters: { grpc: [grpcPort], empty: [] },
    routes: [
      { match: { prefix: "/down." }, cluster: "empty" },
      // Answers that are not gRPC: a direct response with a body, and one without.
      { match: { prefix: "/plain." }, action: { direct_response: { status: 404, body: { inline_string: "no such thing" } } } },
      { match: { prefix: "/empty." }, action: { direct_response: { status: 404 } } },
      { match: { prefix: "/" }, cluster: "grpc" },
    ],
    clusterExtra: { http2_protocol_options: {} },
    hcm: {
      http_filters: [filter, { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
      ...(accessLog && { access_log: [fileAccessLog(accessLog.path, accessLog.format)] }),
    },
  });
  return { proxy: await ProxyProcess.start(runtime, config), port };
}
