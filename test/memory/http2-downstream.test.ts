/**
 * HTTP/2 downstream in the connection manager, on the memory runtime: an HTTP/2 client
 * (the core's own Http2ConnectionImpl in the client role) drives h2 bytes into the HCM,
 * an HTTP/1.1 upstream behind it. Translation both ways, local replies, resets, flow
 * control against a client that stops reading, and GOAWAY on drain.
 */
import { createHash } from "node:crypto";
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { HTTP1_CLUSTER_WITH_TRAILERS, httpProxyConfig, type HttpProxyOptions } from "../support/configs.ts";
import { MemoryHttpServer, type UpstreamHandler } from "./support/http-peers.ts";
import { activeDownstreamConnections, startProxy } from "./support/proxy.ts";
import { H2Client } from "./support/h2-client.ts";

const PROXY = 10000;
const UPSTREAM = 8080;

let runtime: MemoryRuntime;
let server: Server;
let upstream: MemoryHttpServer;

async function setup(handler: UpstreamHandler, proxy: Partial<HttpProxyOptions> = {}): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, handler);
  server = await startProxy(
    runtime,
    httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [UPSTREAM] },
      routes: [
        { match: { prefix: "/direct" }, action: { direct_response: { status: 202, body: { inline_string: "direct" } } } },
        { match: { prefix: "/" }, cluster: "backend" },
      ],
      ...proxy,
    }),
  );
}

function stat(name: string): number {
  const s = server.stats.get(name) as { value: number } | undefined;
  return s?.value ?? -1;
}

function headerOf(fields: string[] | undefined, name: string): string | undefined {
  if (!fields) return undefined;
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** Run what is due in the next second (not runUntilIdle: that would reach idle_timeout's drain). */
function settle(): void {
  runtime.advance(1000);
}

afterEach(() => upstream?.close());

describe("HTTP/2 downstream (memory runtime)", () => {
  test("a request is translated to HTTP/1.1 and its answer back, trailers both ways; stats count HTTP/2", async () => {
    await setup((req, res) => {
      res.writeHead(200, { "x-seen-host": req.get("host") ?? "", connection: "keep-alive" });
      res.end(`body:${req.body.length}`, { "x-up-trailer": "t" });
    }, { clusterExtra: HTTP1_CLUSTER_WITH_TRAILERS });
    const client = new H2Client(runtime, PROXY);
    const ex = client.request([":path", "/x", "cookie", "a=1", "cookie", "b=2", "te", "trailers"], "hello", ["x-req-trailer", "r"]);
    settle();
    expect(upstream.requests.length).toBe(1);
    const req = upstream.requests[0]!;
    expect(req.get("host")).toBe("example.com");
    expect(req.get("cookie")).toBe("a=1; b=2");
    expect(req.trailers).toEqual([["x-req-trailer", "r"]]);
    expect(ex.ended).toBe(true);
    expect(headerOf(ex.headers[0], ":status")).toBe("200");
    expect(headerOf(ex.headers[0], "x-seen-host")).toBe("example.com");
    // Connection-specific fields never go out over HTTP/2 (RFC 9113 §8.2.2).
    expect(headerOf(ex.headers[0], "connection")).toBeUndefined();
    expect(headerOf(ex.headers[0], "transfer-encoding")).toBeUndefined();
    expect(ex.text).toBe("body:5");
    expect(headerOf(ex.trailers, "x-up-trailer")).toBe("t");
    expect(stat("http.ingress_http.downstream_cx_http2_total")).toBe(1);
    expect(stat("http.ingress_http.downstream_cx_http2_active")).toBe(1);
    expect(stat("http.ingress_http.downstream_rq_http2_total")).toBe(1);
    expect(stat("http.ingress_http.downstream_cx_http1_total")).toBe(0);
    client.socket.close();
    settle();
    expect(stat("http.ingress_http.downstream_cx_http2_active")).toBe(0);
    expect(activeDownstreamConnections(server)).toBe(0);
  });

  test("direct responses and local replies go out over HTTP/2, many streams side by side", async () => {
    await setup((_req, res) => res.respond(200, "up"));
    const client = new H2Client(runtime, PROXY);
    const direct = client.request([":path", "/direct"]);
    const up = client.request([":path", "/up"]);
    const noHost = client.request([":path", "/direct", "x-a", "1"]);
    settle();
    expect(headerOf(direct.headers[0], ":status")).toBe("202");
    expect(direct.text).toBe("direct");
    expect(up.text).toBe("up");
    expect(noHost.ended).toBe(true);
    expect(stat("http.ingress_http.downstream_rq_http2_total")).toBe(3);
    expect(stat("http.ingress_http.downstream_rq_active")).toBe(0);
  });

  test("a client's RST_STREAM cancels its upstream request; the connection goes on", async () => {
    await setup(() => {});
    const client = new H2Client(runtime, PROXY);
    const ex = client.request([":path", "/hang"]);
    settle();
    expect(upstream.requests.length).toBe(1);
    ex.stream.reset(0x8);
    settle();
    expect(stat("http.ingress_http.downstream_rq_rx_reset")).toBe(1);
    expect(stat("http.ingress_http.downstream_rq_active")).toBe(0);
    expect(stat("cluster.backend.upstream_rq_active")).toBe(0);
    expect(client.closed).toBe(false);
  });

  test("a client that stops reading: the proxy holds about the buffer limit, not the whole response, and finishes once it reads", async () => {
    const total = 8 * 1024 * 1024;
    await setup((_req, res) => {
      res.writeHead(200, { "content-length": String(total) });
      const chunk = new Uint8Array(64 * 1024);
      for (let sent = 0; sent < total; sent += chunk.length) res.write(chunk);
      res.end();
    });
    const client = new H2Client(runtime, PROXY, { initialStreamWindowSize: 65535 });
    const ex = client.request([":path", "/big"]);
    // The client takes the bytes but returns no window for them: only 64 KiB may be sent.
    ex.stream.readDisable(true);
    settle();
    expect(ex.body).toBe(0);
    const held = stat("http2.pending_send_bytes");
    expect(held).toBeGreaterThan(0);
    // per_connection_buffer_limit_bytes (1 MiB) plus what one upstream read adds.
    expect(held).toBeLessThan(2 * 1024 * 1024);
    ex.stream.readDisable(false);
    settle();
    expect(ex.body).toBe(total);
    expect(ex.ended).toBe(true);
  });

  test("a response complete while the request is still open ends the stream with RST_STREAM NO_ERROR (§8.1), also when its end waited for window", async () => {
    const size = 200 * 1024;
    await setup(() => {});
    // The upstream answers from the request head, without waiting for the body.
    upstream.earlyHandler = (_head, res) => {
      res.respond(200, "x".repeat(size));
      return true;
    };
    const client = new H2Client(runtime, PROXY, { initialStreamWindowSize: 65535 });
    const small = client.request([":path", "/direct"], "part of a body", undefined, true);
    settle();
    expect(small.ended).toBe(true);
    expect(small.reset).toBe(0);
    // More than the client's window: the response's end waits until the client reads.
    const big = client.request([":path", "/big"], "part of a body", undefined, true);
    big.stream.readDisable(true);
    settle();
    expect(big.ended).toBe(false);
    expect(big.reset).toBeUndefined();
    big.stream.readDisable(false);
    settle();
    expect(big.body).toBe(size);
    expect(big.ended).toBe(true);
    expect(big.reset).toBe(0);
    expect(client.error).toBeUndefined();
  });

  test("drain, in Envoy's two steps: GOAWAY 2^31-1 with a response, drain_timeout later the final GOAWAY; the stream in flight finishes, then close", async () => {
    let answer: (() => void) | undefined;
    await setup((req, res) => {
      if (req.path === "/slow") answer = () => res.respond(200, "slow");
      else res.respond(200, "ok");
    });
    const client = new H2Client(runtime, PROXY);
    const drainClose = server.drainClose.bind(server);
    server.drainClose = () => true;
    const slow = client.request([":path", "/slow"]);
    const first = client.request([":path", "/first"]);
    settle();
    expect(first.text).toBe("ok");
    expect(answer).toBeDefined();
    expect(client.goAway).toEqual({ lastStreamId: 2 ** 31 - 1, code: 0 });
    expect(stat("http2.goaway_graceful_sent")).toBe(1);
    expect(stat("http2.goaway_sent")).toBe(0);
    expect(client.closed).toBe(false);
    runtime.advance(4000);
    // drain_timeout (5 s) after the notice: the final GOAWAY names the last stream (3); /slow finishes, then the connection closes.
    expect(client.goAway).toEqual({ lastStreamId: 3, code: 0 });
    expect(stat("http2.goaway_sent")).toBe(1);
    expect(client.closed).toBe(false);
    answer!();
    settle();
    server.drainClose = drainClose;
    expect(slow.text).toBe("slow");
    expect(client.closed).toBe(true);
  });

  test("codec_type HTTP2 answers HTTP/1.1 bytes with GOAWAY PROTOCOL_ERROR and closes", async () => {
    await setup(() => {}, { hcm: { codec_type: "HTTP2" } });
    const socket = runtime.connect({ address: "127.0.0.1", port: PROXY });
    let closed = false;
    const got: number[] = [];
    socket.setHandler({ onConnect() {}, onData: (d) => got.push(...d), onEnd: () => socket.close(), onDrain() {}, onClose: () => (closed = true) });
    socket.write(new TextEncoder().encode("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
    settle();
    expect(closed).toBe(true);
    // The last frame is GOAWAY (type 7) with PROTOCOL_ERROR.
    expect(got.includes(7)).toBe(true);
    expect(stat("http.ingress_http.downstream_cx_protocol_error")).toBe(1);
  });
});

describe("HTTP/2 connection timers (memory runtime)", () => {
  test("idle_timeout with no stream active drains the connection: GOAWAY, then close", async () => {
    await setup((_req, res) => res.respond(200, "ok"), { hcm: { common_http_protocol_options: { idle_timeout: "10s" } } });
    const client = new H2Client(runtime, PROXY);
    const ex = client.request([":path", "/"]);
    settle();
    expect(ex.text).toBe("ok");
    expect(client.closed).toBe(false);
    runtime.advance(10_000);
    // Envoy's startDrainSequence: the notice first, the final GOAWAY drain_timeout (5 s) later, then close.
    expect(client.goAway).toEqual({ lastStreamId: 2 ** 31 - 1, code: 0 });
    expect(client.closed).toBe(false);
    runtime.advance(5000);
    expect(client.goAway).toEqual({ lastStreamId: 1, code: 0 });
    expect(client.closed).toBe(true);
    expect(stat("http.ingress_http.downstream_cx_idle_timeout")).toBe(1);
  });
});

describe("HTTP/2 request_headers_timeout (memory runtime)", () => {
  /** A raw client: the preface, an empty SETTINGS, then `head` (the start of a request's HEADERS), then silence. */
  function stallingClient(head: number[]): { frameTypes: () => number[]; closed: () => boolean } {
    const socket = runtime.connect({ address: "127.0.0.1", port: PROXY });
    let closed = false;
    const bytes: number[] = [];
    socket.setHandler({ onConnect() {}, onData: (d) => bytes.push(...d), onEnd: () => socket.close(), onDrain() {}, onClose: () => (closed = true) });
    socket.write(new Uint8Array([...new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0, ...head]));
    return {
      frameTypes: () => {
        const types: number[] = [];
        for (let at = 0; at + 9 <= bytes.length; at += 9 + ((bytes[at]! << 16) | (bytes[at + 1]! << 8) | bytes[at + 2]!)) types.push(bytes[at + 3]!);
        return types;
      },
      closed: () => closed,
    };
  }
  const timeout = { hcm: { request_headers_timeout: "5s" } };
  // HEADERS (type 1) of 10 bytes on stream 1: only 3 of them come.
  const partialFrame = [0, 0, 10, 1, 0, 0, 0, 0, 1, 0x82, 0x86, 0x84];
  // A whole HEADERS frame without END_HEADERS: the CONTINUATION never comes.
  const noContinuation = [0, 0, 3, 1, 0, 0, 0, 0, 1, 0x82, 0x86, 0x84];

  test.each([
    ["a HEADERS frame cut short", partialFrame],
    ["a header block whose CONTINUATION never comes", noContinuation],
  ])("%s: at the timeout downstream_rq_header_timeout, GOAWAY and close", async (_name, head) => {
    await setup((_req, res) => res.respond(200, "ok"), timeout);
    const client = stallingClient(head);
    runtime.advance(4000);
    expect(client.closed()).toBe(false);
    runtime.advance(1500);
    expect(client.frameTypes()).toContain(7);
    expect(client.closed()).toBe(true);
    expect(stat("http.ingress_http.downstream_rq_header_timeout")).toBe(1);
  });

  test("a complete head stops it: a request whose body is slow is not cut by it", async () => {
    await setup((req, res) => res.respond(200, `got ${req.body.length}`), timeout);
    const client = new H2Client(runtime, PROXY);
    let text = "";
    const stream = client.conn.newStream({ onHeaders() {}, onData: (d) => (text += new TextDecoder().decode(d)), onTrailers() {}, onReset() {} })!;
    stream.sendHeaders([":method", "POST", ":scheme", "http", ":authority", "example.com", ":path", "/"], false);
    runtime.advance(8000);
    expect(client.closed).toBe(false);
    stream.sendData(new TextEncoder().encode("late"), true);
    settle();
    expect(text).toBe("got 4");
    expect(stat("http.ingress_http.downstream_rq_header_timeout")).toBe(0);
  });
});

describe("HTTP/2 connection_keepalive (memory runtime)", () => {
  const keepalive = { hcm: { http2_protocol_options: { connection_keepalive: { interval: "10s", timeout: "2s" } } } };

  /** A raw client: the preface and an empty SETTINGS, then silence (it never answers a PING). */
  function silentClient(): { frameTypes: number[]; closed: () => boolean } {
    const socket = runtime.connect({ address: "127.0.0.1", port: PROXY });
    let closed = false;
    const bytes: number[] = [];
    socket.setHandler({ onConnect() {}, onData: (d) => bytes.push(...d), onEnd: () => socket.close(), onDrain() {}, onClose: () => (closed = true) });
    socket.write(new Uint8Array([...new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0]));
    const frameTypes: number[] = [];
    return {
      get frameTypes() {
        frameTypes.length = 0;
        for (let at = 0; at + 9 <= bytes.length; at += 9 + ((bytes[at]! << 16) | (bytes[at + 1]! << 8) | bytes[at + 2]!)) frameTypes.push(bytes[at + 3]!);
        return frameTypes;
      },
      closed: () => closed,
    };
  }

  test("a client that answers PINGs keeps its connection; one that does not is closed after the timeout, counted as http2.keepalive_timeout", async () => {
    await setup((_req, res) => res.respond(200, "ok"), keepalive);
    const answering = new H2Client(runtime, PROXY);
    const ex = answering.request([":path", "/"]);
    const silent = silentClient();
    settle();
    expect(ex.text).toBe("ok");
    // PING type 6: none before the interval.
    expect(silent.frameTypes).not.toContain(6);
    // 1 s in: the PING goes 10 s plus up to 15 % jitter after the connection began (10–11.5 s),
    // and the connection closes 2 s after it, unanswered (12–13.5 s).
    runtime.advance(10_600);
    expect(silent.frameTypes).toContain(6);
    expect(silent.closed()).toBe(false);
    runtime.advance(2_000);
    expect(silent.closed()).toBe(true);
    expect(stat("http2.keepalive_timeout")).toBe(1);
    // The answering client has been PINGed several times by now and is still connected.
    runtime.advance(60_000);
    expect(answering.closed).toBe(false);
    expect(stat("http2.keepalive_timeout")).toBe(1);
  });
});

describe("rapid reset (CVE-2023-44487) (memory runtime)", () => {
  test("a client that resets most streams at once loses the connection; downstream_rq_too_many_premature_resets counts it", async () => {
    await setup(() => {});
    const client = new H2Client(runtime, PROXY);
    for (let i = 0; i < 600 && !client.closed; i++) {
      const ex = client.request([":path", `/r${i}`]);
      ex.stream.reset(0x8);
      if (i % 50 === 49) settle();
    }
    settle();
    expect(client.closed).toBe(true);
    expect(stat("http.ingress_http.downstream_rq_too_many_premature_resets")).toBe(1);
    expect(stat("http.ingress_http.downstream_rq_active")).toBe(0);
    expect(stat("http.ingress_http.downstream_cx_active")).toBe(0);
  });
});

describe("extended CONNECT (RFC 8441) downstream (memory runtime)", () => {
  test("with allow_connect, SETTINGS enable it and a websocket CONNECT reaches an HTTP/1.1 upstream as GET + Upgrade; its 101 comes back as a 200, then DATA is the tunnel", async () => {
    runtime = new MemoryRuntime({ seed: 1 });
    // A raw HTTP/1.1 upstream: records the upgrade request, answers 101, then echoes with a prefix.
    let head = "";
    let tunnelled = "";
    let upstreamEnded = false;
    const listener = await runtime.listen({ address: "127.0.0.1", port: UPSTREAM }, (socket) => {
      socket.setHandler({
        onConnect() {},
        onData(data: Uint8Array) {
          const text = new TextDecoder().decode(data);
          if (!head.includes("\r\n\r\n")) {
            head += text;
            const end = head.indexOf("\r\n\r\n");
            if (end < 0) return;
            tunnelled += head.slice(end + 4);
            head = head.slice(0, end + 4);
            // The key polyvoy made up for the HTTP/2 client (it sent none), answered as RFC 6455 §4.2.2 says.
            const key = /\r\nsec-websocket-key: ([^\r]+)\r\n/i.exec(head)?.[1] ?? "";
            const accept = createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
            socket.write(new TextEncoder().encode(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`));
            return;
          }
          tunnelled += text;
          socket.write(new TextEncoder().encode(`echo:${text}`));
        },
        onEnd() {
          upstreamEnded = true;
          socket.end();
        },
        onDrain() {},
        onClose() {},
      });
    });
    server = await startProxy(
      runtime,
      httpProxyConfig({
        listenPort: PROXY,
        clusters: { backend: [UPSTREAM] },
        routes: [{ match: { prefix: "/" }, cluster: "backend" }],
        hcm: { codec_type: "HTTP2", http2_protocol_options: { allow_connect: true }, upgrade_configs: [{ upgrade_type: "websocket" }] },
      }),
    );
    const client = new H2Client(runtime, PROXY);
    settle();
    expect(client.conn.peerEnableConnectProtocol).toBe(true);
    const headers: string[][] = [];
    let text = "";
    let ended = false;
    const stream = client.conn.newStream({
      onHeaders: (f) => void headers.push(f),
      onData: (d, end) => {
        text += new TextDecoder().decode(d);
        if (end) ended = true;
      },
      onTrailers() {},
      onReset() {},
    })!;
    stream.sendHeaders([":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":path", "/chat", ":authority", "ws.test", "sec-websocket-version", "13"], false);
    stream.sendData(new TextEncoder().encode("hi"), false);
    settle();
    expect(head).toMatch(/^GET \/chat HTTP\/1\.1\r\n/);
    expect(head.toLowerCase()).toContain("upgrade: websocket\r\n");
    expect(head.toLowerCase()).toContain("connection: upgrade\r\n");
    expect(head.toLowerCase()).toContain("host: ws.test\r\n");
    expect(headerOf(headers[0], ":status")).toBe("200");
    expect(head.toLowerCase()).toMatch(/\r\nsec-websocket-key: [a-z0-9+/]{22}==\r\n/);
    // The accept answers polyvoy's key, not the client's: it does not go to the client.
    expect(headerOf(headers[0], "sec-websocket-accept")).toBeUndefined();
    expect(headerOf(headers[0], "upgrade")).toBeUndefined();
    expect(tunnelled).toBe("hi");
    stream.sendData(new TextEncoder().encode("more"), false);
    settle();
    expect(text).toContain("echo:more");
    // The client's END_STREAM is the upstream connection's FIN; the upstream's FIN ends the stream.
    stream.sendData(new Uint8Array(0), true);
    settle();
    expect(upstreamEnded).toBe(true);
    expect(ended).toBe(true);
    expect(stat("http.ingress_http.downstream_rq_active")).toBe(0);
    listener.close();
  });

  test("a websocket CONNECT's DATA waits for the HTTP/1.1 upstream's 101: refused (403), the upstream never reads it (Envoy's paused_for_websocket_)", async () => {
    runtime = new MemoryRuntime({ seed: 1 });
    let received = "";
    const listener = await runtime.listen({ address: "127.0.0.1", port: UPSTREAM }, (socket) => {
      let answered = false;
      socket.setHandler({
        onConnect() {},
        onData(data: Uint8Array) {
          received += new TextDecoder().decode(data);
          if (answered || !received.includes("\r\n\r\n")) return;
          answered = true;
          socket.write(new TextEncoder().encode("HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\n\r\nno"));
        },
        onEnd() {},
        onDrain() {},
        onClose() {},
      });
    });
    server = await startProxy(
      runtime,
      httpProxyConfig({
        listenPort: PROXY,
        clusters: { backend: [UPSTREAM] },
        routes: [{ match: { prefix: "/" }, cluster: "backend" }],
        hcm: { codec_type: "HTTP2", http2_protocol_options: { allow_connect: true }, upgrade_configs: [{ upgrade_type: "websocket" }] },
      }),
    );
    const client = new H2Client(runtime, PROXY);
    settle();
    const headers: string[][] = [];
    let text = "";
    const stream = client.conn.newStream({ onHeaders: (f) => void headers.push(f), onData: (d) => void (text += new TextDecoder().decode(d)), onTrailers() {}, onReset() {} })!;
    stream.sendHeaders([":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":path", "/chat", ":authority", "ws.test", "sec-websocket-version", "13"], false);
    stream.sendData(new TextEncoder().encode("GET /smuggled HTTP/1.1\r\nHost: internal\r\n\r\n"), false);
    settle();
    expect(received).toMatch(/^GET \/chat HTTP\/1\.1\r\n/);
    // Before the fix the DATA went right behind the head: the upstream read it as its next request.
    expect(received).not.toContain("/smuggled");
    expect(headerOf(headers[0], ":status")).toBe("403");
    expect(text).toBe("no");
    listener.close();
  });

  test("without allow_connect, :protocol is a malformed request (as Envoy: the connection ends, PROTOCOL_ERROR)", async () => {
    await setup((_req, res) => res.respond(200, "up"), { hcm: { codec_type: "HTTP2" } });
    const client = new H2Client(runtime, PROXY);
    settle();
    expect(client.conn.peerEnableConnectProtocol).toBe(false);
    const stream = client.conn.newStream({ onHeaders() {}, onData() {}, onTrailers() {}, onReset() {} })!;
    stream.sendHeaders([":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":path", "/chat", ":authority", "ws.test"], false);
    settle();
    expect(client.goAway?.code).toBe(1);
    expect(upstream.requests).toHaveLength(0);
    expect(stat("http2.rx_messaging_error")).toBe(1);
  });
});
