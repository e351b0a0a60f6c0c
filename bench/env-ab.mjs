#!/usr/bin/env node
// `node bench/env-ab.mjs --runtime node --variant '{"name":"B","env":{"GLIBC_TUNABLES":"…"}}'`:
// polyvoy from the package (bin/polyvoy.js, built by `npm run build` first) on one runtime
// under two or more variants of its environment or runtime flags, in one run: each round
// starts every variant on a fresh process (the order rotating from round to round) and
// measures the chosen throughput scenarios on it, with the RSS of its process tree under
// the small-GET load (scenarios.mjs). For changes to memory (RSS is far less noisy than
// req/s on a shared machine), with the large-body scenarios as the check that throughput
// did not fall. The variant "base" (no change) is always measured.
//
//   --runtime node|bun|deno   (default node)
//   --variant JSON            {"name", "env": {…}, "args": [runtime flags before the script],
//                             "root": a copy of another build's bin/, dist/ and package.json}; repeatable
//   --scenarios a,b           throughput scenarios (default get-64c,body-1m,upload-1m; postgres and
//                             postgres-filter add the PostgreSQL origin and listeners, kafka and
//                             kafka-filter the Kafka ones)
//   --rounds N --seconds S --warmup S   (default 3, 5, 2)
//   --no-build                (dist/ is already built from this tree)
import { join } from "node:path";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import os from "node:os";
import { loadTools } from "./lib/load.mjs";
import { startKafkaOrigin, startOrigin, startPostgresOrigin } from "./lib/origin.mjs";
import { THROUGHPUT, fmt, measureThroughput } from "./lib/scenarios.mjs";
import { BIN, Proc, ROOT, cpuPlan, nofileHardLimit, run, waitReady, wrapped, freePort } from "./lib/system.mjs";
import { polyvoyConfig, withKafkaListeners, withPostgresListeners } from "./lib/targets.mjs";
import { median } from "./lib/report.mjs";

function parse(argv) {
  const o = { build: true, runtime: "node", variants: [{ name: "base", env: {}, args: [], root: ROOT }], scenarios: ["get-64c", "body-1m", "upload-1m"], rounds: 3, seconds: 5, warmup: 2 };
  for (let i = 0; i < argv.length; i++) {
    const value = () => argv[++i];
    switch (argv[i]) {
      case "--runtime":
        o.runtime = value();
        break;
      case "--variant": {
        const v = JSON.parse(value());
        if (!v.name) throw new Error("--variant needs a name");
        o.variants.push({ name: v.name, env: v.env ?? {}, args: v.args ?? [], root: v.root ?? ROOT });
        break;
      }
      case "--scenarios":
        o.scenarios = value().split(",");
        break;
      case "--rounds":
        o.rounds = Number(value());
        break;
      case "--seconds":
        o.seconds = Number(value());
        break;
      case "--no-build":
        o.build = false;
        break;
      case "--warmup":
        o.warmup = Number(value());
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  for (const id of o.scenarios) if (!THROUGHPUT.some((s) => s.id === id)) throw new Error(`unknown scenario ${id}`);
  return o;
}

const o = parse(process.argv.slice(2));
const log = (line) => console.log(line);
const settings = { runs: 1, seconds: o.seconds, warmupSeconds: o.warmup, pauseMs: 300, scenarios: new Set(o.scenarios) };
const started = new Set();
const workDir = mkdtempSync(join(tmpdir(), "polyvoy-env-ab-"));
const ctx = { settings, cpu: cpuPlan(), tools: loadTools(), nofile: nofileHardLimit(), workDir, origin: null, postgresOrigin: null, kafkaOrigin: null };
const loadBefore = os.loadavg()[0];

async function main() {
  const built = o.build ? await run(["npm", ["run", "--silent", "build"]], { timeoutMs: 600_000 }) : { code: 0 };
  if (built.code !== 0) throw new Error(`npm run build failed:\n${built.stderr.slice(-2000)}`);
  ctx.origin = await startOrigin(ctx);
  started.add(ctx.origin.proc);
  if (o.scenarios.some((id) => id.startsWith("postgres"))) {
    ctx.postgresOrigin = await startPostgresOrigin(ctx);
    started.add(ctx.postgresOrigin.proc);
  }
  if (o.scenarios.some((id) => id.startsWith("kafka"))) {
    ctx.kafkaOrigin = await startKafkaOrigin(ctx);
    started.add(ctx.kafkaOrigin.proc);
  }
  const runner = { node: [process.execPath, []], bun: [join(BIN, "bun"), []], deno: [join(BIN, "deno"), ["run", "-A"]] }[o.runtime];
  const results = Object.fromEntries(o.variants.map((v) => [v.name, {}]));
  for (let round = 1; round <= o.rounds; round++) {
    log(`== round ${round} of ${o.rounds}`);
    const shift = (round - 1) % o.variants.length;
    for (const variant of [...o.variants.slice(shift), ...o.variants.slice(0, shift)]) {
      const port = await freePort();
      const config = join(workDir, `${variant.name}.json`);
      const ports = {};
      let bootstrap = polyvoyConfig(port, ctx.origin.port);
      if (ctx.postgresOrigin) {
        ports.postgres = await freePort();
        ports["postgres-filter"] = await freePort();
        bootstrap = withPostgresListeners(bootstrap, ports, ctx.postgresOrigin.port);
      }
      if (ctx.kafkaOrigin) {
        ports.kafka = await freePort();
        ports["kafka-filter"] = await freePort();
        bootstrap = withKafkaListeners(bootstrap, ports, ctx.kafkaOrigin.port);
      }
      writeFileSync(config, JSON.stringify(bootstrap));
      const argv = wrapped(ctx.cpu.proxy, runner[0], [...runner[1], ...variant.args, join(variant.root, "bin/polyvoy.js"), "-c", config, "--concurrency", "1"], ctx.nofile);
      const proc = new Proc(variant.name, argv, { env: { ...process.env, ...variant.env } });
      started.add(proc);
      try {
        await waitReady(port, "/64", 64, proc);
        const measured = await measureThroughput(ctx, port, log, 1, null, `${variant.name}`, proc.pid, ports);
        for (const [id, got] of Object.entries(measured)) (results[variant.name][id] ??= []).push(...(got.samples ?? []));
      } finally {
        await proc.stop();
        started.delete(proc);
      }
    }
  }
  log("", `polyvoy on ${o.runtime} from the package, ${o.rounds} rounds (medians; 1-minute load average ${loadBefore.toFixed(1)} before, ${os.loadavg()[0].toFixed(1)} after)`, "");
  const head = ["variant", ...o.scenarios.map((id) => THROUGHPUT.find((s) => s.id === id).unit), "RSS peak MiB (small GETs)", "RSS end MiB (small GETs)"];
  log(`| ${head.join(" | ")} |`);
  log(`| ${head.map(() => "---").join(" | ")} |`);
  for (const v of o.variants) {
    const r = results[v.name];
    const m = (id, key) => fmt(median((r[id] ?? []).map((s) => s[key]).filter((x) => typeof x === "number")));
    log(`| ${v.name} | ${o.scenarios.map((id) => `${m(id, "value")} (CPU ${m(id, "cpuUsPerRequest")} µs)`).join(" | ")} | ${m("get-64c", "rssPeakMiB")} | ${m("get-64c", "rssEndMiB")} |`);
  }
}

main()
  .catch((error) => {
    console.error(error.stack ?? error);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const proc of started) await proc.stop();
    rmSync(workDir, { recursive: true, force: true });
  });
