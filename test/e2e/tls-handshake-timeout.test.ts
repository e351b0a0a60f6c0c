/**
 * FilterChain.transport_socket_connect_timeout on every runtime, black-box: a client that
 * connects to a TLS listener and never starts its handshake is closed, counted in
 * listener.<addr>.downstream_cx_transport_socket_connect_timeout (Envoy's
 * ServerConnectionImpl::onTransportSocketConnectTimeout); a client that finished its
 * handshake keeps its connection past the timeout.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as net from "node:net";
import * as tls from "node:tls";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { mintTestCerts, type TestCerts } from "../support/test-certs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const TIMEOUT_MS = 300;

function config(certs: TestCerts, port: number, adminPort: number) {
  return {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
    static_resources: {
      listeners: [
        {
          name: "l",
          address: { socket_address: { address: "127.0.0.1", port_value: port } },
          filter_chains: [
            {
              transport_socket_connect_timeout: `${TIMEOUT_MS / 1000}s`,
              transport_socket: {
                name: "envoy.transport_sockets.tls",
                typed_config: {
                  "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                  common_tls_context: { tls_certificates: [{ certificate_chain: { filename: certs.server.cert }, private_key: { filename: certs.server.key } }] },
                },
              },
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    stat_prefix: "ingress",
                    route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "ok" } } }] }] },
                    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                  },
                },
              ],
            },
          ],
        },
      ],
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(RUNTIMES)("transport_socket_connect_timeout on %s", (runtime) => {
  let certs: TestCerts;
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;

  beforeAll(async () => {
    certs = mintTestCerts();
    port = await freePort();
    adminPort = await freePort();
    proxy = await ProxyProcess.start(runtime, config(certs, port, adminPort));
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
  });

  async function timeouts(): Promise<string> {
    const stats = await (await request(`http://127.0.0.1:${adminPort}/stats?filter=_${port}\\.downstream_cx_transport_socket_connect_timeout`)).body.text();
    return stats.trim();
  }

  test("a raw TCP client that never starts its handshake is closed and counted", async () => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.on("error", () => {});
    let closed = false;
    socket.on("close", () => (closed = true));
    await new Promise((r) => socket.once("connect", r));
    // Far longer than the timeout; the proxy's close ends the wait.
    for (let i = 0; i < 200 && !closed; i++) await sleep(25);
    expect(closed).toBe(true);
    expect(await timeouts()).toBe(`listener.127.0.0.1_${port}.downstream_cx_transport_socket_connect_timeout: 1`);
  });

  test("a client whose handshake is done keeps its connection past the timeout", async () => {
    const socket = tls.connect({ host: "127.0.0.1", port, ca: certs.read(certs.ca), servername: "example.com" });
    socket.on("error", () => {});
    let closed = false;
    socket.on("close", () => (closed = true));
    await new Promise((r) => socket.once("secureConnect", r));
    await sleep(TIMEOUT_MS * 4);
    expect(closed).toBe(false);
    let got = "";
    socket.on("data", (d: Buffer) => (got += d.toString("latin1")));
    socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    for (let i = 0; i < 200 && !got.endsWith("ok"); i++) await sleep(25);
    expect(got).toMatch(/^HTTP\/1\.1 200/);
    socket.destroy();
    expect(await timeouts()).toBe(`listener.127.0.0.1_${port}.downstream_cx_transport_socket_connect_timeout: 1`);
  });
});
