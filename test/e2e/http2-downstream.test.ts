/**
 * HTTP/2 downstream (h2c with prior knowledge) on every runtime, black-box: real HTTP/2
 * clients (curl --http2-prior-knowledge, nghttp, h2load, node's http2) against the proxy,
 * node:http HTTP/1.1 upstreams behind it. codec_type AUTO tells the client preface from
 * HTTP/1.1; codec_type HTTP2 takes only HTTP/2.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execFile } from "node:child_process";
import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { HTTP1_CLUSTER_WITH_TRAILERS, httpProxyConfig } from "../support/configs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

function run(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 20_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ stdout, stderr, code: error ? ((error as { code?: number }).code ?? 1) : 0 });
    });
  });
}

async function stats(adminPort: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/stats`);
  const map = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    const m = /^([^:]+): (\d+)$/.exec(line);
    if (m) map.set(m[1]!, Number(m[2]));
  }
  return map;
}

interface H2Response {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
  trailers: http2.IncomingHttpHeaders;
}

/** One request on `session`, with optional body and trailers. */
function h2request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string, trailers?: Record<string, string>): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined, waitForTrailers: trailers !== undefined });
    if (trailers !== undefined) req.on("wantTrailers", () => req.sendTrailers(trailers));
    let status = 0;
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let responseTrailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on("response", (h) => {
      status = Number(h[":status"]);
      responseHeaders = h;
    });
    req.on("trailers", (t) => (responseTrailers = t));
    req.on("data", (d: Buffer) => chunks.push(d));
    req.on("end", () => resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks).toString(), trailers: responseTrailers }));
    req.on("error", reject);
    if (body !== undefined) req.end(body);
  });
}

describe.each(RUNTIMES)("HTTP/2 downstream on %s", (runtime) => {
  let upstream: http.Server;
  let proxy: ProxyProcess;
  let port: number;
  let h2OnlyPort: number;
  let adminPort: number;
  const big = "x".repeat(300_000);

  beforeAll(async () => {
    // Echoes what it got: method, path, the headers that matter, body and trailers.
    upstream = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (d: Buffer) => chunks.push(d));
      req.on("end", () => {
        if (req.url === "/big") {
          res.end(big);
          return;
        }
        if (req.url === "/trailers") {
          res.setHeader("trailer", "x-upstream-trailer");
          res.write("with trailers");
          res.addTrailers({ "x-upstream-trailer": "done" });
          res.end();
          return;
        }
        res.setHeader("content-type", "application/json");
        res.setHeader("connection", "keep-alive");
        res.end(
          JSON.stringify({
            method: req.method,
            url: req.url,
            host: req.headers.host,
            cookie: req.headers.cookie ?? null,
            httpVersion: req.httpVersion,
            body: Buffer.concat(chunks).toString(),
            trailers: req.trailers,
          }),
        );
      });
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    const upstreamPort = (upstream.address() as AddressInfo).port;
    port = await freePort();
    h2OnlyPort = await freePort();
    adminPort = await freePort();
    const auto = httpProxyConfig({
      listenPort: port,
      clusters: { up: [upstreamPort] },
      routes: [
        { match: { prefix: "/direct" }, action: { direct_response: { status: 201, body: { inline_string: "direct over h2" } } } },
        { match: { prefix: "/" }, cluster: "up" },
      ],
      hcm: { http2_protocol_options: { max_concurrent_streams: 100, initial_stream_window_size: 65535 } },
      // The upstream speaks HTTP/1.1: its trailers pass with the cluster's enable_trailers.
      clusterExtra: HTTP1_CLUSTER_WITH_TRAILERS,
    }) as { static_resources: { listeners: Record<string, unknown>[]; clusters: unknown[] } };
    const h2Only = httpProxyConfig({
      listenPort: h2OnlyPort,
      clusters: { up: [upstreamPort] },
      routes: [{ match: { prefix: "/" }, cluster: "up" }],
      hcm: { codec_type: "HTTP2", stat_prefix: "h2only" },
    }) as { static_resources: { listeners: Record<string, unknown>[] } };
    const listener2 = { ...h2Only.static_resources.listeners[0]!, name: "h2only" };
    auto.static_resources.listeners.push(listener2);
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...auto }, 3);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await new Promise((r) => upstream?.close(r));
  });

  test("curl --http2-prior-knowledge: GET and POST proxied to an HTTP/1.1 upstream; HTTP/1.1 still served on AUTO", async () => {
    const get = await run("curl", ["-s", "--http2-prior-knowledge", "-H", "cookie: a=1", "-H", "cookie: b=2", "-w", "\n%{http_version} %{http_code}", `http://127.0.0.1:${port}/hello?q=1`]);
    const [getBody, getStatus] = get.stdout.split("\n");
    expect(getStatus).toBe("2 200");
    expect(JSON.parse(getBody!)).toMatchObject({ method: "GET", url: "/hello?q=1", host: `127.0.0.1:${port}`, cookie: "a=1; b=2", httpVersion: "1.1" });
    const post = await run("curl", ["-s", "--http2-prior-knowledge", "--data-binary", "payload", `http://127.0.0.1:${port}/post`]);
    expect(JSON.parse(post.stdout)).toMatchObject({ method: "POST", body: "payload" });
    const h1 = await run("curl", ["-s", "-w", "\n%{http_version}", `http://127.0.0.1:${port}/h1`]);
    expect(h1.stdout.split("\n")[1]).toBe("1.1");
    const direct = await run("curl", ["-s", "--http2-prior-knowledge", "-w", " %{http_code}", `http://127.0.0.1:${port}/direct`]);
    expect(direct.stdout).toBe("direct over h2 201");
    const noRoute = await run("curl", ["-s", "--http2-prior-knowledge", "-w", " %{http_code}", "-H", "host: nowhere", `http://127.0.0.1:${h2OnlyPort}/`]);
    expect(noRoute.stdout).toMatch(/ 200$/);
  });

  test("node http2: many streams on one connection, trailers both ways, a body larger than the client's window", async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => h2request(session, { ":path": `/s${i}` })));
      results.forEach((r, i) => {
        expect(r.status).toBe(200);
        expect(JSON.parse(r.body).url).toBe(`/s${i}`);
        expect(r.headers.connection).toBeUndefined();
      });
      const withTrailers = await h2request(session, { ":path": "/up", ":method": "POST", te: "trailers" }, "body", { "x-checksum": "abc" });
      expect(JSON.parse(withTrailers.body)).toMatchObject({ body: "body", trailers: { "x-checksum": "abc" } });
      const trailersBack = await h2request(session, { ":path": "/trailers" });
      expect(trailersBack.body).toBe("with trailers");
      expect(trailersBack.trailers["x-upstream-trailer"]).toBe("done");
      const bigResponse = await h2request(session, { ":path": "/big" });
      expect(bigResponse.body.length).toBe(big.length);
    } finally {
      session.close();
    }
  });

  test("nghttp and h2load", async () => {
    const nghttp = await run("nghttp", ["-n", "-s", `http://127.0.0.1:${port}/a`, `http://127.0.0.1:${port}/b`]);
    expect(nghttp.code).toBe(0);
    expect(nghttp.stdout).toMatch(/\/a/);
    const load = await run("h2load", ["-n", "400", "-c", "2", "-m", "20", `http://127.0.0.1:${port}/load`]);
    expect(load.stdout).toMatch(/400 succeeded, 0 failed/);
    expect(load.stdout).toMatch(/status codes: 400 2xx/);
  });

  test("codec_type HTTP2 refuses HTTP/1.1 bytes with GOAWAY; stats count HTTP/2", async () => {
    const h1 = await run("curl", ["-s", "-m", "5", "-w", "%{http_code}", `http://127.0.0.1:${h2OnlyPort}/`]);
    expect(h1.stdout).not.toBe("200");
    const s = await stats(adminPort);
    expect(s.get("http.ingress_http.downstream_cx_http2_total")).toBeGreaterThanOrEqual(4);
    expect(s.get("http.ingress_http.downstream_rq_http2_total")).toBe(428);
    expect(s.get("http.ingress_http.downstream_cx_http1_total")).toBeGreaterThanOrEqual(1);
    expect(s.get("http.h2only.downstream_cx_protocol_error")).toBeGreaterThanOrEqual(1);
    expect(s.has("http2.rx_reset")).toBe(true);
  });
});
