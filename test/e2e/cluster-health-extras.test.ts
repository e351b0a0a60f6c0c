/**
 * Health-related cluster behaviour seen from outside, on every runtime: the health
 * check event log file (event_log_path), and tcp_proxy's refused connects ejecting a
 * host by outlier detection (/clusters shows /failed_outlier_check).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as net from "node:net";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort, tcpServer, type TcpServer } from "../support/net-helpers.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

function cluster(name: string, ports: number[], extra: Record<string, unknown>): Record<string, unknown> {
  return {
    name,
    connect_timeout: "1s",
    ...extra,
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: ports.map((port) => ({ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } })) }] },
  };
}

/** Resolves when the client connection the proxy accepted is closed (or after 2 s). */
function connectAndWaitClose(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    const timer = setTimeout(() => (socket.destroy(), resolve()), 2000);
    socket.on("error", () => {});
    socket.on("close", () => (clearTimeout(timer), resolve()));
    // A live upstream keeps the connection: close it ourselves after a moment.
    setTimeout(() => socket.end(), 200);
  });
}

describe.each(RUNTIMES)("cluster health extras on %s", (runtime) => {
  let live: TcpServer;
  let deadPort: number;
  let proxy: ProxyProcess;
  let tcpPort: number;
  let adminPort: number;
  let dir: string;
  let logPath: string;

  beforeAll(async () => {
    live = await tcpServer((socket) => {
      socket.on("data", () => {});
      socket.on("end", () => socket.end());
    });
    deadPort = await freePort();
    tcpPort = await freePort();
    adminPort = await freePort();
    dir = mkdtempSync(join(tmpdir(), "polyvoy-hc-"));
    logPath = join(dir, "hc.log");
    const config = {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      static_resources: {
        listeners: [
          {
            name: "tcp",
            address: { socket_address: { address: "127.0.0.1", port_value: tcpPort } },
            filter_chains: [
              {
                filters: [
                  {
                    name: "envoy.filters.network.tcp_proxy",
                    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "tcp", cluster: "tcp_backend" },
                  },
                ],
              },
            ],
          },
        ],
        clusters: [
          cluster("tcp_backend", [live.port, deadPort], { outlier_detection: { consecutive_5xx: 2, base_ejection_time: "60s", max_ejection_percent: 100 } }),
          cluster("checked", [live.port, deadPort], {
            health_checks: [{ timeout: "1s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {}, event_log_path: logPath }],
          }),
        ],
      },
    };
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await live?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("event_log_path gets Envoy's HealthCheckEvent lines: add_healthy_event for the live host, health_check_failure_event NETWORK for the refusing one", async () => {
    let lines: Record<string, unknown>[] = [];
    for (let i = 0; i < 40 && lines.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        lines = readFileSync(logPath, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      } catch {
        lines = [];
      }
    }
    const byPort = (port: number) => lines.find((l) => (l.host as { socket_address: { port_value: number } }).socket_address.port_value === port);
    expect(byPort(live.port)).toMatchObject({ health_checker_type: "TCP", cluster_name: "checked", add_healthy_event: { first_check: true } });
    expect(byPort(deadPort)).toMatchObject({ health_checker_type: "TCP", cluster_name: "checked", health_check_failure_event: { failure_type: "NETWORK", first_check: true } });
    expect(String(byPort(deadPort)!.timestamp)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/);
  });

  test("tcp_proxy: refused connects eject the host (outlier detection), and /clusters says so", async () => {
    for (let i = 0; i < 6; i++) await connectAndWaitClose(tcpPort);
    const text = await (await request(`http://127.0.0.1:${adminPort}/clusters`)).body.text();
    expect(text).toContain(`tcp_backend::127.0.0.1:${deadPort}::health_flags::/failed_outlier_check\n`);
    expect(text).toContain(`tcp_backend::127.0.0.1:${live.port}::health_flags::healthy\n`);
    const stats = await (await request(`http://127.0.0.1:${adminPort}/stats?filter=outlier_detection.ejections_enforced_consecutive_5xx`)).body.text();
    expect(stats).toContain("cluster.tcp_backend.outlier_detection.ejections_enforced_consecutive_5xx: 1");
  });
});
