/**
 * An HTTP/2 client's WebSocket (RFC 8441 extended CONNECT, which has no Sec-WebSocket-Key)
 * to an HTTP/1.1 origin: a key is made up for the origin from the port's random, and the
 * origin's 101 must carry its Sec-WebSocket-Accept (Envoy's maybeGenerateWebsocketKey and
 * UpstreamCodecFilter, websocket_synthesize_key_on_h2_downgrade). On the memory runtime: the
 * core's HTTP/2 client, a raw HTTP/1.1 origin that answers the head as the test tells it.
 */
import { createHash } from "node:crypto";
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { H2Client } from "./support/h2-client.ts";
import { startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const ORIGIN = 8080;
const FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";
const encode = (text: string) => new TextEncoder().encode(text);
/** RFC 6455 §4.2.2, computed with the test runner's own SHA-1. */
const acceptOf = (key: string) => createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");

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

function headerOf(fields: string[] | undefined, name: string): string | undefined {
  if (!fields) return undefined;
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

interface Origin {
  /** Each connection's bytes, in order. */
  received: string[];
  closed: boolean[];
}

/** A raw HTTP/1.1 origin: each head is answered by `answer(head)`; every later byte is recorded. */
async function origin(answer: (head: string) => string): Promise<Origin> {
  const seen: Origin = { received: [], closed: [] };
  const listener = await runtime.listen({ address: "127.0.0.1", port: ORIGIN }, (socket) => {
    const i = seen.received.push("") - 1;
    seen.closed.push(false);
    socket.setHandler({
      onConnect() {},
      onData(data: Uint8Array) {
        const before = seen.received[i]!;
        seen.received[i] = before + new TextDecoder().decode(data);
        const end = seen.received[i]!.indexOf("\r\n\r\n");
        if (end >= 0 && !before.includes("\r\n\r\n")) socket.write(encode(answer(seen.received[i]!.slice(0, end))));
      },
      onEnd: () => void (seen.closed[i] = true),
      onDrain() {},
      onClose: () => void (seen.closed[i] = true),
    });
  });
  closers.push(listener);
  return seen;
}

/** The request head's `sec-websocket-key` (case-insensitively named), every one of them. */
function keysIn(head: string): string[] {
  return [...head.matchAll(/^sec-websocket-key: *(.*)$/gim)].map((m) => m[1]!.trim());
}

async function proxy(clusterExtra?: Record<string, unknown>): Promise<void> {
  server = await startProxy(
    runtime,
    httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [ORIGIN] },
      clusterExtra,
      routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend" } } }],
      hcm: {
        codec_type: "HTTP2",
        http2_protocol_options: { allow_connect: true },
        upgrade_configs: [{ upgrade_type: "websocket" }],
        access_log: [
          {
            name: "envoy.access_loggers.file",
            typed_config: { "@type": FILE_LOG, path: "/dev/stdout", log_format: { text_format_source: { inline_string: "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n" } } },
          },
        ],
      },
    }),
  );
}

interface WebSocketStream {
  headers: string[][];
  text: string;
  reset: number | undefined;
  ended: boolean;
  send(text: string): void;
}

/** An extended CONNECT for /chat, with `extra` fields; DATA `early` right behind its HEADERS. */
function openWebSocket(client: H2Client, extra: string[] = [], early?: string): WebSocketStream {
  const ws: WebSocketStream = { headers: [], text: "", reset: undefined, ended: false, send: () => {} };
  const stream = client.conn.newStream({
    onHeaders: (f, end) => {
      ws.headers.push(f);
      if (end) ws.ended = true;
    },
    onData: (d, end) => {
      ws.text += new TextDecoder().decode(d);
      if (end) ws.ended = true;
    },
    onTrailers() {},
    onReset: (code) => void (ws.reset = code),
  })!;
  stream.sendHeaders([":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":path", "/chat", ":authority", "ws.test", "sec-websocket-version", "13", ...extra], false);
  if (early !== undefined) stream.sendData(encode(early), false);
  ws.send = (text) => stream.sendData(encode(text), false);
  return ws;
}

describe("an HTTP/2 client's WebSocket to an HTTP/1.1 origin", () => {
  test("gets a Sec-WebSocket-Key (16 random bytes, base64) for the origin; its right accept opens the tunnel, and is not passed on", async () => {
    runtime = new MemoryRuntime({ seed: 11 });
    const seen = await origin((head) => `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: ${acceptOf(keysIn(head)[0] ?? "")}\r\nx-origin: yes\r\n\r\nhello`);
    await proxy();
    const client = new H2Client(runtime, PROXY);
    runtime.advance(10);
    const ws = openWebSocket(client, [], "early frame");
    runtime.advance(100);
    const head = seen.received[0]!.slice(0, seen.received[0]!.indexOf("\r\n\r\n"));
    expect(head).toMatch(/^GET \/chat HTTP\/1\.1\r\n/);
    // Before the fix the origin got no key at all (RFC 6455 §4.1 requires one).
    const keys = keysIn(head);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(Buffer.from(keys[0]!, "base64")).toHaveLength(16);
    expect(headerOf(ws.headers[0], ":status")).toBe("200");
    expect(headerOf(ws.headers[0], "x-origin")).toBe("yes");
    // The HTTP/2 client sent no key: the accept is the proxy's business, not passed on.
    expect(headerOf(ws.headers[0], "sec-websocket-accept")).toBeUndefined();
    expect(ws.text).toBe("hello");
    expect(seen.received[0]!.endsWith("\r\n\r\nearly frame")).toBe(true);
    ws.send(" more");
    runtime.advance(10);
    expect(seen.received[0]!.endsWith("\r\n\r\nearly frame more")).toBe(true);
  });

  test("each upgrade gets a fresh key", async () => {
    runtime = new MemoryRuntime({ seed: 12 });
    const seen = await origin((head) => `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: ${acceptOf(keysIn(head)[0] ?? "")}\r\n\r\n`);
    await proxy();
    const client = new H2Client(runtime, PROXY);
    runtime.advance(10);
    const first = openWebSocket(client);
    const second = openWebSocket(client);
    runtime.advance(100);
    expect([headerOf(first.headers[0], ":status"), headerOf(second.headers[0], ":status")]).toEqual(["200", "200"]);
    const keys = seen.received.map((text) => keysIn(text)[0]);
    expect(keys).toHaveLength(2);
    expect(keys[0]).not.toBe(keys[1]);
  });

  for (const [name, accept] of [
    ["a wrong accept", (key: string) => `sec-websocket-accept: ${acceptOf(key + "x")}\r\n`],
    ["no accept", () => ""],
    ["the right accept twice", (key: string) => `sec-websocket-accept: ${acceptOf(key)}\r\nsec-websocket-accept: ${acceptOf(key)}\r\n`],
  ] as const) {
    test(`a 101 with ${name} is a 502 with no body, UPE, websocket_handshake_invalid_accept; the held bytes never reach the origin, its connection is closed`, async () => {
      runtime = new MemoryRuntime({ seed: 13 });
      const seen = await origin((head) => `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n${accept(keysIn(head)[0] ?? "")}\r\n`);
      await proxy();
      const client = new H2Client(runtime, PROXY);
      runtime.advance(10);
      const ws = openWebSocket(client, [], "held frame");
      runtime.advance(100);
      // Before the fix the 101 opened the tunnel whatever its accept said.
      expect(headerOf(ws.headers[0], ":status")).toBe("502");
      expect(ws.text).toBe("");
      expect(ws.ended || ws.reset !== undefined).toBe(true);
      expect(seen.received[0]).not.toContain("held frame");
      expect(seen.closed[0]).toBe(true);
      expect(stat("cluster.backend.upstream_rq_active")).toBe(0);
      expect(stat("cluster.backend.upstream_cx_active")).toBe(0);
      // The codec filter's local reply: no cluster response charged for it, as Envoy's.
      expect(stat("cluster.backend.upstream_rq_502")).toBe(0);
      expect(stat("http.ingress_http.downstream_rq_5xx")).toBe(1);
      await runtime.settle(1000);
      expect(runtime.stdoutText).toBe("502 UPE websocket_handshake_invalid_accept\n");
    });
  }

  test("a refusal (403) goes on as it is, its Sec-WebSocket-Accept dropped", async () => {
    runtime = new MemoryRuntime({ seed: 14 });
    await origin(() => "HTTP/1.1 403 Forbidden\r\nsec-websocket-accept: whatever\r\ncontent-length: 2\r\n\r\nno");
    await proxy();
    const client = new H2Client(runtime, PROXY);
    runtime.advance(10);
    const ws = openWebSocket(client);
    runtime.advance(100);
    expect(headerOf(ws.headers[0], ":status")).toBe("403");
    expect(headerOf(ws.headers[0], "sec-websocket-accept")).toBeUndefined();
    expect(ws.text).toBe("no");
  });

  test("the key goes on at the codec, after the cluster's upstream HTTP filters: one removing the field sees none to remove", async () => {
    runtime = new MemoryRuntime({ seed: 16 });
    const seen = await origin((head) => `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: ${acceptOf(keysIn(head)[0] ?? "")}\r\n\r\n`);
    const OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
    const mutation = {
      name: "envoy.filters.http.header_mutation",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
        mutations: { request_mutations: [{ remove: "sec-websocket-key" }, { append: { header: { key: "x-upstream-filter", value: "ran" } } }] },
      },
    };
    const codec = { name: "envoy.filters.http.upstream_codec", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec" } };
    await proxy({ typed_extension_protocol_options: { [OPTIONS]: { "@type": `type.googleapis.com/${OPTIONS}`, explicit_http_config: { http_protocol_options: {} }, http_filters: [mutation, codec] } } });
    const client = new H2Client(runtime, PROXY);
    runtime.advance(10);
    const ws = openWebSocket(client);
    runtime.advance(100);
    expect(seen.received[0]).toMatch(/\r\nx-upstream-filter: ran\r\n/);
    expect(keysIn(seen.received[0]!)).toHaveLength(1);
    expect(headerOf(ws.headers[0], ":status")).toBe("200");
  });

  test("a client that sent its own key keeps it, and its accept is neither checked nor dropped", async () => {
    runtime = new MemoryRuntime({ seed: 15 });
    const seen = await origin(() => "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: not-checked\r\n\r\n");
    await proxy();
    const client = new H2Client(runtime, PROXY);
    runtime.advance(10);
    const ws = openWebSocket(client, ["sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="]);
    runtime.advance(100);
    expect(keysIn(seen.received[0]!)).toEqual(["dGhlIHNhbXBsZSBub25jZQ=="]);
    expect(headerOf(ws.headers[0], ":status")).toBe("200");
    expect(headerOf(ws.headers[0], "sec-websocket-accept")).toBe("not-checked");
  });
});
