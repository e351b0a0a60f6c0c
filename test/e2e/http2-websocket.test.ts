/**
 * WebSockets over HTTP/2 (RFC 8441 extended CONNECT) on every runtime, as Envoy does them
 * (its HTTP/2 codec's upgrade transforms): real `ws` clients and servers, with
 * - an HTTP/1.1 `Upgrade: websocket` → polyvoy → a node:http2 server with
 *   enableConnectProtocol: the upstream sees `:method CONNECT` + `:protocol websocket`, and
 *   its 200 reaches the client as a 101;
 * - an HTTP/2 extended CONNECT (node:http2 client) → polyvoy (allow_connect) → an HTTP/1.1
 *   `ws` server: the upstream sees `GET` + `Upgrade: websocket`, and its 101 reaches the
 *   client as a 200;
 * - both at once, Envoy's two-hop deployment: `ws` client → polyvoy (HTTP/1.1) → HTTP/2 →
 *   polyvoy (allow_connect) → HTTP/1.1 `ws` echo server;
 * - an HTTP/1.1 CONNECT → a node:http2 server: a CONNECT with :authority only (RFC 9113 §8.5);
 * - an upgrade toward an HTTP/2 upstream that did not enable extended CONNECT: refused
 *   locally (RFC 8441 §3), a 503 with the reset's details.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createHash } from "node:crypto";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer } from "ws";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };

/**
 * A `ws` WebSocket over an already-open byte stream (an HTTP/2 stream whose extended
 * CONNECT was answered): `ws` frames over any Duplex (WebSocket#setSocket); `client`
 * masks what it sends and expects unmasked frames, as RFC 6455 §5.1 has a client do.
 */
function webSocketOver(stream: Duplex, client: boolean): WebSocket {
  const ws = new WebSocket(null as unknown as string, undefined, {});
  if (client) (ws as unknown as { _isServer: boolean })._isServer = false;
  (ws as unknown as { setSocket(s: Duplex, head: Buffer, o: object): void }).setSocket(stream, Buffer.alloc(0), { maxPayload: 1 << 20, allowSynchronousEvents: true });
  return ws;
}

/** Echo every message back, as text or binary as it came. */
function echo(ws: WebSocket): void {
  ws.on("message", (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  ws.on("error", () => {});
}

/** Send `messages` in order and resolve with what came back, each as a string. */
function roundTrip(ws: WebSocket, messages: (string | Buffer)[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const got: string[] = [];
    ws.on("message", (data) => {
      got.push(Buffer.from(data as Buffer).toString("latin1"));
      if (got.length === messages.length) resolve(got);
    });
    ws.on("error", reject);
    for (const message of messages) ws.send(message);
  });
}

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.on("open", () => resolve());
    ws.on("error", reject);
    ws.on("unexpected-response", (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
}

function unexpectedResponse(ws: WebSocket): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    ws.on("open", () => reject(new Error("opened")));
    ws.on("error", () => {});
    ws.on("unexpected-response", (_req, res) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
  });
}

function listen(server: http.Server | http2.Http2Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

function h2Cluster(name: string, port: number, http2Options: Record<string, unknown>): Record<string, unknown> {
  return {
    name,
    type: "STATIC",
    connect_timeout: "2s",
    typed_extension_protocol_options: {
      [HTTP_OPTIONS]: { "@type": `type.googleapis.com/${HTTP_OPTIONS}`, explicit_http_config: { http2_protocol_options: http2Options } },
    },
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
  };
}

function h1Cluster(name: string, port: number): Record<string, unknown> {
  return {
    name,
    type: "STATIC",
    connect_timeout: "2s",
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
  };
}

function listener(name: string, port: number, hcm: Record<string, unknown>, routes: Record<string, unknown>[]): Record<string, unknown> {
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
              ...hcm,
            },
          },
        ],
      },
    ],
  };
}

describe.each(RUNTIMES)("WebSockets over HTTP/2 (extended CONNECT) on %s", (runtime) => {
  /** The HTTP/1.1 `ws` echo server, and the upgrade requests it saw. */
  let h1: http.Server;
  const h1Seen: http.IncomingHttpHeaders[] = [];
  const h1Methods: string[] = [];
  /** The node:http2 server with enableConnectProtocol, and the streams it was asked for. */
  let h2: http2.Http2Server;
  const h2Seen: http2.IncomingHttpHeaders[] = [];
  /** A node:http2 server that did not enable extended CONNECT. */
  let h2Plain: http2.Http2Server;
  let proxy: ProxyProcess;
  let front: number;
  let inner: number;

  beforeAll(async () => {
    h1 = http.createServer((_req, res) => res.end("not a websocket"));
    const wss = new WebSocketServer({ noServer: true });
    h1.on("upgrade", (req, socket, head) => {
      h1Seen.push(req.headers);
      h1Methods.push(req.method ?? "");
      wss.handleUpgrade(req, socket, head, (ws) => echo(ws));
    });
    const h1Port = await listen(h1);

    h2 = http2.createServer({ settings: { enableConnectProtocol: true } });
    h2.on("stream", (stream, headers) => {
      h2Seen.push(headers);
      if (headers[":method"] === "CONNECT" && headers[":protocol"] === undefined) {
        // A plain CONNECT (RFC 9113 §8.5): the tunnel echoes.
        stream.respond({ ":status": 200 });
        stream.pipe(stream);
        return;
      }
      if (headers[":method"] !== "CONNECT" || headers[":protocol"] !== "websocket") {
        stream.respond({ ":status": 400 });
        stream.end();
        return;
      }
      // RFC 8441 §5 has no key over HTTP/2, but the HTTP/1.1 client behind polyvoy sent one (passed
      // on as a field) and checks the answer, which neither Envoy nor polyvoy makes up for an
      // HTTP/2 origin (transformUpgradeResponseFromH2toH1 sets only upgrade and connection):
      // answered as RFC 6455 §4.2.2.
      const key = headers["sec-websocket-key"];
      const accept = typeof key === "string" ? createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64") : undefined;
      stream.respond({ ":status": 200, ...(accept ? { "sec-websocket-accept": accept } : {}) });
      echo(webSocketOver(stream, false));
    });
    h2.on("sessionError", () => {});
    const h2Port = await listen(h2);

    h2Plain = http2.createServer();
    h2Plain.on("stream", (stream) => {
      stream.respond({ ":status": 200 });
      stream.end("plain");
    });
    const h2PlainPort = await listen(h2Plain);

    front = await freePort();
    inner = await freePort();
    const config = {
      static_resources: {
        listeners: [
          listener("front", front, { codec_type: "HTTP1", upgrade_configs: [{ upgrade_type: "websocket" }, { upgrade_type: "CONNECT" }] }, [
            { match: { connect_matcher: {} }, route: { cluster: "h2_upstream" } },
            { match: { prefix: "/h2up" }, route: { cluster: "h2_upstream" } },
            { match: { prefix: "/hop" }, route: { cluster: "inner" } },
            { match: { prefix: "/refused" }, route: { cluster: "h2_plain" } },
          ]),
          listener("inner", inner, { codec_type: "HTTP2", http2_protocol_options: { allow_connect: true } }, [{ match: { prefix: "/" }, route: { cluster: "h1_ws" } }]),
        ],
        clusters: [
          h2Cluster("h2_upstream", h2Port, { allow_connect: true }),
          h2Cluster("inner", inner, { allow_connect: true }),
          h2Cluster("h2_plain", h2PlainPort, {}),
          h1Cluster("h1_ws", h1Port),
        ],
      },
    };
    proxy = await ProxyProcess.start(runtime, config);
  }, 60_000);

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    h1?.close();
    h1?.closeAllConnections();
    h2?.close();
    h2Plain?.close();
  });

  test("HTTP/1.1 websocket → HTTP/2 upstream: an extended CONNECT upstream, its 200 a 101 downstream, messages echoed", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${front}/h2up/chat?room=1`);
    await opened(ws);
    expect(await roundTrip(ws, ["hello", Buffer.from([0, 1, 2, 255]), "x".repeat(100_000)])).toEqual(["hello", "\u0000\u0001\u0002\u00ff", "x".repeat(100_000)]);
    ws.close();
    const seen = h2Seen.at(-1)!;
    expect(seen[":method"]).toBe("CONNECT");
    expect(seen[":protocol"]).toBe("websocket");
    expect(seen[":path"]).toBe("/h2up/chat?room=1");
    expect(seen[":scheme"]).toBe("http");
    expect(seen[":authority"]).toBe(`127.0.0.1:${front}`);
    expect(seen["upgrade"]).toBeUndefined();
    expect(seen["connection"]).toBeUndefined();
    expect(seen["sec-websocket-version"]).toBe("13");
  });

  test("HTTP/2 extended CONNECT → HTTP/1.1 upstream: SETTINGS_ENABLE_CONNECT_PROTOCOL, an Upgrade request upstream, its 101 a 200 downstream", async () => {
    const session = http2.connect(`http://127.0.0.1:${inner}`);
    try {
      await new Promise<void>((resolve, reject) => {
        session.on("remoteSettings", () => resolve());
        session.on("error", reject);
      });
      expect(session.remoteSettings.enableConnectProtocol).toBe(true);
      const stream = session.request({
        ":method": "CONNECT",
        ":protocol": "websocket",
        ":scheme": "http",
        ":path": "/direct",
        ":authority": "ws.test",
        "sec-websocket-version": "13",
        // RFC 8441 §5 drops the key over HTTP/2; a client's own is kept as it is (and the origin's
        // accept passed on unchecked): only a keyless one gets a key made up (websocket-handshake-upstream.test.ts).
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      });
      const head = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        stream.on("response", resolve);
        stream.on("error", reject);
      });
      expect(head[":status"]).toBe(200);
      expect(head["sec-websocket-accept"]).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
      expect(head["upgrade"]).toBeUndefined();
      const ws = webSocketOver(stream, true);
      expect(await roundTrip(ws, ["over h2", "and back"])).toEqual(["over h2", "and back"]);
      const upstream = h1Seen.at(-1)!;
      expect(h1Methods.at(-1)).toBe("GET");
      expect(upstream["upgrade"]).toBe("websocket");
      expect(upstream["connection"]?.toLowerCase()).toBe("upgrade");
      expect(upstream["host"]).toBe("ws.test");
      // The client's half-close ends the tunnel both ways: the stream ends.
      const ended = new Promise<void>((r) => stream.on("close", () => r()));
      ws.close();
      await ended;
    } finally {
      session.close();
    }
  });

  test("two hops, as Envoy's docs deploy it: ws client → polyvoy → HTTP/2 extended CONNECT → polyvoy → ws server", async () => {
    const before = h1Seen.length;
    const ws = new WebSocket(`ws://127.0.0.1:${front}/hop/room`);
    await opened(ws);
    const payload = Buffer.alloc(300_000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    const [text, binary] = await roundTrip(ws, ["two hops", payload]);
    expect(text).toBe("two hops");
    expect(Buffer.from(binary!, "latin1").equals(payload)).toBe(true);
    ws.close();
    expect(h1Seen.length).toBe(before + 1);
    expect(h1Methods.at(-1)).toBe("GET");
    expect(h1Seen.at(-1)!["upgrade"]).toBe("websocket");
  });

  test("HTTP/1.1 CONNECT → HTTP/2 upstream: a CONNECT with :authority only, its 200 opens the tunnel, bytes echoed", async () => {
    const socket = net.connect(front, "127.0.0.1");
    try {
      let got = Buffer.alloc(0);
      const head = await new Promise<string>((resolve, reject) => {
        socket.on("error", reject);
        socket.on("data", (d: Buffer) => {
          got = Buffer.concat([got, d]);
          const end = got.indexOf("\r\n\r\n");
          if (end >= 0) resolve(got.subarray(0, end).toString("latin1"));
        });
        socket.write("CONNECT tunnel.test:443 HTTP/1.1\r\nHost: tunnel.test:443\r\n\r\n");
      });
      expect(head).toMatch(/^HTTP\/1\.1 200 /);
      const seen = h2Seen.at(-1)!;
      expect([seen[":method"], seen[":authority"], seen[":path"], seen[":scheme"]]).toEqual(["CONNECT", "tunnel.test:443", undefined, undefined]);
      const start = got.indexOf("\r\n\r\n") + 4;
      const echoed = new Promise<string>((resolve) => {
        const check = () => {
          const text = got.subarray(start).toString("latin1");
          if (text.length >= 12) resolve(text);
        };
        socket.on("data", check);
        check();
      });
      socket.write("tunnel bytes");
      expect(await echoed).toBe("tunnel bytes");
    } finally {
      socket.destroy();
    }
  });

  test("an upgrade toward an HTTP/2 upstream that did not enable extended CONNECT is reset locally: 503", async () => {
    const refused = await unexpectedResponse(new WebSocket(`ws://127.0.0.1:${front}/refused`));
    expect(refused.status).toBe(503);
    expect(refused.body).toMatch(/reset reason: local reset/);
  });
});
