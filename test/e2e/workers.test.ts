/**
 * --concurrency N on every runtime: N worker processes share the listener (node:cluster
 * on Node 20, SO_REUSEPORT on Bun and Deno), the supervisor's one admin merges their
 * stats and passes /quitquitquit and signals on, and a killed worker is restarted.
 * Which worker served a request is read from /proc: the upstream's connection comes
 * from a socket one worker process holds.
 */
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import * as http from "node:http";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { entryCommand, ProxyProcess, ROOT, RUNTIMES } from "../support/proxy-process.ts";
import { alive, CommandProcess } from "../support/command-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

const REQUESTS = 20;
/** Workers each load and compile the program: slow on a loaded machine. */
const STARTED_MS = 90_000;

/** Local TCP ports of the sockets process `pid` holds (its fds' inodes matched in /proc/<pid>/net/tcp{,6}). */
function socketLocalPorts(pid: number): Set<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/);
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const ports = new Set<number>();
  for (const table of [`/proc/${pid}/net/tcp`, `/proc/${pid}/net/tcp6`]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && inodes.has(f[9]!)) ports.add(parseInt(f[1]!.split(":")[1]!, 16));
    }
  }
  return ports;
}

/** A GET on a connection of its own (so the kernel or the cluster primary places each). */
function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, body }));
    });
    req.on("error", reject);
  });
}

function post(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method: "POST", agent: false }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

function statValue(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}: `));
  return line === undefined ? undefined : Number(line.slice(name.length + 2));
}

describe.each(RUNTIMES)("workers (%s)", (runtime) => {
  let upstream: HttpUpstream;
  /** Remote ports of the connections the upstream accepted. */
  const upstreamPeers = new Set<number>();

  beforeAll(async () => {
    upstream = await httpUpstream((_req, res) => res.end("ok\n"));
    upstream.server.on("connection", (socket) => upstreamPeers.add(socket.remotePort!));
  });
  afterAll(() => upstream.close());

  async function start(concurrency: number): Promise<{ proxy: ProxyProcess; listen: number; admin: number; workers: number[] }> {
    const listen = await freePort();
    const admin = await freePort();
    const config = {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: admin } } },
      ...httpProxyConfig({ listenPort: listen, clusters: { backend: [upstream.port] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }),
    };
    const proxy = await ProxyProcess.start(runtime, config, 0, ["--concurrency", String(concurrency)]);
    if (concurrency === 1) {
      await proxy.waitForLog(/listening on/g, 2, STARTED_MS);
      return { proxy, listen, admin, workers: [] };
    }
    await proxy.waitForLog(new RegExp(`all ${concurrency} workers started`), 1, STARTED_MS);
    const pids = proxy.stderr.match(/all \d+ workers started \(pids ([\d, ]+)\)/)![1]!.split(", ").map(Number);
    return { proxy, listen, admin, workers: pids };
  }

  test("--concurrency 2: both workers serve, /stats and /clusters sum them, /quitquitquit stops all", { timeout: 180_000 }, async () => {
    const { proxy, listen, admin, workers } = await start(2);
    expect(workers).toHaveLength(2);
    expect(workers).not.toContain(proxy.pid);
    upstreamPeers.clear();
    for (let i = 0; i < REQUESTS; i++) expect((await get(listen, `/r${i}`)).status).toBe(200);

    // Each worker holds a connection the upstream accepted: both served requests.
    for (const pid of workers) {
      const mine = socketLocalPorts(pid);
      expect([...upstreamPeers].some((port) => mine.has(port)), `worker ${pid} served none of the requests`).toBe(true);
    }

    const stats = await get(admin, "/stats");
    expect(stats.status).toBe(200);
    expect(statValue(stats.body, "http.ingress_http.downstream_rq_total")).toBe(REQUESTS);
    expect(statValue(stats.body, "cluster.backend.upstream_rq_total")).toBe(REQUESTS);
    // Copies, not shares: each worker's one cluster member and its concurrency shown once.
    expect(statValue(stats.body, "cluster.backend.membership_total")).toBe(1);
    expect(statValue(stats.body, "server.concurrency")).toBe(2);
    // Histograms merged: every request's time counted once.
    const prometheus = await get(admin, "/stats/prometheus");
    expect(prometheus.body).toContain(`envoy_http_downstream_rq_time_count{envoy_http_conn_manager_prefix="ingress_http"} ${REQUESTS}\n`);
    const json = JSON.parse((await get(admin, "/stats?format=json&filter=downstream_rq_total")).body) as { stats: { name: string; value: number }[] };
    expect(json.stats.find((s) => s.name === "http.ingress_http.downstream_rq_total")?.value).toBe(REQUESTS);
    const clusters = await get(admin, "/clusters");
    expect(clusters.body).toContain(`backend::127.0.0.1:${upstream.port}::rq_total::${REQUESTS}\n`);
    expect((await get(admin, "/ready")).body).toBe("LIVE\n");

    expect((await post(admin, "/quitquitquit")).status).toBe(200);
    // Wait for the exit the POST began (SIGCONT changes nothing in a running process).
    const exited = await proxy.stop("SIGCONT", 30_000);
    expect(exited.code).toBe(0);
    for (const pid of workers) expect(alive(pid)).toBe(false);
    expect(exited.stderr.match(/admin \/quitquitquit, shutting down/g)).toHaveLength(2);
  });

  test("a killed worker is restarted and logged; SIGTERM stops every worker", { timeout: 180_000 }, async () => {
    const { proxy, listen, admin, workers } = await start(2);
    process.kill(workers[1]!, "SIGKILL");
    await proxy.waitForLog(/worker 1 \(pid \d+\) exited with signal SIGKILL; restarted as pid \d+/, 1, 10_000);
    const replacement = Number(proxy.stderr.match(/restarted as pid (\d+)/)![1]);
    expect(replacement).not.toBe(workers[1]);
    // The replacement binds its own listener (and its admin): 2 workers × 2 listeners + 2 more.
    await proxy.waitForLog(/listener 'http' listening on/g, 3, STARTED_MS);
    for (let i = 0; i < REQUESTS; i++) expect((await get(listen, "/")).status).toBe(200);
    // The killed worker's counts went with it; the two live workers' add up to what was sent since.
    const stats = await get(admin, "/stats?filter=downstream_rq_total");
    expect(statValue(stats.body, "http.ingress_http.downstream_rq_total")).toBe(REQUESTS);

    const exited = await proxy.stop("SIGTERM", 30_000);
    expect(exited.code).toBe(0);
    expect(exited.stderr.match(/caught SIGTERM, shutting down/g)).toHaveLength(2);
    for (const pid of [workers[0]!, replacement]) expect(alive(pid)).toBe(false);
  });

  test("a config read from a FIFO: the workers start from the supervisor's read; SIGHUP refuses to read it again and they serve on", { timeout: 180_000 }, async () => {
    const listen = await freePort();
    const admin = await freePort();
    const config = {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: admin } } },
      ...httpProxyConfig({ listenPort: listen, clusters: { backend: [upstream.port] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }),
    };
    const fifo = join(mkdtempSync(join(inject("tempRoot"), "fifo-")), "envoy.json");
    execFileSync("mkfifo", [fifo]);
    const proxy = ProxyProcess.launch(runtime, ["-c", fifo, "--concurrency", "2"]);
    try {
      // One writer, once, as `-c <(…)` gives it: each worker reopening the FIFO would wait for another.
      await writeFile(fifo, JSON.stringify(config));
      await proxy.waitForLog(/all 2 workers started/, 1, STARTED_MS);
      expect((await get(listen, "/")).status).toBe(200);
      proxy.child.kill("SIGHUP");
      await proxy.waitForLog(/caught SIGHUP: '[^']+envoy\.json' is not a regular file \(a FIFO, a pipe or a device\): it is read once, at start: nothing changed/g, 2, 30_000);
      // One SIGHUP, one rejection: each worker repeats it, and the merge shows it once (worker-stats.ts).
      expect(statValue((await get(admin, "/stats?filter=config_reload")).body, "config_reload.update_rejected")).toBe(1);
      expect((await get(listen, "/")).status).toBe(200);
      // The supervisor's copy removed (a /tmp cleaner) and a worker killed: the restarted worker
      // starts from a copy written again, not from the drained FIFO (where it would wait forever).
      const pids = proxy.stderr.match(/all \d+ workers started \(pids ([\d, ]+)\)/)![1]!.split(", ").map(Number);
      const environ = readFileSync(`/proc/${pids[1]}/environ`, "utf8").split("\0");
      const folder = environ.find((v) => v.startsWith("POLYVOY_WORKER_DIR="))!.slice("POLYVOY_WORKER_DIR=".length);
      rmSync(join(folder, "start-config"));
      const listening = (proxy.stderr.match(/listening on 127\.0\.0\.1:\d+/g) ?? []).length;
      process.kill(pids[1]!, "SIGKILL");
      await proxy.waitForLog(/worker 1 \(pid \d+\) exited with signal SIGKILL; restarted as pid \d+/, 1, 10_000);
      await proxy.waitForLog(/listening on 127\.0\.0\.1:\d+/g, listening + 1, STARTED_MS);
      expect((await get(listen, "/")).status).toBe(200);
      expect((await proxy.stop("SIGTERM", 30_000)).code).toBe(0);
    } finally {
      await proxy.stop("SIGKILL");
    }
  });

  test("`-c <(…)`: the workers start from the supervisor's read (the pipe is empty or absent for them), and SIGHUP refuses to read it again", { timeout: 180_000 }, async () => {
    const listen = await freePort();
    const config = httpProxyConfig({ listenPort: listen, clusters: { backend: [upstream.port] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] });
    const [cmd, argv] = entryCommand(runtime, []);
    const quoted = [cmd, ...argv].map((arg) => `'${arg}'`).join(" ");
    // bash's process substitution, as a user types it: /dev/fd/63, a pipe, read to its end once.
    const proxy = new CommandProcess("bash", ["-c", `exec ${quoted} -c <(printf %s "$POLYVOY_CONFIG") --concurrency 2`], ROOT, { ...process.env, POLYVOY_CONFIG: JSON.stringify(config) });
    try {
      await proxy.waitFor("all 2 workers started", STARTED_MS);
      expect((await get(listen, "/")).status).toBe(200);
      proxy.signal("SIGHUP");
      const deadline = Date.now() + 30_000;
      while ((proxy.stderr.match(/caught SIGHUP: '\/dev\/fd\/\d+' is not a regular file \(a FIFO, a pipe or a device\): it is read once, at start: nothing changed/g)?.length ?? 0) < 2) {
        if (Date.now() > deadline) throw new Error(`no refusal from both workers:\n${proxy.stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(proxy.stderr).not.toMatch(/cannot read/);
      expect((await get(listen, "/")).status).toBe(200);
    } finally {
      expect(await proxy.stop()).toBe(0);
    }
  });

  // The supervisor passes SIGHUP on (each worker reloads): a worker must not die of one at any
  // point of its start (SIGHUP's default action ends a process that has not yet asked for the
  // signal), so the supervisor holds it for a worker until that worker has announced itself
  // (docs/architecture.md, Workers). A SIGHUP to the whole group reaches a worker before its
  // runtime runs its first module, which no process can catch: not tested here.
  test("SIGHUP to the supervisor again and again while the workers start: no worker dies of it, the proxy starts and answers", { timeout: 180_000 }, async () => {
    const listen = await freePort();
    const folder = mkdtempSync(join(tmpdir(), "polyvoy-sighup-"));
    const path = join(folder, "envoy.json");
    await writeFile(path, JSON.stringify(httpProxyConfig({ listenPort: listen, clusters: { backend: [upstream.port] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] })));
    const [cmd, argv] = entryCommand(runtime, ["-c", path, "--concurrency", "2"]);
    const proxy = new CommandProcess(cmd, argv, ROOT);
    try {
      // The supervisor is up (no process survives a SIGHUP before its runtime runs its first
      // module); from its line before it spawns the workers, their whole start.
      await proxy.waitFor("starting 2 workers", STARTED_MS);
      const deadline = Date.now() + STARTED_MS;
      let sent = 0;
      // Until both workers serve, and a little beyond.
      let startedAt: number | undefined;
      while (startedAt === undefined || Date.now() - startedAt < 1000) {
        process.kill(proxy.pid, "SIGHUP");
        sent++;
        if (startedAt === undefined && proxy.stderr.includes("all 2 workers started")) startedAt = Date.now();
        expect(proxy.stderr).not.toMatch(/exited with signal SIGHUP/);
        if (Date.now() > deadline) throw new Error(`not started after ${sent} SIGHUPs:\n${proxy.stderr}`);
        await new Promise((r) => setTimeout(r, 40));
      }
      expect(sent).toBeGreaterThan(5);
      expect((await get(listen, "/")).status).toBe(200);
      expect(proxy.stderr).not.toMatch(/exited with signal SIGHUP|restarted as pid/);
      const pids = proxy.stderr.match(/all 2 workers started \(pids ([\d, ]+)\)/)![1]!.split(", ").map(Number);
      for (const pid of [proxy.pid, ...pids]) expect(alive(pid)).toBe(true);
    } finally {
      expect(await proxy.stop()).toBe(0);
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test("--concurrency 1 is one process, no supervisor", { timeout: 120_000 }, async () => {
    const { proxy, listen, admin } = await start(1);
    expect((await get(listen, "/")).status).toBe(200);
    expect(readFileSync(`/proc/${proxy.pid}/task/${proxy.pid}/children`, "utf8").trim()).toBe("");
    expect(statValue((await get(admin, "/stats")).body, "server.concurrency")).toBe(1);
    expect((await proxy.stop()).code).toBe(0);
  });
});
