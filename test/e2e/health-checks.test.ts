/**
 * Active health checks, outlier detection and the health_check filter seen from
 * outside, on every runtime: real node:http upstreams and a raw TCP server, the proxy's
 * /clusters flags and /stats, and where requests go.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as net from "node:net";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const HTTP_FILTER_PREFIX = "type.googleapis.com/envoy.extensions.filters.http";

/** A cluster on 127.0.0.1 ports, with extra cluster fields. */
function cluster(name: string, ports: number[], extra: Record<string, unknown>): Record<string, unknown> {
  return {
    name,
    type: "STATIC",
    connect_timeout: "1s",
    ...extra,
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: ports.map((port) => ({ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } })) }] },
  };
}

function healthCheckFilter(passThrough: boolean): Record<string, unknown> {
  return {
    name: "envoy.filters.http.health_check",
    typed_config: { "@type": `${HTTP_FILTER_PREFIX}.health_check.v3.HealthCheck`, pass_through_mode: passThrough, headers: [{ name: ":path", string_match: { exact: "/healthz" } }] },
  };
}

function listener(name: string, port: number, passThrough: boolean, routes: unknown[]): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: name,
              route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes }] },
              http_filters: [healthCheckFilter(passThrough), { name: "envoy.filters.http.router", typed_config: { "@type": `${HTTP_FILTER_PREFIX}.router.v3.Router` } }],
            },
          },
        ],
      },
    ],
  };
}

describe.each(RUNTIMES)("health checking on %s", (runtime) => {
  let web: HttpUpstream[];
  let outlierOk: HttpUpstream;
  let outlierBad: HttpUpstream;
  let tcpGood: net.Server;
  let tcpSilent: net.Server;
  let proxy: ProxyProcess;
  const ports = { http: 0, passThrough: 0, admin: 0, tcpGood: 0, tcpSilent: 0 };
  const agent = new Agent({ keepAliveTimeout: 10_000 });

  async function get(port: number, path: string, method = "GET"): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
    const res = await request(`http://127.0.0.1:${port}${path}`, { method, dispatcher: agent });
    return { status: res.statusCode, body: await res.body.text(), headers: res.headers };
  }

  async function clusters(): Promise<string> {
    return (await get(ports.admin, "/clusters")).body;
  }

  async function stat(name: string): Promise<string | undefined> {
    const body = (await get(ports.admin, `/stats?filter=^${name}$`)).body;
    return body.match(/: (\S+)\n?$/)?.[1];
  }

  beforeAll(async () => {
    web = await Promise.all(
      ["a", "b", "c"].map((name) =>
        httpUpstream((req, res) => {
          if (req.url === "/healthz") {
            res.statusCode = name === "b" ? 503 : 200;
            res.end();
          } else res.end(name);
        }),
      ),
    );
    outlierOk = await httpUpstream((_req, res) => res.end("ok"));
    outlierBad = await httpUpstream((_req, res) => {
      res.statusCode = 500;
      res.end("bad");
    });
    const tcp = (onData: (socket: net.Socket, data: Buffer) => void) =>
      net.createServer((socket) => {
        socket.on("error", () => {});
        socket.on("data", (data: Buffer) => onData(socket, data));
      });
    tcpGood = tcp((socket, data) => data.toString() === "PING" && socket.write("PONG"));
    tcpSilent = tcp(() => {});
    await Promise.all([tcpGood, tcpSilent].map((s) => new Promise<void>((r) => s.listen(0, "127.0.0.1", r))));
    ports.tcpGood = (tcpGood.address() as net.AddressInfo).port;
    ports.tcpSilent = (tcpSilent.address() as net.AddressInfo).port;
    [ports.http, ports.passThrough, ports.admin] = await Promise.all([freePort(), freePort(), freePort()]);
    const check = { timeout: "0.5s", interval: "0.5s", no_traffic_interval: "0.5s", unhealthy_threshold: 1, healthy_threshold: 1 };
    const config = {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: ports.admin } } },
      node: { id: "polyvoy", cluster: "front" },
      static_resources: {
        listeners: [
          listener("http", ports.http, false, [
            { match: { prefix: "/outlier" }, route: { cluster: "outlier" } },
            { match: { prefix: "/" }, route: { cluster: "web" } },
          ]),
          listener("pass", ports.passThrough, true, [{ match: { prefix: "/" }, route: { cluster: "web_one" } }]),
        ],
        clusters: [
          cluster("web", web.map((u) => u.port), { health_checks: [{ ...check, http_health_check: { path: "/healthz" } }] }),
          cluster("web_one", [web[1]!.port], {}),
          cluster("outlier", [outlierOk.port, outlierBad.port], { outlier_detection: { interval: "0.5s", base_ejection_time: "2s", max_ejection_percent: 100 } }),
          cluster("tcp", [ports.tcpGood, ports.tcpSilent], { health_checks: [{ ...check, tcp_health_check: { send: { text: "50494e47" }, receive: [{ text: "504f4e47" }] } }] }),
        ],
      },
    };
    // The admin's and two HTTP listeners; start-up waits for the first health checks.
    proxy = await ProxyProcess.start(runtime, config, 3);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await agent.close();
    for (const u of [...(web ?? []), outlierOk, outlierBad]) await u?.close();
    tcpGood?.close();
    tcpSilent?.close();
  });

  test("a host answering 503 to /healthz is /failed_active_hc in /clusters and gets no traffic; the checks carry user-agent Envoy/HC and host = the cluster's name", async () => {
    const text = await clusters();
    expect(text).toContain(`web::127.0.0.1:${web[0]!.port}::health_flags::healthy\n`);
    expect(text).toContain(`web::127.0.0.1:${web[1]!.port}::health_flags::/failed_active_hc\n`);
    expect(text).toContain(`web::127.0.0.1:${web[2]!.port}::health_flags::healthy\n`);
    const bodies = [];
    for (let i = 0; i < 8; i++) bodies.push((await get(ports.http, `/r${i}`)).body);
    expect(new Set(bodies)).toEqual(new Set(["a", "c"]));
    const check = web[0]!.requests.find((r) => r.url === "/healthz")!;
    expect(check.headers["user-agent"]).toBe("Envoy/HC");
    expect(check.headers.host).toBe("web");
    expect(Number(await stat("cluster.web.health_check.healthy"))).toBe(2);
    expect(Number(await stat("cluster.web.health_check.failure"))).toBeGreaterThanOrEqual(1);
  });

  test("a TCP check with send/receive passes the host answering PONG and fails (by timeout) the silent one", async () => {
    const text = await clusters();
    expect(text).toContain(`tcp::127.0.0.1:${ports.tcpGood}::health_flags::healthy\n`);
    expect(text).toContain(`tcp::127.0.0.1:${ports.tcpSilent}::health_flags::/failed_active_hc/active_hc_timeout\n`);
  });

  test("an upstream answering 500 five times in a row is ejected (flag, stats) and comes back after base_ejection_time", async () => {
    for (let i = 0; i < 10; i++) await get(ports.http, `/outlier/${i}`);
    expect(await clusters()).toContain(`outlier::127.0.0.1:${outlierBad.port}::health_flags::/failed_outlier_check\n`);
    expect(await stat("cluster.outlier.outlier_detection.ejections_active")).toBe("1");
    expect(await stat("cluster.outlier.outlier_detection.ejections_enforced_consecutive_5xx")).toBe("1");
    for (let i = 0; i < 4; i++) expect((await get(ports.http, `/outlier/x${i}`)).body).toBe("ok");
    // 2 s of ejection, seen at the next 0.5 s sweep.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await clusters()).toContain(`outlier::127.0.0.1:${outlierBad.port}::health_flags::healthy\n`);
    expect(await stat("cluster.outlier.outlier_detection.ejections_active")).toBe("0");
  });

  test("the health_check filter answers 200, 503 while /healthcheck/fail is in effect, and passes through in pass_through_mode", async () => {
    const ok = await get(ports.http, "/healthz");
    expect(ok.status).toBe(200);
    expect(ok.headers["x-envoy-upstream-healthchecked-cluster"]).toBe("front");
    // Pass-through: web_one's host answers /healthz with 503 itself.
    expect((await get(ports.passThrough, "/healthz")).status).toBe(503);
    expect((await get(ports.admin, "/healthcheck/fail", "POST")).status).toBe(200);
    try {
      expect((await get(ports.http, "/healthz")).status).toBe(503);
      const other = await get(ports.http, "/r");
      expect(other.status).toBe(200);
      expect(other.headers["x-envoy-immediate-health-check-fail"]).toBe("true");
    } finally {
      expect((await get(ports.admin, "/healthcheck/ok", "POST")).status).toBe(200);
    }
    expect((await get(ports.http, "/healthz")).status).toBe(200);
  });
});
