/**
 * stats_sinks under worker processes (--concurrency 2), on every runtime over real sockets:
 * the supervisor flushes all workers' stats as one, through one worker's sinks, as Envoy's
 * one store flushes once (runtimes/kit/workers/sink-flush.ts). Requests on connections of
 * their own spread over both workers; statsd gets one counter total and each gauge summed
 * once per flush (not each worker's share under the same name), and a metrics service
 * server one stream with the whole count.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as dgram from "node:dgram";
import { readdirSync, readFileSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { MetricsServiceServer, metricValue } from "../support/metrics-service-server.ts";
import { freePort } from "../support/net-helpers.ts";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { eventually } from "../support/xds-resources.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const REQUESTS = 20;
/** Connections held open at once: each worker holds some, so its own share of the gauge differs from the sum. */
const HELD = 8;
/** Workers each load and compile the program: slow on a loaded machine. */
const STARTED_MS = 90_000;

/** A GET on a connection of its own (the kernel or the cluster primary places each on a worker). */
function get(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/", agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode!));
    });
    req.on("error", reject);
  });
}

/** A connection that has made one request and stays open (HTTP/1.1 keep-alive). */
function heldConnection(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
    let text = "";
    socket.on("data", (d) => {
      text += d.toString("latin1");
      if (text.includes("\r\n\r\n")) resolve(socket);
    });
    socket.on("error", reject);
  });
}

/** A UDP statsd server on loopback: the lines it received, in order. */
async function statsdServer(): Promise<{ socket: dgram.Socket; lines: string[] }> {
  const socket = dgram.createSocket("udp4");
  const lines: string[] = [];
  socket.on("message", (msg) => lines.push(...msg.toString().split("\n")));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  return { socket, lines };
}

/** The bootstrap's stats_sinks: one statsd sink sending to `socket`. */
const statsdSinks = (socket: dgram.Socket) => [
  { name: "envoy.stat_sinks.statsd", typed_config: { "@type": "type.googleapis.com/envoy.config.metrics.v3.StatsdSink", address: { socket_address: { address: "127.0.0.1", port_value: socket.address().port } } } },
];

async function startWorkers(runtime: (typeof RUNTIMES)[number], config: object): Promise<ProxyProcess> {
  const proxy = await ProxyProcess.start(runtime, config, 0, ["--concurrency", "2"]);
  await proxy.waitForLog(/all 2 workers started/, 1, STARTED_MS);
  return proxy;
}

/**
 * Worker 0's internal admin, found as the supervisor finds it: the workers (descendants of
 * the proxy's process, found in /proc) have POLYVOY_WORKER_DIR in their environment, where
 * each announces its admin's address.
 */
function workerAdmin(root: number): { address: string; port: number } {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "latin1");
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // Gone meanwhile.
    }
  }
  const below = (pid: number): boolean => pid === root || (parents.has(pid) && pid !== 1 && below(parents.get(pid)!));
  for (const pid of parents.keys()) {
    if (pid === root || !below(pid)) continue;
    let environ = "";
    try {
      environ = readFileSync(`/proc/${pid}/environ`, "latin1");
    } catch {
      continue;
    }
    const folder = /(?:^|\0)POLYVOY_WORKER_DIR=([^\0]+)/.exec(environ)?.[1];
    if (folder !== undefined) return (JSON.parse(readFileSync(`${folder}/worker-0.json`, "utf8")) as { admin: { address: string; port: number } }).admin;
  }
  throw new Error(`no worker below pid ${root}`);
}

/** One admin request: its status and body. */
async function adminRequest(port: number, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method, ...(body !== undefined && { body, headers: { "content-type": "application/json" } }) });
  return { status: response.status, body: await response.text() };
}

/** A merged flush as the supervisor sends it, with a counter no worker has. */
const FAKE_FLUSH = JSON.stringify({ counters: [{ name: "FAKE.injected", value: 999999, delta: 999999, used: true }], gauges: [], histograms: [] });

describe.each(RUNTIMES)("stats_sinks under --concurrency 2 on %s", (runtime) => {
  let upstream: HttpUpstream;
  beforeAll(async () => {
    upstream = await httpUpstream((_req, res) => res.end("ok\n"));
  });
  afterAll(() => upstream?.close());

  test("statsd (UDP): one counter total for the requests of both workers; a gauge summed once per flush", { timeout: 180_000 }, async () => {
    const { socket, lines } = await statsdServer();
    const listen = await freePort();
    const held: net.Socket[] = [];
    let proxy: ProxyProcess | undefined;
    try {
      proxy = await startWorkers(runtime, {
        ...httpProxyConfig({ listenPort: listen, clusters: { backend: [upstream.port] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }),
        stats_flush_interval: "0.3s",
        stats_sinks: statsdSinks(socket),
      });
      for (let i = 0; i < REQUESTS; i++) expect(await get(listen)).toBe(200);
      const total = (): number =>
        lines.reduce((sum, line) => {
          const m = /^envoy\.cluster\.backend\.upstream_rq_total:(\d+)\|c$/.exec(line);
          return sum + (m ? Number(m[1]) : 0);
        }, 0);
      expect(await eventually(async () => total(), (n) => n >= REQUESTS, 20_000)).toBe(REQUESTS);

      for (let i = 0; i < HELD; i++) held.push(await heldConnection(listen));
      const ACTIVE = /^envoy\.http\.ingress_http\.downstream_cx_active:(\d+)\|g$/;
      const active = (): number[] => lines.flatMap((line) => ACTIVE.exec(line)?.[1] ?? []).map(Number);
      // Once every connection is counted, each flush sends the sum: never a worker's share.
      const at = await eventually(async () => active().indexOf(HELD), (i) => i >= 0, 20_000);
      await eventually(async () => active().length, (n) => n >= at + 5, 20_000);
      expect(active().slice(at)).toEqual(active().slice(at).map(() => HELD));
      // Still one total, nothing counted twice.
      expect(total()).toBe(REQUESTS + HELD);
    } finally {
      for (const s of held) s.destroy();
      await proxy?.stop("SIGKILL");
      socket.close();
    }
  });

  for (const withAdmin of [true, false]) {
    test(`${withAdmin ? "with" : "without"} an admin in the config: the worker-only paths are 404 without the supervisor's token, on the worker's admin and the public one; nothing injected reaches statsd`, { timeout: 180_000 }, async () => {
      const { socket, lines } = await statsdServer();
      const listen = await freePort();
      let proxy: ProxyProcess | undefined;
      try {
        const adminPort = await freePort();
        proxy = await startWorkers(runtime, {
          ...httpProxyConfig({ listenPort: listen, clusters: { backend: [upstream.port] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }),
          ...(withAdmin && { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } } }),
          stats_flush_interval: "0.3s",
          stats_sinks: statsdSinks(socket),
        });
        const worker = workerAdmin(proxy.pid);
        const admins = [worker.port, ...(withAdmin ? [adminPort] : [])];
        for (const port of admins) {
          expect((await adminRequest(port, "GET", "/stats?format=worker")).status).toBe(404);
          expect((await adminRequest(port, "GET", "/stats?format=worker&flush=sinks")).status).toBe(404);
          expect((await adminRequest(port, "POST", "/stats/sinks_flush", FAKE_FLUSH)).status).toBe(404);
        }
        if (withAdmin) expect((await adminRequest(admins[1]!, "GET", "/help")).body).not.toContain("sinks_flush");
        // The supervisor's own flush still goes through.
        for (let i = 0; i < 4; i++) expect(await get(listen)).toBe(200);
        const total = (): number => lines.reduce((sum, line) => sum + Number(/^envoy\.cluster\.backend\.upstream_rq_total:(\d+)\|c$/.exec(line)?.[1] ?? 0), 0);
        expect(await eventually(async () => total(), (n) => n >= 4, 20_000)).toBe(4);
        expect(lines.filter((line) => line.includes("FAKE"))).toEqual([]);
        // With no admin in the config, the one each worker has for its supervisor sends no admin stats.
        if (!withAdmin) expect(lines.filter((line) => /^envoy\.(http|listener)\.admin\./.test(line))).toEqual([]);
      } finally {
        await proxy?.stop("SIGKILL");
        socket.close();
      }
    });
  }

  test("SIGTERM: the supervisor flushes once more before the workers stop (Envoy's terminate flush)", { timeout: 180_000 }, async () => {
    const { socket, lines } = await statsdServer();
    const listen = await freePort();
    let proxy: ProxyProcess | undefined;
    try {
      proxy = await startWorkers(runtime, {
        ...httpProxyConfig({ listenPort: listen, clusters: { backend: [upstream.port] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }),
        // No timed flush comes during the test: only the final one can carry the requests.
        stats_flush_interval: "60s",
        stats_sinks: statsdSinks(socket),
      });
      for (let i = 0; i < 6; i++) expect(await get(listen)).toBe(200);
      const exited = await proxy.stop("SIGTERM", 30_000);
      expect(exited.code).toBe(0);
      await eventually(async () => lines.length, (n) => n > 0, 5_000);
      expect(lines.filter((line) => line.startsWith("envoy.cluster.backend.upstream_rq_total:"))).toEqual(["envoy.cluster.backend.upstream_rq_total:6|c"]);
    } finally {
      await proxy?.stop("SIGKILL");
      socket.close();
    }
  });

  test("/quitquitquit: the supervisor flushes once more before the workers stop (Envoy's terminate flush)", { timeout: 180_000 }, async () => {
    const { socket, lines } = await statsdServer();
    const listen = await freePort();
    const adminPort = await freePort();
    let proxy: ProxyProcess | undefined;
    try {
      proxy = await startWorkers(runtime, {
        ...httpProxyConfig({ listenPort: listen, clusters: { backend: [upstream.port] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }),
        admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
        // No timed flush comes during the test: only the final one can carry the requests.
        stats_flush_interval: "60s",
        stats_sinks: statsdSinks(socket),
      });
      for (let i = 0; i < 5; i++) expect(await get(listen)).toBe(200);
      expect((await adminRequest(adminPort, "POST", "/quitquitquit")).status).toBe(200);
      const exited = await proxy.stop("SIGCONT", 30_000);
      expect(exited.code).toBe(0);
      await eventually(async () => lines.length, (n) => n > 0, 5_000);
      expect(lines.filter((line) => line.startsWith("envoy.cluster.backend.upstream_rq_total:"))).toEqual(["envoy.cluster.backend.upstream_rq_total:5|c"]);
    } finally {
      await proxy?.stop("SIGKILL");
      socket.close();
    }
  });

  test("metrics_service: one stream, under the node, with the whole count", { timeout: 180_000 }, async () => {
    const metrics = new MetricsServiceServer();
    await metrics.start();
    const listen = await freePort();
    let proxy: ProxyProcess | undefined;
    try {
      const config = httpProxyConfig({ listenPort: listen, clusters: { backend: [upstream.port] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }) as { static_resources: { clusters: object[] } };
      config.static_resources.clusters.push({
        name: "metrics_service",
        type: "STATIC",
        connect_timeout: "0.25s",
        typed_extension_protocol_options: {
          "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": { "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions", explicit_http_config: { http2_protocol_options: {} } },
        },
        load_assignment: { cluster_name: "metrics_service", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: metrics.port } } } }] }] },
      });
      proxy = await startWorkers(runtime, {
        ...config,
        node: { id: "e2e-node", cluster: "e2e-fleet" },
        stats_flush_interval: "0.3s",
        stats_sinks: [
          {
            name: "envoy.stat_sinks.metrics_service",
            typed_config: {
              "@type": "type.googleapis.com/envoy.config.metrics.v3.MetricsServiceConfig",
              grpc_service: { envoy_grpc: { cluster_name: "metrics_service" } },
              transport_api_version: "V3",
              report_counters_as_deltas: true,
            },
          },
        ],
      });
      for (let i = 0; i < REQUESTS; i++) expect(await get(listen)).toBe(200);
      const sent = (name: string): number => metrics.messages.reduce((sum, { message }) => sum + (metricValue(message, name) ?? 0), 0);
      expect(await eventually(async () => sent("cluster.backend.upstream_rq_total"), (n) => n >= REQUESTS, 20_000)).toBe(REQUESTS);
      const count = metrics.messages.length;
      await eventually(async () => metrics.messages.length, (n) => n >= count + 3, 20_000);
      expect(sent("cluster.backend.upstream_rq_total")).toBe(REQUESTS);
      expect(metrics.opened).toBe(1);
      expect(metrics.messages[0]!.message.identifier?.node).toMatchObject({ id: "e2e-node", cluster: "e2e-fleet" });
      const last = metrics.messages.at(-1)!.message;
      // A copy each worker holds, sent once (not 2 × 2); the histogram's every request once.
      expect(metricValue(last, "server.concurrency")).toBe(2);
      const time = last.envoy_metrics!.find((f) => f.name === "cluster.backend.upstream_rq_time" && f.type === "HISTOGRAM");
      expect(time).toBeDefined();
      const histograms = metrics.messages.flatMap(({ message }) => message.envoy_metrics!.filter((f) => f.name === "cluster.backend.upstream_rq_time" && f.type === "HISTOGRAM"));
      expect(histograms.reduce((sum, f) => sum + Number(f.metric![0]!.histogram!.sample_count ?? 0), 0)).toBe(REQUESTS);
    } finally {
      await proxy?.stop("SIGKILL");
      await metrics.stop();
    }
  });
});
