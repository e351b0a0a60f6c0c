// Workers: small GETs through polyvoy with --concurrency 1 and 2 on each runtime, and
// nginx with 1 and 2 worker processes, side by side in one run (docs/performance.md,
// Workers). Nothing is pinned: the proxy's workers, the nginx origin and wrk share every
// core of the machine, as they would on a small host; the figures say how a second
// worker helps when the load generator competes for the same cores, not what a
// dedicated machine would do.
//
//   node bench/workers.mjs [--seconds S] [--runs N] [--connections C] [--runtimes node,bun,deno]
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startOrigin } from "./lib/origin.mjs";
import { loadTools, throughputRun } from "./lib/load.mjs";
import { BIN, Proc, ROOT, freePort, machineInfo, nofileHardLimit, sleep, waitReady, which, wrapped } from "./lib/system.mjs";
import { nginxPeerConfig, polyvoyConfig } from "./lib/targets.mjs";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    runs: { type: "string", default: "3" },
    connections: { type: "string", default: "64" },
    runtimes: { type: "string", default: "node,bun,deno" },
  },
});
const seconds = Number(values.seconds);
const runs = Number(values.runs);
const connections = Number(values.connections);

const workDir = mkdtempSync(join(tmpdir(), "polyvoy-bench-workers-"));
const nofile = Math.min(nofileHardLimit(), 65536);
const ctx = { workDir, nofile, cpu: { proxy: null, load: null }, tools: loadTools() };

const ENTRY = {
  node: [process.execPath, ["--import", "tsx", join(ROOT, "runtimes/node/main.ts")]],
  bun: [join(BIN, "bun"), [join(ROOT, "runtimes/bun/main.ts")]],
  deno: [join(BIN, "deno"), ["run", "-A", join(ROOT, "runtimes/deno/main.ts")]],
};

async function startPolyvoy(runtime, concurrency, originPort) {
  const port = await freePort();
  const config = join(workDir, `polyvoy-${runtime}-${concurrency}.json`);
  writeFileSync(config, JSON.stringify(polyvoyConfig(port, originPort)));
  const [cmd, args] = ENTRY[runtime];
  const proc = new Proc(`polyvoy on ${runtime} --concurrency ${concurrency}`, wrapped(null, cmd, [...args, "-c", config, "--concurrency", String(concurrency)], nofile));
  await waitReady(port, "/64", 64, proc, 120_000);
  // Every worker up before the load starts (the first one answers while the others load).
  for (let waited = 0; concurrency > 1 && !proc.output.includes(`all ${concurrency} workers started`); waited += 100) {
    if (waited > 120_000) throw new Error(`${proc.label}: workers did not start:\n${proc.output.slice(-2000)}`);
    await sleep(100);
  }
  return { port, proc };
}

async function startNginx(workers, originPort) {
  const port = await freePort();
  const conf = join(workDir, `nginx-${workers}.conf`);
  // The bench's nginx peer, with a master process and `workers` worker processes.
  const text = nginxPeerConfig(workDir, port, originPort, nofile)
    .replace("master_process off;", "master_process on;")
    .replace("worker_processes 1;", `worker_processes ${workers};`)
    .replace(/pid (\S+)\/peer\.pid;/, `pid $1/peer-${workers}.pid;`);
  writeFileSync(conf, text);
  const proc = new Proc(`nginx, ${workers} workers`, wrapped(null, which("nginx"), ["-c", conf, "-p", workDir], nofile));
  await waitReady(port, "/64", 64, proc);
  return { port, proc };
}

async function measure(label, start) {
  const { port, proc } = await start();
  try {
    await throughputRun(ctx, { port, path: "/64", connections, seconds: 1 }); // warm-up
    const rates = [];
    for (let i = 0; i < runs; i++) {
      const result = await throughputRun(ctx, { port, path: "/64", connections, seconds });
      rates.push(result.requests / (result.duration_us / 1e6));
      if (Object.values(result.errors ?? {}).some((n) => n > 0)) process.stderr.write(`${label}: ${JSON.stringify(result.errors)}\n`);
    }
    rates.sort((a, b) => a - b);
    const median = rates[Math.floor(rates.length / 2)];
    process.stderr.write(`${label}: ${Math.round(median)} req/s (runs: ${rates.map(Math.round).join(", ")})\n`);
    return median;
  } finally {
    await proc.stop();
  }
}

const origin = await startOrigin(ctx);
const rows = [];
try {
  for (const runtime of values.runtimes.split(",")) {
    const one = await measure(`polyvoy on ${runtime}, --concurrency 1`, () => startPolyvoy(runtime, 1, origin.port));
    const two = await measure(`polyvoy on ${runtime}, --concurrency 2`, () => startPolyvoy(runtime, 2, origin.port));
    rows.push([`polyvoy on ${runtime}`, one, two]);
  }
  if (which("nginx")) {
    const one = await measure("nginx, 1 worker", () => startNginx(1, origin.port));
    const two = await measure("nginx, 2 workers", () => startNginx(2, origin.port));
    rows.push(["nginx", one, two]);
  }
} finally {
  await origin.proc.stop();
}

const machine = machineInfo();
console.log(`\nGET /64, ${connections} keep-alive connections, wrk -t1, ${runs} × ${seconds} s (median); ${machine.cpu}, ${machine.cores} cores, nothing pinned\n`);
console.log("| proxy | 1 worker (req/s) | 2 workers (req/s) | 2 ÷ 1 |");
console.log("|---|---:|---:|---:|");
for (const [label, one, two] of rows) console.log(`| ${label} | ${Math.round(one)} | ${Math.round(two)} | ${(two / one).toFixed(2)} |`);
