/**
 * The HTTP proxy end to end on the memory runtime: a Server built from an Envoy
 * bootstrap (http_connection_manager + router → STATIC cluster) listens on a virtual
 * address; a tiny upstream server and a client talk to it over in-memory sockets. Time
 * is virtual (a 15 s route timeout takes no real time) and faults are injected where
 * real sockets cannot be made to misbehave on demand.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig, type HttpProxyOptions } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer, type UpstreamHandler } from "./support/http-peers.ts";
import { firstDifference, pattern } from "./support/http-wire.ts";
import { activeDownstreamConnections, pooledConnections, resourceCounters, startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;
const RESET_BEFORE_HEADERS = "upstream connect error or disconnect/reset before headers. reset reason: ";

let runtime: MemoryRuntime;
let server: Server;
let upstream: MemoryHttpServer;

interface Setup {
  seed?: number;
  handler?: UpstreamHandler;
  /** Don't start an upstream server. */
  noUpstream?: boolean;
  proxy?: Partial<HttpProxyOptions>;
}

async function setup(options: Setup = {}): Promise<void> {
  runtime = new MemoryRuntime({ seed: options.seed ?? 1 });
  if (!options.noUpstream) upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, options.handler ?? ((req, res) => res.respond(200, `hello from upstream: ${req.path}`)));
  server = await startProxy(
    runtime,
    httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [UPSTREAM] },
      routes: [{ match: { prefix: "/" }, cluster: "backend" }],
      ...options.proxy,
    }),
  );
}

/** After the test's traffic: close what is left, run out every timer, and check nothing leaked. */
function expectNoLeaks(): void {
  runtime.runUntilIdle();
  expect(activeDownstreamConnections(server)).toBe(0);
  expect(pooledConnections(server, "backend")).toBe(0);
  expect(resourceCounters(server, "backend")).toEqual({ connections: 0, pendingRequests: 0, requests: 0 });
  expect([...runtime.openSockets].map((s) => `S${s.id} (${s.role})`)).toEqual([]);
  expect(runtime.pendingTimers).toBe(0);
}

afterEach(() => {
  upstream?.close();
});

describe("HTTP proxy on the memory runtime", () => {
  test("a GET is proxied with the upstream's body; the connection is reused for the next request", async () => {
    await setup({ handler: (req, res) => res.respond(200, `hello from upstream: ${req.path}`, { "x-upstream": "yes" }) });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/hello?x=1");
    runtime.runDue();
    expect(client.responses).toHaveLength(1);
    const response = client.responses[0]!;
    expect(response.status).toBe(200);
    expect(response.text()).toBe("hello from upstream: /hello?x=1");
    expect(response.get("x-upstream")).toBe("yes");
    expect(response.get("server")).toBe("envoy");
    expect(response.get("x-envoy-upstream-service-time")).toBe("0");
    const request = upstream.requests[0]!;
    expect(request.method).toBe("GET");
    expect(request.path).toBe("/hello?x=1");
    expect(request.get("host")).toBe("example.com");
    expect(request.get("x-forwarded-proto")).toBe("http");
    expect(request.get("x-envoy-expected-rq-timeout-ms")).toBe("15000");

    client.request("GET", "/second");
    runtime.runDue();
    expect(client.responses.map((r) => r.text())).toEqual(["hello from upstream: /hello?x=1", "hello from upstream: /second"]);
    expect(upstream.accepted).toBe(1); // keep-alive: one upstream connection for both
    expect(runtime.now()).toBe(0); // nothing waited

    client.socket.close();
    expectNoLeaks();
  });

  test.each([1, 2, 3, 4, 5, 6, 7, 8])(
    "a connection whose FIN came right behind its response is not reused: the next request, a POST sent at once, gets a new one (seed %i)",
    async (seed) => {
      // The pool reuses a released connection after a deferred call, and the port's
      // `defer` runs after the I/O already received: the FIN is seen first. A POST is
      // not retried, so reusing the closing connection would answer it 503.
      await setup({ seed, handler: (req, res) => res.respond(200, `got ${req.path}`) });
      upstream.closeAfterEachResponse = true;
      const client = new MemoryHttpClient(runtime, PROXY);
      client.onResponse = () => {
        if (client.sent === 1) client.request("POST", "/two", { body: "b" });
      };
      client.request("POST", "/one", { body: "a" });
      runtime.runDue();
      expect(client.responses.map((r) => `${r.status} ${r.text()}`)).toEqual(["200 got /one", "200 got /two"]);
      expect(upstream.accepted).toBe(2);
      client.socket.close();
      expectNoLeaks();
    },
  );

  test("the route timeout (15s) answers 504 after exactly 15 virtual seconds, instantly", async () => {
    await setup({ handler: () => {} }); // never answers
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/slow");
    const started = performance.now();
    runtime.advance(14_999);
    expect(client.responses).toHaveLength(0);
    runtime.advance(1);
    expect(client.responses).toHaveLength(1);
    expect(client.responses[0]!.status).toBe(504);
    expect(client.responses[0]!.text()).toBe("upstream request timeout");
    expect(runtime.now()).toBe(15_000);
    expect(performance.now() - started).toBeLessThan(1000);
    // The upstream request was abandoned: its connection reset, never reused.
    runtime.runDue();
    expect([...upstream.connections]).toHaveLength(0);
    client.socket.close();
    expectNoLeaks();
  });

  test("connect_timeout with a blackholed connect: 503 'connection timeout' at the timeout", async () => {
    await setup({ proxy: { clusterExtra: { connect_timeout: "0.25s" } } });
    runtime.setFaults({ port: UPSTREAM }, { connect: "blackhole" });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.advance(249);
    expect(client.responses).toHaveLength(0);
    runtime.advance(1);
    expect(client.responses).toHaveLength(1);
    expect(client.responses[0]!.status).toBe(503);
    expect(client.responses[0]!.text()).toBe(`${RESET_BEFORE_HEADERS}connection timeout`);
    expect(upstream.accepted).toBe(0);
    client.socket.close();
    expectNoLeaks();
  });

  test("after connects that timed out, later requests open connections again", async () => {
    // The pool counts connections on their way for its pending requests; one that timed
    // out must stop counting, or the next requests would wait for it forever.
    await setup({ proxy: { clusterExtra: { connect_timeout: "0.25s" } } });
    runtime.setFaults({ port: UPSTREAM }, { connect: "blackhole" });
    const clients = [0, 1, 2].map(() => new MemoryHttpClient(runtime, PROXY));
    for (const client of clients) client.request("GET", "/");
    runtime.advance(250);
    expect(clients.map((client) => client.responses[0]?.status)).toEqual([503, 503, 503]);
    runtime.clearFaults();
    for (const client of clients) client.request("GET", "/again");
    runtime.runDue();
    expect(clients.map((client) => client.responses[1]?.status)).toEqual([200, 200, 200]);
    expect(upstream.accepted).toBeGreaterThanOrEqual(1);
    for (const client of clients) client.socket.close();
    expectNoLeaks();
  });

  test("nothing listening upstream: 503 'remote connection failure' with strerror's text, as Envoy", async () => {
    await setup({ noUpstream: true });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runDue();
    expect(client.responses[0]!.status).toBe(503);
    expect(client.responses[0]!.text()).toBe(`${RESET_BEFORE_HEADERS}remote connection failure`);
    client.socket.close();
    expectNoLeaks();
  });

  test("flow control: a 1 MiB response through a one-byte downstream write window arrives intact, with backpressure upstream", async () => {
    const body = pattern(1024 * 1024, 5);
    await setup({
      handler: (_req, res) => res.respond(200, body),
      proxy: { listenerExtra: { per_connection_buffer_limit_bytes: 16384 }, clusterExtra: { per_connection_buffer_limit_bytes: 16384 } },
    });
    // The proxy's socket toward the client takes one byte per turn.
    runtime.setFaults({ port: PROXY }, { toClient: { writeWindow: 1 } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/big");
    runtime.runDue();
    expect(client.responses).toHaveLength(1);
    const response = client.responses[0]!;
    expect(response.status).toBe(200);
    expect(response.body.length).toBe(body.length);
    expect(firstDifference(response.body, body)).toBe(-1);
    // The proxy's downstream write buffer stayed near its limit: it stopped reading the
    // upstream, whose own writes then queued on its side.
    const proxyDownstream = client.socket.peer!;
    expect(proxyDownstream.stats.maxBuffered).toBeLessThan(16384 + 128 * 1024);
    const upstreamSocket = upstream.requests.length ? [...runtime.openSockets].find((s) => s.local?.port === UPSTREAM) : undefined;
    expect(upstreamSocket?.stats.maxBuffered ?? 0).toBeGreaterThan(256 * 1024);
    client.socket.close();
    expectNoLeaks();
  });

  test("reads split at every byte, both ways, on both connections: request and response bodies intact", async () => {
    const requestBody = pattern(3000, 1);
    const responseParts = [pattern(1000, 2), pattern(2500, 3), pattern(10, 4)];
    await setup({
      handler: (req, res) => {
        res.writeHead(200, { "x-got": String(req.body.length), "x-intact": String(firstDifference(req.body, requestBody) === -1) });
        for (const part of responseParts) res.write(part);
        res.end();
      },
    });
    runtime.setFaults({ port: PROXY }, { toServer: { split: "byte" }, toClient: { split: "byte" } });
    runtime.setFaults({ port: UPSTREAM }, { toServer: { split: "byte" }, toClient: { split: "byte" } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("POST", "/upload", { body: requestBody });
    client.request("POST", "/upload", { body: requestBody, chunked: true });
    runtime.runDue();
    expect(client.responses).toHaveLength(2);
    const expected = new Uint8Array(3510);
    let at = 0;
    for (const part of responseParts) {
      expected.set(part, at);
      at += part.length;
    }
    for (const response of client.responses) {
      expect(response.status).toBe(200);
      expect(response.get("x-got")).toBe("3000");
      expect(response.get("x-intact")).toBe("true");
      expect(firstDifference(response.body, expected)).toBe(-1);
    }
    expect(client.socket.stats.reads).toBeGreaterThan(7000); // one byte per onData
    client.socket.close();
    expectNoLeaks();
  });

  test("random splits and delays on every connection: still intact", async () => {
    const body = pattern(200_000, 9);
    await setup({ seed: 7, handler: (req, res) => res.respond(200, body, { "x-len": String(req.body.length) }) });
    runtime.setFaults(() => ({ toServer: { split: "random", delayMs: [0, 5] }, toClient: { split: "random", delayMs: [0, 5], writeWindow: 1000 } }));
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("PUT", "/data", { body: pattern(50_000, 8) });
    runtime.advance(60_000);
    expect(client.responses).toHaveLength(1);
    expect(client.responses[0]!.get("x-len")).toBe("50000");
    expect(firstDifference(client.responses[0]!.body, body)).toBe(-1);
    client.socket.close();
    expectNoLeaks();
  });

  test("an upstream reset mid-body closes the downstream connection behind what was written (Envoy's FlushWriteAndDelay); the body is left short of its content-length", async () => {
    await setup({
      handler: (_req, res) => {
        res.writeHead(200, { "content-length": "100000" });
        res.write(pattern(1000, 1));
        runtime.setTimeout(() => res.reset(), 10);
      },
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/cut");
    runtime.advance(100);
    expect(client.responses).toHaveLength(0); // never complete
    expect(client.parser.current?.status).toBe(200); // the head went out…
    expect(client.parser.bodyReceived).toBe(1000); // …and what the upstream sent
    expect(client.ended).toBe(true); // FIN: the content-length tells the client it was cut short
    expect(client.wasReset).toBe(false);
    expectNoLeaks();
  });

  test("a network reset after N bytes of the response (injected fault) closes the downstream too", async () => {
    await setup({ handler: (_req, res) => res.respond(200, pattern(50_000, 3)) });
    runtime.setFaults({ port: UPSTREAM }, { toClient: { resetAfterBytes: 20_000 } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runDue();
    expect(client.responses).toHaveLength(0);
    expect(client.parser.current?.status).toBe(200);
    expect(client.parser.bodyReceived).toBeLessThan(20_000);
    expect(client.wasReset).toBe(false);
    expect(client.ended).toBe(true);
    expectNoLeaks();
  });

  test("graceful shutdown drains the downstream connections (promise-based code runs with settle)", async () => {
    await setup();
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runDue();
    expect(client.responses).toHaveLength(1);
    let done = false;
    void server.shutdown().then(() => (done = true));
    await runtime.settle();
    expect(done).toBe(true);
    expect(client.ended).toBe(true); // the proxy closed the idle keep-alive connection
    expect(runtime.listeners.has(`127.0.0.1 ${PROXY}`)).toBe(false);
    expectNoLeaks();
  });

  test("an early response (before the request body is sent) completes downstream and frees the upstream connection", async () => {
    await setup({ handler: () => {} });
    // The upstream answers from the request head, without waiting for the body.
    upstream.earlyHandler = (head, res) => {
      res.respond(200, "early", { "x-method": head.method });
      return true;
    };
    // The client's body trickles in, so most of it comes after the response.
    runtime.setFaults({ port: PROXY }, { toServer: { writeWindow: 1000 } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("POST", "/upload", { body: pattern(100_000, 1) });
    runtime.runDue();
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[200, "early"]]);
    // The request was not read in full: the proxy closes the downstream connection after the response.
    expect(client.responses[0]!.get("connection")).toBe("close");
    expect(client.ended).toBe(true);
    expectNoLeaks();
  });

  test("circuit breakers: past max_requests the proxy answers 503 with x-envoy-overloaded; counters return to zero", async () => {
    const pending: (() => void)[] = [];
    await setup({
      handler: (_req, res) => pending.push(() => res.respond(200, "ok")),
      proxy: { clusterExtra: { circuit_breakers: { thresholds: [{ max_requests: 2 }] } } },
    });
    const clients = [0, 1, 2].map(() => new MemoryHttpClient(runtime, PROXY));
    clients[0]!.request("GET", "/");
    clients[1]!.request("GET", "/");
    runtime.runDue();
    expect(resourceCounters(server, "backend")).toEqual({ connections: 2, pendingRequests: 0, requests: 2 });
    clients[2]!.request("GET", "/");
    runtime.runDue();
    const overflow = clients[2]!.responses[0]!;
    expect(overflow.status).toBe(503);
    expect(overflow.get("x-envoy-overloaded")).toBe("true");
    expect(overflow.text()).toBe(`${RESET_BEFORE_HEADERS}overflow`);
    for (const answer of pending.splice(0)) answer();
    runtime.runDue();
    expect(clients.map((c) => c.responses.at(-1)?.status)).toEqual([200, 200, 503]);
    for (const client of clients) client.socket.close();
    expectNoLeaks();
  });

  test("an upstream's Keep-Alive timeout is honoured: the pooled connection closes a second before it", async () => {
    await setup({ handler: (_req, res) => res.respond(200, "ok", { "keep-alive": "timeout=5" }) });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runDue();
    expect(pooledConnections(server, "backend")).toBe(1);
    runtime.advance(3999);
    expect(pooledConnections(server, "backend")).toBe(1);
    runtime.advance(1);
    expect(pooledConnections(server, "backend")).toBe(0);
    client.socket.close();
    expectNoLeaks();
  });

  test("request_headers_timeout and the HCM idle timeout act in virtual time", async () => {
    await setup({ proxy: { hcm: { request_headers_timeout: "2s", common_http_protocol_options: { idle_timeout: "30s" } } } });
    const slow = new MemoryHttpClient(runtime, PROXY);
    slow.send("GET / HTTP/1.1\r\nhost: exa"); // and nothing more
    const idle = new MemoryHttpClient(runtime, PROXY);
    runtime.advance(2000);
    expect(slow.responses.map((r) => [r.status, r.text()])).toEqual([[408, "request header timeout"]]);
    expect(slow.ended).toBe(true);
    expect(idle.ended).toBe(false);
    runtime.advance(28_000);
    expect(idle.ended).toBe(true); // closed after 30 s without a request
    expectNoLeaks();
  });

  test("a 503 to a request whose body was held while connecting leaves the connection readable for the next request", async () => {
    // The router stops reading the client while it buffers more than the limit for a
    // connection that never comes; after the local reply the next request must be read.
    await setup({ proxy: { clusterExtra: { connect_timeout: "0.25s", per_connection_buffer_limit_bytes: 1024 } } });
    runtime.setFaults({ port: UPSTREAM }, { connect: "blackhole" });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("POST", "/", { body: pattern(4096, 1) });
    runtime.advance(250);
    expect(client.responses.map((r) => r.status)).toEqual([503]);
    client.request("GET", "/second");
    runtime.advance(250);
    expect(client.responses.map((r) => r.status)).toEqual([503, 503]);
    client.socket.close();
    expectNoLeaks();
  });
});

