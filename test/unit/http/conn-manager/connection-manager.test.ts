/**
 * The HTTP connection manager (core/http/conn-manager/connection-manager.ts) on the
 * memory runtime: one downstream connection carrying many requests (keep-alive,
 * pipelining answered in order), codec errors answered with a local reply and a close,
 * `Connection: close` both ways, drain_close while the server drains, and Envoy's
 * downstream_cx_* / downstream_rq_* counters. Limits and timers are in
 * test/memory/hcm-limits.test.ts; the stream's filter chain in http-filter-manager.test.ts.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../../../core/server.ts";
import { MemoryRuntime } from "../../../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig, type HttpProxyOptions } from "../../../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer, type UpstreamHandler } from "../../../memory/support/http-peers.ts";
import { activeDownstreamConnections, pooledConnections, resourceCounters, startProxy } from "../../../memory/support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;

let runtime: MemoryRuntime;
let server: Server;
let upstream: MemoryHttpServer | undefined;

/** /direct answers itself; the rest goes to `backend`, answered by `handler`. */
async function setup(handler: UpstreamHandler = (req, res) => res.respond(200, `got ${req.path}`), proxy: Partial<HttpProxyOptions> = {}): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, handler);
  server = await startProxy(
    runtime,
    httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [UPSTREAM] },
      routes: [
        { match: { path: "/direct" }, action: { direct_response: { status: 200, body: { inline_string: "direct" } } } },
        { match: { prefix: "/" }, cluster: "backend" },
      ],
      ...proxy,
    }),
  );
}

afterEach(() => {
  upstream?.close();
  upstream = undefined;
});

/** An HCM counter or gauge (`http.ingress_http.<name>`); 0 when never touched. */
function hcm(name: string): number {
  return (server.stats.get(`http.ingress_http.${name}`) as { value: number } | undefined)?.value ?? 0;
}

function expectNoLeaks(): void {
  runtime.runUntilIdle();
  expect(activeDownstreamConnections(server)).toBe(0);
  expect(pooledConnections(server, "backend")).toBe(0);
  expect(resourceCounters(server, "backend")).toEqual({ connections: 0, pendingRequests: 0, requests: 0 });
  expect([...runtime.openSockets].map((s) => `S${s.id} (${s.role})`)).toEqual([]);
}

describe("ConnectionManager: keep-alive and pipelining", () => {
  test("requests one after another share the connection; counters as Envoy's", async () => {
    await setup();
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/one");
    runtime.runDue();
    client.request("GET", "/direct");
    runtime.runDue();
    client.request("POST", "/three", { body: "x" });
    runtime.runDue();
    expect(client.responses.map((r) => `${r.status} ${r.text()}`)).toEqual(["200 got /one", "200 direct", "200 got /three"]);
    expect(client.responses.map((r) => r.get("connection"))).toEqual([undefined, undefined, undefined]);
    expect(client.ended).toBe(false);
    expect(hcm("downstream_cx_total")).toBe(1);
    expect(hcm("downstream_cx_http1_total")).toBe(1);
    expect(hcm("downstream_cx_active")).toBe(1);
    expect(hcm("downstream_cx_http1_active")).toBe(1);
    expect(hcm("downstream_rq_total")).toBe(3);
    expect(hcm("downstream_rq_http1_total")).toBe(3);
    expect(hcm("downstream_rq_2xx")).toBe(3);
    expect(hcm("downstream_rq_active")).toBe(0);
    client.socket.close();
    runtime.runUntilIdle();
    expect(hcm("downstream_cx_active")).toBe(0);
    expect(hcm("downstream_cx_http1_active")).toBe(0);
    expect(hcm("downstream_cx_destroy")).toBe(1);
    expect(hcm("downstream_cx_destroy_remote")).toBe(1);
    expect(hcm("downstream_cx_destroy_local")).toBe(0);
    expect(hcm("downstream_cx_destroy_active_rq")).toBe(0);
    expectNoLeaks();
  });

  test("responses are counted by class, local replies included: downstream_rq_2xx, _4xx, _5xx", async () => {
    await setup((req, res) => res.respond(req.path === "/missing" ? 404 : 200, "x"));
    const client = new MemoryHttpClient(runtime, PROXY);
    for (const path of ["/ok", "/missing", "/direct"]) {
      client.request("GET", path);
      runtime.runDue();
    }
    // A local 503 from the router: the upstream resets the connection before answering.
    upstream!.handler = (_req, res) => res.reset();
    client.request("POST", "/reset", { body: "b" });
    runtime.runDue();
    expect(client.responses.map((r) => r.status)).toEqual([200, 404, 200, 503]);
    expect([hcm("downstream_rq_2xx"), hcm("downstream_rq_4xx"), hcm("downstream_rq_5xx")]).toEqual([2, 1, 1]);
    expect(hcm("downstream_rq_total")).toBe(4);
    client.socket.close();
    expectNoLeaks();
  });

  test("pipelined requests are answered in the order sent, whatever each takes; the upstream sees one at a time", async () => {
    // /slow takes 100 ms upstream, /fast answers at once, /direct never leaves the proxy.
    await setup((req, res) => {
      if (req.path === "/slow") runtime.setTimeout(() => res.respond(200, "slow"), 100);
      else res.respond(200, "fast");
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/slow");
    client.request("GET", "/direct");
    client.request("GET", "/fast");
    client.request("GET", "/slow");
    runtime.runDue();
    expect(client.responses).toHaveLength(0);
    // The requests behind the first wait unparsed: the upstream has seen only one.
    expect(upstream!.requests.map((r) => r.path)).toEqual(["/slow"]);
    runtime.advance(100);
    expect(client.responses.map((r) => r.text())).toEqual(["slow", "direct", "fast"]);
    runtime.advance(100);
    expect(client.responses.map((r) => r.text())).toEqual(["slow", "direct", "fast", "slow"]);
    expect(upstream!.requests.map((r) => r.path)).toEqual(["/slow", "/fast", "/slow"]);
    expect(hcm("downstream_rq_total")).toBe(4);
    client.socket.close();
    expectNoLeaks();
  });

  test("a request with Connection: close is answered with Connection: close, then the proxy closes (a local close)", async () => {
    await setup();
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/a", { headers: { connection: "close" } });
    client.request("GET", "/never"); // pipelined behind it: not read
    runtime.runDue();
    expect(client.responses.map((r) => `${r.status} ${r.text()} ${r.get("connection")}`)).toEqual(["200 got /a close"]);
    expect(client.ended).toBe(true);
    expect(upstream!.requests.map((r) => r.path)).toEqual(["/a"]);
    expectNoLeaks();
    expect(hcm("downstream_rq_total")).toBe(1);
    expect(hcm("downstream_cx_destroy_local")).toBe(1);
    expect(hcm("downstream_cx_destroy_remote")).toBe(0);
  });

  test("a request without Host: 400 Bad Request (RFC 9112 §3.2), the connection stays open", async () => {
    await setup();
    const client = new MemoryHttpClient(runtime, PROXY);
    client.parser.expectResponseTo("GET");
    client.send("GET /nohost HTTP/1.1\r\n\r\n");
    runtime.runDue();
    client.request("GET", "/next");
    runtime.runDue();
    expect(client.responses.map((r) => `${r.status} ${r.text()}`)).toEqual(["400 Bad Request", "200 got /next"]);
    expect(upstream!.requests.map((r) => r.path)).toEqual(["/next"]);
    client.socket.close();
    expectNoLeaks();
  });

  test("HTTP/1.0 is refused as Envoy does without accept_http_10: 426 Upgrade Required, then close", async () => {
    await setup();
    const client = new MemoryHttpClient(runtime, PROXY);
    client.parser.expectResponseTo("GET");
    client.send("GET /old HTTP/1.0\r\nhost: example.com\r\n\r\n");
    runtime.runDue();
    expect(client.responses.map((r) => `${r.status} ${r.text()}`)).toEqual(["426 Upgrade Required"]);
    expect(client.ended).toBe(true);
    expect(upstream!.requests).toHaveLength(0);
    expectNoLeaks();
    expect(hcm("downstream_rq_4xx")).toBe(1);
  });

  test("an upstream's Connection: close does not close the downstream connection", async () => {
    await setup((req, res) => res.respond(200, `got ${req.path}`, { connection: "close" }));
    upstream!.closeAfterEachResponse = true;
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/a");
    runtime.runDue();
    client.request("GET", "/b");
    runtime.runDue();
    expect(client.responses.map((r) => `${r.text()} ${r.get("connection")}`)).toEqual(["got /a undefined", "got /b undefined"]);
    expect(client.ended).toBe(false);
    expect(upstream!.accepted).toBe(2);
    client.socket.close();
    expectNoLeaks();
  });
});

describe("ConnectionManager: codec errors", () => {
  test("a request that does not parse: 400 Bad Request (the status text), Connection: close, pipelined bytes dropped", async () => {
    await setup();
    const client = new MemoryHttpClient(runtime, PROXY);
    client.parser.expectResponseTo("GET");
    client.send("GET / HTTP/1.1\r\nhost: example.com\r\nbad header\r\n\r\nGET /next HTTP/1.1\r\nhost: example.com\r\n\r\n");
    runtime.runDue();
    expect(client.responses.map((r) => `${r.status} ${r.text()} ${r.get("connection")}`)).toEqual(["400 Bad Request close"]);
    expect(client.ended).toBe(true);
    expect(upstream!.requests).toHaveLength(0);
    expectNoLeaks();
    expect(hcm("downstream_cx_protocol_error")).toBe(1);
    expect(hcm("downstream_rq_4xx")).toBe(1);
    expect(hcm("downstream_cx_destroy_local")).toBe(1);
  });

  test("a head past max_request_headers_kb: 431 and close", async () => {
    await setup(undefined, { hcm: { max_request_headers_kb: 1 } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/", { headers: { "x-big": "b".repeat(2048) } });
    runtime.runDue();
    expect(client.responses.map((r) => `${r.status} ${r.text()}`)).toEqual(["431 Request Header Fields Too Large"]);
    expect(client.ended).toBe(true);
    expect(upstream!.requests).toHaveLength(0);
    expectNoLeaks();
    expect(hcm("downstream_cx_protocol_error")).toBe(1);
  });

  test("a bad request behind a good one: the good one is answered first, then 400 and close", async () => {
    await setup();
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/good");
    client.parser.expectResponseTo("GET");
    client.send("BAD\x01 / HTTP/1.1\r\n\r\n");
    runtime.runDue();
    expect(client.responses.map((r) => `${r.status} ${r.text()}`)).toEqual(["200 got /good", "400 Bad Request"]);
    expect(client.ended).toBe(true);
    expectNoLeaks();
    expect(hcm("downstream_rq_2xx")).toBe(1);
    expect(hcm("downstream_rq_4xx")).toBe(1);
  });
});

describe("ConnectionManager: drain_close", () => {
  test("while the server drains (health check failed), each response says Connection: close and the connection closes", async () => {
    await setup();
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/before");
    runtime.runDue();
    expect(client.responses[0]!.get("connection")).toBeUndefined();
    (server as unknown as { failHealthcheck(fail: boolean): void }).failHealthcheck(true);
    client.request("GET", "/during");
    client.request("GET", "/never");
    runtime.runDue();
    expect(client.responses.map((r) => `${r.text()} ${r.get("connection")}`)).toEqual(["got /before undefined", "got /during close"]);
    expect(client.ended).toBe(true);
    expectNoLeaks();
    // A new connection is still accepted, and answered once.
    const next = new MemoryHttpClient(runtime, PROXY);
    next.request("GET", "/direct");
    runtime.runDue();
    expect(next.responses.map((r) => `${r.text()} ${r.get("connection")}`)).toEqual(["direct close"]);
    expect(next.ended).toBe(true);
    expectNoLeaks();
  });
});

describe("ConnectionManager: connections that end under a request", () => {
  test("a client reset mid-response counts downstream_cx_destroy_remote_active_rq and frees the upstream", async () => {
    await setup(() => {}); // never answers
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/hang");
    runtime.runDue();
    expect(hcm("downstream_rq_active")).toBe(1);
    client.socket.reset();
    runtime.runDue();
    expect(hcm("downstream_rq_active")).toBe(0);
    expect(hcm("downstream_cx_destroy_active_rq")).toBe(1);
    expect(hcm("downstream_cx_destroy_remote_active_rq")).toBe(1);
    expect(hcm("downstream_cx_destroy_local_active_rq")).toBe(0);
    expect(hcm("downstream_cx_destroy_remote")).toBe(1);
    expectNoLeaks();
  });

  test("an upstream reset after the response started closes the downstream connection behind what was written (Envoy's FlushWriteAndDelay): a local close", async () => {
    await setup((_req, res) => {
      res.writeHead(200, { "content-length": "10" });
      res.write("abc");
      runtime.setTimeout(() => res.reset(), 5);
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/cut");
    runtime.advance(10);
    expect(client.responses).toHaveLength(0);
    expect(client.wasReset).toBe(false);
    expect(client.ended).toBe(true);
    expect(client.parser.bodyReceived).toBe(3);
    expectNoLeaks();
    expect(hcm("downstream_cx_destroy_local")).toBe(1);
    // Envoy's router counts it for a gRPC call whose success waited for its trailers only (router.cc chargeUpstreamAbort).
    expect(hcm("rq_reset_after_downstream_response_started")).toBe(0);
  });
});

describe("ConnectionManager: delayed close", () => {
  test("a closing connection whose client stopped reading is aborted once a second passes without progress", async () => {
    const body = "d".repeat(60 * 1024);
    await setup(undefined, {
      hcm: {
        route_config: {
          name: "local_route",
          max_direct_response_body_size_bytes: 64 * 1024,
          virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: body } } }] }],
        },
      },
    });
    runtime.setFaults({ port: PROXY }, { receiveWindow: 1024 });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.socket.readDisable(true);
    client.request("GET", "/", { headers: { connection: "close" } });
    runtime.runDue();
    // The response is written, the connection closing behind it, most of it still queued.
    expect(client.socket.peer!.bufferedAmount).toBeGreaterThan(32 * 1024);
    runtime.advance(999);
    expect(activeDownstreamConnections(server)).toBe(1);
    runtime.advance(1);
    runtime.runDue();
    expect(activeDownstreamConnections(server)).toBe(0);
    client.socket.readDisable(false);
    runtime.runUntilIdle();
    expect(client.responses).toHaveLength(0); // cut short: never complete
    expect(client.wasReset).toBe(true);
    expect([...runtime.openSockets]).toEqual([]);
  });
});

/** A raw peer: everything it reads, as text. */
class RawPeer {
  text = "";
  closed = false;
  constructor(readonly socket: import("../../../../core/port.ts").Socket, onData?: (peer: RawPeer, data: string) => void) {
    socket.setHandler({
      onConnect: () => {},
      onData: (data) => {
        const text = new TextDecoder("latin1").decode(data);
        this.text += text;
        onData?.(this, text);
      },
      onEnd: () => socket.close(),
      onDrain: () => {},
      onClose: () => (this.closed = true),
    });
  }
  send(text: string): void {
    this.socket.write(new TextEncoder().encode(text));
  }
}

describe("ConnectionManager: upgrades", () => {
  async function upgradeSetup(upgradeConfigs: object[]): Promise<RawPeer[]> {
    runtime = new MemoryRuntime({ seed: 1 });
    const upstreams: RawPeer[] = [];
    // An upstream that answers the upgrade with 101, then echoes what follows, upper-cased.
    await runtime.listen({ address: "127.0.0.1", port: UPSTREAM }, (socket) => {
      let upgraded = false;
      upstreams.push(
        new RawPeer(socket, (peer, data) => {
          if (!upgraded) {
            const end = peer.text.indexOf("\r\n\r\n");
            if (end < 0) return;
            upgraded = true;
            peer.send("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n");
            const rest = peer.text.slice(end + 4);
            if (rest) peer.send(rest.toUpperCase());
            return;
          }
          peer.send(data.toUpperCase());
        }),
      );
    });
    server = await startProxy(
      runtime,
      httpProxyConfig({
        listenPort: PROXY,
        clusters: { backend: [UPSTREAM] },
        routes: [{ match: { prefix: "/" }, cluster: "backend" }],
        hcm: { upgrade_configs: upgradeConfigs },
      }),
    );
    return upstreams;
  }

  const UPGRADE = "GET /ws HTTP/1.1\r\nhost: example.com\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n";

  test("with upgrade_configs websocket: the 101 goes back and bytes flow both ways until either side closes", async () => {
    const upstreams = await upgradeSetup([{ upgrade_type: "websocket" }]);
    const client = new RawPeer(runtime.connect({ address: "127.0.0.1", port: PROXY }));
    client.send(UPGRADE + "early");
    runtime.runDue();
    expect(client.text.startsWith("HTTP/1.1 101 Switching Protocols\r\n")).toBe(true);
    expect(client.text.endsWith("\r\n\r\nEARLY")).toBe(true);
    expect(upstreams[0]!.text.toLowerCase()).toContain("upgrade: websocket");
    client.send("ping");
    runtime.runDue();
    expect(client.text.endsWith("EARLYPING")).toBe(true);
    client.socket.end();
    runtime.runUntilIdle();
    expect(upstreams[0]!.closed).toBe(true);
    expect(client.closed).toBe(true);
    expect([...runtime.openSockets]).toEqual([]);
    expect(hcm("downstream_rq_1xx")).toBe(1);
  });

  test("without it: 403, and nothing reaches the upstream", async () => {
    const upstreams = await upgradeSetup([]);
    const client = new RawPeer(runtime.connect({ address: "127.0.0.1", port: PROXY }));
    client.send(UPGRADE);
    runtime.runDue();
    expect(client.text.startsWith("HTTP/1.1 403 Forbidden\r\n")).toBe(true);
    expect(upstreams).toHaveLength(0);
    client.socket.close();
    runtime.runUntilIdle();
    expect([...runtime.openSockets]).toEqual([]);
  });
});

describe("ConnectionManager: use_remote_address and a loopback peer", () => {
  /** The x-forwarded-for the upstream sees for one request from the memory client (127.0.0.1). */
  async function forwardedFor(interfaceAddresses: string[] | undefined): Promise<string | undefined> {
    runtime = new MemoryRuntime({ seed: 1, ...(interfaceAddresses ? { interfaceAddresses } : {}) });
    upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (_req, res) => res.respond(200, "ok"));
    server = await startProxy(runtime, httpProxyConfig({ listenPort: PROXY, clusters: { backend: [UPSTREAM] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], hcm: { use_remote_address: true } }));
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runUntilIdle();
    expect(client.responses.map((r) => r.status)).toEqual([200]);
    client.socket.close();
    return upstream.requests[0]!.get("x-forwarded-for");
  }

  test("is appended as the first non-loopback IPv4 interface address (Envoy's config.localAddress()), else 127.0.0.1", async () => {
    expect(await forwardedFor(["127.0.0.1", "::1", "fd00::2", "10.1.2.3", "192.0.2.7"])).toBe("10.1.2.3");
    expect(await forwardedFor(["127.0.0.1", "::1", "fd00::2"])).toBe("127.0.0.1");
    expect(await forwardedFor(undefined)).toBe("127.0.0.1");
  });
});
