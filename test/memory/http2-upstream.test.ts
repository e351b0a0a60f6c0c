/**
 * The HTTP/2 upstream pool (core/upstream/http2-conn-pool.ts) through a whole proxy on the
 * memory runtime: HTTP/1.1 clients in front, an h2c upstream (the core's codec in the server
 * role) behind. Streams per connection, the peer's and the configured stream limits,
 * GOAWAY (refused streams retried as retry_on says), upstream resets, circuit breakers
 * counted per stream, max_requests_per_connection, cancellation reaching the upstream,
 * translation both ways, and the config that selects HTTP/2.
 */
import { afterEach, describe, expect, test } from "vitest";
import { loadBootstrap } from "../../core/config/load.ts";
import { Logger } from "../../core/log.ts";
import { Server } from "../../core/server.ts";
import { Http2CodecStats } from "../../core/http2/codec-stats.ts";
import { Http2ConnectionImpl } from "../../core/http2/connection.ts";
import type { Socket } from "../../core/port.ts";
import { StatsStore } from "../../core/stats/stats-store.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { HCM_WITH_TRAILERS, httpProxyConfig, type HttpRoute } from "../support/configs.ts";
import { type H2Exchange, MemoryH2Server } from "./support/h2-peers.ts";
import { MemoryHttpClient } from "./support/http-peers.ts";
import { pooledConnections, resourceCounters, startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;
const HTTP2_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

let runtime: MemoryRuntime;
let server: Server;
let upstream: MemoryH2Server | undefined;

afterEach(() => {
  upstream?.close();
  upstream = undefined;
});

function typedHttp2(http2: Record<string, unknown> = {}, common?: Record<string, unknown>): Record<string, unknown> {
  return {
    typed_extension_protocol_options: {
      [HTTP2_OPTIONS]: {
        "@type": `type.googleapis.com/${HTTP2_OPTIONS}`,
        explicit_http_config: { http2_protocol_options: http2 },
        ...(common ? { common_http_protocol_options: common } : {}),
      },
    },
  };
}

async function proxy(clusterExtra: Record<string, unknown>, options: { upstream?: Record<string, unknown>; routes?: HttpRoute[]; hcm?: Record<string, unknown> } = {}): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  upstream = await MemoryH2Server.listen(runtime, UPSTREAM, options.upstream ?? {});
  server = await startProxy(
    runtime,
    httpProxyConfig({ listenPort: PROXY, clusters: { backend: [UPSTREAM] }, routes: options.routes ?? [{ match: { prefix: "/" }, cluster: "backend" }], clusterExtra, ...(options.hcm ? { hcm: options.hcm } : {}) }),
  );
}

function stat(name: string): number | undefined {
  return (server.stats.get(name) as { value: number } | undefined)?.value;
}

/** Run what is due in the next second (not runUntilIdle: that would reach the idle timeouts). */
function settle(): void {
  runtime.advance(1000);
}

function clients(n: number): MemoryHttpClient[] {
  return Array.from({ length: n }, () => new MemoryHttpClient(runtime, PROXY));
}

function expectNoLeaks(all: MemoryHttpClient[]): void {
  for (const client of all) client.socket.close();
  settle();
  expect(resourceCounters(server, "backend")).toEqual({ connections: pooledConnections(server, "backend"), pendingRequests: 0, requests: 0 });
  expect(stat("cluster.backend.upstream_rq_active")).toBe(0);
  expect(stat("cluster.backend.http2.streams_active")).toBe(0);
}

describe("HTTP/2 upstream pool", () => {
  test("an HTTP/1.1 request goes out as HTTP/2: :authority from Host, connection-specific fields dropped, te: trailers kept; trailers both ways", async () => {
    // The client speaks HTTP/1.1: its trailers pass with the HCM's enable_trailers.
    await proxy(typedHttp2(), { hcm: HCM_WITH_TRAILERS });
    upstream!.onRequest = (ex) => ex.respond(200, `got ${ex.body}`, ["grpc-status", "0"]);
    const [client] = clients(1);
    client!.request("POST", "/echo?x=1", { headers: { te: "trailers", "keep-alive": "timeout=5", "x-custom": "v" }, body: "hello", chunked: true });
    settle();
    const ex = upstream!.exchanges[0]!;
    expect(ex.header(":method")).toBe("POST");
    expect(ex.header(":path")).toBe("/echo?x=1");
    expect(ex.header(":authority")).toBe("example.com");
    expect(ex.header(":scheme")).toBe("http");
    expect(ex.header("host")).toBeUndefined();
    expect(ex.header("keep-alive")).toBeUndefined();
    expect(ex.header("transfer-encoding")).toBeUndefined();
    expect(ex.header("te")).toBe("trailers");
    expect(ex.header("x-custom")).toBe("v");
    expect(ex.body).toBe("hello");
    const res = client!.responses[0]!;
    expect(res.status).toBe(200);
    expect(res.text()).toBe("got hello");
    expect(res.trailers).toEqual([["grpc-status", "0"]]);
    expect(stat("cluster.backend.upstream_cx_http2_total")).toBe(1);
    expect(stat("cluster.backend.upstream_cx_http1_total")).toBe(0);
    expect(stat("cluster.backend.upstream_rq_total")).toBe(1);
    expect(stat("cluster.backend.upstream_rq_200")).toBe(1);
    expectNoLeaks([client!]);
  });

  // Envoy's Filter::onUpstreamHeaders: a retried response is an rq_error of its host,
  // whatever its status, ended with its headers or not (the pool must not count it a success).
  test.each([
    ["headers only", ""],
    ["with a body", "conflict"],
  ])("a 409 retried on retriable_status_codes (%s) is an rq_error of its host, the 200 after it an rq_success", async (_name, body) => {
    await proxy(typedHttp2(), { routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend", retry_policy: { retry_on: "retriable-status-codes", retriable_status_codes: [409] } } } }] });
    let n = 0;
    upstream!.onRequest = (ex) => (n++ === 0 ? ex.respond(409, body) : ex.respond(200, "ok"));
    const [client] = clients(1);
    client!.request("GET", "/");
    settle();
    expect(client!.responses[0]!.status).toBe(200);
    const host = server.clusterManager.get("backend")!.hosts[0]!;
    expect({ rqError: host.stats.rqError, rqSuccess: host.stats.rqSuccess }).toEqual({ rqError: 1, rqSuccess: 1 });
    expect(stat("cluster.backend.upstream_rq_retry")).toBe(1);
    expectNoLeaks([client!]);
  });

  test("many requests share one connection as streams; the peer's SETTINGS_MAX_CONCURRENT_STREAMS caps each connection", async () => {
    await proxy(typedHttp2(), { upstream: { maxConcurrentStreams: 2 } });
    const held: H2Exchange[] = [];
    upstream!.onRequest = (ex) => held.push(ex);
    const all = clients(5);
    for (const [i, client] of all.entries()) client.request("GET", `/r${i}`);
    settle();
    // 5 streams, at most 2 per connection: 3 connections (the limit is learnt from each one's SETTINGS).
    expect(held).toHaveLength(5);
    expect(upstream!.connections).toHaveLength(3);
    expect(upstream!.connections.map((c) => c.codec.activeStreams).sort()).toEqual([1, 2, 2]);
    for (const ex of held) ex.respond(200, "ok");
    settle();
    expect(all.map((c) => c.responses[0]?.status)).toEqual([200, 200, 200, 200, 200]);
    // Idle connections are kept for the next requests: 5 more make no new connection.
    held.length = 0;
    for (const [i, client] of all.entries()) client.request("GET", `/again${i}`);
    settle();
    expect(held).toHaveLength(5);
    expect(upstream!.connections).toHaveLength(3);
    for (const ex of held) ex.respond(200, "ok");
    settle();
    expect(stat("cluster.backend.upstream_cx_total")).toBe(3);
    expect(stat("cluster.backend.upstream_rq_total")).toBe(10);
    expectNoLeaks(all);
  });

  test("preconnect_policy.per_upstream_preconnect_ratio 2: a second connection opens once two streams fill the first (Envoy's shouldCreateNewConnection); without it, none", async () => {
    for (const ratio of [2, undefined]) {
      await proxy({ ...typedHttp2({ max_concurrent_streams: 2 }), ...(ratio ? { preconnect_policy: { per_upstream_preconnect_ratio: ratio } } : {}) });
      const held: H2Exchange[] = [];
      upstream!.onRequest = (ex) => held.push(ex);
      const all = clients(2);
      all[0]!.request("GET", "/a");
      settle();
      // One stream: (1 + 0) × 2 is not above the 2 streams the first connection offers.
      expect(stat("cluster.backend.upstream_cx_http2_total")).toBe(1);
      all[1]!.request("GET", "/b");
      settle();
      expect(held).toHaveLength(2);
      // Two active streams: 2 × 2 > 0 free + 2 active, so one more connection (ratio 2); 2 × 1 is not.
      expect(stat("cluster.backend.upstream_cx_http2_total")).toBe(ratio ? 2 : 1);
      for (const ex of held) ex.respond(200, "ok");
      settle();
      expect(all.map((c) => c.responses[0]?.status)).toEqual([200, 200]);
      expectNoLeaks(all);
      upstream!.close();
    }
  });

  test("the configured max_concurrent_streams caps streams per connection below the peer's", async () => {
    await proxy(typedHttp2({ max_concurrent_streams: 1 }));
    const held: H2Exchange[] = [];
    upstream!.onRequest = (ex) => held.push(ex);
    const all = clients(3);
    for (const client of all) client.request("GET", "/");
    settle();
    expect(upstream!.connections).toHaveLength(3);
    for (const ex of held) ex.respond(204);
    settle();
    expect(all.map((c) => c.responses[0]?.status)).toEqual([204, 204, 204]);
    expectNoLeaks(all);
  });

  test("circuit breakers count streams (Envoy's attachStreamToClient): max_pending_requests while connecting, then max_requests refuses a stream the connection had room for", async () => {
    await proxy({ ...typedHttp2(), circuit_breakers: { thresholds: [{ max_requests: 2, max_pending_requests: 2 }] } });
    const held: H2Exchange[] = [];
    upstream!.onRequest = (ex) => held.push(ex);
    const all = clients(3);
    // A cold pool: the streams wait for the connection, two at most.
    for (const client of all) client.request("GET", "/");
    settle();
    expect(held).toHaveLength(2);
    expect(stat("cluster.backend.upstream_rq_pending_total")).toBe(2);
    expect(stat("cluster.backend.upstream_rq_pending_overflow")).toBe(1);
    expect(resourceCounters(server, "backend")).toEqual({ connections: 1, pendingRequests: 0, requests: 2 });
    expect(stat("cluster.backend.circuit_breakers.default.rq_open")).toBe(1);
    const late = clients(1)[0]!;
    late.request("GET", "/late");
    settle();
    expect(late.responses[0]?.status).toBe(503);
    expect(late.responses[0]?.get("x-envoy-overloaded")).toBe("true");
    expect(stat("cluster.backend.upstream_rq_pending_overflow")).toBe(2);
    for (const ex of held) ex.respond(200, "ok");
    settle();
    expect(all.map((c) => c.responses[0]?.status).sort()).toEqual([200, 200, 503]);
    expect(upstream!.connections).toHaveLength(1);
    expect(stat("cluster.backend.circuit_breakers.default.rq_open")).toBe(0);
    expectNoLeaks([...all, late]);
  });

  test("GOAWAY: streams above its last-stream-id are refused and retried (retry_on refused-stream) on a new connection; the old one finishes its stream and closes", async () => {
    await proxy(typedHttp2(), { routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend", retry_policy: { retry_on: "refused-stream", num_retries: 2 } } } }] });
    const held: H2Exchange[] = [];
    upstream!.onRequest = (ex) => held.push(ex);
    const all = clients(3);
    for (const [i, client] of all.entries()) client.request("GET", `/g${i}`);
    settle();
    expect(held.map((ex) => ex.stream.id)).toEqual([1, 3, 5]);
    const first = upstream!.connections[0]!;
    first.goAway(1);
    settle();
    // Streams 3 and 5 went again on a second connection.
    expect(upstream!.connections).toHaveLength(2);
    expect(held).toHaveLength(5);
    expect(stat("cluster.backend.upstream_rq_retry")).toBe(2);
    expect(stat("cluster.backend.http2.stream_refused_errors")).toBe(2);
    for (const ex of held) if (ex.connection !== first || ex.stream.id === 1) ex.respond(200, ex.header(":path"));
    settle();
    expect(all.map((c) => c.responses[0]?.text()).sort()).toEqual(["/g0", "/g1", "/g2"]);
    // The drained connection closed once its last stream ended; the new one stays.
    expect(first.closed).toBe(true);
    expect(pooledConnections(server, "backend")).toBe(1);
    expectNoLeaks(all);
  });

  test("GOAWAY without a retry policy: a refused stream is a 503 with the reset reason, flag UR", async () => {
    await proxy(typedHttp2());
    const held: H2Exchange[] = [];
    upstream!.onRequest = (ex) => held.push(ex);
    const all = clients(2);
    for (const client of all) client.request("GET", "/");
    settle();
    upstream!.connections[0]!.goAway(1);
    settle();
    held[0]!.respond(200, "first");
    settle();
    const texts = all.map((c) => c.responses[0]?.text());
    expect(texts).toContain("first");
    expect(texts).toContain("upstream connect error or disconnect/reset before headers. reset reason: remote refused stream reset");
    expectNoLeaks(all);
  });

  test("RST_STREAM from the upstream: 503 remote reset for that request; the connection goes on carrying the others", async () => {
    await proxy(typedHttp2());
    const held: H2Exchange[] = [];
    upstream!.onRequest = (ex) => held.push(ex);
    const all = clients(2);
    for (const client of all) client.request("GET", "/");
    settle();
    held[0]!.stream.reset(0x2);
    held[1]!.respond(200, "fine");
    settle();
    const texts = all.map((c) => c.responses[0]?.text()).sort();
    expect(texts).toEqual(["fine", "upstream connect error or disconnect/reset before headers. reset reason: remote reset"]);
    expect(upstream!.connections).toHaveLength(1);
    expect(upstream!.connections[0]!.closed).toBe(false);
    expect(stat("cluster.backend.http2.rx_reset")).toBe(1);
    expectNoLeaks(all);
  });

  test("a downstream that goes away cancels its upstream stream (RST_STREAM CANCEL), not the connection", async () => {
    await proxy(typedHttp2());
    const held: H2Exchange[] = [];
    upstream!.onRequest = (ex) => held.push(ex);
    const [gone, stays] = clients(2);
    gone!.request("GET", "/gone");
    stays!.request("GET", "/stays");
    settle();
    gone!.socket.close();
    settle();
    const goneEx = held.find((ex) => ex.header(":path") === "/gone")!;
    expect(goneEx.reset).toBe(0x8);
    held.find((ex) => ex.header(":path") === "/stays")!.respond(200, "ok");
    settle();
    expect(stays!.responses[0]?.text()).toBe("ok");
    expect(upstream!.connections).toHaveLength(1);
    expectNoLeaks([stays!]);
  });

  test("max_requests_per_connection: a connection that carried its last stream drains and closes; the next request opens another", async () => {
    await proxy(typedHttp2({}, { max_requests_per_connection: 2 }));
    upstream!.onRequest = (ex) => ex.respond(200, "ok");
    const [client] = clients(1);
    for (let i = 0; i < 3; i++) {
      client!.request("GET", `/${i}`);
      settle();
    }
    expect(client!.responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(upstream!.connections).toHaveLength(2);
    expect(upstream!.connections[0]!.closed).toBe(true);
    expect(stat("cluster.backend.upstream_cx_max_requests")).toBe(1);
    expectNoLeaks([client!]);
  });

  test("an upstream that accepts but never sends its SETTINGS: the connect timeout fails the request (503, connection timeout)", async () => {
    runtime = new MemoryRuntime({ seed: 1 });
    const silent = await runtime.listen({ address: "127.0.0.1", port: UPSTREAM }, (socket) => socket.setHandler({ onConnect() {}, onData() {}, onEnd() {}, onDrain() {}, onClose() {} }));
    server = await startProxy(
      runtime,
      httpProxyConfig({ listenPort: PROXY, clusters: { backend: [UPSTREAM] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], clusterExtra: typedHttp2() }),
    );
    const [client] = clients(1);
    client!.request("GET", "/");
    settle();
    settle();
    expect(client!.responses[0]?.status).toBe(503);
    expect(client!.responses[0]?.text()).toBe("upstream connect error or disconnect/reset before headers. reset reason: connection timeout");
    expect(stat("cluster.backend.upstream_cx_connect_timeout")).toBe(1);
    silent.close();
  });

  test("request trailers go out as an HTTP/2 trailer block", async () => {
    await proxy(typedHttp2(), { hcm: HCM_WITH_TRAILERS });
    upstream!.onRequest = (ex) => ex.respond(200, `trailers ${JSON.stringify(ex.trailers)}`);
    const [client] = clients(1);
    client!.send("POST /t HTTP/1.1\r\nhost: example.com\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-req-trailer: r\r\n\r\n");
    client!.parser.expectResponseTo("POST");
    settle();
    expect(upstream!.exchanges[0]!.body).toBe("abc");
    expect(client!.responses[0]?.text()).toBe('trailers ["x-req-trailer","r"]');
  });

  test("common_http_protocol_options.idle_timeout closes an idle HTTP/2 connection (upstream_cx_idle_timeout)", async () => {
    await proxy(typedHttp2({}, { idle_timeout: "2s" }));
    upstream!.onRequest = (ex) => ex.respond(200, "ok");
    const [client] = clients(1);
    client!.request("GET", "/");
    settle();
    expect(client!.responses[0]?.status).toBe(200);
    expect(pooledConnections(server, "backend")).toBe(1);
    runtime.advance(3000);
    expect(pooledConnections(server, "backend")).toBe(0);
    expect(stat("cluster.backend.upstream_cx_idle_timeout")).toBe(1);
    expect(upstream!.connections[0]!.closed).toBe(true);
  });

  test("use_downstream_protocol_config: an HTTP/1.1 request goes out as HTTP/1.1 (here to an h2-only upstream, which fails it)", async () => {
    await proxy({
      typed_extension_protocol_options: {
        [HTTP2_OPTIONS]: { "@type": `type.googleapis.com/${HTTP2_OPTIONS}`, use_downstream_protocol_config: { http2_protocol_options: {} } },
      },
    });
    const [client] = clients(1);
    client!.request("GET", "/");
    settle();
    expect(stat("cluster.backend.upstream_cx_http1_total")).toBe(1);
    expect(stat("cluster.backend.upstream_cx_http2_total")).toBe(0);
    // The h2 server's bytes are no HTTP/1 response: an upstream protocol error, 502 as Envoy's.
    expect(client!.responses[0]?.status).toBe(502);
  });

  async function upgradeProxy(upstreamOptions: Record<string, unknown>): Promise<void> {
    runtime = new MemoryRuntime({ seed: 1 });
    upstream = await MemoryH2Server.listen(runtime, UPSTREAM, upstreamOptions);
    server = await startProxy(
      runtime,
      httpProxyConfig({
        listenPort: PROXY,
        clusters: { backend: [UPSTREAM] },
        routes: [{ match: { prefix: "/" }, cluster: "backend" }],
        clusterExtra: typedHttp2({ allow_connect: true }),
        hcm: { upgrade_configs: [{ upgrade_type: "websocket" }] },
      }),
    );
  }

  test("an upgrade toward an HTTP/2 upstream that did not enable extended CONNECT (RFC 8441 §3) is reset locally: 503, the upstream never sees it", async () => {
    await upgradeProxy({});
    const [client] = clients(1);
    client!.request("GET", "/ws", { headers: { connection: "upgrade", upgrade: "websocket" } });
    settle();
    expect(client!.responses[0]?.status).toBe(503);
    expect(client!.responses[0]?.text()).toBe("upstream connect error or disconnect/reset before headers. reset reason: local reset");
    expect(upstream!.exchanges).toHaveLength(0);
  });

  test("an upgrade (WebSocket) goes out as an extended CONNECT; the upstream's 200 comes back as a 101, then DATA is the tunnel both ways", async () => {
    await upgradeProxy({ allowConnect: true });
    const socket = runtime.connect({ address: "127.0.0.1", port: PROXY });
    let received = "";
    let ended = false;
    socket.setHandler({
      onConnect() {},
      onData: (data: Uint8Array) => void (received += new TextDecoder().decode(data)),
      onEnd: () => void (ended = true),
      onDrain() {},
      onClose() {},
    });
    socket.write(new TextEncoder().encode("GET /chat HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\nearly"));
    settle();
    const exchange = upstream!.exchanges[0]!;
    expect(exchange.fields.slice(0, 10)).toEqual([":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":authority", "ws.test", ":path", "/chat"]);
    expect(exchange.header("upgrade")).toBeUndefined();
    expect(exchange.header("connection")).toBeUndefined();
    expect(exchange.header("sec-websocket-version")).toBe("13");
    // The bytes behind the upgrade head wait for the upstream's answer (Envoy's
    // paused_for_websocket_, whatever the upstream's protocol), the stream still open.
    expect(exchange.body).toBe("");
    expect(exchange.ended).toBe(false);
    exchange.stream.sendHeaders([":status", "200", "sec-websocket-accept", "k"], false);
    settle();
    // Answered: they went out as DATA.
    expect(exchange.body).toBe("early");
    expect(received).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(received.toLowerCase()).toContain("upgrade: websocket\r\n");
    expect(received.toLowerCase()).toContain("connection: upgrade\r\n");
    expect(received.toLowerCase()).toContain("sec-websocket-accept: k\r\n");
    exchange.stream.sendData(new TextEncoder().encode("from upstream"), false);
    socket.write(new TextEncoder().encode(" and more"));
    settle();
    expect(received.endsWith("\r\n\r\nfrom upstream")).toBe(true);
    expect(exchange.body).toBe("early and more");
    // Each side's end passes on as a half-close: the client's FIN is END_STREAM, the upstream's END_STREAM a FIN.
    socket.end();
    settle();
    expect(exchange.ended).toBe(true);
    exchange.stream.sendData(new Uint8Array(0), true);
    settle();
    expect(ended).toBe(true);
    expect(stat("cluster.backend.upstream_rq_101")).toBe(1);
    expect(stat("cluster.backend.http2.streams_active")).toBe(0);
  });

  test("the deprecated cluster field http2_protocol_options selects HTTP/2 too", async () => {
    await proxy({ http2_protocol_options: {} });
    upstream!.onRequest = (ex) => ex.respond(200, "legacy");
    const [client] = clients(1);
    client!.request("GET", "/");
    settle();
    expect(client!.responses[0]?.text()).toBe("legacy");
    expect(stat("cluster.backend.upstream_cx_http2_total")).toBe(1);
  });
});

/** A downstream HTTP/2 client (the core's codec in the client role) on one memory connection. */
function h2Client(window: number): { conn: Http2ConnectionImpl; socket: Socket } {
  const socket = runtime.connect({ address: "127.0.0.1", port: PROXY });
  const conn = new Http2ConnectionImpl("client", { write: (data) => socket.write(data.slice()) }, { onConnectionError() {} }, new Http2CodecStats(new StatsStore().scope("client.")), {
    initialStreamWindowSize: window,
  });
  socket.setHandler({ onConnect() {}, onData: (d) => conn.dispatch(d), onEnd: () => socket.close(), onDrain: () => conn.onWriteDrained(), onClose: () => conn.destroy() });
  conn.start();
  return { conn, socket };
}

describe("HTTP/2 upstream connection_keepalive", () => {
  test("PINGs every interval on the upstream connection; answered, it stays; unanswered past the timeout, it closes (cluster http2.keepalive_timeout)", async () => {
    await proxy(typedHttp2({ connection_keepalive: { interval: "2s", timeout: "1s", interval_jitter: {} } }));
    upstream!.onRequest = (exchange) => exchange.respond(200, "ok");
    const [client] = clients(1);
    client!.request("GET", "/a");
    settle();
    expect(client!.responses[0]?.status).toBe(200);
    const connection = upstream!.connections[0]!;
    // The upstream's codec answers PINGs: ten seconds of them keep the connection.
    for (let i = 0; i < 10; i++) settle();
    expect(connection.closed).toBe(false);
    expect(stat("cluster.backend.http2.keepalive_timeout")).toBe(0);
    // An upstream that stops reading answers none: the next PING times out.
    connection.socket.readDisable(true);
    for (let i = 0; i < 4; i++) settle();
    expect(stat("cluster.backend.http2.keepalive_timeout")).toBe(1);
    expect(stat("cluster.backend.upstream_cx_active")).toBe(0);
    // The next request opens a new connection.
    client!.request("GET", "/b");
    settle();
    expect(client!.responses[1]?.status).toBe(200);
    expect(upstream!.connections).toHaveLength(2);
  });
});

describe("HTTP/2 upstream connection_keepalive.connection_idle_interval", () => {
  test("a stream on a connection idle past the interval is preceded by a PING; unanswered, the connection closes; a busy connection gets none", async () => {
    await proxy(typedHttp2({ connection_keepalive: { timeout: "1s", connection_idle_interval: "2s" } }));
    upstream!.onRequest = (exchange) => exchange.respond(200, "ok");
    const [client] = clients(1);
    client!.request("GET", "/a");
    settle();
    expect(client!.responses[0]?.status).toBe(200);
    const connection = upstream!.connections[0]!;
    // Within the interval: no PING, so an upstream that reads nothing for a while costs nothing.
    connection.socket.readDisable(true);
    client!.request("GET", "/b");
    for (let i = 0; i < 3; i++) settle();
    expect(stat("cluster.backend.http2.keepalive_timeout")).toBe(0);
    connection.socket.readDisable(false);
    settle();
    expect(client!.responses[1]?.status).toBe(200);
    // Idle past the interval: the next stream is preceded by a PING, which goes unanswered.
    for (let i = 0; i < 3; i++) settle();
    connection.socket.readDisable(true);
    client!.request("GET", "/c");
    for (let i = 0; i < 2; i++) settle();
    expect(stat("cluster.backend.http2.keepalive_timeout")).toBe(1);
    expect(stat("cluster.backend.upstream_cx_active")).toBe(0);
    expect(client!.responses[2]?.status).toBe(503);
  });
});

describe("HTTP/2 upstream flow control", () => {
  test("a downstream that stops reading stops the upstream at its window: polyvoy holds about its buffer limit, not the stream; all of it arrives once the reader reads", async () => {
    const total = 8 * 1024 * 1024;
    await proxy(typedHttp2({ initial_stream_window_size: 65535, initial_connection_window_size: 65535 }));
    upstream!.onRequest = (ex) => ex.respond(200, "z".repeat(total));
    const { conn } = h2Client(65535);
    let received = 0;
    let ended = false;
    const stream = conn.newStream({
      onHeaders() {},
      onData: (d, end) => {
        received += d.length;
        ended ||= end;
      },
      onTrailers() {},
      onReset() {},
    })!;
    stream.sendHeaders([":method", "GET", ":scheme", "http", ":authority", "example.com", ":path", "/big"], true);
    stream.readDisable(true);
    settle();
    settle();
    const upstreamStream = upstream!.exchanges[0]!.stream;
    const sentByUpstream = total - upstreamStream.pendingBytes;
    // The downstream's buffer limit (1 MiB) and the upstream stream's 64 KiB window, with some slack for one read.
    expect(sentByUpstream).toBeLessThan(2 * 1024 * 1024);
    expect(received).toBe(0);
    stream.readDisable(false);
    for (let i = 0; i < 20 && !ended; i++) settle();
    expect(received).toBe(total);
    expect(ended).toBe(true);
    expect(upstreamStream.pendingBytes).toBe(0);
  });
});

describe("HTTP health checks over HTTP/2 (codec_client_type: HTTP2)", () => {
  async function checked(status: () => number): Promise<void> {
    runtime = new MemoryRuntime({ seed: 1 });
    upstream = await MemoryH2Server.listen(runtime, UPSTREAM);
    upstream.onRequest = (ex) => (ex.header(":path") === "/healthz" ? ex.respond(status()) : ex.respond(200, "traffic"));
    const config = httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [UPSTREAM] },
      routes: [{ match: { prefix: "/" }, cluster: "backend" }],
      clusterExtra: {
        ...typedHttp2(),
        health_checks: [{ timeout: "1s", interval: "5s", no_traffic_interval: "5s", unhealthy_threshold: 1, healthy_threshold: 1, reuse_connection: true, http_health_check: { path: "/healthz", codec_client_type: "HTTP2" } }],
      },
    });
    server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "warn"));
    const started = server.start();
    await runtime.settle();
    await started;
  }

  test("checks go out as HTTP/2 streams on one connection (GET /healthz, :authority the cluster name, user-agent Envoy/HC); a failing status fails the host", async () => {
    let status = 200;
    await checked(() => status);
    expect(server.clusterManager.get("backend")!.hosts[0]!.healthFlagsText()).toBe("healthy");
    const first = upstream!.exchanges[0]!;
    expect([first.header(":method"), first.header(":path"), first.header(":authority"), first.header("user-agent")]).toEqual(["GET", "/healthz", "backend", "Envoy/HC"]);
    runtime.advance(5000);
    runtime.advance(1000);
    // reuse_connection: the second check is another stream on the same connection.
    expect(upstream!.exchanges.filter((ex) => ex.header(":path") === "/healthz").map((ex) => ex.stream.id)).toEqual([1, 3]);
    expect(upstream!.connections).toHaveLength(1);
    status = 503;
    runtime.advance(5000);
    runtime.advance(1000);
    expect(server.clusterManager.get("backend")!.hosts[0]!.healthFlagsText()).toBe("/failed_active_hc");
    expect(stat("cluster.backend.health_check.failure")).toBe(1);
  });

  test("an RST_STREAM answering the check is a network failure", async () => {
    await checked(() => 200);
    upstream!.onRequest = (ex) => ex.stream.reset(0x2);
    runtime.advance(5000);
    runtime.advance(1000);
    expect(server.clusterManager.get("backend")!.hosts[0]!.healthFlagsText()).toBe("/failed_active_hc");
    expect(stat("cluster.backend.health_check.network_failure")).toBe(1);
  });
});

describe("use_downstream_protocol_config with an HTTP/2 downstream", () => {
  test("an h2c request goes out as HTTP/2 (and an HTTP/1.1 one to the same host would use its HTTP/1 pool)", async () => {
    await proxy({
      typed_extension_protocol_options: { [HTTP2_OPTIONS]: { "@type": `type.googleapis.com/${HTTP2_OPTIONS}`, use_downstream_protocol_config: {} } },
    });
    upstream!.onRequest = (ex) => ex.respond(200, "via h2");
    const { conn } = h2Client(65535);
    let text = "";
    const stream = conn.newStream({ onHeaders() {}, onData: (d) => (text += new TextDecoder().decode(d)), onTrailers() {}, onReset() {} })!;
    stream.sendHeaders([":method", "GET", ":scheme", "http", ":authority", "example.com", ":path", "/"], true);
    settle();
    expect(text).toBe("via h2");
    expect(stat("cluster.backend.upstream_cx_http2_total")).toBe(1);
    expect(stat("cluster.backend.upstream_cx_http1_total")).toBe(0);
  });
});

describe("HTTP/2 upstream config", () => {
  function load(cluster: Record<string, unknown>): unknown {
    const config = httpProxyConfig({ listenPort: PROXY, clusters: { backend: [UPSTREAM] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], clusterExtra: cluster });
    return loadBootstrap(JSON.stringify(config), "json");
  }
  const typed = (o: Record<string, unknown>) => ({ typed_extension_protocol_options: { [HTTP2_OPTIONS]: { "@type": `type.googleapis.com/${HTTP2_OPTIONS}`, ...o } } });

  test.each([
    ["auto_config without TLS (Envoy: ALPN on a non-ALPN transport socket)", typed({ auto_config: { http2_protocol_options: {} } }), "auto_config chooses the protocol by ALPN, which cluster 'backend' cannot offer: it has no TLS transport_socket"],
    ["auto_config over HTTP/3", typed({ auto_config: { http3_protocol_options: {} } }), "http3_protocol_options"],
    ["HTTP/3", typed({ explicit_http_config: { http3_protocol_options: {} } }), "http3_protocol_options"],
    ["no protocol", typed({}), "must set one of explicit_http_config, use_downstream_protocol_config, auto_config"],
    ["two versions", typed({ explicit_http_config: { http_protocol_options: {}, http2_protocol_options: {} } }), "exactly one of"],
    ["typed and legacy", { ...typed({ explicit_http_config: { http2_protocol_options: {} } }), http2_protocol_options: {} }, "http2_protocol_options"],
    ["both deprecated protocol fields", { http_protocol_options: {}, http2_protocol_options: {} }, "cannot be set with http2_protocol_options"],
    ["the deprecated http_protocol_options beside the typed options", { ...typed({ explicit_http_config: { http2_protocol_options: {} } }), http_protocol_options: {} }, "http_protocol_options: cannot be set with typed_extension_protocol_options"],
    ["an HTTP/1 upstream option not implemented", { http_protocol_options: { accept_http_10: true } }, "accept_http_10"],
  ])("refused: %s", (_name, cluster, message) => {
    expect(() => load(cluster)).toThrow(message);
  });

  test("the deprecated cluster field http_protocol_options: {} (Envoy's grpc-bridge example) is HTTP/1.1", () => {
    const cluster = (load({ http_protocol_options: {} }) as { clusters: { http2?: unknown; useDownstreamProtocol?: true }[] }).clusters[0]!;
    expect(cluster.http2).toBeUndefined();
    expect(cluster.useDownstreamProtocol).toBeUndefined();
  });

  test("an HTTP/2-only TLS cluster without alpn_protocols offers h2; HttpProtocolOptions.upstream_http_protocol_options is the cluster's", () => {
    const tls = { transport_socket: { name: "envoy.transport_sockets.tls", typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext" } } };
    const cluster = (load({ ...tls, ...typed({ explicit_http_config: { http2_protocol_options: {} }, upstream_http_protocol_options: { auto_sni: true } }) }) as { clusters: { transportSocket: { common: { alpnProtocols: string[] } }; autoSni?: boolean }[] }).clusters[0]!;
    expect(cluster.transportSocket.common.alpnProtocols).toEqual(["h2"]);
    expect(cluster.autoSni).toBe(true);
    const h1 = (load({ ...tls, ...typed({ explicit_http_config: { http_protocol_options: {} } }) }) as { clusters: { transportSocket: { common: { alpnProtocols: string[] } } }[] }).clusters[0]!;
    expect(h1.transportSocket.common.alpnProtocols).toEqual([]);
  });

  test("auto_config over TLS offers h2,http/1.1 (or the context's alpn_protocols) and keeps its HTTP/2 options", () => {
    const tls = (alpn?: string[]) => ({
      transport_socket: { name: "envoy.transport_sockets.tls", typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", ...(alpn ? { common_tls_context: { alpn_protocols: alpn } } : {}) } },
    });
    type Loaded = { clusters: { transportSocket: { common: { alpnProtocols: string[] } }; autoHttp?: boolean; http2?: { maxConcurrentStreams?: number } }[] };
    const auto = (load({ ...tls(), ...typed({ auto_config: { http2_protocol_options: { max_concurrent_streams: 7 }, http_protocol_options: {} } }) }) as Loaded).clusters[0]!;
    expect(auto.transportSocket.common.alpnProtocols).toEqual(["h2", "http/1.1"]);
    expect(auto.autoHttp).toBe(true);
    expect(auto.http2?.maxConcurrentStreams).toBe(7);
    const custom = (load({ ...tls(["http/1.1"]), ...typed({ auto_config: {} }) }) as Loaded).clusters[0]!;
    expect(custom.transportSocket.common.alpnProtocols).toEqual(["http/1.1"]);
  });

  test("accepted: explicit HTTP/2 with codec options, HTTP/1, use_downstream", () => {
    expect(() => load(typed({ explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 100, initial_stream_window_size: 65535 } } }))).not.toThrow();
    expect(() => load(typed({ explicit_http_config: { http_protocol_options: {} } }))).not.toThrow();
    expect(() => load(typed({ use_downstream_protocol_config: {} }))).not.toThrow();
  });
});
