/**
 * The HTTP connection manager's limits on the memory runtime (issue #32, items 1, 8 and
 * 9): a client that pipelines and never reads holds no more than the connection's buffer
 * limit; a client's FIN or reset cancels the stream it leaves behind; Envoy's stream
 * timers cut heads that trickle in and answer 504 once the request is complete.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig, type HttpProxyOptions } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "./support/http-peers.ts";
import { activeDownstreamConnections, pooledConnections, resourceCounters, startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;
const KiB = 1024;

let runtime: MemoryRuntime;
let server: Server;
let upstream: MemoryHttpServer;

/** Routes /a and /b answer 64 KiB themselves; the rest go to `backend`. */
const ROUTE_CONFIG = {
  name: "local_route",
  max_direct_response_body_size_bytes: 64 * KiB,
  virtual_hosts: [
    {
      name: "backend",
      domains: ["*"],
      routes: [
        { match: { path: "/a" }, direct_response: { status: 200, body: { inline_string: "a".repeat(64 * KiB) } } },
        { match: { path: "/b" }, direct_response: { status: 200, body: { inline_string: "b".repeat(64 * KiB) } } },
        { match: { prefix: "/" }, route: { cluster: "backend" } },
      ],
    },
  ],
};

/** An upstream that reads requests and never answers, behind the proxy. */
async function setup(proxy: Partial<HttpProxyOptions> = {}): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, () => {});
  server = await startProxy(
    runtime,
    httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [UPSTREAM] },
      routes: [],
      ...proxy,
      hcm: { route_config: ROUTE_CONFIG, ...proxy.hcm },
    }),
  );
}

function counter(name: string): number {
  const stat = server.stats.get(`http.ingress_http.${name}`) as { value: number } | undefined;
  return stat?.value ?? 0;
}

function expectNoLeaks(): void {
  runtime.runUntilIdle();
  expect(activeDownstreamConnections(server)).toBe(0);
  expect(pooledConnections(server, "backend")).toBe(0);
  expect(resourceCounters(server, "backend")).toEqual({ connections: 0, pendingRequests: 0, requests: 0 });
  expect([...runtime.openSockets].map((s) => `S${s.id} (${s.role})`)).toEqual([]);
}

/** Send `text` one byte per virtual second. */
function trickle(client: MemoryHttpClient, text: string, seconds: number): void {
  for (let i = 0; i < seconds && i < text.length; i++) {
    if (client.closed) return;
    client.send(text[i]!);
    runtime.advance(1000);
  }
}

afterEach(() => upstream?.close());

describe("pipelined requests from a client that does not read (#32 item 1)", () => {
  test("the proxy stops answering at the buffer limit, and answers the rest, in order, once the client reads", async () => {
    await setup();
    const client = new MemoryHttpClient(runtime, PROXY);
    runtime.runDue();
    client.socket.readDisable(true);
    const count = 120;
    let pipelined = "";
    for (let i = 0; i < count; i++) pipelined += `GET /${i % 2 ? "b" : "a"} HTTP/1.1\r\nhost: x\r\n\r\n`;
    for (let i = 0; i < count; i++) client.parser.expectResponseTo("GET");
    client.send(pipelined);
    runtime.runDue();
    runtime.advance(100);
    // 120 × 64 KiB is 7.5 MiB: held to the 1 MiB limit plus a response or so.
    const proxySide = client.socket.peer!;
    expect(proxySide.stats.maxBuffered).toBeLessThan(1024 * KiB + 2 * 64 * KiB);
    expect(counter("downstream_rq_total")).toBeLessThan(count / 2);
    client.socket.readDisable(false);
    runtime.runDue();
    expect(client.responses).toHaveLength(count);
    expect(client.responses.every((r, i) => r.status === 200 && r.body.length === 64 * KiB && r.text()[0] === (i % 2 ? "b" : "a"))).toBe(true);
    expect(counter("downstream_rq_total")).toBe(count);
    client.socket.close();
    expectNoLeaks();
  }, 30_000);

  test("so does a client that sends its requests one by one without reading", async () => {
    await setup();
    const client = new MemoryHttpClient(runtime, PROXY);
    runtime.runDue();
    client.socket.readDisable(true);
    for (let i = 0; i < 200; i++) {
      client.request("GET", "/a");
      runtime.runDue();
    }
    expect(client.socket.peer!.stats.maxBuffered).toBeLessThan(1024 * KiB + 2 * 64 * KiB);
    client.socket.readDisable(false);
    runtime.runDue();
    expect(client.responses.map((r) => r.status)).toEqual(new Array(200).fill(200));
    client.socket.close();
    expectNoLeaks();
  });

  test("a FIN behind requests held for a client that does not read: all are answered, then the connection closes", async () => {
    await setup();
    const client = new MemoryHttpClient(runtime, PROXY);
    runtime.runDue();
    client.socket.readDisable(true);
    for (let i = 0; i < 40; i++) client.request("GET", "/a");
    client.socket.end();
    runtime.runDue();
    client.socket.readDisable(false);
    runtime.runDue();
    expect(client.responses).toHaveLength(40);
    expect(client.ended).toBe(true);
    expectNoLeaks();
  });
});

describe("a client that goes away cancels its upstream request (#32 item 8)", () => {
  for (const how of ["FIN", "RST"] as const) {
    test(`${how} after a complete request: the stream is reset (DC) and the upstream connection closed at once`, async () => {
      await setup();
      const client = new MemoryHttpClient(runtime, PROXY);
      client.request("GET", "/slow");
      runtime.runDue();
      expect(upstream.requests).toHaveLength(1);
      const upstreamConnection = [...upstream.connections][0]!;
      if (how === "FIN") client.socket.end();
      else client.socket.reset();
      runtime.runDue();
      expect(upstreamConnection.closeReason).toBeDefined();
      expect(runtime.now()).toBe(0);
      expect(counter("downstream_cx_destroy_remote_active_rq")).toBe(1);
      expect(counter("downstream_cx_destroy_remote")).toBe(1);
      expect(counter("downstream_rq_active")).toBe(0);
      expectNoLeaks();
    });
  }
});

describe("Envoy's stream timers (#32 item 9)", () => {
  test("stream_idle_timeout cuts a head that trickles in one byte a second: 408 after 2 s, however the bytes come", async () => {
    await setup({ hcm: { stream_idle_timeout: "2s" } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.parser.expectResponseTo("GET");
    trickle(client, "GET /slow HTTP/1.1\r\nhost: x\r\nx-pad: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", 10);
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[408, "stream timeout"]]);
    expect(client.ended).toBe(true);
    expect(counter("downstream_rq_idle_timeout")).toBe(1);
    expect(upstream.requests).toHaveLength(0);
    expectNoLeaks();
  });

  test("request_timeout cuts a trickling head too (408 request timeout), counted from its first byte", async () => {
    await setup({ hcm: { stream_idle_timeout: "60s", request_timeout: "3s" } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.parser.expectResponseTo("GET");
    trickle(client, "GET /slow HTTP/1.1\r\nhost: x\r\nx-pad: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", 10);
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[408, "request timeout"]]);
    expect(counter("downstream_rq_timeout")).toBe(1);
    expectNoLeaks();
  });

  test("request_timeout runs from the request's first byte, not from its headers", async () => {
    await setup({ hcm: { request_timeout: "3s" } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.send("POST /slow HTTP/1.1\r\nhost: x\r\n");
    runtime.advance(2000);
    client.send("content-length: 10\r\n\r\n12345");
    runtime.advance(999);
    expect(client.responses).toHaveLength(0);
    runtime.advance(1);
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[408, "request timeout"]]);
    expectNoLeaks();
  });

  test("stream_idle_timeout after a complete request answers 504 stream timeout (the upstream stalled, not the client)", async () => {
    await setup({ hcm: { stream_idle_timeout: "1s" } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/slow");
    runtime.advance(999);
    expect(client.responses).toHaveLength(0);
    runtime.advance(1);
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[504, "stream timeout"]]);
    expect(counter("downstream_rq_idle_timeout")).toBe(1);
    client.socket.close();
    expectNoLeaks();
  });

  test("stream_idle_timeout while the request body is still coming answers 408", async () => {
    await setup({ hcm: { stream_idle_timeout: "1s" } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.parser.expectResponseTo("POST");
    client.send("POST /slow HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n12345");
    runtime.advance(1000);
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[408, "stream timeout"]]);
    expectNoLeaks();
  });
});

describe("the connection's idle_timeout (#32 item 9)", () => {
  test("a connection that carried a request drains when idle: closed drain_timeout (5 s) after idle_timeout; one that never sent a byte closes at once", async () => {
    await setup({ hcm: { common_http_protocol_options: { idle_timeout: "30s" } } });
    const used = new MemoryHttpClient(runtime, PROXY);
    const silentClient = new MemoryHttpClient(runtime, PROXY);
    used.request("GET", "/a");
    runtime.runDue();
    expect(used.responses.map((r) => r.status)).toEqual([200]);
    runtime.advance(30_000);
    expect(silentClient.ended).toBe(true);
    expect(used.ended).toBe(false);
    runtime.advance(4_999);
    expect(used.ended).toBe(false);
    runtime.advance(1);
    expect(used.ended).toBe(true);
    expect(counter("downstream_cx_idle_timeout")).toBe(2);
    expectNoLeaks();
  });

  test("drain_timeout sets how long a connection that carried requests drains after idle_timeout", async () => {
    await setup({ hcm: { common_http_protocol_options: { idle_timeout: "30s" }, drain_timeout: "2s" } });
    const used = new MemoryHttpClient(runtime, PROXY);
    used.request("GET", "/a");
    runtime.runDue();
    runtime.advance(30_000);
    runtime.advance(1_999);
    expect(used.ended).toBe(false);
    runtime.advance(1);
    expect(used.ended).toBe(true);
    expectNoLeaks();
  });

  test("a request that comes while the connection drains is answered with Connection: close", async () => {
    await setup({ hcm: { common_http_protocol_options: { idle_timeout: "30s" } } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/a");
    runtime.advance(31_000);
    client.request("GET", "/b");
    runtime.runDue();
    expect(client.responses.map((r) => [r.status, r.get("connection")])).toEqual([
      [200, undefined],
      [200, "close"],
    ]);
    expect(client.ended).toBe(true);
    expectNoLeaks();
  });
});

describe("delayed_close_timeout", () => {
  /** A Connection: close request for 64 KiB whose client reads nothing: the proxy's close waits on its queue. */
  async function stalledClose(hcm: Record<string, unknown>): Promise<MemoryHttpClient> {
    await setup({ hcm });
    runtime.setFaults({ port: PROXY }, { receiveWindow: 4 * KiB });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.socket.readDisable(true);
    client.request("GET", "/a", { headers: { connection: "close" } });
    runtime.runDue();
    return client;
  }

  test("the default 1 s: a closing connection making no progress is aborted a second later", async () => {
    const client = await stalledClose({});
    runtime.advance(999);
    expect(client.closeReason).toBeUndefined();
    runtime.advance(1);
    expect(client.wasReset).toBe(true);
  });

  test("configured, it is that long; 0 turns it off (the close waits for the client to read)", async () => {
    let client = await stalledClose({ delayed_close_timeout: "3s" });
    runtime.advance(2_999);
    expect(client.closeReason).toBeUndefined();
    runtime.advance(1);
    expect(client.wasReset).toBe(true);
    client = await stalledClose({ delayed_close_timeout: "0s" });
    runtime.advance(60_000);
    expect(client.closeReason).toBeUndefined();
    client.socket.readDisable(false);
    runtime.runDue();
    expect(client.responses.map((r) => [r.status, r.body.length])).toEqual([[200, 64 * KiB]]);
    expect(client.ended).toBe(true);
  });
});
