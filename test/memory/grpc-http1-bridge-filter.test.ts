/**
 * envoy.filters.http.grpc_http1_bridge on the memory runtime: a gRPC call from an HTTP/1.1
 * client gets its response whole, grpc-status and grpc-message in the headers (a failure is
 * a 503), with a content-length; upgrade_protobuf_to_grpc frames an application/x-protobuf
 * request and unframes its answer; ignore_query_parameters; the stats as Envoy's.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { HCM_WITH_TRAILERS, HTTP1_CLUSTER_WITH_TRAILERS, httpProxyConfig } from "../support/configs.ts";
import { H2Client } from "./support/h2-client.ts";
import { MemoryHttpClient, MemoryHttpServer } from "./support/http-peers.ts";
import type { HttpMessage } from "./support/http-wire.ts";
import { activeDownstreamConnections, startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;

let runtime: MemoryRuntime;
let server: Server;
let upstream: MemoryHttpServer;

function frame(flags: number, payload: Uint8Array | string): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload, "latin1") : Buffer.from(payload);
  const header = Buffer.alloc(5);
  header[0] = flags;
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

/** The upstream: a gRPC server over HTTP/1.1 echoing the request's message twice, then trailers; /Fail is a 503 page. */
async function setup(bridge: Record<string, unknown> = {}): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (req, res) => {
    if (req.path.endsWith("/Fail")) {
      res.writeHead(200, { "content-type": "application/grpc" });
      return res.end(undefined, { "grpc-status": "7", "grpc-message": "denied" });
    }
    if (req.path.endsWith("/Unimplemented")) {
      res.writeHead(200, { "content-type": "application/grpc", "grpc-status": "12", "grpc-message": "no such method", "content-length": "0" });
      return res.end();
    }
    const message = Buffer.from(req.body).subarray(5);
    res.writeHead(200, { "content-type": "application/grpc" });
    res.write(frame(0, message));
    res.write(frame(0, message));
    res.end(undefined, { "grpc-status": "0", "grpc-message": "all good" });
  });
  const filters = [
    { name: "envoy.filters.http.grpc_http1_bridge", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_http1_bridge.v3.Config", ...bridge } },
    { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
  ];
  server = await startProxy(
    runtime,
    httpProxyConfig({ listenPort: PROXY, clusters: { backend: [UPSTREAM], empty: [] }, routes: [{ match: { prefix: "/none." }, cluster: "empty" }, { match: { prefix: "/" }, cluster: "backend" }], hcm: { ...HCM_WITH_TRAILERS, http_filters: filters }, clusterExtra: HTTP1_CLUSTER_WITH_TRAILERS }),
  );
}

afterEach(() => {
  runtime.runUntilIdle();
  expect(activeDownstreamConnections(server)).toBe(0);
  upstream?.close();
});

function call(path: string, headers: Record<string, string>, body: Uint8Array | string | (Uint8Array | string)[]): HttpMessage {
  const client = new MemoryHttpClient(runtime, PROXY);
  const chunks = Array.isArray(body) ? body : [body];
  if (chunks.length === 1) client.request("POST", path, { headers, body: chunks[0]! });
  else {
    // Chunk by chunk, each its own HTTP/1.1 chunk and I/O event.
    client.send(`POST ${path} HTTP/1.1\r\nhost: example.com\r\ntransfer-encoding: chunked\r\n${Object.entries(headers).map(([n, v]) => `${n}: ${v}\r\n`).join("")}\r\n`);
    client.parser.expectResponseTo("POST");
    for (const chunk of chunks) {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk, "latin1") : chunk;
      client.send(`${bytes.length.toString(16)}\r\n`);
      client.send(bytes);
      client.send("\r\n");
      runtime.runDue();
    }
    client.send("0\r\n\r\n");
  }
  runtime.advance(1000);
  const response = client.responses[0]!;
  client.socket.close();
  return response;
}

describe("grpc_http1_bridge", () => {
  test("HTTP/1.1: the response whole, grpc-status and grpc-message as headers, a content-length, no trailers; stats", async () => {
    await setup();
    const response = call("/pkg.Svc/Echo", { "content-type": "application/grpc" }, frame(0, "hi"));
    expect([response.status, response.get("grpc-status"), response.get("grpc-message"), response.get("content-length")]).toEqual([200, "0", "all good", "14"]);
    expect(Buffer.from(response.body)).toEqual(Buffer.concat([frame(0, "hi"), frame(0, "hi")]));
    expect(response.trailers).toEqual([]);
    expect(server.stats.get("cluster.backend.grpc.pkg.Svc.Echo.success")).toMatchObject({ value: 1 });
    expect(server.stats.get("cluster.backend.grpc.pkg.Svc.Echo.total")).toMatchObject({ value: 1 });
  });

  test("a non-zero grpc-status makes the response a 503", async () => {
    await setup();
    const response = call("/pkg.Svc/Fail", { "content-type": "application/grpc" }, frame(0, ""));
    expect([response.status, response.get("grpc-status"), response.get("grpc-message"), response.get("content-length")]).toEqual([503, "7", "denied", "0"]);
    expect(server.stats.get("cluster.backend.grpc.pkg.Svc.Fail.failure")).toMatchObject({ value: 1 });
  });

  test("upgrade_protobuf_to_grpc: application/x-protobuf framed upstream, the answer's message unframed", async () => {
    await setup({ upgrade_protobuf_to_grpc: true });
    const response = call("/pkg.Svc/Echo", { "content-type": "application/x-protobuf" }, ["pro", "tobuf"]);
    expect(upstream.requests[0]!.get("content-type")).toBe("application/grpc");
    expect(Buffer.from(upstream.requests[0]!.body)).toEqual(frame(0, "protobuf"));
    expect([response.status, response.get("content-type"), response.get("grpc-status")]).toEqual([200, "application/x-protobuf", "0"]);
    // The upstream answered two messages: the first frame header goes, the rest stays as it came.
    expect(Buffer.from(response.body)).toEqual(Buffer.concat([Buffer.from("protobuf"), frame(0, "protobuf")]));
  });

  test("ignore_query_parameters: the query is dropped", async () => {
    await setup({ ignore_query_parameters: true });
    call("/pkg.Svc/Echo?a=1", { "content-type": "application/grpc" }, frame(0, ""));
    expect(upstream.requests[0]!.path).toBe("/pkg.Svc/Echo");
  });

  test("HTTP/2 clients read trailers: not bridged", async () => {
    await setup();
    const client = new H2Client(runtime, PROXY);
    const ex = client.request([":path", "/pkg.Svc/Echo", "content-type", "application/grpc"], frame(0, "h2").toString("latin1"));
    runtime.advance(1000);
    expect(ex.trailers).toEqual(["grpc-status", "0", "grpc-message", "all good"]);
    client.socket.close();
  });
});
