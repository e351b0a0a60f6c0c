/**
 * HTTP/1 trailers through the HTTP path, on every runtime. With enable_trailers on both
 * sides, a chunked POST whose last chunk is followed by a trailer reaches the upstream
 * whole and the client gets the answer at once — not after stream_idle_timeout (issue:
 * the trailers stopped short of the router, so the upstream request never ended) — and the
 * upstream's response trailers reach the client. Unset or false (Envoy's default), Envoy's
 * HTTP/1 codec drops trailers both ways: reading (the HCM's option for requests, the
 * cluster's for responses) and writing (the cluster's for requests, the HCM's for responses).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { chunkedResponse, rawExchange } from "../support/raw-http.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");


describe.each(RUNTIMES)("request trailers on %s", (runtime) => {
  let upstream: http.Server;
  let proxy: ProxyProcess;
  let defaultProxy: ProxyProcess;
  let mixedProxy: ProxyProcess;
  let port: number;
  let defaultPort: number;
  let mixedPort: number;

  beforeAll(async () => {
    // Answers once the request has ended, with what it got: body, trailers, framing.
    upstream = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (d: Buffer) => chunks.push(d));
      req.on("end", () => {
        res.setHeader("content-type", "application/json");
        // Written before the end: chunked, so the trailer can follow the last chunk.
        res.write(JSON.stringify({ body: Buffer.concat(chunks).toString(), trailers: req.trailers, te: req.headers["transfer-encoding"] ?? null }));
        res.addTrailers({ "x-resp": "done" });
        res.end();
      });
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    const upstreamPort = (upstream.address() as AddressInfo).port;
    [port, defaultPort, mixedPort] = await Promise.all([freePort(), freePort(), freePort()]);
    // Envoy's HTTP/1 codec forwards trailers only with enable_trailers on both sides.
    const config = (listenPort: number, downstream: boolean | undefined, upstreamSide: boolean | undefined) =>
      httpProxyConfig({
        listenPort,
        clusters: { up: [upstreamPort] },
        routes: [{ match: { prefix: "/" }, cluster: "up" }],
        ...(downstream !== undefined ? { hcm: { http_protocol_options: { enable_trailers: downstream } } } : {}),
        ...(upstreamSide !== undefined
          ? {
              clusterExtra: {
                typed_extension_protocol_options: {
                  "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    explicit_http_config: { http_protocol_options: { enable_trailers: upstreamSide } },
                  },
                },
              },
            }
          : {}),
      });
    [proxy, defaultProxy, mixedProxy] = await Promise.all([
      ProxyProcess.start(runtime, config(port, true, true)),
      ProxyProcess.start(runtime, config(defaultPort, undefined, undefined)),
      ProxyProcess.start(runtime, config(mixedPort, true, false)),
    ]);
  });

  afterAll(async () => {
    await Promise.all([proxy?.stop("SIGKILL"), defaultProxy?.stop("SIGKILL"), mixedProxy?.stop("SIGKILL")]);
    await new Promise((r) => upstream?.close(r));
  });

  const POST = "POST /upload HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: abc123\r\n\r\n";

  test("enable_trailers unset on both sides (Envoy's default): the request's and the response's trailers are dropped", async () => {
    const { text } = await rawExchange(defaultPort, POST, 5000);
    const response = chunkedResponse(text);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ body: "hello world", trailers: {}, te: "chunked" });
    // The last chunk alone: no trailer section.
    expect(response.trailers).toBe("\r\n");
  });

  test("enable_trailers true downstream, false on the cluster: the upstream gets no trailers and none come back", async () => {
    const { text } = await rawExchange(mixedPort, POST, 5000);
    const response = chunkedResponse(text);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ body: "hello world", trailers: {}, te: "chunked" });
    expect(response.trailers).toBe("\r\n");
  });

  test("enable_trailers on both sides: a chunked POST with a trailer reaches the upstream complete and is answered promptly, with the response's trailer", async () => {
    const started = Date.now();
    const { text } = await rawExchange(port, POST, 5000);
    const elapsed = Date.now() - started;
    const response = chunkedResponse(text);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ body: "hello world", trailers: { "x-checksum": "abc123" }, te: "chunked" });
    // The upstream's response trailer comes after the last chunk.
    expect(response.trailers).toBe("x-resp: done\r\n\r\n");
    // The answer comes with the request's end, not from a timeout.
    expect(elapsed).toBeLessThan(2000);
  });
});
