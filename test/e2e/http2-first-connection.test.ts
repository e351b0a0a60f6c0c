/**
 * A fresh proxy whose first connections are HTTP/2, on every runtime: the HTTP/2 code loads
 * with the process's first HTTP/2 connection (core/http/conn-manager/connection-manager.ts,
 * awaitHttp2), and that connection's bytes wait for it. Here the first bytes a proxy reads are
 * HTTP/2 — h2c with prior knowledge (several connections at once, requests with bodies in
 * their first flight, one connection gone before it is answered) and TLS with ALPN h2 — and
 * every request must be answered as on a warm proxy, with the connections' stats closed.
 */
import { afterEach, describe, expect, test } from "vitest";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { mintTestCerts } from "../support/test-certs.ts";
import { adminStats } from "../support/admin-stats.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

/** Polls the admin's stats until `done` holds (a connection's close reaches the proxy after the client's). */
async function statsWhen(adminPort: number, done: (s: Map<string, number>) => boolean): Promise<Map<string, number>> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const s = await adminStats(adminPort);
    if (done(s) || Date.now() > deadline) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function h2request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    let status = 0;
    const chunks: Buffer[] = [];
    req.on("response", (h) => (status = Number(h[":status"])));
    req.on("data", (d: Buffer) => chunks.push(d));
    req.on("end", () => resolve({ status, body: Buffer.concat(chunks).toString() }));
    req.on("error", reject);
    if (body !== undefined) req.end(body);
  });
}

function echoUpstream(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (d: Buffer) => chunks.push(d));
    req.on("end", () => res.end(`${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`));
  });
  return new Promise((r) => server.listen(0, "127.0.0.1", () => r(server)));
}

describe.each(RUNTIMES)("HTTP/2 as a fresh proxy's first connections on %s", (runtime) => {
  let proxy: ProxyProcess | undefined;
  let upstream: http.Server | undefined;

  afterEach(async () => {
    await proxy?.stop("SIGKILL");
    await new Promise((r) => upstream?.close(r));
    proxy = undefined;
    upstream = undefined;
  });

  async function start(listenerTls?: object): Promise<{ port: number; adminPort: number }> {
    upstream = await echoUpstream();
    const port = await freePort();
    const adminPort = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { up: [(upstream.address() as AddressInfo).port] },
      routes: [
        { match: { prefix: "/direct" }, action: { direct_response: { status: 200, body: { inline_string: "direct" } } } },
        { match: { prefix: "/" }, cluster: "up" },
      ],
      hcm: { stat_prefix: "first" },
    }) as { static_resources: { listeners: { filter_chains: Record<string, unknown>[] }[] } };
    if (listenerTls) config.static_resources.listeners[0]!.filter_chains[0]!.transport_socket = listenerTls;
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config });
    return { port, adminPort };
  }

  test("h2c with prior knowledge: a connection gone at once, then four at once with bodies in their first flight; then HTTP/1.1", async () => {
    const { port, adminPort } = await start();
    // The very first connection: the preface and a SETTINGS frame, then gone before any answer.
    const gone = net.connect(port, "127.0.0.1");
    await new Promise<void>((r) => gone.once("connect", () => r()));
    gone.end(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
    gone.destroy();
    const sessions = [0, 1, 2, 3].map(() => http2.connect(`http://127.0.0.1:${port}`));
    const answers = await Promise.all(
      sessions.flatMap((session, i) => [
        h2request(session, { ":method": "POST", ":path": `/echo/${i}` }, `body-${i}`),
        h2request(session, { ":method": "GET", ":path": "/direct" }),
      ]),
    );
    expect(answers).toEqual(sessions.flatMap((_, i) => [{ status: 200, body: `POST /echo/${i} body-${i}` }, { status: 200, body: "direct" }]));
    const during = await adminStats(adminPort);
    expect(during.get("http.first.downstream_cx_http2_total")).toBe(5);
    expect(during.get("http.first.downstream_cx_http1_total")).toBe(0);
    expect(during.get("http.first.downstream_rq_http2_total")).toBe(8);
    await Promise.all(sessions.map((s) => new Promise((r) => s.close(() => r(undefined)))));
    const http1 = await fetch(`http://127.0.0.1:${port}/direct`);
    expect([http1.status, await http1.text()]).toEqual([200, "direct"]);
    const after = await statsWhen(adminPort, (s) => s.get("http.first.downstream_cx_active") === 0);
    expect(after.get("http.first.downstream_cx_active")).toBe(0);
    expect(after.get("http.first.downstream_cx_http2_active")).toBe(0);
    expect(after.get("http.first.downstream_cx_destroy")).toBe(6);
  });

  test("TLS with ALPN h2: the first connection speaks HTTP/2", async () => {
    const certs = mintTestCerts();
    const { port, adminPort } = await start({
      name: "envoy.transport_sockets.tls",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        common_tls_context: {
          alpn_protocols: ["h2", "http/1.1"],
          tls_certificates: [{ certificate_chain: { filename: certs.server.cert }, private_key: { filename: certs.server.key } }],
        },
      },
    });
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: readFileSync(certs.ca), servername: "localhost" });
    const answers = await Promise.all([h2request(session, { ":method": "POST", ":path": "/tls" }, "over tls"), h2request(session, { ":method": "GET", ":path": "/direct" })]);
    expect(answers).toEqual([
      { status: 200, body: "POST /tls over tls" },
      { status: 200, body: "direct" },
    ]);
    expect((session.socket as unknown as { alpnProtocol?: string }).alpnProtocol).toBe("h2");
    await new Promise((r) => session.close(() => r(undefined)));
    const after = await statsWhen(adminPort, (s) => s.get("http.first.downstream_cx_active") === 0);
    expect(after.get("http.first.downstream_cx_http2_total")).toBe(1);
    expect(after.get("http.first.downstream_cx_http2_active")).toBe(0);
    expect(after.get("http.first.downstream_cx_active")).toBe(0);
  });
});
