/**
 * envoy.filters.http.grpc_http1_bridge on every runtime, black-box: gRPC calls from plain
 * HTTP/1.1 clients (fetch) to a node:http upstream that answers gRPC-framed bodies with
 * chunked trailers; the client reads grpc-status from the headers.
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

describe.each(RUNTIMES)("grpc_http1_bridge on %s", (runtime) => {
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
        const fail = req.url?.includes("Fail") === true;
        res.addTrailers({ "grpc-status": fail ? "5" : "0", "grpc-message": fail ? "not found" : "ok" });
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
            {
              name: "envoy.filters.http.grpc_http1_bridge",
              typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_http1_bridge.v3.Config", upgrade_protobuf_to_grpc: true },
            },
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

  test("a gRPC call over HTTP/1.1: the body whole with a content-length, the status in the headers", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/pkg.Echo/Say`, { method: "POST", headers: { "content-type": "application/grpc" }, body: frame(0, "hello") });
    expect([res.status, res.headers.get("grpc-status"), res.headers.get("grpc-message"), res.headers.get("content-length")]).toEqual([200, "0", "ok", "10"]);
    expect(frames(Buffer.from(await res.arrayBuffer()))).toEqual([{ flags: 0, data: "HELLO" }]);
  });

  test("a failed call is a 503 with its grpc-status", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/pkg.Echo/Fail`, { method: "POST", headers: { "content-type": "application/grpc" }, body: frame(0, "x") });
    expect([res.status, res.headers.get("grpc-status"), res.headers.get("grpc-message")]).toEqual([503, "5", "not found"]);
    await res.arrayBuffer();
  });

  test("upgrade_protobuf_to_grpc: an application/x-protobuf body is framed for the upstream; the answer comes back unframed", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/pkg.Echo/Say`, { method: "POST", headers: { "content-type": "application/x-protobuf" }, body: "plain" });
    expect(seen[seen.length - 1]!.body).toEqual(frame(0, "plain"));
    expect([res.status, res.headers.get("content-type")]).toEqual([200, "application/x-protobuf"]);
    expect(await res.text()).toBe("PLAIN");
  });
});
