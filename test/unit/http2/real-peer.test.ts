/**
 * Http2ConnectionImpl against real HTTP/2 peers: a test-only server (the connection over a
 * net.Server socket, answering from its stream callbacks) driven by node's http2 client and,
 * where installed, nghttp2's `nghttp` and `h2load` (Debian's nghttp2-client); and the client
 * role over a net.Socket against node's http2 server. Checks what a real peer's framing,
 * HPACK, flow control and SETTINGS make of ours.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import * as http2 from "node:http2";
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Http2CodecStats } from "../../../core/http2/codec-stats.ts";
import { Http2ConnectionImpl } from "../../../core/http2/connection.ts";
import type { Http2Stream } from "../../../core/http2/stream.ts";
import { StreamLog } from "./h2-harness.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";

const store = new StatsStore();
const stats = new Http2CodecStats(store.scope(""));
const connectionErrors: string[] = [];

/** Answers GET with a small body and trailers, POST by echoing the body (after it has all come). */
class EchoStream {
  private method = "";
  private path = "";
  private readonly body: Uint8Array[] = [];
  constructor(private readonly stream: Http2Stream) {}
  onHeaders(fields: string[], endStream: boolean): void {
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] === ":method") this.method = fields[i + 1]!;
      if (fields[i] === ":path") this.path = fields[i + 1]!;
    }
    if (endStream) this.respond();
  }
  onData(data: Uint8Array, endStream: boolean): void {
    this.body.push(data.slice());
    if (endStream) this.respond();
  }
  onTrailers(): void {
    this.respond();
  }
  onReset(): void {}
  private respond(): void {
    if (this.method === "POST") {
      const length = this.body.reduce((n, c) => n + c.length, 0);
      this.stream.sendHeaders([":status", "200", "content-length", String(length)], length === 0);
      this.body.forEach((c, i) => this.stream.sendData(c, i === this.body.length - 1));
      return;
    }
    const text = new TextEncoder().encode(`hello ${this.path}\n`);
    this.stream.sendHeaders([":status", "200", "content-type", "text/plain"], false);
    this.stream.sendData(text, false);
    this.stream.sendTrailers(["x-trailer", "done"]);
  }
}

function serve(socket: net.Socket): void {
  const conn = new Http2ConnectionImpl(
    "server",
    { write: (data) => void socket.write(data) },
    {
      onNewStream: (stream) => {
        stream.callbacks = new EchoStream(stream);
      },
      onConnectionError: (error) => {
        connectionErrors.push(error.reason);
        socket.end();
      },
    },
    stats,
    {},
  );
  socket.on("data", (data) => {
    conn.dispatch(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    if (socket.writableLength === 0) conn.onWriteDrained();
  });
  socket.on("drain", () => conn.onWriteDrained());
  socket.on("close", () => conn.destroy());
  socket.on("error", () => conn.destroy());
  conn.start();
}

let server: net.Server;
let port = 0;

beforeAll(async () => {
  server = net.createServer(serve);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as net.AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function run(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function which(name: string): string | undefined {
  for (const dir of ["/usr/bin", "/usr/local/bin", "/bin"]) if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  return undefined;
}

describe("node's http2 client", () => {
  test("concurrent GETs with trailers and a 1 MiB POST echoed back", async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const request = (headers: http2.OutgoingHttpHeaders, body?: Uint8Array) =>
      new Promise<{ status: number; body: Uint8Array; trailers: http2.IncomingHttpHeaders }>((resolve, reject) => {
        const req = session.request(headers);
        const chunks: Uint8Array[] = [];
        let status = 0;
        let trailers: http2.IncomingHttpHeaders = {};
        req.on("response", (h) => (status = Number(h[":status"])));
        req.on("trailers", (t) => (trailers = t));
        req.on("data", (c: Uint8Array) => chunks.push(c));
        req.on("end", () => {
          const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
          let at = 0;
          for (const c of chunks) {
            out.set(c, at);
            at += c.length;
          }
          resolve({ status, body: out, trailers });
        });
        req.on("error", reject);
        req.end(body);
      });
    try {
      const gets = await Promise.all(Array.from({ length: 20 }, (_, i) => request({ ":path": `/g${i}` })));
      gets.forEach((r, i) => {
        expect(r.status).toBe(200);
        expect(new TextDecoder().decode(r.body)).toBe(`hello /g${i}\n`);
        expect(r.trailers["x-trailer"]).toBe("done");
      });
      const big = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 7) & 0xff);
      const post = await request({ ":method": "POST", ":path": "/echo" }, big);
      expect(post.status).toBe(200);
      expect(post.body.length).toBe(big.length);
      let same = true;
      for (let i = 0; i < big.length; i++) if (post.body[i] !== big[i]) same = false;
      expect(same).toBe(true);
    } finally {
      session.close();
    }
    expect(connectionErrors).toEqual([]);
  }, 30_000);
});

const nghttp = which("nghttp");
const h2load = which("h2load");

describe.skipIf(nghttp === undefined)("nghttp (nghttp2-client)", () => {
  test("prior-knowledge GET: response, trailers, and a clean GOAWAY from the client", async () => {
    const r = await run(nghttp!, ["-nv", `http://127.0.0.1:${port}/n`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/recv \(stream_id=\d+\) :status: 200/);
    expect(r.stdout).toMatch(/recv \(stream_id=\d+\) x-trailer: done/);
    expect(r.stdout).toMatch(/recv SETTINGS frame[\s\S]*ACK/);
    expect(connectionErrors).toEqual([]);
  }, 30_000);
});

describe.skipIf(h2load === undefined)("h2load (nghttp2-client)", () => {
  test("2000 requests over 4 connections with 50 streams each all succeed", async () => {
    const r = await run(h2load!, ["-n", "2000", "-c", "4", "-m", "50", `http://127.0.0.1:${port}/load`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored/);
    expect(connectionErrors).toEqual([]);
  }, 60_000);
});

describe("the client role against node's http2 server", () => {
  test("streams with request bodies, response bodies and trailers; then GOAWAY from the server drains", async () => {
    const h2server = http2.createServer();
    const sessions: http2.ServerHttp2Session[] = [];
    h2server.on("session", (session) => sessions.push(session));
    h2server.on("stream", (stream, headers) => {
      const chunks: Uint8Array[] = [];
      stream.on("data", (c: Uint8Array) => chunks.push(c));
      stream.on("end", () => {
        const length = chunks.reduce((n, c) => n + c.length, 0);
        stream.respond({ ":status": 200, "x-path": String(headers[":path"]) }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "x-length": String(length) }));
        stream.end(`got ${length}`);
      });
    });
    await new Promise<void>((resolve) => h2server.listen(0, "127.0.0.1", resolve));
    const serverPort = (h2server.address() as net.AddressInfo).port;
    const socket = net.connect(serverPort, "127.0.0.1");
    const events: unknown[][] = [];
    const client = new Http2ConnectionImpl(
      "client",
      { write: (data) => void socket.write(data) },
      {
        onConnectionError: (e) => events.push(["error", e.reason]),
        onGoAway: (last, code) => events.push(["goaway", last, code]),
        onDrained: () => events.push(["drained"]),
      },
      stats,
    );
    socket.on("data", (data) => client.dispatch(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
    socket.on("close", () => client.destroy());
    await new Promise<void>((resolve) => socket.on("connect", resolve));
    client.start();
    const logs = Array.from({ length: 5 }, () => new StreamLog());
    const body = new Uint8Array(300_000).fill(7);
    logs.forEach((log, i) => {
      const stream = client.newStream(log)!;
      stream.sendHeaders([":method", "POST", ":scheme", "http", ":path", `/p${i}`, ":authority", "x"], false);
      stream.sendData(body.subarray(0, i * 50_000), true);
    });
    const done = () => logs.every((l) => l.events.some((e) => e[0] === "trailers" || e[0] === "reset"));
    for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
    logs.forEach((log, i) => {
      expect(log.events[0]).toEqual(["headers", expect.arrayContaining([":status", "200", "x-path", `/p${i}`]), false]);
      expect(new TextDecoder().decode(log.bodyBytes())).toBe(`got ${i * 50_000}`);
      expect(log.events.at(-1)).toEqual(["trailers", ["x-length", String(i * 50_000)]]);
    });
    expect(client.activeStreams).toBe(0);
    const closed = new Promise<void>((resolve) => h2server.close(() => resolve()));
    for (const session of sessions) session.close();
    for (let i = 0; i < 100 && !events.some((e) => e[0] === "goaway"); i++) await new Promise((r) => setTimeout(r, 10));
    socket.destroy();
    await closed;
    expect(events.slice(0, 2)).toEqual([["goaway", 9, 0], ["drained"]]);
    expect(events.filter((e) => e[0] === "error")).toEqual([]);
  }, 30_000);
});
