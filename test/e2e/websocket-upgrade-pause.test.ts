/**
 * The bytes a client sends behind a WebSocket upgrade head wait for the origin's 101
 * (Envoy's paused_for_websocket_), on every runtime, over real sockets: a raw client
 * writes the upgrade request and what follows it in ONE write; a raw origin records every
 * byte it reads. Refused (403), the origin never reads what followed the head (which would
 * be its next request: smuggling); accepted (101), it reads them only after its 101.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as net from "node:net";
import { ProxyProcess, RUNTIMES } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";

const HEAD = (path: string) => `GET ${path} HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
const SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: internal\r\n\r\n";
/** A masked client text frame, "hello" (RFC 6455 §5.7). */
const FRAME = Buffer.from([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);

interface OriginConnection {
  /** Every byte read, in order. */
  received: Buffer;
  /** How many bytes had been read when the origin answered the head. */
  readAtAnswer: number;
}

/** What the proxy's client read until the proxy closed the connection (or `ms` passed). */
function exchange(port: number, bytes: Buffer, until: (text: string) => boolean, ms = 3000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    let text = "";
    let closed = false;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(done, ms);
    socket.on("error", () => {});
    socket.on("connect", () => socket.write(bytes));
    socket.on("data", (d: Buffer) => {
      text += d.toString("latin1");
      if (until(text)) setTimeout(done, 200);
    });
    socket.on("close", () => {
      closed = true;
      done();
    });
  });
}

describe.each(RUNTIMES)("WebSocket upgrade bytes wait for the 101 on %s", (runtime) => {
  let origin: net.Server;
  const connections: OriginConnection[] = [];
  let proxy: ProxyProcess;
  let port: number;

  beforeAll(async () => {
    // Answers the first head at once (403 for /refuse, 101 for /accept), reading nothing more first.
    origin = net.createServer((socket) => {
      socket.on("error", () => {});
      const connection: OriginConnection = { received: Buffer.alloc(0), readAtAnswer: -1 };
      connections.push(connection);
      socket.on("data", (d: Buffer) => {
        connection.received = Buffer.concat([connection.received, d]);
        const text = connection.received.toString("latin1");
        if (connection.readAtAnswer >= 0 || !text.includes("\r\n\r\n")) return;
        connection.readAtAnswer = connection.received.length;
        if (text.startsWith("GET /refuse ")) socket.write("HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\n\r\nno");
        else socket.write("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
      });
    });
    await new Promise<void>((r) => origin.listen(0, "127.0.0.1", r));
    port = await freePort();
    proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({
        listenPort: port,
        clusters: { origin: [(origin.address() as net.AddressInfo).port] },
        routes: [{ match: { prefix: "/" }, cluster: "origin" }],
        hcm: { upgrade_configs: [{ upgrade_type: "websocket" }] },
      }),
    );
  });

  afterAll(async () => {
    await proxy?.stop();
    origin?.close();
  });

  test("refused with 403: the bytes written with the head never reach the origin; the client gets the 403 and its connection closes", async () => {
    connections.length = 0;
    const { text, closed } = await exchange(port, Buffer.from(HEAD("/refuse") + SMUGGLED, "latin1"), (t) => t.endsWith("\r\n\r\nno"));
    expect(text).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(text.endsWith("\r\n\r\nno")).toBe(true);
    expect(closed).toBe(true);
    // Before the fix the origin read "GET /smuggled" right behind the head, as its next request.
    await new Promise((r) => setTimeout(r, 300));
    const received = connections.map((c) => c.received.toString("latin1")).join("");
    expect(received).not.toContain("/smuggled");
    expect(received.slice(received.indexOf("\r\n\r\n") + 4)).toBe("");
  });

  test("accepted with 101: the frame written with the head reaches the origin after its 101, whole", async () => {
    connections.length = 0;
    const { text } = await exchange(port, Buffer.concat([Buffer.from(HEAD("/accept"), "latin1"), FRAME]), (t) => t.includes("\r\n\r\n"));
    expect(text).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && (connections[0]?.received.length ?? 0) < (connections[0]?.readAtAnswer ?? 0) + FRAME.length) await new Promise((r) => setTimeout(r, 20));
    const connection = connections[0]!;
    // The origin had read the head alone when it answered: the frame came after the 101.
    const headEnd = connection.received.toString("latin1").indexOf("\r\n\r\n") + 4;
    expect(connection.readAtAnswer).toBe(headEnd);
    expect(connection.received.subarray(headEnd).equals(FRAME)).toBe(true);
  });
});
