/**
 * tls_inspector's enable_ja3_fingerprinting on every runtime: a ClientHello sent over a
 * real socket through tls_inspector and tcp_proxy; the access log's %TLS_JA3_FINGERPRINT%
 * is the MD5 (node's, here) of the hello's JA3 text, "-" for a connection without one.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { clientHelloRecords } from "../support/tls-client-hello.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

/** Writes `bytes`, waits for the proxy to pass them on (the upstream sees them), then closes. */
async function send(port: number, bytes: Uint8Array, upstreamSeen: () => number): Promise<void> {
  const before = upstreamSeen();
  const socket = connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  socket.write(bytes);
  const deadline = Date.now() + 5000;
  while (upstreamSeen() < before + bytes.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  socket.end();
  await new Promise<void>((resolve) => socket.once("close", () => resolve()));
}

describe.each(RUNTIMES)("tls_inspector JA3 on %s", (runtime) => {
  let upstream: Server;
  let received = 0;
  let proxy: ProxyProcess;
  let port: number;
  let logPath: string;

  beforeAll(async () => {
    upstream = createServer((socket) => socket.on("data", (d: Buffer) => (received += d.length)).on("error", () => {}));
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    const upstreamPort = (upstream.address() as { port: number }).port;
    port = await freePort();
    logPath = join(mkdtempSync(join(tmpdir(), "polyvoy-ja3-")), "access.log");
    proxy = await ProxyProcess.start(runtime, {
      static_resources: {
        listeners: [
          {
            name: "ja3",
            address: { socket_address: { address: "127.0.0.1", port_value: port } },
            listener_filters: [{ name: "envoy.filters.listener.tls_inspector", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector", enable_ja3_fingerprinting: true } }],
            filter_chains: [
              {
                filters: [
                  {
                    name: "envoy.filters.network.tcp_proxy",
                    typed_config: {
                      "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                      stat_prefix: "ja3",
                      cluster: "up",
                      access_log: [{ name: "envoy.access_loggers.file", typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", path: logPath, log_format: { text_format: "%TLS_JA3_FINGERPRINT%\n" } } }],
                    },
                  },
                ],
              },
            ],
          },
        ],
        clusters: [{ name: "up", type: "STATIC", load_assignment: { cluster_name: "up", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: upstreamPort } } } }] }] } }],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await new Promise<void>((resolve) => upstream?.close(() => resolve()));
  });

  test("the hello's JA3 hash (GREASE extension left out, GREASE group kept) is logged; plain text logs -", async () => {
    const hello = clientHelloRecords({
      serverName: "app.example.com",
      alpn: ["h2", "http/1.1"],
      extensions: [
        [0x2a2a, new Uint8Array(0)],
        [10, Uint8Array.of(0, 6, 0x3a, 0x3a, 0, 29, 0, 23)],
        [11, Uint8Array.of(1, 0)],
      ],
    });
    await send(port, hello, () => received);
    await send(port, new TextEncoder().encode("plain text\n"), () => received);
    const expected = createHash("md5").update("771,4865-4866,0-16-10-11,14906-29-23,0").digest("hex");
    // Envoy's file_flush_interval (1 s) passes before the lines are written.
    await expect.poll(() => { try { return readFileSync(logPath, "utf8"); } catch { return ""; } }, { timeout: 5000 }).toBe(`${expected}\n-\n`);
  });
});
