/**
 * What a WebSocket upgrade meets at the origin, on every runtime, over real sockets:
 * - an origin that never answers the upgrade: the route timeout (and per_try_timeout) run
 *   while the proxy waits for the 101, as Envoy's (websocket_enable_timeout_on_upgrade_response):
 *   a 504 "upstream request timeout", flag UT — before, the client waited forever;
 * - an HTTP/2 client's WebSocket (node:http2 extended CONNECT, RFC 8441, no key) to an
 *   HTTP/1.1 `ws` server, which refuses an upgrade without Sec-WebSocket-Key: the proxy
 *   makes one up (websocket_synthesize_key_on_h2_downgrade) and the tunnel echoes;
 * - the same to an origin whose 101 carries a wrong Sec-WebSocket-Accept: 502, flag UPE,
 *   websocket_handshake_invalid_accept.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { existsSync, readFileSync, rmSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer } from "ws";
import { ProxyProcess, RUNTIMES } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";

const HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
const FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";
const WS_HEAD = (path: string) => `GET ${path} HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
/** A masked client text frame, "hello" (RFC 6455 §5.7). */
const FRAME = Buffer.from([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);

/** A `ws` WebSocket over an open byte stream (an answered extended CONNECT's HTTP/2 stream); `client` masks what it sends. */
function webSocketOver(stream: Duplex, client: boolean): WebSocket {
  const ws = new WebSocket(null as unknown as string, undefined, {});
  if (client) (ws as unknown as { _isServer: boolean })._isServer = false;
  (ws as unknown as { setSocket(s: Duplex, head: Buffer, o: object): void }).setSocket(stream, Buffer.alloc(0), { maxPayload: 1 << 20, allowSynchronousEvents: true });
  return ws;
}

function cluster(name: string, port: number): Record<string, unknown> {
  return {
    name,
    type: "STATIC",
    connect_timeout: "2s",
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
  };
}

function listener(name: string, port: number, logPath: string, hcm: Record<string, unknown>, routes: Record<string, unknown>[]): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": HCM_TYPE,
              stat_prefix: name,
              upgrade_configs: [{ upgrade_type: "websocket" }],
              route_config: { virtual_hosts: [{ name, domains: ["*"], routes }] },
              http_filters: [ROUTER],
              access_log: [
                {
                  name: "envoy.access_loggers.file",
                  typed_config: { "@type": FILE_LOG, path: logPath, log_format: { text_format_source: { inline_string: "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n" } } },
                },
              ],
              ...hcm,
            },
          },
        ],
      },
    ],
  };
}

/** What a raw client reads after writing `bytes`, until `until` holds (then 200 ms more) or `ms` pass; when the first byte came. */
function exchange(port: number, bytes: Buffer, until: (text: string) => boolean, ms = 5000): Promise<{ text: string; firstByteAfter: number }> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    const start = Date.now();
    let text = "";
    let firstByteAfter = -1;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, firstByteAfter });
    };
    const timer = setTimeout(done, ms);
    socket.on("error", () => {});
    socket.on("connect", () => socket.write(bytes));
    socket.on("data", (d: Buffer) => {
      if (firstByteAfter < 0) firstByteAfter = Date.now() - start;
      text += d.toString("latin1");
      if (until(text)) setTimeout(done, 200);
    });
    socket.on("close", done);
  });
}

/** An extended CONNECT for `path` without a Sec-WebSocket-Key (RFC 8441 §5); its response head and stream. */
async function extendedConnect(session: http2.ClientHttp2Session, path: string): Promise<{ head: http2.IncomingHttpHeaders; stream: http2.ClientHttp2Stream }> {
  const stream = session.request({ ":method": "CONNECT", ":protocol": "websocket", ":scheme": "http", ":path": path, ":authority": "ws.test", "sec-websocket-version": "13" });
  const head = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
    stream.on("response", resolve);
    stream.on("error", reject);
  });
  return { head, stream };
}

async function connected(port: number): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  await new Promise<void>((resolve, reject) => {
    session.on("remoteSettings", () => resolve());
    session.on("error", reject);
  });
  return session;
}

async function logLine(path: string, prefix: string): Promise<string | undefined> {
  // The file access log flushes each second.
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    const line = existsSync(path) ? readFileSync(path, "utf8").split("\n").find((l) => l.startsWith(prefix)) : undefined;
    if (line !== undefined) return line;
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

describe.each(RUNTIMES)("a WebSocket upgrade's origin on %s", (runtime) => {
  /** Reads everything, answers nothing. */
  let silent: net.Server;
  let silentReceived = "";
  /** Answers 101 with a Sec-WebSocket-Accept no key gives. */
  let wrongAccept: net.Server;
  let wrongReceived = "";
  /** A real `ws` echo server, which refuses an upgrade without a valid key. */
  let wsOrigin: http.Server;
  const wsKeys: (string | undefined)[] = [];
  let proxy: ProxyProcess;
  let front: number;
  let inner: number;
  let logPath: string;

  beforeAll(async () => {
    silent = net.createServer((socket) => {
      socket.on("error", () => {});
      socket.on("data", (d: Buffer) => void (silentReceived += d.toString("latin1")));
    });
    wrongAccept = net.createServer((socket) => {
      socket.on("error", () => {});
      socket.on("data", (d: Buffer) => {
        const first = !wrongReceived.includes("\r\n\r\n");
        wrongReceived += d.toString("latin1");
        if (first && wrongReceived.includes("\r\n\r\n")) socket.write("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
      });
    });
    wsOrigin = http.createServer((_req, res) => res.end("not a websocket"));
    const wss = new WebSocketServer({ noServer: true });
    wsOrigin.on("upgrade", (req, socket, head) => {
      wsKeys.push(req.headers["sec-websocket-key"]);
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on("message", (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
        ws.on("error", () => {});
      });
    });
    const ports: number[] = [];
    for (const server of [silent, wrongAccept, wsOrigin]) {
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      ports.push((server.address() as AddressInfo).port);
    }
    front = await freePort();
    inner = await freePort();
    logPath = `/tmp/polyvoy-ws-handshake-${runtime}-${process.pid}.log`;
    rmSync(logPath, { force: true });
    proxy = await ProxyProcess.start(runtime, {
      static_resources: {
        listeners: [
          listener("front", front, logPath, {}, [
            { match: { prefix: "/route-timeout" }, route: { cluster: "silent", timeout: "1s" } },
            { match: { prefix: "/per-try" }, route: { cluster: "silent", timeout: "10s", retry_policy: { per_try_timeout: "0.5s" } } },
          ]),
          listener("inner", inner, logPath, { codec_type: "HTTP2", http2_protocol_options: { allow_connect: true } }, [
            { match: { prefix: "/wrong" }, route: { cluster: "wrong_accept" } },
            { match: { prefix: "/" }, route: { cluster: "ws_origin" } },
          ]),
        ],
        clusters: [cluster("silent", ports[0]!), cluster("wrong_accept", ports[1]!), cluster("ws_origin", ports[2]!)],
      },
    });
  }, 60_000);

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    silent?.close();
    wrongAccept?.close();
    wsOrigin?.close();
    wsOrigin?.closeAllConnections();
    rmSync(logPath, { force: true });
  });

  test("an origin that never answers: the route timeout (1 s) answers 504 'upstream request timeout', UT; the frame sent with the head never reaches it", async () => {
    const { text, firstByteAfter } = await exchange(front, Buffer.concat([Buffer.from(WS_HEAD("/route-timeout"), "latin1"), FRAME]), (t) => t.endsWith("upstream request timeout"));
    // Before the fix nothing came back in the 5 s the client waited.
    expect(text).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n/);
    expect(text.endsWith("\r\n\r\nupstream request timeout")).toBe(true);
    expect(firstByteAfter).toBeGreaterThanOrEqual(900);
    expect(firstByteAfter).toBeLessThan(3000);
    expect(silentReceived).toContain("GET /route-timeout HTTP/1.1\r\n");
    expect(silentReceived).not.toContain(FRAME.toString("latin1"));
    expect(await logLine(logPath, "/route-timeout ")).toBe("/route-timeout 504 UT upstream_response_timeout");
  });

  test("per_try_timeout (0.5 s) runs while waiting too: 504, UT, upstream_per_try_timeout", async () => {
    const { text, firstByteAfter } = await exchange(front, Buffer.from(WS_HEAD("/per-try"), "latin1"), (t) => t.endsWith("upstream request timeout"));
    expect(text).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n/);
    expect(firstByteAfter).toBeGreaterThanOrEqual(400);
    expect(firstByteAfter).toBeLessThan(2500);
    expect(await logLine(logPath, "/per-try ")).toBe("/per-try 504 UT upstream_per_try_timeout");
  });

  test("an HTTP/2 client's WebSocket without a key to a `ws` HTTP/1.1 server: the proxy makes one up, the 101's accept checks out, messages echo", async () => {
    const session = await connected(inner);
    try {
      const { head, stream } = await extendedConnect(session, "/echo");
      // Before the fix the `ws` server refused the keyless upgrade: a 400.
      expect(head[":status"]).toBe(200);
      expect(head["sec-websocket-accept"]).toBeUndefined();
      const key = wsKeys.at(-1);
      expect(key).toMatch(/^[A-Za-z0-9+/]{22}==$/);
      const ws = webSocketOver(stream, true);
      const echoed = await new Promise<string[]>((resolve, reject) => {
        const got: string[] = [];
        ws.on("message", (data) => {
          got.push(Buffer.from(data as Buffer).toString());
          if (got.length === 2) resolve(got);
        });
        ws.on("error", reject);
        ws.send("over h2");
        ws.send("to h1");
      });
      expect(echoed).toEqual(["over h2", "to h1"]);
      ws.close();
    } finally {
      session.close();
    }
  });

  test("a 101 with a wrong Sec-WebSocket-Accept: 502, no body, UPE, websocket_handshake_invalid_accept", async () => {
    const session = await connected(inner);
    try {
      const { head, stream } = await extendedConnect(session, "/wrong");
      // Before the fix the 101 opened the tunnel whatever its accept said: a 200.
      expect(head[":status"]).toBe(502);
      const body = await new Promise<string>((resolve) => {
        let text = "";
        stream.on("data", (d: Buffer) => (text += d.toString()));
        stream.on("close", () => resolve(text));
      });
      expect(body).toBe("");
      expect(wrongReceived).toMatch(/\r\nsec-websocket-key: [A-Za-z0-9+/]{22}==\r\n/i);
      expect(await logLine(logPath, "/wrong ")).toBe("/wrong 502 UPE websocket_handshake_invalid_accept");
    } finally {
      session.close();
    }
  });
});
