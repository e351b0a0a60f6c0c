/**
 * Soak: one proxy per runtime under a mix of traffic and upstream faults for N minutes,
 * by hand (not in CI), to see that nothing leaks: active-stream gauges back to 0 once the
 * load stops, and RSS no higher than a stated bound above where it stood after warm-up.
 *
 *   npx tsx bench/soak.ts                       # 10 minutes on each of node, bun, deno
 *   npx tsx bench/soak.ts --minutes 1 --runtime bun --runtime deno
 *
 * Options: --minutes N (per runtime, default 10), --runtime R (repeatable; default all),
 * --quiet-seconds S (after the load, before the final reading; default 15),
 * --rss-growth-mb M (allowed RSS growth from the end of warm-up to the end; default 64),
 * --sample-seconds S (default 5).
 *
 * The load, all at once through one proxy (one listener, HCM + router):
 * - keep-alive GETs of 1–64 KiB bodies (an agent of 16 sockets, 16 loops);
 * - connection churn: one request per connection (2 loops);
 * - pipelining: 10 GETs written at once on one connection, then read (2 loops);
 * - slow readers: a 1 MiB body read after a 2 s pause, or dropped half-read (2 loops);
 * - slow uploads: a 64 KiB POST sent 4 KiB every 100 ms (2 loops);
 * - upstream faults (2 loops): an upstream that resets the connection (502/503 from the
 *   proxy), one that never answers (504 after the route's 2 s timeout), one that says 503.
 *
 * Every few seconds the proxy's RSS (/proc) and its gauges http.soak.downstream_rq_active,
 * http.soak.downstream_cx_active and cluster.*.upstream_rq_active (admin /stats) are read.
 * At the end: a table per runtime (RSS at start, after warm-up, peak and end; the gauges
 * after the quiet period; requests by outcome), and the exit code is 1 if any gauge is not
 * back to 0 or RSS grew past the bound. Processes are started as bench/lib/targets.mjs
 * starts them (the same argv), with bench/lib/system.mjs's helpers.
 */
import http from "node:http";
import net from "node:net";
import { join } from "node:path";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { BIN, Proc, ROOT, freePort, rssBytes, sleep, waitReady, wrapped } from "./lib/system.mjs";
import { polyvoyConfig } from "./lib/targets.mjs";

type Runtime = "node" | "bun" | "deno";
const RUNTIMES: Runtime[] = ["node", "bun", "deno"];
const USAGE = "usage: soak.ts [--minutes N] [--runtime node|bun|deno]… [--quiet-seconds S] [--rss-growth-mb M] [--sample-seconds S]";

interface Options {
  minutes: number;
  runtimes: Runtime[];
  quietSeconds: number;
  rssGrowthMb: number;
  sampleSeconds: number;
}

function parse(args: string[]): Options {
  const options: Options = { minutes: 10, runtimes: [], quietSeconds: 15, rssGrowthMb: 64, sampleSeconds: 5 };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = args[++i];
    if (value === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
    if (arg === "--runtime") {
      if (!RUNTIMES.includes(value as Runtime)) throw new Error(`unknown runtime ${value}\n${USAGE}`);
      options.runtimes.push(value as Runtime);
      continue;
    }
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${arg} needs a positive number\n${USAGE}`);
    if (arg === "--minutes") options.minutes = n;
    else if (arg === "--quiet-seconds") options.quietSeconds = n;
    else if (arg === "--rss-growth-mb") options.rssGrowthMb = n;
    else if (arg === "--sample-seconds") options.sampleSeconds = n;
    else throw new Error(`unknown option ${arg}\n${USAGE}`);
  }
  if (options.runtimes.length === 0) options.runtimes = RUNTIMES;
  return options;
}

// ---- upstreams -------------------------------------------------------------------------

const BODIES = new Map<number, Buffer>();
function body(bytes: number): Buffer {
  let b = BODIES.get(bytes);
  if (!b) BODIES.set(bytes, (b = Buffer.alloc(bytes, "x")));
  return b;
}

/** The healthy upstream: GET /size/N answers N bytes; POST answers the byte count it read. */
function goodUpstream(): http.Server {
  return http.createServer((req, res) => {
    if (req.method === "POST") {
      let n = 0;
      req.on("data", (c: Buffer) => (n += c.length));
      req.on("end", () => res.end(String(n)));
      return;
    }
    const size = Number(/^\/size\/(\d+)/.exec(req.url ?? "")?.[1] ?? 64);
    res.end(body(Math.min(size, 4 * 1024 * 1024)));
  });
}

/** The faulty upstream, by path: /fault/reset resets the connection, /fault/hang never answers, /fault/503 answers 503. */
function faultyUpstream(): net.Server {
  return net.createServer((socket) => {
    socket.on("error", () => {});
    let head = "";
    socket.on("data", (d: Buffer) => {
      head += d.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      const path = head.split(" ")[1] ?? "";
      head = "";
      if (path.startsWith("/fault/reset")) socket.resetAndDestroy();
      else if (path.startsWith("/fault/503")) socket.write("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy");
      // /fault/hang: nothing, until the proxy gives up and closes.
    });
  });
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)));
}

// ---- the proxy ---------------------------------------------------------------------------

function soakConfig(port: number, adminPort: number, goodPort: number, faultyPort: number): object {
  const config = polyvoyConfig(port, goodPort) as {
    admin?: object;
    static_resources: { listeners: { filter_chains: { filters: { typed_config: Record<string, unknown> }[] }[] }[]; clusters: Record<string, unknown>[] };
  };
  const hcm = config.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config;
  hcm.stat_prefix = "soak";
  hcm.route_config = {
    name: "soak",
    virtual_hosts: [
      {
        name: "soak",
        domains: ["*"],
        routes: [
          { match: { prefix: "/fault/" }, route: { cluster: "faulty", timeout: "2s" } },
          { match: { prefix: "/" }, route: { cluster: "origin" } },
        ],
      },
    ],
  };
  const origin = config.static_resources.clusters[0]!;
  config.static_resources.clusters.push({
    ...origin,
    name: "faulty",
    load_assignment: {
      cluster_name: "faulty",
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: faultyPort } } } }] }],
    },
  });
  config.admin = { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } };
  return config;
}

function startProxy(runtime: Runtime, configPath: string): Proc {
  // Started as bench/lib/targets.mjs starts polyvoy (as test/support/proxy-process.ts does).
  const argv = {
    node: [process.execPath, ["--import", "tsx", join(ROOT, "runtimes/node/main.ts"), "-c", configPath, "--concurrency", "1"]],
    bun: [join(BIN, "bun"), [join(ROOT, "runtimes/bun/main.ts"), "-c", configPath, "--concurrency", "1"]],
    deno: [join(BIN, "deno"), ["run", "-A", join(ROOT, "runtimes/deno/main.ts"), "-c", configPath, "--concurrency", "1"]],
  }[runtime] as [string, string[]];
  return new Proc(`polyvoy on ${runtime}`, wrapped(null, argv[0], argv[1], 65536));
}

// ---- the load ------------------------------------------------------------------------------

class Outcomes {
  readonly counts = new Map<string, number>();
  add(outcome: string): void {
    this.counts.set(outcome, (this.counts.get(outcome) ?? 0) + 1);
  }
  get total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }
}

function statusClass(status: number | undefined): string {
  if (status === undefined) return "no answer";
  return status === 503 || status === 504 || status === 502 ? String(status) : `${Math.floor(status / 100)}xx`;
}

/** One request through `agent` (false: its own connection); resolves with the outcome, never rejects. */
function exchange(port: number, agent: http.Agent | false, method: string, path: string, upload?: (req: http.ClientRequest) => void): Promise<string> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = upload ? { "content-length": String(64 * 1024) } : {};
    if (agent === false) headers.connection = "close";
    const req = http.request({ host: "127.0.0.1", port, method, path, agent, headers, timeout: 15_000 }, (res) => {
      res.on("data", () => {});
      res.on("end", () => resolve(statusClass(res.statusCode)));
      res.on("error", () => resolve("reset mid-response"));
    });
    req.on("timeout", () => req.destroy(new Error("client timeout")));
    req.on("error", (err: NodeJS.ErrnoException) => resolve(err.message === "client timeout" ? "client timeout" : `error ${err.code ?? err.message}`));
    if (upload) upload(req);
    else req.end();
  });
}

async function until(deadline: number, work: () => Promise<void>): Promise<void> {
  while (Date.now() < deadline) await work();
}

function keepAliveGets(port: number, deadline: number, out: Outcomes, agent: http.Agent): Promise<void> {
  return until(deadline, async () => out.add(`get ${await exchange(port, agent, "GET", `/size/${1 + Math.floor(Math.random() * 64 * 1024)}`)}`));
}

function churn(port: number, deadline: number, out: Outcomes): Promise<void> {
  return until(deadline, async () => out.add(`churn ${await exchange(port, false, "GET", "/size/512")}`));
}

function faults(port: number, deadline: number, out: Outcomes): Promise<void> {
  const kinds = ["reset", "hang", "503"];
  return until(deadline, async () => {
    const kind = kinds[Math.floor(Math.random() * kinds.length)]!;
    out.add(`fault/${kind} ${await exchange(port, false, "GET", `/fault/${kind}`)}`);
  });
}

function slowUploads(port: number, deadline: number, out: Outcomes): Promise<void> {
  return until(deadline, async () => {
    const outcome = await exchange(port, false, "POST", "/upload", (req) => {
      let sent = 0;
      const tick = setInterval(() => {
        if (req.destroyed) return clearInterval(tick);
        req.write(body(4096));
        sent += 4096;
        if (sent >= 64 * 1024) {
          clearInterval(tick);
          req.end();
        }
      }, 100);
    });
    out.add(`slow upload ${outcome}`);
  });
}

/** Raw socket helper: connect, write, collect bytes until `done(text)` or close/timeout. */
function rawSession(port: number, write: string, done: (text: string) => boolean, pauseMs = 0, dropHalfway = false): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    let text = "";
    let bytes = 0;
    const timer = setTimeout(() => finish("client timeout"), 20_000);
    const finish = (outcome: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    socket.on("error", (err: NodeJS.ErrnoException) => finish(`error ${err.code ?? err.message}`));
    socket.on("close", () => finish("closed early"));
    socket.on("connect", () => {
      socket.write(write);
      if (pauseMs > 0) {
        socket.pause();
        setTimeout(() => socket.resume(), pauseMs);
      }
    });
    socket.on("data", (d: Buffer) => {
      bytes += d.length;
      // Only the heads matter for counting; keep the text small.
      if (text.length < 64 * 1024) text += d.toString("latin1");
      if (dropHalfway && bytes > 512 * 1024) return finish("dropped half-read");
      if (done(text) || (pauseMs > 0 && bytes >= 1024 * 1024)) finish("ok");
    });
  });
}

function pipelining(port: number, deadline: number, out: Outcomes): Promise<void> {
  const requests = "GET /size/100 HTTP/1.1\r\nHost: soak\r\n\r\n".repeat(10);
  return until(deadline, async () => {
    const outcome = await rawSession(port, requests, (text) => text.split("HTTP/1.1 200").length - 1 >= 10 && text.endsWith("x".repeat(100)));
    out.add(`pipelined x10 ${outcome}`);
  });
}

function slowReaders(port: number, deadline: number, out: Outcomes): Promise<void> {
  let n = 0;
  return until(deadline, async () => {
    const drop = n++ % 2 === 1;
    const outcome = await rawSession(port, "GET /size/1048576 HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n", () => false, 2000, drop);
    out.add(`slow reader ${outcome}`);
  });
}

// ---- sampling ----------------------------------------------------------------------------------

interface Gauges {
  rqActive: number;
  cxActive: number;
  upstreamRqActive: number;
}

async function gauges(adminPort: number): Promise<Gauges> {
  const text = await new Promise<string>((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port: adminPort, path: "/stats", agent: false, timeout: 5000 }, (res) => {
        let t = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (t += d));
        res.on("end", () => resolve(t));
      })
      .on("error", reject);
  });
  const value = (re: RegExp) => {
    let sum = 0;
    for (const m of text.matchAll(re)) sum += Number(m[1]);
    return sum;
  };
  return {
    rqActive: value(/^http\.soak\.downstream_rq_active: (\d+)$/gm),
    cxActive: value(/^http\.soak\.downstream_cx_active: (\d+)$/gm),
    upstreamRqActive: value(/^cluster\.[^.\s]+\.upstream_rq_active: (\d+)$/gm),
  };
}

interface Result {
  runtime: Runtime;
  rssStart: number;
  rssWarm: number;
  rssPeak: number;
  rssEnd: number;
  peakGauges: Gauges;
  endGauges: Gauges;
  outcomes: Outcomes;
  problems: string[];
}

const MB = 1024 * 1024;
const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MiB`;

async function soak(runtime: Runtime, options: Options, dir: string): Promise<Result> {
  const good = goodUpstream();
  const faulty = faultyUpstream();
  const goodPort = await listen(good);
  const faultyPort = await listen(faulty);
  const port = await freePort();
  const adminPort = await freePort();
  const configPath = join(dir, `soak-${runtime}.json`);
  writeFileSync(configPath, JSON.stringify(soakConfig(port, adminPort, goodPort, faultyPort), null, 2));
  const proc = startProxy(runtime, configPath);
  const problems: string[] = [];
  try {
    await waitReady(port, "/size/64", 64, proc);
    const pid = proc.pid!;
    const rssStart = rssBytes(pid);
    const durationMs = options.minutes * 60_000;
    const warmMs = Math.min(60_000, durationMs / 6);
    const started = Date.now();
    const deadline = started + durationMs;
    const out = new Outcomes();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const load = Promise.all([
      ...Array.from({ length: 16 }, () => keepAliveGets(port, deadline, out, agent)),
      ...Array.from({ length: 2 }, () => churn(port, deadline, out)),
      ...Array.from({ length: 2 }, () => pipelining(port, deadline, out)),
      ...Array.from({ length: 2 }, () => slowReaders(port, deadline, out)),
      ...Array.from({ length: 2 }, () => slowUploads(port, deadline, out)),
      ...Array.from({ length: 2 }, () => faults(port, deadline, out)),
    ]);
    let rssWarm = 0;
    let rssPeak = rssStart;
    const peakGauges: Gauges = { rqActive: 0, cxActive: 0, upstreamRqActive: 0 };
    let loadDone = false;
    let lastLogged = 0;
    void load.then(() => (loadDone = true));
    while (!loadDone) {
      await Promise.race([sleep(options.sampleSeconds * 1000), load]);
      if (!proc.running) throw new Error(`the proxy exited (${proc.exitCode}):\n${proc.output.slice(-2000)}`);
      const rss = rssBytes(pid);
      rssPeak = Math.max(rssPeak, rss);
      if (rssWarm === 0 && Date.now() - started >= warmMs) rssWarm = rss;
      const g = await gauges(adminPort).catch(() => undefined);
      if (g) for (const key of Object.keys(g) as (keyof Gauges)[]) peakGauges[key] = Math.max(peakGauges[key], g[key]);
      const elapsed = Math.round((Date.now() - started) / 1000);
      const line = `  ${runtime} ${elapsed}s: RSS ${mb(rss)}, rq_active ${g?.rqActive ?? "?"}, cx_active ${g?.cxActive ?? "?"}, upstream_rq_active ${g?.upstreamRqActive ?? "?"}, ${out.total} requests`;
      // A terminal gets one line rewritten; a log, a line every 30 s.
      if (process.stdout.isTTY) process.stdout.write(`\r${line}   `);
      else if (elapsed - lastLogged >= 30) {
        lastLogged = elapsed;
        console.log(line);
      }
    }
    if (process.stdout.isTTY) process.stdout.write("\n");
    agent.destroy();
    if (rssWarm === 0) rssWarm = rssStart;
    await sleep(options.quietSeconds * 1000);
    const endGauges = await gauges(adminPort);
    const rssEnd = rssBytes(pid);
    for (const [key, v] of Object.entries(endGauges)) if (v !== 0) problems.push(`${key} is ${v} after the quiet period (expected 0)`);
    if (rssEnd - rssWarm > options.rssGrowthMb * MB) problems.push(`RSS grew ${mb(rssEnd - rssWarm)} from warm-up to the end (bound ${options.rssGrowthMb} MiB)`);
    return { runtime, rssStart, rssWarm, rssPeak, rssEnd, peakGauges, endGauges, outcomes: out, problems };
  } finally {
    await proc.stop();
    good.closeAllConnections();
    good.close();
    faulty.close();
  }
}

function report(results: Result[], options: Options): void {
  const rows: string[][] = [["", ...results.map((r) => r.runtime)]];
  const row = (label: string, f: (r: Result) => string) => rows.push([label, ...results.map(f)]);
  row("RSS at start", (r) => mb(r.rssStart));
  row("RSS after warm-up", (r) => mb(r.rssWarm));
  row("RSS peak", (r) => mb(r.rssPeak));
  row(`RSS at end (+${options.quietSeconds}s quiet)`, (r) => mb(r.rssEnd));
  row("peak downstream_rq_active", (r) => String(r.peakGauges.rqActive));
  row("peak downstream_cx_active", (r) => String(r.peakGauges.cxActive));
  row("peak upstream_rq_active", (r) => String(r.peakGauges.upstreamRqActive));
  row("end downstream_rq_active", (r) => String(r.endGauges.rqActive));
  row("end downstream_cx_active", (r) => String(r.endGauges.cxActive));
  row("end upstream_rq_active", (r) => String(r.endGauges.upstreamRqActive));
  const outcomes = [...new Set(results.flatMap((r) => [...r.outcomes.counts.keys()]))].sort();
  for (const o of outcomes) row(o, (r) => String(r.outcomes.counts.get(o) ?? 0));
  row("requests in all", (r) => String(r.outcomes.total));
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const [i, r] of rows.entries()) {
    console.log(`| ${r.map((cell, j) => (j === 0 ? cell.padEnd(widths[j]!) : cell.padStart(widths[j]!))).join(" | ")} |`);
    if (i === 0) console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  }
}

async function main(): Promise<void> {
  const options = parse(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), "polyvoy-soak-"));
  const results: Result[] = [];
  try {
    for (const runtime of options.runtimes) {
      console.log(`soak: ${runtime}, ${options.minutes} min …`);
      results.push(await soak(runtime, options, dir));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\nsoak: ${options.minutes} min per runtime; RSS bound: +${options.rssGrowthMb} MiB from the end of warm-up (min(1 min, a sixth of the run)) to the end\n`);
  report(results, options);
  const problems = results.flatMap((r) => r.problems.map((p) => `${r.runtime}: ${p}`));
  for (const p of problems) console.log(`FAIL ${p}`);
  if (problems.length > 0) process.exit(1);
  console.log("\nok: gauges back to 0, RSS within the bound");
}

await main();
