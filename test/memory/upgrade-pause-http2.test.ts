/**
 * The upgrade hold (core/http/filters/upgrade-pause.ts) for an HTTP/2 client's WebSocket
 * (extended CONNECT, RFC 8441) to an HTTP/1.1 upstream, on the memory runtime. An HTTP/2
 * client's stream keeps sending DATA after a refusal's headers (an HTTP/1 client's
 * connection drops the bytes behind a refused upgrade head in its codec), so here the hold
 * after the refusal is what keeps them from the origin. And the connection's other streams
 * must not stall behind a paused stream's unconsumed DATA.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { H2Client } from "./support/h2-client.ts";
import { startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;
const encode = (text: string) => new TextEncoder().encode(text);

let runtime: MemoryRuntime;
let server: Server;
let closers: { close(): void }[] = [];

afterEach(() => {
  for (const closer of closers) closer.close();
  closers = [];
});

function headerOf(fields: string[] | undefined, name: string): string | undefined {
  if (!fields) return undefined;
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/**
 * A raw HTTP/1.1 upstream: the WebSocket's head waits for `answerWebSocket`; any other
 * request is answered 200 "ok" once its content-length body is all in.
 */
async function upstream(): Promise<{ answerWebSocket: (text: string) => void; posted: () => number; webSocketConnection: () => string }> {
  let answerWebSocket: ((text: string) => void) | undefined;
  let webSocketReceived = () => "";
  let posted = 0;
  const listener = await runtime.listen({ address: "127.0.0.1", port: UPSTREAM }, (socket) => {
    let received = "";
    let answered = false;
    socket.setHandler({
      onConnect() {},
      onData(data: Uint8Array) {
        received += new TextDecoder().decode(data);
        const headEnd = received.indexOf("\r\n\r\n");
        if (headEnd < 0 || answered) return;
        if (received.startsWith("GET /chat ")) {
          answerWebSocket = (text) => socket.write(encode(text));
          webSocketReceived = () => received;
          answered = true;
          return;
        }
        const length = Number(/content-length: (\d+)/i.exec(received.slice(0, headEnd))?.[1] ?? "0");
        posted = received.length - headEnd - 4;
        if (posted < length) return;
        answered = true;
        socket.write(encode("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
      },
      onEnd() {},
      onDrain() {},
      onClose() {},
    });
  });
  closers.push(listener);
  return { answerWebSocket: (text) => answerWebSocket!(text), posted: () => posted, webSocketConnection: () => webSocketReceived() };
}

describe("an HTTP/2 client's WebSocket hold", () => {
  test("refused by a slow 403 (its body not yet all in): DATA the client sends meanwhile is held with the attempt, never reaching the origin", async () => {
    runtime = new MemoryRuntime({ seed: 3 });
    const origin = await upstream();
    server = await startProxy(
      runtime,
      httpProxyConfig({
        listenPort: PROXY,
        clusters: { backend: [UPSTREAM] },
        routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend" } } }],
        hcm: { codec_type: "HTTP2", http2_protocol_options: { allow_connect: true }, upgrade_configs: [{ upgrade_type: "websocket" }] },
      }),
    );
    const client = new H2Client(runtime, PROXY);
    runtime.advance(100);
    const wsHeaders: string[][] = [];
    let text = "";
    let reset: number | undefined;
    const ws = client.conn.newStream({ onHeaders: (f) => void wsHeaders.push(f), onData: (d) => void (text += new TextDecoder().decode(d)), onTrailers() {}, onReset: (code) => void (reset = code) })!;
    ws.sendHeaders([":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":path", "/chat", ":authority", "ws.test", "sec-websocket-version", "13"], false);
    runtime.advance(100);
    origin.answerWebSocket("HTTP/1.1 403 Forbidden\r\ncontent-length: 4\r\n\r\nno");
    runtime.advance(100);
    expect(headerOf(wsHeaders[0], ":status")).toBe("403");
    // The attempt is still there (its response is not complete): this DATA is held with it.
    ws.sendData(encode("GET /smuggled HTTP/1.1\r\nHost: internal\r\n\r\n"), false);
    runtime.advance(100);
    expect(origin.webSocketConnection()).not.toContain("/smuggled");
    origin.answerWebSocket("ne");
    runtime.advance(100);
    expect(text).toBe("none");
    expect(origin.webSocketConnection()).not.toContain("/smuggled");
    expect(reset === undefined || reset === 0).toBe(true);
  });

  describe("past its limit, then refused: the connection's other streams still flow", () => {
  for (const [name, refusal] of [
    ["a 403 with a body (the response completes: the router's finish)", "HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\n\r\nno"],
    ["a 200 (a local reply: websocket_handshake_unsuccessful)", "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"],
  ] as const) {
    test(name, async () => {
      runtime = new MemoryRuntime({ seed: 3 });
      const origin = await upstream();
      server = await startProxy(
        runtime,
        httpProxyConfig({
          listenPort: PROXY,
          clusters: { backend: [UPSTREAM] },
          routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend" } } }],
          // The smallest windows: what a paused stream holds unconsumed is the connection's whole window.
          hcm: {
            codec_type: "HTTP2",
            http2_protocol_options: { allow_connect: true, initial_stream_window_size: 65535, initial_connection_window_size: 65535 },
            upgrade_configs: [{ upgrade_type: "websocket" }],
          },
          listenerExtra: { per_connection_buffer_limit_bytes: 1024 },
        }),
      );
      const client = new H2Client(runtime, PROXY);
      runtime.advance(100);
      const wsHeaders: string[][] = [];
      const ws = client.conn.newStream({ onHeaders: (f) => void wsHeaders.push(f), onData() {}, onTrailers() {}, onReset() {} })!;
      ws.sendHeaders([":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":path", "/chat", ":authority", "ws.test", "sec-websocket-version", "13"], false);
      runtime.advance(100);
      // Past the hold's limit: the stream's reads pause, and the rest of its DATA is kept unconsumed.
      for (let i = 0; i < 40; i++) {
        ws.sendData(new Uint8Array(1500).fill(97), false);
        runtime.advance(5);
      }
      runtime.advance(100);
      origin.answerWebSocket(refusal);
      runtime.advance(500);
      const status = refusal.split(" ")[1];
      expect(headerOf(wsHeaders[0], ":status")).toBe(status);
      // Another stream on the same connection: its 30000-byte body needs the window back.
      const post = client.request([":path", "/other", "content-length", "30000"], "b".repeat(30000));
      runtime.advance(1000);
      expect(origin.posted()).toBe(30000);
      expect(headerOf(post.headers[0], ":status")).toBe("200");
      expect(post.text).toBe("ok");
    });
  }
  });
});
