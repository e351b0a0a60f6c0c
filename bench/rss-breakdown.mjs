#!/usr/bin/env node
// `node bench/rss-breakdown.mjs --targets polyvoy-node-package,node-http-proxy`: where a
// target's RSS goes from idle to the bench's small-GET load (get-64c: wrk, 64 keep-alive
// connections, 64-byte responses from the nginx origin). For each target, fresh: its RSS by
// kind (/proc/PID/smaps: the executable's file pages, libraries, the brk heap, other
// anonymous memory) idle and at the sample of peak RSS under load, the runtime's own view
// (bench/lib/mem-probe.mjs, preloaded: V8's heap spaces or JSC's heap, external memory and
// ArrayBuffers, GC counts on node), and the anonymous mappings that grew most. Polyvoy runs
// from the package (bin/polyvoy.js; `npm run build` first, or --no-build).
//
//   --targets a,b      polyvoy-{node,bun,deno}-package, node-http-proxy, bun-fetch, deno-fetch
//   --seconds S        load seconds (default 10), sampled every 0.3 s
//   --args JSON        extra runtime flags for the polyvoy targets (e.g. '["--max-semi-space-size=4"]')
//   --env JSON         extra environment for the polyvoy targets
//   --before DIR       also polyvoy from DIR/bin/polyvoy.js (a copy of bin/, dist/ and package.json
//                      of another build) as target "<id>@before", alternating with this tree's
//   --no-probe         no preloaded probe (its own cost is a few hundred KiB)
//   --rounds N         (default 1)
import { join } from "node:path";
import { writeFileSync, mkdtempSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import os from "node:os";
import { loadTools, throughputRun } from "./lib/load.mjs";
import { startOrigin } from "./lib/origin.mjs";
import { BENCH, BIN, Proc, processCounters, ROOT, cpuPlan, nofileHardLimit, run, waitReady, wrapped, freePort, sleep, treeRssBytes } from "./lib/system.mjs";
import { polyvoyConfig } from "./lib/targets.mjs";
import { readSmaps, classify, anonRegions } from "./lib/smaps.mjs";

const o = { targets: ["polyvoy-node-package", "node-http-proxy"], seconds: 10, args: [], env: {}, probe: true, build: true, rounds: 1, before: null };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const value = () => argv[++i];
  switch (argv[i]) {
    case "--targets":
      o.targets = value().split(",");
      break;
    case "--seconds":
      o.seconds = Number(value());
      break;
    case "--args":
      o.args = JSON.parse(value());
      break;
    case "--env":
      o.env = JSON.parse(value());
      break;
    case "--before":
      o.before = value();
      break;
    case "--no-probe":
      o.probe = false;
      break;
    case "--no-build":
      o.build = false;
      break;
    case "--rounds":
      o.rounds = Number(value());
      break;
    default:
      throw new Error(`unknown option ${argv[i]}`);
  }
}

const PEERS = join(BENCH, "peers");
const PROBE = join(BENCH, "lib/mem-probe.mjs");
const RUNTIME = { node: [process.execPath, []], bun: [join(BIN, "bun"), []], deno: [join(BIN, "deno"), ["run", "-A"]] };
const PRELOAD = { node: "--import", bun: "--preload", deno: "--preload" };
const PEER = { "node-http-proxy": ["node", "node-http-proxy.mjs"], "bun-fetch": ["bun", "bun-fetch.ts"], "deno-fetch": ["deno", "deno-fetch.ts"] };

const workDir = mkdtempSync(join(tmpdir(), "polyvoy-rss-breakdown-"));
const ctx = { settings: {}, cpu: cpuPlan(), tools: loadTools(), nofile: nofileHardLimit(), workDir, origin: null };
const MiB = (kib) => (kib / 1024).toFixed(1);
const started = new Set();

async function startTarget(id) {
  const port = await freePort();
  const probeFile = join(workDir, `${id}.probe.json`);
  const pkg = /^polyvoy-(node|bun|deno)-package(@before)?$/.exec(id);
  const runtime = pkg ? pkg[1] : PEER[id]?.[0];
  if (!runtime) throw new Error(`unknown target ${id}`);
  const [cmd, pre] = RUNTIME[runtime];
  const probe = o.probe ? [`${PRELOAD[runtime]}=${PROBE}`] : [];
  let args;
  let env = { ...process.env, POLYVOY_MEM_PROBE: probeFile };
  if (pkg) {
    const config = join(workDir, `${id}.json`);
    writeFileSync(config, JSON.stringify(polyvoyConfig(port, ctx.origin.port)));
    // one worker, in this process, as the peers run (the default is one per hardware thread)
    args = [...pre, ...probe, ...o.args, join(pkg[2] ? o.before : ROOT, "bin/polyvoy.js"), "-c", config, "--concurrency", "1"];
    env = { ...env, ...o.env };
  } else args = [...pre, ...probe, join(PEERS, PEER[id][1]), String(port), String(ctx.origin.port)];
  const proc = new Proc(id, wrapped(ctx.cpu.proxy, cmd, args, ctx.nofile), { env });
  started.add(proc);
  await waitReady(port, "/64", 64, proc);
  return { port, proc, probeFile };
}

const readProbe = (file) => {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return null;
  }
};

function snapshot(proc, probeFile) {
  const maps = readSmaps(proc.pid);
  return { kinds: classify(proc.pid, maps), regions: anonRegions(maps), probe: readProbe(probeFile), treeKiB: treeRssBytes(proc.pid) / 1024 };
}

function probeLine(p) {
  if (!p) return "no probe";
  const m = p.memory;
  const b = (x) => (x / 1048576).toFixed(1);
  let s = `rss ${b(m.rss)} heapTotal ${b(m.heapTotal)} heapUsed ${b(m.heapUsed)} external ${b(m.external)} arrayBuffers ${b(m.arrayBuffers)}`;
  if (p.spaces) s += ` | ${Object.entries(p.spaces).filter(([, v]) => v.size > 0).map(([k, v]) => `${k.replace("_space", "")} ${b(v.size)}/${b(v.physical)}`).join(" ")}`;
  if (p.jsc) s += ` | jsc heap ${b(p.jsc.heapSize)} capacity ${b(p.jsc.heapCapacity)} extra ${b(p.jsc.extraMemorySize)} objects ${p.jsc.objectCount}`;
  if (p.gc && (p.gc.scavenge || p.gc.markSweep)) s += ` | gc scavenge ${p.gc.scavenge} mark-sweep ${p.gc.markSweep}`;
  return s;
}

async function measure(id) {
  const { port, proc, probeFile } = await startTarget(id);
  try {
    await sleep(1500);
    const idle = snapshot(proc, probeFile);
    let peak = idle;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const s = snapshot(proc, probeFile);
        if (s.kinds.total > peak.kinds.total) peak = s;
        await sleep(300);
      }
    })();
    const cpuBefore = processCounters(proc.pid);
    const result = await throughputRun(ctx, { port, path: "/64", connections: 64, seconds: o.seconds });
    const cpuAfter = processCounters(proc.pid);
    sampling = false;
    await sampler;
    await sleep(300);
    const end = snapshot(proc, probeFile);
    const rps = Math.round(result.requests / (result.duration_us / 1e6));
    // CPU per request (the proxy's user + system time over the load): far less sensitive to a
    // loaded machine than req/s, for an A/B of flags that trade memory for work (young generation caps)
    const cpuUsPerRequest = cpuBefore && cpuAfter ? (cpuAfter.cpuUs - cpuBefore.cpuUs) / result.requests : NaN;
    console.log(`\n## ${id}: ${rps} req/s, ${result.requests} requests, ${cpuUsPerRequest.toFixed(1)} µs CPU/request`);
    console.log(`| kind | idle MiB | peak MiB | Δ | end MiB |`);
    console.log(`| --- | --- | --- | --- | --- |`);
    for (const k of ["total", "exe", "libs", "files", "heap", "stack", "anon"]) console.log(`| ${k} | ${MiB(idle.kinds[k])} | ${MiB(peak.kinds[k])} | ${MiB(peak.kinds[k] - idle.kinds[k])} | ${MiB(end.kinds[k])} |`);
    console.log(`process tree RSS idle ${MiB(idle.treeKiB)} peak-sample ${MiB(peak.treeKiB)} MiB`);
    console.log(`idle: ${probeLine(idle.probe)}`);
    console.log(`peak: ${probeLine(peak.probe)}`);
    console.log(`end:  ${probeLine(end.probe)}`);
    const grew = [];
    for (const [start, r] of peak.regions) {
      const before = idle.regions.get(start)?.rssKiB ?? 0;
      if (r.rssKiB - before >= 256) grew.push({ start, ...r, before });
    }
    grew.sort((a, b) => b.rssKiB - b.before - (a.rssKiB - a.before));
    const fresh = [...peak.regions.keys()].filter((k) => !idle.regions.has(k)).length;
    console.log(`anonymous mappings grown ≥ 256 KiB (of ${peak.regions.size}; ${fresh} new since idle):`);
    for (const r of grew.slice(0, 12)) console.log(`  ${r.start.toString(16)} size ${MiB(r.sizeKiB)} MiB ${r.perms} ${r.path}: ${MiB(r.before)} → ${MiB(r.rssKiB)}`);
    return { id, idle: idle.kinds.total, peak: peak.kinds.total, rps, cpuUsPerRequest };
  } finally {
    await proc.stop();
    started.delete(proc);
  }
}

async function main() {
  if (o.build && o.targets.some((t) => t.endsWith("-package"))) {
    const built = await run(["npm", ["run", "--silent", "build"]], { timeoutMs: 600_000 });
    if (built.code !== 0) throw new Error(`npm run build failed:\n${built.stderr.slice(-2000)}`);
  }
  ctx.origin = await startOrigin(ctx);
  started.add(ctx.origin.proc);
  console.log(`load average ${os.loadavg()[0].toFixed(1)}; polyvoy args ${JSON.stringify(o.args)} env ${JSON.stringify(o.env)}`);
  const all = [];
  const ids = o.targets.flatMap((id) => (o.before && id.endsWith("-package") ? [`${id}@before`, id] : [id]));
  for (let round = 1; round <= o.rounds; round++) {
    // the order rotates from round to round
    const shift = (round - 1) % ids.length;
    for (const id of [...ids.slice(shift), ...ids.slice(0, shift)]) all.push(await measure(id));
  }
  console.log(`\nsummary (MiB, smaps total): ${all.map((r) => `${r.id} ${MiB(r.idle)} → ${MiB(r.peak)} (${r.rps} req/s, ${r.cpuUsPerRequest.toFixed(1)} µs CPU/request)`).join("; ")}; load average ${os.loadavg()[0].toFixed(1)}`);
}

try {
  await main();
} finally {
  for (const proc of started) await proc.stop();
  rmSync(workDir, { recursive: true, force: true });
}
