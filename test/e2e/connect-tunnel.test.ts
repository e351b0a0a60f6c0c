/**
 * CONNECT terminated by the proxy (HCM upgrade_configs CONNECT, a connect_matcher route
 * whose upgrade_configs CONNECT has connect_config) on every runtime: curl --proxytunnel,
 * a raw HTTP/1.1 CONNECT and an HTTP/2 CONNECT (node:http2) reach a raw TCP upstream
 * through a tunnel opened with a 200, bytes flowing both ways under flow control.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import * as http2 from "node:http2";
import * as net from "node:net";
import { promisify } from "node:util";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { rawExchange } from "../support/raw-http.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const run = promisify(execFile);

/**
 * A raw TCP upstream. A connection whose first bytes look like an HTTP request (curl's,
 * through the tunnel) gets an HTTP response naming what it saw; any other is echoed.
 */
async function tcpUpstream(): Promise<{ port: number; server: net.Server; connections: number }> {
  const state = { port: 0, server: undefined as unknown as net.Server, connections: 0 };
  state.server = net.createServer((socket) => {
    state.connections++;
    socket.on("error", () => {});
    let first = true;
    socket.on("data", (data) => {
      if (first && /^GET \S+ HTTP\/1\.1\r\n/.test(data.toString("latin1"))) {
        const line = data.toString("latin1").split("\r\n")[0]!;
        const body = `tcp upstream saw: ${line}`;
        socket.end(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
        return;
      }
      first = false;
      // A tunnel the upstream cuts: a TCP reset.
      if (data.toString("latin1").startsWith("RESET")) return void socket.resetAndDestroy();
      socket.write(data);
    });
    // The tunnel's half-close comes through as ours.
    socket.on("end", () => socket.end());
  });
  await new Promise<void>((r) => state.server.listen(0, "127.0.0.1", r));
  state.port = (state.server.address() as net.AddressInfo).port;
  return state;
}

/** Open a tunnel with an HTTP/1.1 CONNECT on a raw socket; resolves with the socket after the 200 head, and that head. */
function connectTunnel(port: number, target: string): Promise<{ socket: net.Socket; head: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let got = Buffer.alloc(0);
    socket.on("error", reject);
    const onData = (data: Buffer) => {
      got = Buffer.concat([got, data]);
      const end = got.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      resolve({ socket, head: got.subarray(0, end).toString("latin1"), rest: got.subarray(end + 4) });
    };
    socket.on("data", onData);
    socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  });
}

describe.each(RUNTIMES)("CONNECT tunnels on %s", (runtime) => {
  let upstream: Awaited<ReturnType<typeof tcpUpstream>>;
  let proxy: ProxyProcess;
  let port: number;
  let noConnectPort: number;

  beforeAll(async () => {
    upstream = await tcpUpstream();
    port = await freePort();
    noConnectPort = await freePort();
    const base = httpProxyConfig({
      listenPort: port,
      // `dead`: a port nothing listens on (its connect fails).
      clusters: { tunnel: [upstream.port], dead: [await freePort()] },
      routes: [],
      hcm: { upgrade_configs: [{ upgrade_type: "CONNECT" }] },
      virtualHosts: [
        {
          name: "dead",
          domains: ["dead.test:7"],
          routes: [{ match: { connect_matcher: {} }, route: { cluster: "dead", upgrade_configs: [{ upgrade_type: "CONNECT", connect_config: {} }] } }],
        },
        {
          name: "tunnels",
          domains: ["*"],
          routes: [
            { match: { connect_matcher: {} }, route: { cluster: "tunnel", upgrade_configs: [{ upgrade_type: "CONNECT", connect_config: {} }] } },
            { match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "not a tunnel" } } },
          ],
        },
      ],
    }) as { static_resources: { listeners: Record<string, unknown>[]; clusters: unknown[] } };
    // A second listener whose HCM has no upgrade_configs, and whose CONNECT route none either: CONNECT is refused there.
    const plain = structuredClone(base.static_resources.listeners[0]!) as { name: string; address: { socket_address: { port_value: number } }; filter_chains: { filters: { typed_config: Record<string, unknown> }[] }[] };
    plain.name = "plain";
    plain.address.socket_address.port_value = noConnectPort;
    const hcm = plain.filter_chains[0]!.filters[0]!.typed_config;
    delete hcm["upgrade_configs"];
    hcm["route_config"] = { virtual_hosts: [{ name: "plain", domains: ["*"], routes: [{ match: { connect_matcher: {} }, route: { cluster: "tunnel" } }] }] };
    base.static_resources.listeners.push(plain);
    proxy = await ProxyProcess.start(runtime, base);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    upstream?.server.close();
  });

  test("curl --proxytunnel: the 200 opens the tunnel and curl's request reaches the TCP upstream through it", async () => {
    const { stdout, stderr } = await run("curl", ["-sS", "-v", "--proxytunnel", "-x", `http://127.0.0.1:${port}`, "http://tunnelled.test:9999/hello", "--max-time", "10"]);
    expect(stdout).toBe("tcp upstream saw: GET /hello HTTP/1.1");
    expect(stderr).toMatch(/HTTP\/1\.1 200/);
  });

  test("a raw CONNECT: 200 without framing headers, then 1 MiB echoed back whole, and the half-close comes back", async () => {
    const { socket, head, rest } = await connectTunnel(port, "echo.test:7");
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(head.toLowerCase()).not.toMatch(/content-length|transfer-encoding/);
    const payload = Buffer.alloc(1 << 20);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const chunks: Buffer[] = [rest];
    const ended = new Promise<void>((r) => socket.on("end", () => r()));
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.end(payload);
    await ended;
    const echoed = Buffer.concat(chunks);
    expect(echoed.length).toBe(payload.length);
    expect(createHash("sha256").update(echoed).digest("hex")).toBe(createHash("sha256").update(payload).digest("hex"));
    socket.destroy();
  });

  test("HTTP/2 CONNECT: a 200 and the stream's DATA is the tunnel", async () => {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const stream = client.request({ ":method": "CONNECT", ":authority": "echo.test:7" });
      const status = await new Promise<number>((resolve, reject) => {
        stream.on("response", (h) => resolve(Number(h[":status"])));
        stream.on("error", reject);
      });
      expect(status).toBe(200);
      const chunks: Buffer[] = [];
      stream.on("data", (d: Buffer) => chunks.push(d));
      const ended = new Promise<void>((r) => stream.on("end", () => r()));
      stream.end(Buffer.from("ping over h2"));
      await ended;
      expect(Buffer.concat(chunks).toString()).toBe("ping over h2");
    } finally {
      client.close();
    }
  });

  test("a tunnel the upstream resets: the HTTP/1 client's connection is reset, not ended with FIN (but on deno, which cannot send a reset)", async () => {
    const { socket } = await connectTunnel(port, "echo.test:7");
    const end = await new Promise<string>((resolve) => {
      socket.on("data", () => {});
      socket.on("end", () => resolve("fin"));
      socket.on("error", () => resolve("reset"));
      socket.write("RESET now");
    });
    socket.destroy();
    expect(end).toBe(runtime === "deno" ? "fin" : "reset");
  });

  test("an HTTP/2 CONNECT whose upstream connection is lost: RST_STREAM CONNECT_ERROR (RFC 9113 §8.5, Envoy's doEndStream)", async () => {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on("error", () => {});
    try {
      const stream = client.request({ ":method": "CONNECT", ":authority": "echo.test:7" });
      stream.on("error", () => {});
      const status = await new Promise<number>((resolve) => stream.on("response", (h) => resolve(Number(h[":status"]))));
      expect(status).toBe(200);
      stream.on("data", () => {});
      const closed = new Promise<number | undefined>((r) => stream.on("close", () => r(stream.rstCode)));
      stream.write(Buffer.from("RESET now"));
      expect(await closed).toBe(http2.constants.NGHTTP2_CONNECT_ERROR);
    } finally {
      client.close();
    }
  });

  test("an HTTP/2 CONNECT whose upstream connect fails: 503, then RST_STREAM CONNECT_ERROR (Envoy's doEndStream, UF)", async () => {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on("error", () => {});
    try {
      const stream = client.request({ ":method": "CONNECT", ":authority": "dead.test:7" });
      stream.on("error", () => {});
      stream.on("data", () => {});
      const status = new Promise<number>((resolve) => stream.on("response", (h) => resolve(Number(h[":status"]))));
      const closed = new Promise<number | undefined>((r) => stream.on("close", () => r(stream.rstCode)));
      expect(await status).toBe(503);
      expect(await closed).toBe(http2.constants.NGHTTP2_CONNECT_ERROR);
    } finally {
      client.close();
    }
  });

  test("CONNECT is refused with 403 where neither the HCM nor the route enables it; other requests on the tunnel listener route as usual", async () => {
    expect((await rawExchange(noConnectPort, "CONNECT echo.test:7 HTTP/1.1\r\nHost: echo.test:7\r\n\r\n")).text).toMatch(/^HTTP\/1\.1 403 /);
    expect((await rawExchange(port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")).text).toMatch(/not a tunnel$/);
  });
});
