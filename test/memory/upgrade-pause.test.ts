/**
 * The client's bytes behind an upgrade head wait for the origin to accept the upgrade
 * (Envoy's paused_for_websocket_ / paused_for_generic_upgrade_ / paused_for_connect_,
 * core/http/filters/upgrade-pause.ts), through a whole proxy on the memory runtime with a
 * raw origin that records every byte it reads and answers the first head as it is told.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import type { MemorySocket } from "../../runtimes/memory/memory-socket.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const ORIGIN = 8081;
const WS_HEAD = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: abc\r\nSec-WebSocket-Version: 13\r\n\r\n";
const SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: internal\r\n\r\n";
const encode = (text: string) => new TextEncoder().encode(text);

let runtime: MemoryRuntime;
let server: Server;
let closers: { close(): void }[] = [];

afterEach(() => {
  for (const closer of closers) closer.close();
  closers = [];
});

function stat(name: string): number {
  return (server.stats.get(name) as { value: number } | undefined)?.value ?? 0;
}

/** A raw origin: every byte it read, in order; it answers the first complete head with `answer` (and closes after it, if told). */
async function rawOrigin(answer: string): Promise<{ received: () => string; closed: () => boolean }> {
  let received = "";
  let closed = false;
  const listener = await runtime.listen({ address: "127.0.0.1", port: ORIGIN }, (socket) => {
    let answered = false;
    socket.setHandler({
      onConnect() {},
      onData(data: Uint8Array) {
        received += new TextDecoder().decode(data);
        if (!answered && received.includes("\r\n\r\n")) {
          answered = true;
          socket.write(encode(answer));
        }
      },
      onEnd() {
        closed = true;
      },
      onDrain() {},
      onClose() {
        closed = true;
      },
    });
  });
  closers.push(listener);
  return { received: () => received, closed: () => closed };
}

async function upgradeProxy(answer: string, upgradeType = "websocket", listenerExtra?: Record<string, unknown>) {
  runtime = new MemoryRuntime({ seed: 8 });
  const origin = await rawOrigin(answer);
  server = await startProxy(
    runtime,
    httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [ORIGIN] },
      // A CONNECT has no path: Envoy routes it by a connect_matcher.
      routes: [{ match: upgradeType === "CONNECT" ? { connect_matcher: {} } : { prefix: "/" }, action: { route: { cluster: "backend" } } }],
      hcm: { upgrade_configs: [{ upgrade_type: upgradeType }] },
      listenerExtra,
    }),
  );
  return origin;
}

/** A raw client: the proxy's answer as text, and whether the proxy closed (or reset) the connection. */
function rawClient(): { write(text: string): void; answer: () => string; closed: () => boolean; sent: () => number; unsent: () => number } {
  const socket = runtime.connect({ address: "127.0.0.1", port: PROXY }) as MemorySocket;
  let answer = "";
  let closed = false;
  socket.setHandler({
    onConnect() {},
    onData: (data: Uint8Array) => void (answer += new TextDecoder().decode(data)),
    // The proxy's FIN (a graceful close) or a reset.
    onEnd: () => void (closed = true),
    onDrain() {},
    onClose: () => void (closed = true),
  });
  closers.push({ close: () => socket.close() });
  return {
    write: (text) => socket.write(encode(text)),
    answer: () => answer,
    closed: () => closed,
    // What left the client toward the proxy, and what still waits in its write queue (a paused reader's backlog).
    sent: () => socket.stats.bytesSent,
    unsent: () => socket.bufferedAmount,
  };
}

/** What the origin read after the request head. */
function afterHead(received: string): string {
  return received.slice(received.indexOf("\r\n\r\n") + 4);
}

describe("upgrade bytes wait for the origin's answer", () => {
  test("a WebSocket refused with 403: the bytes sent with the head never reach the origin; the 403 goes to the client, both connections close", async () => {
    const origin = await upgradeProxy("HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\nno");
    const client = rawClient();
    client.write(WS_HEAD + SMUGGLED);
    runtime.advance(100);
    // Before the fix the origin read "GET /smuggled" as its next request on that connection.
    expect(origin.received().startsWith("GET /ws HTTP/1.1\r\n")).toBe(true);
    expect(afterHead(origin.received())).toBe("");
    // websocket_allow_4xx_5xx_through_filter_chain: the 403 goes down as the response (its
    // upgrade fields are hop-by-hop to an HTTP/1 client anyway: the slow-403 test below sees
    // them stripped where a filter can tell).
    const answer = client.answer();
    expect(answer).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(answer.toLowerCase()).not.toContain("upgrade: websocket");
    expect(answer.endsWith("\r\n\r\nno")).toBe(true);
    // The upstream connection expected the upgrade's bytes: never reused (Envoy resets the
    // upstream request of an incomplete request); the client's connection closes after the response.
    expect(origin.closed()).toBe(true);
    expect(client.closed()).toBe(true);
    expect(stat("cluster.backend.upstream_rq_active")).toBe(0);
    expect(stat("cluster.backend.upstream_cx_active")).toBe(0);
  });

  test("a WebSocket answered 200: a local reply with the origin's status and headers, no body (websocket_handshake_unsuccessful)", async () => {
    const origin = await upgradeProxy("HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-origin: yes\r\n\r\nhello");
    const client = rawClient();
    client.write(WS_HEAD + SMUGGLED);
    runtime.advance(100);
    expect(afterHead(origin.received())).toBe("");
    const answer = client.answer();
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const head = answer.slice(0, answer.indexOf("\r\n\r\n") + 4).toLowerCase();
    expect(head).toContain("x-origin: yes\r\n");
    expect(head).not.toContain("content-length: 5");
    expect(answer.endsWith("\r\n\r\n")).toBe(true);
    expect(origin.closed()).toBe(true);
    expect(client.closed()).toBe(true);
  });

  test("a WebSocket accepted: the bytes sent with the head reach the origin after its 101, in order, then the tunnel flows both ways", async () => {
    const origin = await upgradeProxy("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\nfrom origin");
    const client = rawClient();
    client.write(WS_HEAD + "frame1");
    client.write("frame2");
    runtime.advance(100);
    expect(afterHead(origin.received())).toBe("frame1frame2");
    client.write("frame3");
    runtime.advance(100);
    expect(afterHead(origin.received())).toBe("frame1frame2frame3");
    expect(client.answer()).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(client.answer().endsWith("\r\n\r\nfrom origin")).toBe(true);
  });

  test("the bytes wait until the 101 comes, however late; past the listener's buffer limit the client is paused (what the proxy took stays bounded), then all of it flows in order", async () => {
    let received = "";
    let answer: ((text: string) => void) | undefined;
    // A small kernel window, so a proxy that stops reading leaves the rest in the client's write queue.
    const WINDOW = 4096;
    runtime = new MemoryRuntime({ seed: 8, receiveWindow: WINDOW });
    const listener = await runtime.listen({ address: "127.0.0.1", port: ORIGIN }, (socket) => {
      answer = (text) => socket.write(encode(text));
      socket.setHandler({ onConnect() {}, onData: (data: Uint8Array) => void (received += new TextDecoder().decode(data)), onEnd() {}, onDrain() {}, onClose() {} });
    });
    closers.push(listener);
    const LIMIT = 1024;
    server = await startProxy(
      runtime,
      httpProxyConfig({
        listenPort: PROXY,
        clusters: { backend: [ORIGIN] },
        routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend" } } }],
        hcm: { upgrade_configs: [{ upgrade_type: "websocket" }] },
        listenerExtra: { per_connection_buffer_limit_bytes: LIMIT },
      }),
    );
    const client = rawClient();
    client.write(WS_HEAD);
    runtime.advance(100);
    // 64 KiB, far past the limit: 600-byte writes of a letter each.
    const sent = Array.from({ length: 110 }, (_, i) => String.fromCharCode(97 + (i % 26)).repeat(600)).join("");
    for (let i = 0; i < 110; i++) {
      client.write(sent.slice(i * 600, (i + 1) * 600));
      runtime.advance(5);
    }
    runtime.advance(100);
    expect(afterHead(received)).toBe("");
    expect(stat("cluster.backend.upstream_rq_active")).toBe(1);
    expect(client.closed()).toBe(false);
    // Paused: the proxy read the limit and the read that crossed it (at most a window), the
    // kernel holds at most a window more, and the rest waits on the client's side. Without
    // the pause the proxy took all of it (a real one grew to 340 MB RSS on 200 MiB).
    expect(client.sent()).toBeLessThanOrEqual(WS_HEAD.length + LIMIT + 2 * WINDOW);
    expect(client.unsent()).toBeGreaterThan(sent.length - LIMIT - 2 * WINDOW - 1);
    answer!("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n");
    runtime.advance(500);
    expect(afterHead(received)).toBe(sent);
    expect(client.unsent()).toBe(0);
    expect(client.answer()).toMatch(/^HTTP\/1\.1 101 /);
  });

  test("refused by a slow 403 (its body not yet all in): the 403 loses its upgrade fields before the encoder filters see it; later bytes never reach the origin", async () => {
    let received = "";
    let answer: ((text: string) => void) | undefined;
    runtime = new MemoryRuntime({ seed: 8 });
    const listener = await runtime.listen({ address: "127.0.0.1", port: ORIGIN }, (socket) => {
      answer = (text) => socket.write(encode(text));
      socket.setHandler({ onConnect() {}, onData: (data: Uint8Array) => void (received += new TextDecoder().decode(data)), onEnd() {}, onDrain() {}, onClose() {} });
    });
    closers.push(listener);
    server = await startProxy(
      runtime,
      httpProxyConfig({
        listenPort: PROXY,
        clusters: { backend: [ORIGIN] },
        routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend" } } }],
        hcm: {
          upgrade_configs: [{ upgrade_type: "websocket" }],
          // What an encoder filter sees of the response's upgrade fields: the HCM drops them
          // on their way to the client in any case (hop-by-hop, no tunnel), a filter sees them first.
          http_filters: [
            {
              name: "envoy.filters.http.lua",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
                default_source_code: {
                  inline_string:
                    "function envoy_on_response(h) h:headers():add('x-seen-upgrade', h:headers():get('upgrade') or '-'); h:headers():add('x-seen-connection', h:headers():get('connection') or '-') end",
                },
              },
            },
            { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
          ],
        },
      }),
    );
    const client = rawClient();
    client.write(WS_HEAD + SMUGGLED);
    runtime.advance(100);
    answer!("HTTP/1.1 403 Forbidden\r\ncontent-length: 4\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\nno");
    runtime.advance(100);
    // The attempt is still there (its response is not complete). What the client sends now
    // the HTTP/1 codec drops (the upgrade was refused); an HTTP/2 client's DATA is held by
    // the attempt instead (upgrade-pause-http2.test.ts).
    expect(stat("cluster.backend.upstream_rq_active")).toBe(1);
    client.write(SMUGGLED);
    runtime.advance(100);
    expect(afterHead(received)).toBe("");
    answer!("ne");
    runtime.advance(100);
    expect(afterHead(received)).toBe("");
    expect(client.answer()).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(client.answer().endsWith("\r\n\r\nnone")).toBe(true);
    expect(client.closed()).toBe(true);
    // strip_upgrade_header_on_failed_websocket_upgrades (Envoy's removeConnectionUpgrade).
    expect(client.answer()).toContain("\r\nx-seen-upgrade: -\r\n");
    expect(client.answer()).toContain("\r\nx-seen-connection: -\r\n");
  });

  test("another upgrade token refused (426): its bytes never reach the origin (Envoy's paused_for_generic_upgrade_)", async () => {
    const origin = await upgradeProxy("HTTP/1.1 426 Upgrade Required\r\ncontent-length: 0\r\n\r\n", "foo");
    const client = rawClient();
    client.write("GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n" + SMUGGLED);
    runtime.advance(100);
    expect(afterHead(origin.received())).toBe("");
    expect(client.answer()).toMatch(/^HTTP\/1\.1 426 /);
    expect(client.closed()).toBe(true);
  });

  test("a proxied CONNECT refused (403): its bytes never reach the origin (Envoy's paused_for_connect_); accepted (200), they follow", async () => {
    const refused = await upgradeProxy("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n", "CONNECT");
    const client = rawClient();
    client.write("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n" + SMUGGLED);
    runtime.advance(100);
    expect(afterHead(refused.received())).toBe("");
    expect(client.answer()).toMatch(/^HTTP\/1\.1 403 /);
    closers.forEach((c) => c.close());
    closers = [];
    const accepted = await upgradeProxy("HTTP/1.1 200 OK\r\n\r\n", "CONNECT");
    const tunnel = rawClient();
    tunnel.write("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nhello");
    runtime.advance(100);
    expect(afterHead(accepted.received())).toBe("hello");
  });
});
