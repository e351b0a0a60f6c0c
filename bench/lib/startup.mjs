// The startup-footprint scenario: for each runtime, how long from starting the process to
// "listening on" (wall clock, spawn to the line on stderr, and the process's CPU time by then,
// user + system of all its threads from /proc/<pid>/stat: on a loaded machine the wall clock
// mostly measures the others), and the idle RSS a second after (/proc/<pid>/status), for
// - the bare runtime: a script that only opens a node:net listener (the floor);
// - polyvoy from the sources: what the tests and the other scenarios start (node through tsx);
// - polyvoy from the package: `<runtime> bin/polyvoy.js` — what `npx polyvoy`, `bunx polyvoy`
//   and `deno run -A npm:polyvoy` run once the package manager has found it (the launcher
//   and the entry of dist/ for that runtime, built first by `npm run build`), copied with package.json
//   into an app folder of its own as npm installs it (stagePackage): run inside the checkout,
//   deno would also find and read the checkout's deno.json, which the package does not ship,
//   and read all of dist/deno/.
// Each on a fresh process, `runs` times; the median is reported. On node the package's first
// start compiles the whole bundle and writes V8's code cache once start-up is over (bin/
// node-code-cache.js), and every start after it reads the cache: so the package is started
// once first (a TMPDIR of the bench's own, so that start has no cache) and kept running
// until the cache is written, and that first start is reported on its own, the runs measure
// what a user gets on every start but the first. The command also keeps each config it
// checked (core/config/checked-config-cache.ts): the first start checks the config and keeps
// it, the table's runs take it as checked; a third column starts the package with a config
// it has not checked before (a new text each run), what a changed config costs. The first
// start on each runtime has a TMPDIR of its own, empty: nothing cached at all. The targets (issue 26):
// ≤ 300 ms on node and ≤ 150 ms on bun and deno, idle RSS ≤ the bare runtime + 10 MB.
import { spawn } from "node:child_process";
import { copyFileSync, cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, ROOT, checkedConfigKept, freePort, nodeCodeCacheWritten, processCounters, rssBytes, run, sleep, wrapped } from "./system.mjs";

const MiB = 1024 * 1024;
export const STARTUP_TARGETS = { node: { ms: 300 }, bun: { ms: 150 }, deno: { ms: 150 }, rssOverBareMiB: 10 };

function directResponseConfig(port, statPrefix = "startup") {
  const hcm = {
    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    stat_prefix: statPrefix,
    route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "ok" } } }] }] },
    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
  };
  return {
    static_resources: {
      listeners: [{ name: "l", address: { socket_address: { address: "127.0.0.1", port_value: port } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: hcm }] }] }],
    },
  };
}

/**
 * An app folder, `workDir`/app, as `npm install polyvoy` leaves one: a package.json naming
 * polyvoy, and in node_modules/polyvoy the files the launcher reaches (of package.json's
 * `files`). Only there does Deno treat them as an npm package's; elsewhere it reads every
 * chunk a literal import() names before running the entry, not only those a start loads.
 */
function stagePackage(workDir) {
  const app = join(workDir, "app");
  rmSync(app, { recursive: true, force: true });
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ private: true, dependencies: { polyvoy: "*" } }));
  const dir = join(app, "node_modules", "polyvoy");
  mkdirSync(join(dir, "bin"), { recursive: true });
  mkdirSync(join(dir, "dist"));
  for (const file of ["package.json", "bin/polyvoy.js", "bin/node-code-cache.js", "dist/polyvoy-node.mjs", "dist/polyvoy-bun.js", "dist/polyvoy-bun.js.jsc", "dist/polyvoy-deno.js"]) {
    copyFileSync(join(ROOT, file), join(dir, file));
  }
  // The bun and deno commands' entries and chunks (scripts/build-runtimes.mjs).
  cpSync(join(ROOT, "dist/bun"), join(dir, "dist/bun"), { recursive: true });
  cpSync(join(ROOT, "dist/deno"), join(dir, "dist/deno"), { recursive: true });
  return dir;
}

function commands(runtime, workDir, config) {
  const bare = join(workDir, "bare-listener.mjs");
  const runner = { node: [process.execPath, []], bun: [join(BIN, "bun"), []], deno: [join(BIN, "deno"), ["run", "-A"]] }[runtime];
  const source = {
    node: [process.execPath, ["--import", "tsx", join(ROOT, "runtimes/node/main.ts"), "-c", config, "--concurrency", "1"]],
    bun: [join(BIN, "bun"), [join(ROOT, "runtimes/bun/main.ts"), "-c", config, "--concurrency", "1"]],
    deno: [join(BIN, "deno"), ["run", "-A", join(ROOT, "runtimes/deno/main.ts"), "-c", config, "--concurrency", "1"]],
  }[runtime];
  return {
    bare: [runner[0], [...runner[1], bare]],
    source,
    package: [runner[0], [...runner[1], join(workDir, "app", "node_modules", "polyvoy", "bin/polyvoy.js"), "-c", config, "--concurrency", "1"]],
    // Deno's floor without node compatibility (node:net alone loads ~35 ms of it; polyvoy's deno entry loads none to listen).
    ...(runtime === "deno" && { bareNative: [runner[0], [...runner[1], join(workDir, "bare-deno-listener.mjs")]] }),
  };
}

/**
 * Start argv in `cwd` (the sources from the checkout, the rest from an empty folder); resolve { ms, cpuMs, rssMiB } once stderr says "listening on" and `settleMs` passed.
 * `tmp` is its TMPDIR when set; with `untilCached`, the process is then kept until node's code cache is written there, and `cacheWritten` says whether it was;
 * with `untilChecked`, until the checked config is kept there (`checkedKept`).
 */
async function once(ctx, argv, settleMs, cwd, { tmp, untilCached = false, untilChecked = false } = {}) {
  const [cmd, args] = wrapped(ctx.cpu.proxy, argv[0], argv[1], ctx.nofile);
  const env = tmp === undefined ? process.env : { ...process.env, TMPDIR: tmp };
  const t0 = performance.now();
  const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  try {
    let cpuMs = NaN;
    const ms = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not listening after 30 s:\n${stderr.slice(-2000)}`)), 30_000);
      child.stderr.on("data", (d) => {
        stderr += d;
        if (stderr.includes("listening on")) {
          clearTimeout(timer);
          cpuMs = (processCounters(child.pid)?.cpuUs ?? NaN) / 1000;
          resolve(performance.now() - t0);
        }
      });
      child.on("exit", (code) => reject(new Error(`exited ${code}:\n${stderr.slice(-2000)}`)));
    });
    await sleep(settleMs);
    const sample = { ms, cpuMs, rssMiB: rssBytes(child.pid) / MiB };
    return {
      ...sample,
      ...(untilCached && { cacheWritten: await nodeCodeCacheWritten(tmp, 30_000) }),
      ...(untilChecked && { checkedKept: await checkedConfigKept(tmp, 30_000) }),
    };
  } finally {
    child.kill("SIGKILL");
  }
}

const median = (values) => [...values].sort((a, b) => a - b)[(values.length - 1) >> 1];

/** Measures every runtime's three variants; returns { runs, settleMs, rows } for results.json. */
export async function measureStartup(ctx, log, runtimes = ["node", "bun", "deno"]) {
  const runs = ctx.settings.mode === "quick" ? 3 : 7;
  const settleMs = 1000;
  // A loaded machine may take minutes to build; run()'s default 2 min would kill it silently.
  const built = await run(["npm", ["run", "--silent", "build"]], { timeoutMs: 600_000 });
  if (built.code !== 0) throw new Error(`npm run build failed:\n${built.stderr.slice(-2000)}`);
  stagePackage(ctx.workDir);
  writeFileSync(
    join(ctx.workDir, "bare-listener.mjs"),
    'import net from "node:net";\nnet.createServer(() => {}).listen(0, "127.0.0.1", () => console.error("listening on"));\n',
  );
  writeFileSync(join(ctx.workDir, "bare-deno-listener.mjs"), 'const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });\nconsole.error("listening on");\nawait listener.accept();\n');
  const rows = [];
  for (const runtime of runtimes) {
    const config = join(ctx.workDir, `startup-${runtime}.json`);
    const port = await freePort();
    writeFileSync(config, JSON.stringify(directResponseConfig(port)));
    const row = { runtime };
    for (const [variant, argv] of Object.entries(commands(runtime, ctx.workDir, config))) {
      const cwd = variant === "source" ? ROOT : variant === "package" ? join(ctx.workDir, "app") : ctx.workDir;
      // The package: a TMPDIR of its own, empty, for its first start (node's code cache, the checked config).
      const tmp = variant === "package" ? join(ctx.workDir, `${runtime}-tmp`) : undefined;
      if (tmp !== undefined) {
        rmSync(tmp, { recursive: true, force: true });
        mkdirSync(tmp);
      }
      const first = tmp === undefined ? undefined : await once(ctx, argv, settleMs, cwd, { tmp, untilCached: runtime === "node", untilChecked: true });
      const samples = [];
      for (let i = 0; i < runs; i++) samples.push(await once(ctx, argv, settleMs, cwd, { tmp }));
      row[variant] = { ms: median(samples.map((s) => s.ms)), cpuMs: median(samples.map((s) => s.cpuMs)), rssMiB: median(samples.map((s) => s.rssMiB)), samples, ...(first && { first }) };
      if (variant === "package") {
        // A config the package has not checked before: another text each run (its stat_prefix).
        const unchecked = [];
        for (let i = 0; i < runs; i++) {
          const newConfig = join(ctx.workDir, `startup-${runtime}-new.json`);
          writeFileSync(newConfig, JSON.stringify(directResponseConfig(port, `startup_new_${Date.now()}_${i}`)));
          unchecked.push(await once(ctx, commands(runtime, ctx.workDir, newConfig).package, settleMs, cwd, { tmp }));
        }
        row.package.unchecked = { ms: median(unchecked.map((s) => s.ms)), cpuMs: median(unchecked.map((s) => s.cpuMs)), rssMiB: median(unchecked.map((s) => s.rssMiB)), samples: unchecked };
      }
    }
    const { first, unchecked } = row.package;
    const firstStart = `; the package's first start ${first.ms.toFixed(0)} ms (CPU ${first.cpuMs.toFixed(0)} ms, nothing cached${first.cacheWritten === false ? "; THE CODE CACHE WAS NOT WRITTEN" : ""}${first.checkedKept ? "" : "; THE CHECKED CONFIG WAS NOT KEPT"})`;
    log(
      `  ${runtime}: listening in ${row.bare.ms.toFixed(0)} / ${row.source.ms.toFixed(0)} / ${row.package.ms.toFixed(0)} / ${unchecked.ms.toFixed(0)} ms (CPU ${row.bare.cpuMs.toFixed(0)} / ${row.source.cpuMs.toFixed(0)} / ${row.package.cpuMs.toFixed(0)} / ${unchecked.cpuMs.toFixed(0)} ms), idle RSS ${row.bare.rssMiB.toFixed(0)} / ${row.source.rssMiB.toFixed(0)} / ${row.package.rssMiB.toFixed(0)} / ${unchecked.rssMiB.toFixed(0)} MiB (bare runtime / from the sources / from the package / the package with a config not checked before)${firstStart}`,
    );
    rows.push(row);
  }
  return { runs, settleMs, rows };
}

/** The results.md section. */
export function renderStartup(startup) {
  if (!startup) return "";
  if (startup.error) return `\n## Start-up and footprint\n\nnot measured: ${startup.error}\n`;
  const lines = [
    "",
    "## Start-up and footprint",
    "",
    `From starting the process to "listening on" (one listener, a direct_response route), and the idle RSS ${startup.settleMs / 1000} s later; median of ${startup.runs} fresh processes each. "From the package" is \`<runtime> bin/polyvoy.js -c envoy.json\` in an app folder holding the package in node_modules as npm installs it, what \`npx polyvoy\`, \`bunx polyvoy\` and \`deno run -A npm:polyvoy\` run (the package manager's own start comes on top), with a config it checked before (the command keeps each config it checked, per build: docs/architecture.md); "a new config" is the package with a config it has not checked before (another text each run); "bare runtime" only opens a node:net listener. Targets: listening in ≤ ${STARTUP_TARGETS.node.ms} ms on node, ≤ ${STARTUP_TARGETS.bun.ms} ms on bun and deno; idle RSS ≤ the bare runtime + ${STARTUP_TARGETS.rssOverBareMiB} MB.`,
    "",
    "| runtime | bare runtime | polyvoy from the sources | polyvoy from the package | the package, a new config | target met (package / a new config) |",
    "| --- | ---: | ---: | ---: | ---: | --- |",
  ];
  const cell = (v) => `${v.ms.toFixed(0)} ms${Number.isFinite(v.cpuMs) ? ` (CPU ${v.cpuMs.toFixed(0)} ms)` : ""}, ${v.rssMiB.toFixed(0)} MiB`;
  const met = (row, v) => {
    const msOk = v.ms <= STARTUP_TARGETS[row.runtime].ms;
    const rssOk = v.rssMiB <= row.bare.rssMiB + (STARTUP_TARGETS.rssOverBareMiB * 1e6) / MiB;
    return `start-up ${msOk ? "yes" : "no"}, RSS ${rssOk ? "yes" : "no"} (+${(v.rssMiB - row.bare.rssMiB).toFixed(0)} MiB)`;
  };
  for (const row of startup.rows) {
    const { unchecked } = row.package;
    lines.push(`| ${row.runtime} | ${cell(row.bare)} | ${cell(row.source)} | ${cell(row.package)} | ${unchecked ? cell(unchecked) : "–"} | ${met(row, row.package)}${unchecked ? ` / ${met(row, unchecked)}` : ""} |`);
  }
  for (const row of startup.rows.filter((r) => r.package?.first)) {
    const { first } = row.package;
    const notes = [
      first.cacheWritten === false ? "**node's code cache was not written**, so the table's runs had none either" : "",
      first.checkedKept === false ? "**the checked config was not kept**, so the table's runs checked it too" : "",
    ].filter(Boolean);
    lines.push(
      "",
      `The package's first start on ${row.runtime}, before the table's runs (nothing cached yet: ${row.runtime === "node" ? "V8's code cache and the checked config are written once start-up is over, and every start after it reads them" : "the checked config is written once start-up is over, and every start after it reads it"}): ${cell(first)}${notes.length ? ` — ${notes.join("; ")}` : ""}.`,
    );
  }
  const deno = startup.rows.find((row) => row.runtime === "deno" && row.bareNative);
  if (deno) lines.push("", `Deno opening a \`Deno.listen\` listener instead of node:net: ${deno.bareNative.ms.toFixed(0)} ms (CPU ${deno.bareNative.cpuMs.toFixed(0)} ms), ${deno.bareNative.rssMiB.toFixed(0)} MiB.`);
  return lines.join("\n") + "\n";
}
