/**
 * envoy.filters.http.grpc_web on every runtime, black-box: gRPC-Web requests (binary and
 * base64 text) from a plain HTTP/1.1 client (fetch, as a browser's gRPC-Web library sends
 * them) to a node:http upstream that answers gRPC-framed bodies with chunked trailers.
 * (Until polyvoy has an HTTP/2 upstream pool, the upstream speaks gRPC's framing over
 * HTTP/1.1; these tests should move to a real @grpc/grpc-js server once it has.)
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { ProxyProcess, RUNTIMES } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";

function frame(flags: number, payload: Buffer | string): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(5);
  header[0] = flags;
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

/** Split a gRPC-Web body into its frames. */
function frames(body: Buffer): { flags: number; data: string }[] {
  const out: { flags: number; data: string }[] = [];
  for (let at = 0; at + 5 <= body.length; ) {
    const length = body.readUInt32BE(at + 1);
    out.push({ flags: body[at]!, data: body.subarray(at + 5, at + 5 + length).toString() });
    at += 5 + length;
  }
  return out;
}

describe.each(RUNTIMES)("grpc_web on %s", (runtime) => {
  let upstream: http.Server;
  let proxy: ProxyProcess;
  let port: number;
  const seen: { headers: http.IncomingHttpHeaders; body: Buffer }[] = [];

  beforeAll(async () => {
    // A gRPC "server" over HTTP/1.1: echoes the message upper-cased, then trailers.
    upstream = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (d: Buffer) => chunks.push(d));
      req.on("end", () => {
        const body = Buffer.concat(chunks);
        seen.push({ headers: req.headers, body });
        res.writeHead(200, { "content-type": "application/grpc", trailer: "grpc-status, grpc-message" });
        res.write(frame(0, body.subarray(5).toString().toUpperCase()));
        res.addTrailers({ "grpc-status": "0", "grpc-message": "ok" });
        res.end();
      });
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    port = await freePort();
    proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({
        listenPort: port,
        clusters: { grpc: [(upstream.address() as AddressInfo).port], empty: [] },
        routes: [
          { match: { prefix: "/down." }, cluster: "empty" },
          { match: { prefix: "/" }, cluster: "grpc" },
        ],
        hcm: {
          http_filters: [
            { name: "envoy.filters.http.grpc_web", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb" } },
            { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
          ],
        },
      }),
    );
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await new Promise((r) => upstream?.close(r));
  });

  test("binary: gRPC upstream, the message back and the trailers as the last frame", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/pkg.Echo/Say`, { method: "POST", headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" }, body: frame(0, "hello") });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/grpc-web+proto");
    expect(frames(Buffer.from(await res.arrayBuffer()))).toEqual([
      { flags: 0, data: "HELLO" },
      { flags: 0x80, data: "grpc-status:0\r\ngrpc-message:ok\r\n" },
    ]);
    const got = seen[seen.length - 1]!;
    expect([got.headers["content-type"], got.headers.te]).toEqual(["application/grpc+proto", "trailers"]);
  });

  test("text: base64 request and response", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/pkg.Echo/Say`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web-text", accept: "application/grpc-web-text" },
      body: frame(0, "text mode").toString("base64"),
    });
    expect(res.headers.get("content-type")).toBe("application/grpc-web-text+proto");
    const text = await res.text();
    const decoded = Buffer.concat(text.split(/(?<==)(?=[A-Za-z0-9+/])/).map((run) => Buffer.from(run, "base64")));
    expect(frames(decoded)).toEqual([
      { flags: 0, data: "TEXT MODE" },
      { flags: 0x80, data: "grpc-status:0\r\ngrpc-message:ok\r\n" },
    ]);
    expect(seen[seen.length - 1]!.body).toEqual(frame(0, "text mode"));
  });

  test("no healthy upstream: grpc-status 14 in the headers for the gRPC-Web client", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/down.Svc/M`, { method: "POST", headers: { "content-type": "application/grpc-web" }, body: frame(0, "") });
    expect([res.status, res.headers.get("grpc-status"), res.headers.get("grpc-message")]).toEqual([200, "14", "no healthy upstream"]);
  });
});
