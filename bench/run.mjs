#!/usr/bin/env node
// `npm run bench` / `npm run bench -- --quick`: polyvoy on node, bun and deno beside the peers a
// user would pick instead, on one machine, in one run. See docs/performance.md, "How the
// bench measures".
//
//   bench/lib/settings.mjs   options (full / --quick)
//   bench/lib/system.mjs     processes, CPU pinning (taskset), /proc, tools
//   bench/lib/origin.mjs     the origin: nginx, one worker, fixed bodies (Bun.serve fallback)
//   bench/lib/targets.mjs    polyvoy ×3, nginx, HAProxy, the JS peers (bench/peers/), direct
//   bench/lib/load.mjs       wrk, the fixed-rate client, the idle-connection opener (bench/load/)
//   bench/lib/scenarios.mjs  what is measured, runs and warm-up
//   bench/lib/startup.mjs    start-up time and idle footprint, from the sources and the package
//   bench/lib/report.mjs     results.md;  bench/lib/svg.mjs  chart.svg
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os, { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadTools, throughputRun } from "./lib/load.mjs";
import { startExtProcProcessor, startGrpcOrigin, startKafkaOrigin, startOrigin, startPostgresOrigin, startTcpEchoOrigin } from "./lib/origin.mjs";
import { aggregate, renderMarkdown } from "./lib/report.mjs";
import { PROTOCOL_SCENARIOS, THROUGHPUT, fmt, measureIdleMemory, measureLatency, measureThroughput } from "./lib/scenarios.mjs";
import { mintBenchCertificate } from "./lib/tls.mjs";
import { measureStartup, renderStartup } from "./lib/startup.mjs";
import { parseArgs } from "./lib/settings.mjs";
import { renderChart } from "./lib/svg.mjs";
import { BENCH, ROOT, cpuPlan, get, machineInfo, nofileHardLimit, sleep, waitReady } from "./lib/system.mjs";
import { TARGETS, ensurePeerDeps, versions } from "./lib/targets.mjs";
import http from "node:http";

const t0 = Date.now();
const loadBefore = os.loadavg();
let loadMax = loadBefore[0];
const loadSampler = setInterval(() => (loadMax = Math.max(loadMax, os.loadavg()[0])), 5000);
loadSampler.unref();
const log = (line) => console.log(line);
const settings = parseArgs(process.argv.slice(2));
const started = new Set(); // every process we started, stopped on exit or interrupt

async function stopAll() {
  await Promise.all([...started].map((proc) => proc.stop()));
  started.clear();
}
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    log(`\n${signal}: stopping what the bench started …`);
    await stopAll();
    process.exit(130);
  });
}

/** POST `bytes` bytes to `path`: resolves with the status. */
function post(port, path, bytes) {
  return new Promise((resolvePromise, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method: "POST", agent: false, timeout: 5000, headers: { "content-length": bytes, "content-type": "application/octet-stream" } }, (res) => {
      res.resume();
      res.on("end", () => resolvePromise(res.statusCode));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(Buffer.alloc(bytes, "x"));
  });
}

/** Check that a proxy passes every scenario's request through correctly before timing it. */
async function sanityCheck(port) {
  const problems = [];
  for (const [path, bytes] of [["/16k", 16 * 1024], ["/1m", 1024 * 1024]]) {
    const { status, body } = await get(port, path, 5000).catch((e) => ({ status: e.message, body: Buffer.alloc(0) }));
    if (status !== 200 || body.length !== bytes) problems.push(`GET ${path}: ${status}, ${body.length} bytes`);
  }
  const status = await post(port, "/upload", 1024 * 1024).catch((e) => e.message);
  if (status !== 200) problems.push(`POST /upload (1 MiB): ${status}`);
  return problems;
}

async function startTarget(ctx, target) {
  const { port, proc, ports = {} } = await target.start(ctx);
  if (proc) started.add(proc);
  try {
    await waitReady(port, "/64", 64, proc);
  } catch (error) {
    await proc?.stop();
    if (proc) started.delete(proc);
    throw error;
  }
  return { port, proc, ports };
}

async function stopTarget(proc) {
  if (!proc) return;
  await proc.stop();
  started.delete(proc);
}

/**
 * The latency target's own pass, in rounds like the rest (see measureRound). The fastest
 * polyvoy (by its median on small GETs at 64 connections, so that scenario is needed)
 * first measures its maximum again, on a fresh process, right before the round: half of
 * that is the round's rate, so the rate is half of what it can do in that minute, not of
 * a median from earlier in the run (a machine that slowed down since would make "half"
 * 65 % of what it can do then). It is measured at that rate on the same process, then
 * direct (the "added" latency is over it), the other polyvoys and nginx at the same rate,
 * each on a fresh process warmed at full speed first. Returns the rounds' rates and
 * whose maximum they halve.
 */
async function measureLatencyAtHalf(ctx, targets, results, notes) {
  if (!settings.scenarios.has("latency-half")) return undefined;
  const polyvoys = targets.filter((t) => t.kind === "polyvoy" && !results[t.id]?.skipped && !results[t.id]?.error);
  const medianOf = (t) => median(results[t.id]?.scenarios?.["get-64c"]?.samples?.map((s) => s.value) ?? []);
  const fastest = polyvoys.filter((t) => medianOf(t) > 0).sort((a, b) => medianOf(b) - medianOf(a))[0];
  if (!fastest) {
    notes.push("latency at half of polyvoy's max rate: not measured (needs the get-64c scenario of at least one polyvoy)");
    return undefined;
  }
  const others = targets.filter((t) => t !== fastest && (t.kind === "direct" || t.kind === "polyvoy" || t.id === "nginx"));
  const rates = [];
  for (let round = 1; round <= settings.latencyRounds; round++) {
    log(`== latency at half of polyvoy's max rate, round ${round} of ${settings.latencyRounds}`);
    let rate = 0;
    let fastestProc = null;
    try {
      const started = await startTarget(ctx, fastest);
      fastestProc = started.proc;
      // Its maximum now: the throughput scenario's warm-up and one run, on this process.
      const max = (await measureThroughput(ctx, started.port, () => {}, 1, "get-64c"))["get-64c"];
      if (!max || max.error) throw new Error(max?.error ?? "its small-GET run was not measured");
      rate = Math.max(1, Math.round(max.samples[0].rps / 2));
      rates.push(rate);
      log(`  ${fastest.label}: ${fmt(max.samples[0].rps)} req/s on small GETs just now, so this round runs at ${rate} req/s`);
      await sleep(settings.pauseMs);
      addRound(results[fastest.id].scenarios, await measureLatency(ctx, started.port, log, "latency-half", rate, 1));
    } catch (error) {
      addRound(results[fastest.id].scenarios, { "latency-half": { error: error.message } });
      log(`  ${fastest.label} failed: ${error.message}`);
    } finally {
      await stopTarget(fastestProc);
    }
    if (!rate) continue;
    for (const target of others) {
      const entry = results[target.id];
      if (!entry || entry.skipped || entry.error) continue;
      let proc = null;
      try {
        const started = await startTarget(ctx, target);
        proc = started.proc;
        log(`  ${target.label}`);
        // A fresh process: warm its JIT at full speed first, or a cold one queues up at
        // this rate and an open-loop client counts the backlog for the whole run.
        await throughputRun(ctx, { port: started.port, path: "/64", connections: 64, seconds: settings.mode === "quick" ? 1 : Math.max(2, settings.warmupSeconds) });
        await sleep(settings.pauseMs);
        addRound(entry.scenarios, await measureLatency(ctx, started.port, log, "latency-half", rate, 1));
      } catch (error) {
        addRound(entry.scenarios, { "latency-half": { error: error.message } });
      } finally {
        await stopTarget(proc);
      }
    }
  }
  return rates.length ? { rates, fastest: fastest.label } : undefined;
}

/** Add one round's measurements to a target's: samples accumulate; an error in any round stands. */
function addRound(scenarios, measured) {
  for (const [id, got] of Object.entries(measured)) {
    const have = scenarios[id];
    if (got.error) scenarios[id] = { ...have, error: got.error };
    else if (!have) scenarios[id] = got;
    else have.samples?.push(...got.samples);
  }
}

/**
 * One round of one target's idle memory, on a fresh process of its own: 10,000
 * connections leave a runtime's heap sized for them (V8 grows its young generation for
 * the burst and keeps it), which changed the throughput measured after them on the same
 * process (node ~25 % faster, bun ~10 % slower), so the load is measured on another.
 */
async function measureIdleRound(ctx, target, entry, round, notes) {
  if (!settings.scenarios.has("idle-memory") || target.kind === "direct") return;
  const idleLimit = target.idleLimit?.(ctx) ?? Infinity;
  if (round === 1 && idleLimit < settings.idleConnections)
    notes.push(`${target.label}: idle memory measured at ${idleLimit.toLocaleString("en-US")} connections, not ${settings.idleConnections.toLocaleString("en-US")}: ${target.idleLimitWhy} (${ctx.nofile.toLocaleString("en-US")} here)`);
  let proc = null;
  try {
    const started = await startTarget(ctx, target);
    proc = started.proc;
    log(`  ${target.label}`);
    const sample = await measureIdleMemory(ctx, started.port, proc.pid, log, idleLimit, target.kind !== "native").catch((e) => ({ error: e.message }));
    if (sample.error) log(`  idle-mem   failed: ${sample.error}`);
    (entry.memory ??= []).push(sample);
  } catch (error) {
    entry.error = error.message;
    notes.push(`${target.label}: failed — ${error.message.split("\n")[0]}`);
    log(`  failed: ${error.message}`);
  } finally {
    await stopTarget(proc);
  }
}

/**
 * One round of the load scenarios (throughput, then fixed-rate latency) for every
 * target, scenario by scenario: each target runs on a fresh process started for the
 * round, and is stopped in place (SIGSTOP) while the others are measured. So all
 * targets' runs of one scenario come from the same minute or two. This VM's speed
 * drifts by ±30 % within a minute (nginx alone: 46,000-66,000 req/s in consecutive
 * 3-second windows); measured target after target, each target's six scenarios took
 * 45 s and a round 7 minutes, and the drift went into the ratios between targets.
 * The order of the targets rotates from round to round.
 */
async function measureLoadRound(ctx, targets, results, round, notes) {
  const wantsLoad = [...settings.scenarios].some((id) => id !== "idle-memory" && id !== "latency-half" && id !== "startup");
  if (!wantsLoad) return;
  const shift = (round - 1) % Math.max(1, targets.length);
  const order = [...targets.slice(shift), ...targets.slice(0, shift)];
  const running = [];
  try {
    for (const target of order) {
      const entry = results[target.id];
      if (entry.error) continue;
      try {
        const started = await startTarget(ctx, target);
        running.push({ target, entry, ...started });
        if (round === 1) {
          const problems = await sanityCheck(started.port);
          if (problems.length) {
            notes.push(`${target.label}: failed the pass-through check before timing: ${problems.join("; ")}`);
            log(`  ${target.label}: sanity check: ${problems.join("; ")}`);
          }
        }
        started.proc?.pause();
      } catch (error) {
        entry.error = error.message;
        notes.push(`${target.label}: failed — ${error.message.split("\n")[0]}`);
        log(`  ${target.label}: failed: ${error.message}`);
      }
    }
    const scenarioIds = [...THROUGHPUT.map((s) => s.id), "latency"].filter((id) => settings.scenarios.has(id));
    for (const id of scenarioIds) {
      log(`-- ${id}`);
      for (const { target, entry, port, proc, ports } of running) {
        proc?.resume();
        const measured =
          id === "latency"
            ? await measureLatency(ctx, port, log, "latency", settings.rate, 1, target.label)
            : await measureThroughput(ctx, port, log, 1, id, target.label, proc?.pid, ports);
        addRound(entry.scenarios, measured);
        proc?.pause();
      }
    }
  } finally {
    for (const { proc } of running) await stopTarget(proc);
  }
}

function median(values) {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[(sorted.length - 1) >> 1];
}

async function main() {
  const cpu = cpuPlan();
  const tools = loadTools();
  const nofile = nofileHardLimit();
  const notes = [];
  if (!cpu.pinned) notes.push(cpu.note);
  const idleMax = nofile - 500; // the proxy holds N client sockets plus its upstream pool
  if (settings.idleConnections > idleMax) {
    notes.push(`idle memory measured at ${idleMax} connections, not ${settings.idleConnections}: the open-files hard limit is ${nofile}`);
    settings.idleConnections = idleMax;
  }
  const workDir = mkdtempSync(join(tmpdir(), "polyvoy-bench-"));
  const ctx = { settings, cpu, tools, nofile, workDir, origin: null, grpcOrigin: null, postgresOrigin: null, kafkaOrigin: null, tcpEchoOrigin: null, extProcProcessor: null, peerDepsNote: null, certificate: null };
  // The TLS scenarios' certificate (one, self-signed, for polyvoy and nginx alike), minted now.
  if (["https-get", "https-churn", "h2-tls-get"].some((id) => settings.scenarios.has(id))) ctx.certificate = mintBenchCertificate(workDir);
  if (PROTOCOL_SCENARIOS.some((id) => settings.scenarios.has(id)) && !tools.h2load) notes.push("h2load not found (apt-get install nghttp2-client): the HTTP/2 scenarios are not measured");

  // Opt-in targets (polyvoy with a TypeScript filter) run only when --only names them.
  const targets = TARGETS.filter((t) => (settings.only ? settings.only.has(t.id) : !t.optIn));
  if (targets.some((t) => t.kind === "js" && (t.runtime === "node"))) ctx.peerDepsNote = await ensurePeerDeps(log);

  const date = new Date().toISOString().slice(0, 10);
  const outDir = resolve(settings.out ?? join(BENCH, "results", `${date}-${settings.mode}`));
  mkdirSync(outDir, { recursive: true });

  log(`polyvoy bench (${settings.mode}): ${targets.length} targets; proxy on core ${cpu.proxy ?? "any"}, load and origin on core ${cpu.load ?? "any"}; open-files limit ${nofile}`);
  if (!tools.wrk) notes.push("wrk not found (apt-get install wrk): throughput measured with the bench's node client, which cannot keep up with the fastest proxies");

  ctx.origin = await startOrigin(ctx);
  started.add(ctx.origin.proc);
  if (ctx.origin.kind !== "nginx") notes.push("nginx not found: the origin is the Bun.serve fallback (bench/peers/bun-origin.ts), slower than nginx; compare only within this run");
  log(`origin: ${ctx.origin.kind} on 127.0.0.1:${ctx.origin.port}`);
  if (settings.scenarios.has("grpc-unary")) {
    try {
      ctx.grpcOrigin = await startGrpcOrigin(ctx);
      started.add(ctx.grpcOrigin.proc);
      log(`gRPC origin: @grpc/grpc-js on 127.0.0.1:${ctx.grpcOrigin.port}`);
    } catch (error) {
      notes.push(`grpc-unary: not measured — ${error.message.split("\n")[0]}`);
    }
  }

  if (settings.scenarios.has("ext-proc-duplex")) {
    try {
      ctx.extProcProcessor = await startExtProcProcessor(ctx);
      started.add(ctx.extProcProcessor.proc);
      log(`ext_proc processor: bench/peers/ext-proc-processor.mjs on 127.0.0.1:${ctx.extProcProcessor.port}`);
    } catch (error) {
      notes.push(`ext-proc-duplex: not measured — ${error.message.split("\n")[0]}`);
    }
  }

  if (settings.scenarios.has("postgres") || settings.scenarios.has("postgres-filter")) {
    try {
      ctx.postgresOrigin = await startPostgresOrigin(ctx);
      started.add(ctx.postgresOrigin.proc);
      log(`PostgreSQL origin: bench/peers/postgres-origin.mjs on 127.0.0.1:${ctx.postgresOrigin.port}`);
    } catch (error) {
      notes.push(`postgres, postgres-filter: not measured — ${error.message.split("\n")[0]}`);
    }
  }

  if (settings.scenarios.has("kafka") || settings.scenarios.has("kafka-filter")) {
    try {
      ctx.kafkaOrigin = await startKafkaOrigin(ctx);
      started.add(ctx.kafkaOrigin.proc);
      log(`Kafka origin: bench/peers/kafka-origin.mjs on 127.0.0.1:${ctx.kafkaOrigin.port}`);
    } catch (error) {
      notes.push(`kafka, kafka-filter: not measured — ${error.message.split("\n")[0]}`);
    }
  }

  const tcpScenarios = THROUGHPUT.filter((s) => s.tcp && settings.scenarios.has(s.id)).map((s) => s.id);
  if (tcpScenarios.length) {
    try {
      ctx.tcpEchoOrigin = await startTcpEchoOrigin(ctx);
      started.add(ctx.tcpEchoOrigin.proc);
      log(`TCP echo origin: bench/peers/tcp-echo-origin.mjs on 127.0.0.1:${ctx.tcpEchoOrigin.port}`);
    } catch (error) {
      notes.push(`${tcpScenarios.join(", ")}: not measured — ${error.message.split("\n")[0]}`);
    }
  }

  // Rounds: each round measures every target once, on fresh processes (idle memory target
  // after target, then the load scenarios scenario by scenario: measureLoadRound), so
  // every target's n-th run of a scenario comes from the same minute or two. This VM's
  // speed drifts by ±30 % within a minute; measuring one target's runs back to back
  // would put the drift into the ratios between targets.
  // Start-up and footprint first, before the origin and the load keep the cores busy.
  let startup;
  if (settings.scenarios.has("startup")) {
    log("== start-up and footprint (bare runtime / polyvoy from the sources / from the package)");
    const runtimes = ["node", "bun", "deno"].filter((runtime) => !settings.only || settings.only.has(`polyvoy-${runtime}`));
    startup = await measureStartup(ctx, log, runtimes).catch((error) => {
      notes.push(`start-up and footprint: not measured — ${error.message.split("\n")[0]}`);
      return { error: error.message.split("\n")[0] };
    });
  }

  const results = {};
  const measured = [];
  for (const target of targets) {
    const unavailable = target.available(ctx);
    if (unavailable) {
      results[target.id] = { skipped: unavailable };
      notes.push(`${target.label}: skipped — ${unavailable}`);
      log(`== ${target.label}: skipped (${unavailable})`);
      continue;
    }
    results[target.id] = { scenarios: {} };
    measured.push(target);
  }
  for (let round = 1; round <= settings.runs; round++) {
    log(`== round ${round} of ${settings.runs}`);
    const roundStart = Date.now();
    if (settings.scenarios.has("idle-memory")) log("-- idle-memory");
    for (const target of measured) if (!results[target.id].error) await measureIdleRound(ctx, target, results[target.id], round, notes);
    await measureLoadRound(ctx, measured, results, round, notes);
    log(`  (round ${round}: ${((Date.now() - roundStart) / 1000).toFixed(0)} s)`);
  }
  for (const target of measured) {
    const entry = results[target.id];
    const memory = entry.memory;
    delete entry.memory;
    if (!memory) continue;
    const ok = memory.filter((m) => !m.error);
    entry.scenarios["idle-memory"] = ok.length ? { samples: ok } : { error: memory[0].error };
  }
  const halfRate = await measureLatencyAtHalf(ctx, targets, results, notes);
  await stopAll();

  // Code only: an edited README under runtimes/ does not change what was measured.
  const dirty = spawnSync("git", ["-C", ROOT, "status", "--porcelain", "--", "core/*.ts", "runtimes/*.ts"], { encoding: "utf8" }).stdout?.trim();
  const meta = {
    date,
    mode: settings.mode,
    machine: machineInfo(),
    versions: { ...versions(ctx), dirty: Boolean(dirty) },
    placement: cpu.pinned
      ? "each proxy pinned to core 0 (`taskset -c 0`, all its threads); the load generator and the origin share core 1"
      : cpu.note,
    origin:
      ctx.origin.kind === "nginx"
        ? "nginx, one worker (`master_process off`), fixed bodies of 64 B, 16 KiB and 1 MiB from files, uploads read whole before the 64-byte answer"
        : "Bun.serve (fallback: nginx not installed), the same fixed bodies",
    load: tools.wrk
      ? `wrk ${versions(ctx).wrk ?? ""} (Debian), one thread (\`wrk -t1\`), for the throughput scenarios; the bench's own node open-loop client (bench/load/http-client.mjs) for fixed-rate latency, as Debian's wrk has no fixed-rate mode`
      : "the bench's node client (bench/load/http-client.mjs) for everything (wrk not installed)",
    settings: { ...settings, scenarios: [...settings.scenarios], only: settings.only ? [...settings.only] : null },
    halfRate: halfRate ?? null, // { rates: one per round, fastest: whose maximum they halve }
    seconds: Math.round((Date.now() - t0) / 1000),
    // other work on the machine skews everything: the 1-minute load average before and after
    loadavg: { before: +loadBefore[0].toFixed(2), max: +Math.max(loadMax, os.loadavg()[0]).toFixed(2), after: +os.loadavg()[0].toFixed(2) },
  };
  const targetList = targets.map(({ id, label, kind, runtime }) => ({ id, label, kind, runtime }));
  const table = aggregate(results, targetList);
  const readOnly = targetList.filter((t) => {
    const cell = table.churn?.[t.id];
    return cell?.errors > 0 && Object.keys(cell.errorTypes ?? {}).every((kind) => kind === "read");
  });
  if (readOnly.length)
    notes.push(
      `churn: ${readOnly.map((t) => t.label).join(", ")} answered but then closed connections without saying \`Connection: close\` in the response, so wrk found them closed when it sent the next request (a "read" error) and reconnected. req/s counts complete non-error responses only.`,
    );
  const doc = { meta, targets: targetList, table, notes, results, startup: startup ?? null };
  const markdown = renderMarkdown(doc) + renderStartup(doc.startup);
  writeFileSync(join(outDir, "results.json"), JSON.stringify(doc, null, 2) + "\n");
  writeFileSync(join(outDir, "results.md"), markdown + "\n");
  writeFileSync(join(outDir, "chart.svg"), renderChart(doc));
  rmSync(workDir, { recursive: true, force: true });

  log("");
  log(markdown);
  log(`results: ${outDir}/{results.md,results.json,chart.svg} (${meta.seconds} s)`);

  // No thresholds (machines are noisy), but a polyvoy that could not be measured at all fails the run.
  const broken = targetList
    .filter((t) => t.kind === "polyvoy" && results[t.id] && !results[t.id].skipped)
    .filter((t) => results[t.id].error || Object.values(results[t.id].scenarios ?? {}).some((entry) => entry.error));
  if (broken.length) {
    log(`bench: could not measure ${broken.map((t) => t.label).join(", ")} (see above)`);
    process.exitCode = 1;
  }
}

main().catch(async (error) => {
  console.error(`bench failed: ${error.stack ?? error}`);
  await stopAll();
  process.exit(1);
});
