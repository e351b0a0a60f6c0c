/**
 * Limits, timeouts and failure modes of the HTTP path, on every runtime: circuit
 * breaker overflow, an upstream reset mid-response, a slow upstream under a large
 * upload, the HCM's timeouts, and Keep-Alive timeouts announced by upstreams.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { randomBytes } from "node:crypto";
import * as http from "node:http";
import * as net from "node:net";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort, kernelBufferBound } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { rawExchange } from "../support/raw-http.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const MiB = 1024 * 1024;

describe.each(RUNTIMES)("HTTP limits and failures on %s", (runtime) => {
  let hold: HttpUpstream;
  let held: http.ServerResponse[] = [];
  let rawPort: number;
  let rawServer: net.Server;
  let slowServer: net.Server;
  let slowPort: number;
  let slowReceived = 0;
  let slowSocket: net.Socket | undefined;
  let proxy: ProxyProcess;
  let port: number;
  const agent = new Agent({ keepAliveTimeout: 10_000, connections: 100 });

  beforeAll(async () => {
    // Holds every request until the test releases it.
    hold = await httpUpstream((_req, res) => held.push(res));
    // Sends chunked response headers and one chunk, then resets: the proxy must not
    // end the downstream response with a last chunk as if it were complete.
    rawServer = net.createServer((socket) => {
      socket.on("error", () => {});
      socket.once("data", () => {
        socket.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n64\r\n" + "x".repeat(100) + "\r\n");
        setTimeout(() => socket.resetAndDestroy(), 100);
      });
    });
    await new Promise<void>((r) => rawServer.listen(0, "127.0.0.1", r));
    rawPort = (rawServer.address() as net.AddressInfo).port;
    // Accepts a connection and reads nothing until told to.
    slowServer = net.createServer((socket) => {
      slowSocket = socket;
      socket.pause();
      socket.on("error", () => {});
      socket.on("data", (d: Buffer) => (slowReceived += d.length));
    });
    await new Promise<void>((r) => slowServer.listen(0, "127.0.0.1", r));
    slowPort = (slowServer.address() as net.AddressInfo).port;
    port = await freePort();
    proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({
        listenPort: port,
        clusters: { hold: [hold.port], raw: [rawPort], slow: [slowPort] },
        clusterExtra: { circuit_breakers: { thresholds: [{ max_connections: 2, max_pending_requests: 2, max_requests: 2 }] } },
        routes: [
          { match: { prefix: "/hold" }, cluster: "hold" },
          { match: { prefix: "/raw" }, cluster: "raw" },
          { match: { prefix: "/slow" }, action: { route: { cluster: "slow", timeout: "0s" } } },
        ],
        hcm: { request_headers_timeout: "0.5s", stream_idle_timeout: "1s" },
      }),
    );
  });

  afterAll(async () => {
    await agent.close();
    await proxy?.stop("SIGKILL");
    await hold?.close();
    rawServer?.close();
    slowSocket?.destroy();
    slowServer?.close();
  });

  test("requests past max_pending_requests get 503 with x-envoy-overloaded (UO); the queued ones complete", async () => {
    held = [];
    const waitHeld = async (n: number) => {
      const deadline = Date.now() + 5000;
      while (held.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(held.length).toBe(n);
    };
    // Two on the two connections (max_connections 2, max_requests 2)…
    const inFlight = [1, 2].map(() => request(`http://127.0.0.1:${port}/hold`, { dispatcher: agent }));
    await waitHeld(2);
    // …two more wait in the pending queue (max_pending_requests 2), as in Envoy…
    const queued = [3, 4].map(() => request(`http://127.0.0.1:${port}/hold`, { dispatcher: agent }));
    await new Promise((r) => setTimeout(r, 200));
    expect(held.length).toBe(2);
    // …and the next one is refused.
    const over = await request(`http://127.0.0.1:${port}/hold`, { dispatcher: agent });
    expect(over.statusCode).toBe(503);
    expect(over.headers["x-envoy-overloaded"]).toBe("true");
    expect(await over.body.text()).toBe("upstream connect error or disconnect/reset before headers. reset reason: overflow");
    for (const res of held.splice(0)) res.end("released");
    for (const res of await Promise.all(inFlight)) expect(await res.body.text()).toBe("released");
    await waitHeld(2);
    for (const res of held.splice(0)) res.end("released");
    for (const res of await Promise.all(queued)) expect(await res.body.text()).toBe("released");
  });

  test("an upstream reset after the response started closes the downstream connection behind what was written", async () => {
    const { text, closed } = await rawExchange(port, "GET /raw HTTP/1.1\r\nHost: a\r\n\r\n");
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).toMatch(/transfer-encoding: chunked\r\n/);
    expect(text).toContain("x".repeat(100)); // what did arrive was passed on
    // No last chunk: the client can tell the message is cut short.
    expect(text).not.toMatch(/\r\n0\r\n\r\n$/);
    expect(closed).toBe(true);
  });

  test("a slow upstream makes the proxy push back on a large upload instead of buffering it", async () => {
    // What the kernel's buffers on both connections can take, plus the proxy's own buffers.
    const heldBack = kernelBufferBound() + 8 * MiB;
    /** Push an upload larger than that at an upstream that never reads; returns how much the client got out. */
    async function upload(ms: number): Promise<number> {
      const client = net.connect({ port, host: "127.0.0.1" });
      await new Promise((r) => client.once("connect", r));
      client.on("error", () => {});
      const total = heldBack + 16 * MiB;
      client.write(`POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: ${total}\r\n\r\n`);
      const chunk = randomBytes(65536);
      let written = 0;
      const pump = () => {
        while (written < total) {
          written += chunk.length;
          if (!client.write(chunk)) return void client.once("drain", pump);
        }
      };
      pump();
      await new Promise((r) => setTimeout(r, ms));
      client.destroy();
      return written;
    }
    // A first run warms the proxy up (JIT, buffers, heap): what it costs is not held per upload.
    await upload(500);
    await new Promise((r) => setTimeout(r, 200));
    const before = proxy.memory().rss;
    const sampler = proxy.sampleRss();
    const written = await upload(1500);
    const peak = sampler.stop();
    console.log(`[${runtime}] slow upstream: client got ${(written / MiB).toFixed(1)} MiB out of ${((heldBack + 16 * MiB) / MiB).toFixed(0)}; proxy RSS +${((peak - before) / MiB).toFixed(1)} MiB`);
    expect(written).toBeLessThan(heldBack); // held back: not the whole upload
    expect(peak - before).toBeLessThan(16 * MiB);
  });

  test("request_headers_timeout: 408 when the headers do not complete in time", async () => {
    const started = Date.now();
    const { text, closed } = await rawExchange(port, "GET /hold HTTP/1.1\r\nHost: a\r\n", 3000);
    expect(text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(text.endsWith("request header timeout")).toBe(true);
    expect(closed).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });

  test("stream_idle_timeout: 504 when nothing moves on a stream whose request is complete", async () => {
    held = [];
    const started = Date.now();
    const res = await request(`http://127.0.0.1:${port}/hold/idle`, { dispatcher: agent });
    expect(res.statusCode).toBe(504);
    expect(await res.body.text()).toBe("stream timeout");
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    for (const r of held) r.destroy();
  });

  test("a duplicate Host header is a 400; CONNECT without upgrade_configs is a 403", async () => {
    expect((await rawExchange(port, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")).text).toMatch(/^HTTP\/1\.1 400 /);
    expect((await rawExchange(port, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")).text).toMatch(/^HTTP\/1\.1 403 /);
  });
});

describe.each(RUNTIMES)("upstream keep-alive on %s", (runtime) => {
  test("a connection is not reused past the upstream's Keep-Alive timeout", async () => {
    // The upstream announces timeout=2 and keeps connections 2 s; the proxy must retire them first.
    const upstream = await httpUpstream((_req, res) => {
      res.setHeader("keep-alive", "timeout=2");
      res.end("ok");
    });
    upstream.server.keepAliveTimeout = 2000;
    const port = await freePort();
    const proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({ listenPort: port, clusters: { up: [upstream.port] }, routes: [{ match: { prefix: "/" }, cluster: "up" }] }),
    );
    const agent = new Agent({ keepAliveTimeout: 10_000 });
    try {
      const first = await request(`http://127.0.0.1:${port}/`, { dispatcher: agent });
      expect(await first.body.text()).toBe("ok");
      await new Promise((r) => setTimeout(r, 1500));
      const second = await request(`http://127.0.0.1:${port}/`, { dispatcher: agent });
      expect(await second.body.text()).toBe("ok");
      // 1.5 s idle is past the proxy's margin (timeout - 1 s): the second request used a new connection.
      expect(upstream.connections).toBe(2);
    } finally {
      await agent.close();
      await proxy.stop("SIGKILL");
      await upstream.close();
    }
  });
});
