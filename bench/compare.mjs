// `polyvoy compare -c envoy.yaml`: the user's own config under node, bun and deno, one
// runtime at a time, the same requests against each, on the bench's machinery (processes,
// CPU pinning, wrk or the bench's client, the origin, the chart). See `--help`, and
// docs/performance.md "polyvoy compare".
//
// In each round every runtime starts the config on a fresh process pinned to one core (the
// load generator and the origin on the other), is timed to listening, left idle for its RSS,
// then measured target by target (warm-up, then one run); rounds rotate the runtimes' order
// so that a machine slowing down does not favour one. A runtime that refuses the config is
// reported with polyvoy's own reason (a capability that runtime lacks, usually).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pointClustersAt, planTargets, readBootstrap } from "./lib/compare-config.mjs";
import { aggregateCompare, renderCompareMarkdown, renderCompareTable } from "./lib/compare-report.mjs";
import { findRuntimes, polyvoyCommand } from "./lib/compare-runtimes.mjs";
import { parseCompareArgs } from "./lib/compare-settings.mjs";
import { Progress } from "./lib/progress.mjs";
import { loadTools, rateRun, throughputRun } from "./lib/load.mjs";
import { probeStatus } from "./lib/probe.mjs";
import { startOrigin } from "./lib/origin.mjs";
import { renderChart } from "./lib/svg.mjs";
import { Proc, ROOT, cpuPlan, machineInfo, nofileHardLimit, processCounters, sleep, treeRssBytes, wrapped } from "./lib/system.mjs";

const MiB = 1024 * 1024;
/** How long a runtime gets to listen before it counts as failed to start. */
const START_TIMEOUT_MS = 30_000;

/** Resolves when a TCP connection to host:port is accepted. */
function canConnect(host, port) {
  return new Promise((resolvePromise) => {
    const socket = net.connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once("error", () => resolvePromise(false));
  });
}

/** polyvoy's reason for exiting: its config error lines, else the last lines it wrote. */
function exitReason(proc) {
  const lines = proc.output.split("\n").map((l) => l.trim()).filter(Boolean);
  const errors = lines.filter((l) => /config error|error/i.test(l));
  return (errors.length ? errors.slice(0, 3) : lines.slice(-3)).join(" / ") || `exited (${proc.exitCode})`;
}

/** Start polyvoy on `rt`; resolves {proc, startupMs} once every target's listener accepts, or {refused}. */
async function startPolyvoy(ctx, rt, configPath, listeners) {
  const argv = wrapped(ctx.cpu.proxy, ...polyvoyCommand(rt.runtime, rt.exe, configPath), ctx.nofile);
  const t0 = performance.now();
  const proc = new Proc(`polyvoy on ${rt.runtime}`, argv, { cwd: ROOT });
  ctx.started.add(proc);
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (const { host, port } of listeners) {
    while (!(await canConnect(host, port))) {
      if (!proc.running) {
        ctx.started.delete(proc);
        return { refused: exitReason(proc) };
      }
      if (Date.now() > deadline) {
        await stop(ctx, proc);
        return { refused: `not listening on ${host}:${port} after ${START_TIMEOUT_MS / 1000} s` };
      }
      await sleep(5);
    }
  }
  return { proc, startupMs: performance.now() - t0 };
}

async function stop(ctx, proc) {
  await proc.stop();
  ctx.started.delete(proc);
}

/** One measured run of `target` at `port`: the load tool's summary plus the process's CPU and peak RSS. */
async function measureTarget(ctx, settings, target, pid) {
  const request = {
    port: target.listener.port,
    host: target.listener.host,
    path: target.path,
    hostHeader: target.host,
    method: settings.method,
    bodyFile: settings.body ?? undefined,
    headers: settings.headers,
    tls: target.listener.tls,
    connections: settings.connections,
    // an HTTP/2-only listener: h2load, the connections' streams spread as the bench's h2 scenario does
    ...(target.listener.http2 ? { protocol: target.listener.tls ? "h2" : "h2c", streams: 10 } : {}),
  };
  if (target.listener.http2 && settings.rate !== null) throw new Error("--rate: the fixed-rate client speaks HTTP/1.1 only, and this listener HTTP/2 only");
  const status = await probeStatus(request);
  if (settings.warmupSeconds > 0 && settings.rate === null) await throughputRun(ctx, { ...request, seconds: settings.warmupSeconds });
  const before = pid ? processCounters(pid) : null;
  let peakRss = 0;
  const sampler = pid ? setInterval(() => (peakRss = Math.max(peakRss, safeRss(pid))), 250) : null;
  try {
    const summary =
      settings.rate === null
        ? await throughputRun(ctx, { ...request, seconds: settings.seconds })
        : await rateRun(ctx, { ...request, rate: settings.rate, seconds: settings.seconds, warmupSeconds: settings.warmupSeconds });
    const after = pid ? processCounters(pid) : null;
    if (pid) peakRss = Math.max(peakRss, safeRss(pid));
    const seconds = summary.duration_us / 1e6;
    return {
      rps: seconds > 0 ? summary.requests / seconds : 0,
      requests: summary.requests,
      status,
      // h2load reports no percentiles: its mean stands in p50 and its maximum in p99 (load.mjs)
      latencyMs: { p50: summary.latency_us.p50 / 1000, p99: summary.latency_us.p99 / 1000, p999: summary.latency_us.p999 === undefined ? null : summary.latency_us.p999 / 1000 },
      errors: summary.errors,
      cpuUsPerRequest: before && after && summary.requests > 0 ? (after.cpuUs - before.cpuUs) / summary.requests : null,
      rssLoadMiB: pid ? peakRss / MiB : null,
    };
  } finally {
    if (sampler) clearInterval(sampler);
  }
}

/** The RSS of polyvoy's process tree (its workers with --concurrency too), as the bench reads it. */
function safeRss(pid) {
  try {
    return treeRssBytes(pid);
  } catch {
    return 0;
  }
}

/** Runs the comparison; resolves with the process exit code. */
export async function compare(argv, log = (line) => console.log(line)) {
  let settings;
  try {
    settings = parseCompareArgs(argv);
  } catch (error) {
    if (error.help) {
      log(error.message);
      return 0;
    }
    console.error(`polyvoy compare: ${error.message}`);
    return 1;
  }
  const bootstrap = readBootstrap(settings.config);
  if (bootstrap instanceof Error) {
    console.error(`polyvoy compare: ${bootstrap.message}`);
    return 1;
  }
  const plan = planTargets(bootstrap, { targets: settings.targets, host: settings.host, withUpstreams: settings.origin === "builtin" });
  if (plan.listeners.length === 0) {
    console.error("polyvoy compare: the config has no HTTP listener (an http_connection_manager with a socket_address) to measure");
    return 1;
  }
  if (plan.targets.length === 0) {
    console.error(
      "polyvoy compare: nothing to measure: the config has no direct_response route; name paths with --target" +
        (plan.upstreamRoutes.length ? ` (its routes to clusters, e.g. ${plan.upstreamRoutes[0].path}, need an upstream: --target, or --origin builtin)` : ""),
    );
    return 1;
  }
  const notes = [];
  if (settings.targets.length && settings.origin === null && plan.upstreamRoutes.length) {
    notes.push("targets routed to clusters reach the config's own upstreams: their speed is part of every runtime's figures (--origin builtin replaces them with the bench's origin)");
  }
  const runtimes = findRuntimes(settings.runtimes);
  const available = runtimes.filter((r) => !r.skipped);

  const workDir = mkdtempSync(join(tmpdir(), "polyvoy-compare-"));
  const ctx = { tools: loadTools(), cpu: cpuPlan(), nofile: nofileHardLimit(), workDir, started: new Set() };
  if (ctx.cpu.note) notes.push(ctx.cpu.note);
  if (plan.targets.some((t) => t.listener.http2)) notes.push("HTTP/2-only listeners are measured with h2load (10 streams per connection), which reports no percentiles: p50 is its mean request time and p99 its maximum");
  if (!ctx.tools.wrk && settings.rate === null) notes.push("wrk not found: the bench's own node client generates the load (one process; it may not keep up with the fastest runtime)");
  const onSignal = async () => {
    await Promise.all([...ctx.started].map((p) => p.stop()));
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const measurements = []; // {round, runtime, target?, ...}
  const progress = new Progress(settings.rounds * available.length * plan.targets.length, process.stderr);
  try {
    let configPath = resolve(settings.config);
    if (settings.origin === "builtin") {
      ctx.origin = await startOrigin(ctx);
      ctx.started.add(ctx.origin.proc);
      configPath = join(workDir, "config.json");
      writeFileSync(configPath, JSON.stringify(pointClustersAt(bootstrap, ctx.origin.port, settings.keepClusters), null, 2));
    }
    const listeners = [...new Map(plan.targets.map((t) => [`${t.listener.host}:${t.listener.port}`, t.listener])).values()];
    for (let round = 1; round <= settings.rounds; round++) {
      if (ctx.origin) {
        // the direct path: the same requests to the origin, for the latency polyvoy adds
        for (const target of plan.targets.filter((t) => t.source !== "direct_response")) {
          const direct = { ...target, listener: { host: "127.0.0.1", port: ctx.origin.port, tls: false } };
          measurements.push({ round, runtime: "direct", target: target.id, ...(await measureTarget(ctx, settings, direct, null)) });
        }
      }
      const order = available.map((_, i) => available[(i + round - 1) % available.length]);
      for (const rt of order) {
        progress.update(`round ${round}/${settings.rounds} · ${rt.runtime}: starting`);
        const started = await startPolyvoy(ctx, rt, configPath, listeners);
        if (started.refused) {
          measurements.push({ round, runtime: rt.runtime, refused: started.refused });
          progress.advance(plan.targets.length);
          continue;
        }
        await sleep(settings.quick ? 500 : 1000);
        measurements.push({ round, runtime: rt.runtime, startupMs: started.startupMs, rssIdleMiB: safeRss(started.proc.pid) / MiB });
        for (const target of plan.targets) {
          progress.update(`round ${round}/${settings.rounds} · ${rt.runtime} · ${target.path}`);
          try {
            measurements.push({ round, runtime: rt.runtime, target: target.id, ...(await measureTarget(ctx, settings, target, started.proc.pid)) });
          } catch (error) {
            measurements.push({ round, runtime: rt.runtime, target: target.id, error: error.message.split("\n")[0] });
          }
          progress.advance(1);
          if (!started.proc.running) break;
        }
        if (!started.proc.running) measurements.push({ round, runtime: rt.runtime, refused: `exited under load: ${exitReason(started.proc)}` });
        await stop(ctx, started.proc);
      }
    }
  } finally {
    progress.done();
    await Promise.all([...ctx.started].map((p) => p.stop()));
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    rmSync(workDir, { recursive: true, force: true });
  }

  const doc = {
    meta: {
      date: new Date().toISOString(),
      mode: settings.quick ? "quick" : "full",
      config: settings.config,
      machine: machineInfo(),
      load: settings.rate !== null ? "the bench's fixed-rate client" : ctx.tools.wrk ? "wrk" : "the bench's node client",
      settings: { runs: settings.rounds, seconds: settings.seconds, warmupSeconds: settings.warmupSeconds, connections: settings.connections, rate: settings.rate, method: settings.method, origin: settings.origin },
    },
    runtimes: runtimes.map((r) => ({ runtime: r.runtime, exe: r.exe ?? null, skipped: r.skipped ?? null })),
    targets: plan.targets.map((t) => ({ id: t.id, path: t.path, host: t.host ?? null, source: t.source, listener: `${t.listener.host}:${t.listener.port}`, tls: t.listener.tls, http2: t.listener.http2 })),
    notes,
    measurements,
  };
  doc.summary = aggregateCompare(doc);
  log(renderCompareTable(doc));
  if (settings.out) {
    mkdirSync(settings.out, { recursive: true });
    writeFileSync(join(settings.out, "results.json"), JSON.stringify(doc, null, 2) + "\n");
    writeFileSync(join(settings.out, "results.md"), renderCompareMarkdown(doc));
    writeFileSync(join(settings.out, "chart.svg"), chartOf(doc));
    log(`results: ${join(settings.out, "results.md")}, results.json, chart.svg`);
  }
  const measured = Object.values(doc.summary.runtimes).some((r) => Object.values(r.targets).some((t) => t.rps?.median > 0));
  if (!measured) console.error("polyvoy compare: no runtime could be measured");
  return measured ? 0 : 1;
}

/** The bench's bar chart: a group per runtime, a bar per target. */
function chartOf(doc) {
  const groups = Object.keys(doc.summary.runtimes).filter((r) => r !== "direct");
  const table = {};
  for (const t of doc.targets) {
    table[t.id] = {};
    for (const runtime of groups) {
      const cell = doc.summary.runtimes[runtime].targets[t.id]?.rps;
      if (cell?.median !== undefined) table[t.id][runtime] = cell;
    }
  }
  const chartDoc = { targets: groups.map((id) => ({ id, label: `polyvoy on ${id}`, kind: "polyvoy" })), table, meta: doc.meta };
  return renderChart(chartDoc, doc.targets.map((t) => [t.id, t.path]), `${doc.meta.config} under each runtime`);
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await compare(process.argv.slice(2));
