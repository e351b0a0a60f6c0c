/**
 * envoy.filters.http.grpc_web on the memory runtime: gRPC-Web requests (binary and base64
 * text, in any chunking) reach the upstream as gRPC; the upstream's gRPC response (an
 * HTTP/1.1 body of gRPC frames with chunked trailers) comes back with its trailers as the
 * 0x80 frame, base64 when the client accepts grpc-web-text; non-gRPC answers become a
 * grpc-status; the stats as Envoy's.
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
async function setup(): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (req, res) => {
    if (req.path.endsWith("/Fail")) return res.respond(503, "overloaded, try later");
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
    { name: "envoy.filters.http.grpc_web", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb" } },
    { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
  ];
  server = await startProxy(
    runtime,
    httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [UPSTREAM], empty: [] },
      routes: [
        { match: { prefix: "/none." }, cluster: "empty" },
        // grpc_web disabled on this route (FilterConfig disabled: Envoy's per-route filter disabling).
        { match: { prefix: "/plain." }, action: { route: { cluster: "backend" }, typed_per_filter_config: { "envoy.filters.http.grpc_web": { "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", disabled: true } } } },
        { match: { prefix: "/" }, cluster: "backend" },
      ],
      // The upstream is HTTP/1 here: its trailers (grpc-status) reach the filter with enable_trailers.
      hcm: { ...HCM_WITH_TRAILERS, http_filters: filters },
      clusterExtra: HTTP1_CLUSTER_WITH_TRAILERS,
    }),
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

const TRAILER_FRAME = frame(0x80, "grpc-status:0\r\ngrpc-message:all good\r\n");

describe("grpc_web", () => {
  test("binary: the request goes upstream as gRPC; the trailers come back as the 0x80 frame", async () => {
    await setup();
    const response = call("/pkg.Svc/Echo", { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" }, frame(0, "hello"));
    const sent = upstream.requests[0]!;
    // Envoy's grpc_web_filter.cc: exactly application/grpc, the +proto suffix dropped.
    expect([sent.get("content-type"), sent.get("te"), sent.get("grpc-accept-encoding")]).toEqual(["application/grpc", "trailers", "identity,deflate,gzip"]);
    expect(Buffer.from(sent.body)).toEqual(frame(0, "hello"));
    expect(response.status).toBe(200);
    expect(response.get("content-type")).toBe("application/grpc-web+proto");
    expect(Buffer.from(response.body)).toEqual(Buffer.concat([frame(0, "hello"), frame(0, "hello"), TRAILER_FRAME]));
    expect(response.trailers).toEqual([]);
    expect(server.stats.get("cluster.backend.grpc-web.pkg.Svc.Echo.success")).toMatchObject({ value: 1 });
    expect(server.stats.get("cluster.backend.grpc-web.pkg.Svc.Echo.0")).toMatchObject({ value: 1 });
    expect(server.stats.get("cluster.backend.grpc-web.pkg.Svc.Echo.total")).toMatchObject({ value: 1 });
  });

  test("a client's grpc-accept-encoding is kept as it is; the filter's list is added only when there is none", async () => {
    await setup();
    call("/pkg.Svc/Echo", { "content-type": "application/grpc-web-text+proto", "grpc-accept-encoding": "gzip" }, frame(0, "hi").toString("base64"));
    const sent = upstream.requests[0]!;
    expect([sent.get("content-type"), sent.get("grpc-accept-encoding")]).toEqual(["application/grpc", "gzip"]);
  });

  test("a route whose typed_per_filter_config disables grpc_web (FilterConfig disabled): the request passes untouched", async () => {
    await setup();
    const response = call("/plain.Svc/Echo", { "content-type": "application/grpc-web+proto" }, frame(0, "hello"));
    expect(upstream.requests[0]!.get("content-type")).toBe("application/grpc-web+proto");
    expect(upstream.requests[0]!.get("te")).toBeUndefined();
    // The upstream's gRPC answer comes back as it is: no trailer frame, content type unchanged.
    expect(response.get("content-type")).toBe("application/grpc");
    expect(Buffer.from(response.body)).toEqual(Buffer.concat([frame(0, "hello"), frame(0, "hello")]));
    expect(server.stats.get("cluster.backend.grpc-web.plain.Svc.Echo.total")).toBeUndefined();
  });

  test("text: base64 both ways, whatever the request's chunking (padding between chunks included)", async () => {
    await setup();
    const message = frame(0, "a message of some length!");
    const b64 = message.toString("base64");
    const response = call("/pkg.Svc/Echo", { "content-type": "application/grpc-web-text", accept: "application/grpc-web-text" }, [b64.slice(0, 3), b64.slice(3, 9), b64.slice(9)]);
    expect(upstream.requests[0]!.get("content-type")).toBe("application/grpc");
    expect(Buffer.from(upstream.requests[0]!.body)).toEqual(message);
    expect(response.get("content-type")).toBe("application/grpc-web-text+proto");
    // Body and trailer frame are separate base64 runs; each decodes on its own.
    const text = response.text();
    const runs = text.split(/(?<==)(?=[A-Za-z0-9+/])/);
    const decoded = Buffer.concat(runs.map((r) => Buffer.from(r, "base64")));
    expect(decoded).toEqual(Buffer.concat([message, message, TRAILER_FRAME]));
    // Two base64 chunks each with its own padding, sent as one request.
    const two = call("/pkg.Svc/Echo", { "content-type": "application/grpc-web-text" }, frame(0, "x").toString("base64") + "");
    expect(two.status).toBe(200);
  });

  test("invalid base64: Envoy's 400, which the filter's own response side gives grpc-status 13 (the HTTP status kept)", async () => {
    await setup();
    const bad = call("/pkg.Svc/Echo", { "content-type": "application/grpc-web-text" }, "AAA*");
    expect([bad.status, bad.get("grpc-status"), bad.get("grpc-message")]).toEqual([400, "13", "Bad gRPC-web request, invalid base64 data."]);
    const short = call("/pkg.Svc/Echo", { "content-type": "application/grpc-web-text" }, "AAAAA");
    expect(short.get("grpc-status")).toBe("13");
    expect(upstream.requests).toHaveLength(0);
  });

  test("a trailers-only answer keeps its status in the headers", async () => {
    await setup();
    const response = call("/pkg.Svc/Unimplemented", { "content-type": "application/grpc-web" }, frame(0, ""));
    expect([response.status, response.get("grpc-status"), response.get("grpc-message"), response.get("content-type")]).toEqual([200, "12", "no such method", "application/grpc-web+proto"]);
    expect(server.stats.get("cluster.backend.grpc-web.pkg.Svc.Unimplemented.failure")).toMatchObject({ value: 1 });
    expect(server.stats.get("cluster.backend.grpc-web.pkg.Svc.Unimplemented.12")).toMatchObject({ value: 1 });
  });

  test("a response that is not gRPC (an upstream's 503 page, a local reply) gets a grpc-status and message, its HTTP status kept (Envoy's grpc_web_filter.cc)", async () => {
    await setup();
    const page = call("/pkg.Svc/Fail", { "content-type": "application/grpc-web" }, frame(0, ""));
    expect([page.status, page.get("grpc-status"), page.get("grpc-message"), page.text()]).toEqual([503, "14", "overloaded, try later", ""]);
    const local = call("/none.Svc/M", { "content-type": "application/grpc-web" }, frame(0, ""));
    expect([local.status, local.get("grpc-status"), local.get("grpc-message")]).toEqual([503, "14", "no healthy upstream"]);
  });

  test("not gRPC-Web: untouched", async () => {
    await setup();
    const response = call("/pkg.Svc/Echo", { "content-type": "application/grpc" }, frame(0, "hi"));
    expect(upstream.requests[0]!.get("grpc-accept-encoding")).toBeUndefined();
    expect(response.get("content-type")).toBe("application/grpc");
    expect(response.trailers).toEqual([
      ["grpc-status", "0"],
      ["grpc-message", "all good"],
    ]);
  });

  test("over HTTP/2 downstream too", async () => {
    await setup();
    const client = new H2Client(runtime, PROXY);
    const ex = client.request([":path", "/pkg.Svc/Echo", "content-type", "application/grpc-web"], frame(0, "h2").toString("latin1"));
    runtime.advance(1000);
    expect(ex.ended).toBe(true);
    expect(Buffer.from(ex.text, "latin1")).toEqual(Buffer.concat([frame(0, "h2"), frame(0, "h2"), TRAILER_FRAME]));
    client.socket.close();
  });
});
