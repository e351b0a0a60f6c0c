/**
 * An aggregate cluster whose member does the work, seen from outside on every runtime:
 *  - HTTP over TLS: the member has the UpstreamTlsContext and upstream_http_protocol_options
 *    auto_sni + auto_san_validation; a request through the aggregate sends its host as SNI,
 *    and the upstream's certificate (minted now, for other.test) passes for that name and is
 *    refused for another (503, the member's ssl.fail_verify_san), as Envoy's pools are the
 *    member's (source/extensions/clusters/aggregate/cluster.cc picks the member's host).
 *  - tcp_proxy tunneling_config on an aggregate: the first member's only host is UNHEALTHY, so
 *    the second member serves: its HTTP/2 over TLS pool carries a POST whose :scheme is https
 *    (the member's TLS, not the aggregate's none), and its connect_timeout (not the
 *    aggregate's) bounds the wait for the tunnel's response head.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as http2 from "node:http2";
import * as https from "node:https";
import * as net from "node:net";
import type { TLSSocket } from "node:tls";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { connect, freePort, peerClosed, tcpServer, type TcpServer } from "../support/net-helpers.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { mintTestCerts, type TestCerts } from "../support/test-certs.ts";
import { adminStats } from "../support/admin-stats.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
const AGGREGATE = "type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig";

function staticCluster(name: string, port: number, extra: Record<string, unknown> = {}, healthStatus?: string): Record<string, unknown> {
  const endpoint = { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } }, ...(healthStatus ? { health_status: healthStatus } : {}) };
  return { name, type: "STATIC", connect_timeout: "1s", load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [endpoint] }] }, ...extra };
}

function aggregate(name: string, clusters: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, connect_timeout: "10s", lb_policy: "CLUSTER_PROVIDED", cluster_type: { name: "envoy.clusters.aggregate", typed_config: { "@type": AGGREGATE, clusters } }, ...extra };
}

function upstreamTls(typed: Record<string, unknown>): Record<string, unknown> {
  return { name: "envoy.transport_sockets.tls", typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", ...typed } };
}

function tcpProxyListener(name: string, port: number, cluster: string, tunneling: Record<string, unknown>): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    filter_chains: [{ filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": TCP_PROXY, stat_prefix: name, cluster, tunneling_config: tunneling } }] }],
  };
}

const HTTP2 = {
  typed_extension_protocol_options: {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
      "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
      explicit_http_config: { http2_protocol_options: {} },
    },
  },
};

let certs: TestCerts;
/** HTTPS upstream presenting a certificate for other.test only; answers with the SNI it was sent. */
let tlsServer: https.Server;
let tlsPort = 0;
/** HTTP/2 over TLS upstream (localhost's certificate): answers the tunnel's POST with a 200 and echoes its body. */
let h2Server: http2.Http2SecureServer;
let h2Port = 0;
const h2Seen: http2.IncomingHttpHeaders[] = [];
/** Accepts connections and never answers: a tunnel's response head that does not come. */
let silent: TcpServer;
/** Reads the ClientHello, then closes (a FIN): a TLS handshake the peer ends. */
let closer: TcpServer;
let fallback: HttpUpstream;

beforeAll(async () => {
  certs = mintTestCerts();
  tlsServer = https.createServer({ key: certs.read(certs.other.key), cert: certs.read(certs.other.cert) }, (req, res) => {
    res.end(`tls upstream saw ${String((req.socket as TLSSocket).servername)}`);
  });
  await new Promise<void>((r) => tlsServer.listen(0, "127.0.0.1", r));
  tlsPort = (tlsServer.address() as net.AddressInfo).port;
  h2Server = http2.createSecureServer({ key: certs.read(certs.server.key), cert: certs.read(certs.server.cert) });
  h2Server.on("stream", (stream, headers) => {
    h2Seen.push(headers);
    stream.respond({ ":status": 200 });
    stream.on("data", (data: Buffer) => stream.write(data));
    stream.on("end", () => stream.end());
    stream.on("error", () => {});
  });
  await new Promise<void>((r) => h2Server.listen(0, "127.0.0.1", r));
  h2Port = (h2Server.address() as net.AddressInfo).port;
  silent = await tcpServer(() => {});
  closer = await tcpServer((socket) => socket.once("data", () => socket.end()));
  fallback = await httpUpstream((_req, res) => res.end("fallback"));
});

afterAll(async () => {
  tlsServer?.closeAllConnections();
  tlsServer?.close();
  h2Server?.close();
  await silent?.close();
  await closer?.close();
  await fallback?.close();
});

describe.each(RUNTIMES)("aggregate clusters over TLS and under tcp_proxy tunnels on %s", (runtime) => {
  let proxy: ProxyProcess;
  const ports = { http: 0, admin: 0, tunnel: 0, slow: 0 };
  const agent = new Agent({ keepAliveTimeout: 10_000 });

  beforeAll(async () => {
    [ports.http, ports.admin, ports.tunnel, ports.slow] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const trusted = { validation_context: { trusted_ca: { filename: certs.ca } } };
    const config = {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: ports.admin } } },
      static_resources: {
        listeners: [
          {
            name: "http",
            address: { socket_address: { address: "127.0.0.1", port_value: ports.http } },
            filter_chains: [
              {
                filters: [
                  {
                    name: "envoy.filters.network.http_connection_manager",
                    typed_config: {
                      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                      stat_prefix: "http",
                      route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/closer" }, route: { cluster: "closer_tls" } }, { match: { prefix: "/" }, route: { cluster: "agg_tls" } }] }] },
                      http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                    },
                  },
                ],
              },
            ],
          },
          tcpProxyListener("tunnel", ports.tunnel, "agg_tunnel", { hostname: "tunnel.test:443", use_post: true, post_path: "/tunnel" }),
          tcpProxyListener("slow", ports.slow, "agg_slow", { hostname: "slow.test:443" }),
        ],
        clusters: [
          aggregate("agg_tls", ["tls_member", "fallback"]),
          // The SNI is the request's host (auto_sni, not this `sni`), and the certificate must name it.
          {
            ...staticCluster("tls_member", tlsPort, { transport_socket: upstreamTls({ sni: "ignored.test", common_tls_context: trusted }) }),
            upstream_http_protocol_options: { auto_sni: true, auto_san_validation: true },
          },
          staticCluster("fallback", fallback.port),
          staticCluster("closer_tls", closer.port, { transport_socket: upstreamTls({ sni: "localhost", common_tls_context: trusted }) }),
          aggregate("agg_tunnel", ["down", "h2_tls"]),
          staticCluster("down", silent.port, {}, "UNHEALTHY"),
          staticCluster("h2_tls", h2Port, { ...HTTP2, transport_socket: upstreamTls({ sni: "localhost", common_tls_context: { alpn_protocols: ["h2"], ...trusted } }) }),
          aggregate("agg_slow", ["slow_member"]),
          staticCluster("slow_member", silent.port, { connect_timeout: "0.3s" }),
        ],
      },
    };
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await agent.close();
  });

  async function get(host: string): Promise<{ status: number; body: string }> {
    const res = await request(`http://127.0.0.1:${ports.http}/`, { dispatcher: agent, headers: { host } });
    return { status: res.statusCode, body: await res.body.text() };
  }

  test("auto_sni through the aggregate: the member's TLS connection sends the host as SNI and its certificate names it", async () => {
    expect(await get("other.test")).toEqual({ status: 200, body: "tls upstream saw other.test" });
    expect(await get("other.test:8443")).toEqual({ status: 200, body: "tls upstream saw other.test" });
    const stats = await adminStats(ports.admin);
    expect(stats.get("cluster.tls_member.ssl.handshake")).toBeGreaterThanOrEqual(1);
    expect(stats.get("cluster.agg_tls.upstream_rq_200")).toBe(2);
  });

  test("auto_san_validation through the aggregate: a certificate that does not name the request's host is refused, 503", async () => {
    const before = await adminStats(ports.admin);
    const res = await get("rsa.test");
    expect(res.status).toBe(503);
    // Envoy's local reply for a refused handshake: the connection closes as a remote close
    // (ConnectionImpl on the handshake's PostIoAction::Close). Envoy adds ", transport failure
    // reason: TLS_error:…" (BoringSSL's text), which polyvoy does not render.
    expect(res.body).toBe("upstream connect error or disconnect/reset before headers. reset reason: remote connection failure");
    const stats = await adminStats(ports.admin);
    expect(stats.get("cluster.tls_member.ssl.fail_verify_san")).toBe((before.get("cluster.tls_member.ssl.fail_verify_san") ?? 0) + 1);
    expect(stats.get("cluster.agg_tls.upstream_rq_503")).toBe((before.get("cluster.agg_tls.upstream_rq_503") ?? 0) + 1);
  });

  test("an upstream that ends the TLS handshake (a FIN after the ClientHello): 503, a remote connection failure, as Envoy's", async () => {
    // Every runtime emits the TLSSocket's "end" before its "error" here: no plaintext EOF
    // for the core to act on before the handshake (else the core closed first: a local failure).
    const res = await request(`http://127.0.0.1:${ports.http}/closer`, { dispatcher: agent });
    expect(res.statusCode).toBe(503);
    expect(await res.body.text()).toBe("upstream connect error or disconnect/reset before headers. reset reason: remote connection failure");
  });

  test("a tunnel on an aggregate: the healthy member's HTTP/2 TLS pool carries it, :scheme https, bytes echoed both ways", async () => {
    const before = h2Seen.length;
    const socket = await connect(ports.tunnel);
    const payload = Buffer.alloc(256 * 1024, 7);
    const chunks: Buffer[] = [];
    let got = 0;
    const echoed = new Promise<void>((resolve) =>
      socket.on("data", (data: Buffer) => {
        chunks.push(data);
        got += data.length;
        if (got >= payload.length) resolve();
      }),
    );
    socket.write(payload);
    await echoed;
    expect(Buffer.concat(chunks).equals(payload)).toBe(true);
    socket.destroy();
    const headers = h2Seen.slice(before);
    expect(headers).toHaveLength(1);
    expect(headers[0]).toMatchObject({ ":method": "POST", ":scheme": "https", ":path": "/tunnel", ":authority": "tunnel.test:443" });
    const stats = await adminStats(ports.admin);
    expect(stats.get("cluster.h2_tls.upstream_rq_total")).toBeGreaterThanOrEqual(1);
    expect(stats.get("cluster.down.upstream_cx_total") ?? 0).toBe(0);
  });

  test("a tunnel on an aggregate waits for its response head as long as the member's connect_timeout (0.3 s), not the aggregate's (10 s)", async () => {
    const started = Date.now();
    const socket = await connect(ports.slow);
    socket.on("data", () => {});
    await peerClosed(socket);
    const elapsed = Date.now() - started;
    socket.destroy();
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(3000);
  });
});
