/**
 * Listener fields beyond its filter chains, on every runtime: stat_prefix (the listener's
 * stats under listener.<stat_prefix>., else listener.<address>_<port>.), access_log (a line
 * per downstream connection, here on a tcp_proxy listener, and an NR line for a connection
 * no filter chain takes), and traffic_direction (what Envoy reads it for: INBOUND listeners
 * are the ones /drain_listeners?inboundonly drains, and an OUTBOUND listener's HCM traces
 * as egress, which sends the route's decorator operation upstream instead of back).
 */
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import * as net from "node:net";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort, readAll, tcpServer, type TcpServer } from "../support/net-helpers.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const cluster = (name: string, port: number) => ({
  name,
  type: "STATIC",
  connect_timeout: "1s",
  load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
});

describe.each(RUNTIMES)("listener stat_prefix, access_log and traffic_direction on %s", (runtime) => {
  let proxy: ProxyProcess;
  let echo: TcpServer;
  let upstream: HttpUpstream;
  let logPath: string;
  const ports = { tcp: 0, http: 0, admin: 0 };

  beforeAll(async () => {
    echo = await tcpServer((socket) => socket.pipe(socket));
    upstream = await httpUpstream();
    [ports.tcp, ports.http, ports.admin] = await Promise.all([freePort(), freePort(), freePort()]);
    logPath = join(mkdtempSync(join(inject("tempRoot"), "listener-log-")), "listener.log");
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: ports.admin } } },
      static_resources: {
        listeners: [
          {
            name: "inbound-tcp",
            address: { socket_address: { address: "127.0.0.1", port_value: ports.tcp } },
            stat_prefix: "edge_tcp",
            traffic_direction: "INBOUND",
            access_log: [
              {
                name: "envoy.access_loggers.file",
                typed_config: {
                  "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                  path: logPath,
                  log_format: { text_format_source: { inline_string: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_LOCAL_ADDRESS% %BYTES_RECEIVED% %BYTES_SENT% %RESPONSE_FLAGS%\n" } },
                },
              },
            ],
            filter_chains: [
              {
                // Only clients from 127.0.0.1: 127.0.0.2 has no chain (NR).
                filter_chain_match: { source_prefix_ranges: [{ address_prefix: "127.0.0.1", prefix_len: 32 }] },
                filters: [
                  {
                    name: "envoy.filters.network.tcp_proxy",
                    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "tcp", cluster: "echo" },
                  },
                ],
              },
            ],
          },
          {
            name: "outbound-http",
            address: { socket_address: { address: "127.0.0.1", port_value: ports.http } },
            traffic_direction: "OUTBOUND",
            filter_chains: [
              {
                filters: [
                  {
                    name: "envoy.filters.network.http_connection_manager",
                    typed_config: {
                      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                      stat_prefix: "egress_http",
                      tracing: {},
                      route_config: {
                        virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "web" }, decorator: { operation: "checkout" } }] }],
                      },
                      http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                    },
                  },
                ],
              },
            ],
          },
        ],
        clusters: [cluster("echo", echo.port), cluster("web", upstream.port)],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
    await upstream?.close();
  });

  async function stats(filter: string): Promise<string> {
    return (await request(`http://127.0.0.1:${ports.admin}/stats?filter=${encodeURIComponent(filter)}`)).body.text();
  }

  /** Send `text` through the tcp_proxy listener from `localAddress`, half-close, and read what comes back. */
  async function through(text: string, localAddress = "127.0.0.1"): Promise<string> {
    const socket = net.connect({ host: "127.0.0.1", port: ports.tcp, localAddress, allowHalfOpen: true });
    socket.on("error", () => {});
    await new Promise((r) => socket.once("connect", r));
    const reply = readAll(socket).catch(() => Buffer.alloc(0));
    socket.end(text);
    return (await reply).toString();
  }

  test("access_log on a tcp_proxy listener: one line per connection, with its bytes; NR for a connection no chain takes", async () => {
    expect(await through("hello")).toBe("hello");
    expect(await through("", "127.0.0.2")).toBe("");
    await expect.poll(() => (existsSync(logPath) ? readFileSync(logPath, "utf8") : ""), { timeout: 5000 }).toMatch(/\n.*\n/);
    const lines = readFileSync(logPath, "utf8").trimEnd().split("\n").sort();
    expect(lines).toEqual([`127.0.0.1 127.0.0.1:${ports.tcp} 5 5 -`, `127.0.0.2 127.0.0.1:${ports.tcp} 0 0 NR`]);
  });

  test("stat_prefix: the listener's stats are under listener.edge_tcp.; a listener without one uses its address", async () => {
    await expect.poll(() => stats("^listener\\.edge_tcp\\.downstream_cx_total$"), { timeout: 5000 }).toMatch(/^listener\.edge_tcp\.downstream_cx_total: [1-9]/m);
    expect(await stats("^listener\\.edge_tcp\\.no_filter_chain_match$")).toMatch(/^listener\.edge_tcp\.no_filter_chain_match: 1$/m);
    expect(await stats(`^listener\\.127\\.0\\.0\\.1_${ports.tcp}\\.`)).toBe("");
    await request(`http://127.0.0.1:${ports.http}/`).then((r) => r.body.text());
    expect(await stats(`^listener\\.127\\.0\\.0\\.1_${ports.http}\\.downstream_cx_total$`)).toMatch(/: [1-9]/);
  });

  test("traffic_direction OUTBOUND: the decorator operation goes upstream, not back to the client", async () => {
    const res = await request(`http://127.0.0.1:${ports.http}/cart`);
    await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(upstream.requests.at(-1)!.headers["x-envoy-decorator-operation"]).toBe("checkout");
    expect(res.headers["x-envoy-decorator-operation"]).toBeUndefined();
  });

  test("traffic_direction INBOUND: /drain_listeners?inboundonly stops only that listener", async () => {
    expect((await request(`http://127.0.0.1:${ports.admin}/drain_listeners?inboundonly`, { method: "POST" })).statusCode).toBe(200);
    await expect
      .poll(
        () =>
          new Promise<string>((resolve) => {
            const socket = net.connect({ host: "127.0.0.1", port: ports.tcp });
            socket.on("connect", () => (socket.destroy(), resolve("accepted")));
            socket.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
          }),
        { timeout: 5000 },
      )
      .toBe("ECONNREFUSED");
    const res = await request(`http://127.0.0.1:${ports.http}/still`);
    await res.body.text();
    expect(res.statusCode).toBe(200);
  });
});
