/**
 * Request trailers through the HTTP path, on every runtime: a chunked POST whose last
 * chunk is followed by a trailer must reach the upstream whole (the last chunk and the
 * trailer), and the client must get the answer at once — not after stream_idle_timeout
 * (issue: the trailers stopped short of the router, so the upstream request never ended).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { ProxyProcess, RUNTIMES } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { parseResponses, rawExchange } from "../support/raw-http.ts";

describe.each(RUNTIMES)("request trailers on %s", (runtime) => {
  let upstream: http.Server;
  let proxy: ProxyProcess;
  let port: number;

  beforeAll(async () => {
    // Answers once the request has ended, with what it got: body, trailers, framing.
    upstream = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (d: Buffer) => chunks.push(d));
      req.on("end", () => {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ body: Buffer.concat(chunks).toString(), trailers: req.trailers, te: req.headers["transfer-encoding"] ?? null }));
      });
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    port = await freePort();
    proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({
        listenPort: port,
        clusters: { up: [(upstream.address() as AddressInfo).port] },
        routes: [{ match: { prefix: "/" }, cluster: "up" }],
        // Envoy's HTTP/1 codec forwards trailers only with enable_trailers on both sides; polyvoy always does and takes the field.
        hcm: { http_protocol_options: { enable_trailers: true } },
        clusterExtra: {
          typed_extension_protocol_options: {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
              "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
              explicit_http_config: { http_protocol_options: { enable_trailers: true } },
            },
          },
        },
      }),
    );
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await new Promise((r) => upstream?.close(r));
  });

  test("a chunked POST with a trailer reaches the upstream complete and is answered promptly", async () => {
    const started = Date.now();
    const { text } = await rawExchange(
      port,
      "POST /upload HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "5\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: abc123\r\n\r\n",
      5000,
    );
    const elapsed = Date.now() - started;
    const [response] = parseResponses(text);
    expect(response?.status).toBe(200);
    expect(JSON.parse(response!.body)).toEqual({ body: "hello world", trailers: { "x-checksum": "abc123" }, te: "chunked" });
    // The answer comes with the request's end, not from a timeout.
    expect(elapsed).toBeLessThan(2000);
  });
});
