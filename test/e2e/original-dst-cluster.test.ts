/**
 * ORIGINAL_DST clusters seen from outside, on every runtime: two real node:http upstreams on
 * different ports, reached through one cluster by the x-envoy-original-dst-host header
 * (HTTP) or by the destination of a PROXY protocol header (tcp_proxy); hosts made on demand
 * and removed once unused for cleanup_interval; no destination or a bad one: Envoy's 503.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { connect, freePort, readAll } from "../support/net-helpers.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

describe.each(RUNTIMES)("ORIGINAL_DST cluster on %s", (runtime) => {
  let a: HttpUpstream;
  let b: HttpUpstream;
  let proxy: ProxyProcess;
  const ports = { http: 0, tcp: 0, admin: 0 };
  const agent = new Agent({ keepAliveTimeout: 10_000 });

  async function get(port: number, path: string, headers: Record<string, string> = {}): Promise<string> {
    const res = await request(`http://127.0.0.1:${port}${path}`, { dispatcher: agent, headers });
    return `${res.statusCode} ${await res.body.text()}`;
  }

  async function stat(name: string): Promise<number> {
    const body = await get(ports.admin, `/stats?filter=^${name}$`);
    return Number(body.match(/: (\S+)\n?$/)?.[1] ?? "NaN");
  }

  beforeAll(async () => {
    a = await httpUpstream((_req, res) => res.end("a"));
    b = await httpUpstream((_req, res) => res.end("b"));
    [ports.http, ports.tcp, ports.admin] = await Promise.all([freePort(), freePort(), freePort()]);
    const cluster = (name: string, extra: Record<string, unknown>) => ({
      name,
      type: "ORIGINAL_DST",
      lb_policy: "CLUSTER_PROVIDED",
      connect_timeout: "1s",
      cleanup_interval: "0.5s",
      // The upstream connections close 0.3 s after their last request: the hosts are unused then.
      common_http_protocol_options: { idle_timeout: "0.3s" },
      ...extra,
    });
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
                      "@type": HCM,
                      stat_prefix: "http",
                      route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "dst" } }] }] },
                      http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                    },
                  },
                ],
              },
            ],
          },
          {
            name: "tcp",
            address: { socket_address: { address: "127.0.0.1", port_value: ports.tcp } },
            listener_filters: [{ name: "envoy.filters.listener.proxy_protocol", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol" } }],
            filter_chains: [{ filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "tcp", cluster: "tcpdst" } }] }],
          },
        ],
        clusters: [cluster("dst", { original_dst_lb_config: { use_http_header: true } }), cluster("tcpdst", {})],
      },
    };
    proxy = await ProxyProcess.start(runtime, config, 2);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await agent.close();
    await a?.close();
    await b?.close();
  });

  test("x-envoy-original-dst-host picks the upstream; no header or a bad one: 503 no healthy upstream", async () => {
    expect(await get(ports.http, "/", { "x-envoy-original-dst-host": `127.0.0.1:${a.port}` })).toBe("200 a");
    expect(await get(ports.http, "/", { "x-envoy-original-dst-host": `127.0.0.1:${b.port}` })).toBe("200 b");
    expect(await get(ports.http, "/", { "x-envoy-original-dst-host": `127.0.0.1:${a.port}` })).toBe("200 a");
    expect(await stat("cluster.dst.membership_total")).toBe(2);
    expect(await get(ports.http, "/")).toBe("503 no healthy upstream");
    expect(await get(ports.http, "/", { "x-envoy-original-dst-host": "localhost:80" })).toBe("503 no healthy upstream");
    expect(await stat("cluster.dst.original_dst_host_invalid")).toBe(1);
    expect(await stat("cluster.dst.upstream_cx_none_healthy")).toBe(2);
  });

  test("unused hosts are removed after cleanup_interval", async () => {
    expect(await get(ports.http, "/", { "x-envoy-original-dst-host": `127.0.0.1:${b.port}` })).toBe("200 b");
    let total = NaN;
    for (let i = 0; i < 50; i++) {
      total = await stat("cluster.dst.membership_total");
      if (total === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(total).toBe(0);
  });

  test("tcp_proxy: the PROXY header's destination is the upstream", async () => {
    const socket = await connect(ports.tcp);
    socket.write(`PROXY TCP4 192.0.2.1 127.0.0.1 5555 ${b.port}\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const response = (await readAll(socket)).toString("latin1");
    expect(response).toMatch(/^HTTP\/1\.1 200/);
    expect(response.endsWith("b")).toBe(true);
    expect(await stat("cluster.tcpdst.upstream_cx_total")).toBe(1);
  });
});
