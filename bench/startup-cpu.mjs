#!/usr/bin/env node
// Start-up A/B by CPU time, for a loaded machine: each entry is started `--runs` times as a
// fresh process, the entries interleaved (A, B, A, B …) so that both see the same minutes;
// reported per entry are the median, min and max of the process's CPU time (user + system
// of all its threads, /proc/<pid>/stat) when it prints "listening on", and of its RSS a
// second later. The config is the start-up scenario's (bench/lib/startup.mjs): one
// listener, a direct_response route.
//
// A `node:` entry runs with a TMPDIR of its own, empty at first: its first start (through
// bin/polyvoy.js) has no V8 code cache, is kept running until the cache is written (bin/
// node-code-cache.js, once start-up is over) and is reported on its own line; the runs
// then measure what a user gets on every start but the first.
//
//   node bench/startup-cpu.mjs --runs 15 node:dist/polyvoy-node.mjs bun:/tmp/old/polyvoy-bun.js deno:…
//
// An entry is `<runtime>:<file>` (node, bun, deno, or "bare-<runtime>" for the runtime
// opening only a node:net listener, the file then ignored; "bare-deno-native" opens a
// Deno.listen listener instead: on Deno, node:net alone costs ~35 ms of node compatibility,
// which polyvoy's deno entry does not load), or `exe:<file>` for a standalone executable
// (scripts/build-binaries.mjs).
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BIN, freePort, nodeCodeCacheWritten, processCounters, rssBytes, sleep } from "./lib/system.mjs";

const args = process.argv.slice(2);
let runs = 11;
const entries = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--runs") runs = Number(args[++i]);
  else entries.push(args[i]);
}
if (entries.length === 0) {
  console.error("usage: node bench/startup-cpu.mjs [--runs N] <runtime>:<file> …");
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), "polyvoy-startup-"));
const bare = join(dir, "bare-listener.mjs");
writeFileSync(bare, 'import net from "node:net";\nnet.createServer(() => {}).listen(0, "127.0.0.1", () => console.error("listening on"));\n');
const bareDeno = join(dir, "bare-deno-listener.mjs");
writeFileSync(bareDeno, 'const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });\nconsole.error("listening on");\nawait listener.accept();\n');
const config = join(dir, "envoy.json");
const hcm = {
  "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  stat_prefix: "startup",
  route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "ok" } } }] }] },
  http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
};
writeFileSync(
  config,
  JSON.stringify({
    static_resources: {
      listeners: [{ name: "l", address: { socket_address: { address: "127.0.0.1", port_value: await freePort() } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: hcm }] }] }],
    },
  }),
);

function argv(entry) {
  const at = entry.indexOf(":");
  const runtime = entry.slice(0, at);
  const file = resolve(entry.slice(at + 1));
  const run = { node: [process.execPath, []], bun: [join(BIN, "bun"), []], deno: [join(BIN, "deno"), ["run", "-A"]] };
  if (runtime === "bare-deno-native") return [join(BIN, "deno"), ["run", "-A", bareDeno]];
  if (runtime.startsWith("bare-")) {
    const [cmd, pre] = run[runtime.slice(5)];
    return [cmd, [...pre, bare]];
  }
  if (runtime === "exe") return [file, ["-c", config]];
  const [cmd, pre] = run[runtime];
  return [cmd, [...pre, file, "-c", config, "--concurrency", "1"]];
}

/** node's TMPDIR per `node:` entry (where bin/node-code-cache.js keeps its cache). */
const tmpOf = new Map(entries.filter((e) => e.startsWith("node:")).map((e, i) => [e, join(dir, `tmp-${i}`)]));
for (const tmp of tmpOf.values()) mkdirSync(tmp);

/** One start: CPU to "listening on", RSS a second later; with `untilCached`, kept until node's code cache is written (at most 10 s more). */
async function once(entry, untilCached = false) {
  const [cmd, cmdArgs] = argv(entry);
  const tmp = tmpOf.get(entry);
  const env = tmp === undefined ? process.env : { ...process.env, TMPDIR: tmp };
  const child = spawn(cmd, cmdArgs, { cwd: dir, env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  try {
    const cpuMs = await new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`${entry}: not listening after 60 s:\n${stderr.slice(-2000)}`)), 60_000);
      child.stderr.on("data", (d) => {
        stderr += d;
        if (stderr.includes("listening on")) {
          clearTimeout(timer);
          resolvePromise((processCounters(child.pid)?.cpuUs ?? NaN) / 1000);
        }
      });
      child.on("exit", (code) => reject(new Error(`${entry}: exited ${code}:\n${stderr.slice(-2000)}`)));
    });
    await sleep(1000);
    const sample = { cpuMs, rssMiB: rssBytes(child.pid) / 1048576 };
    return untilCached ? { ...sample, cacheWritten: await nodeCodeCacheWritten(tmp, 10_000) } : sample;
  } finally {
    child.kill("SIGKILL");
  }
}

const firsts = new Map();
for (const entry of tmpOf.keys()) firsts.set(entry, await once(entry, true));
for (const [entry, first] of firsts) {
  const cache = first.cacheWritten ? "code cache written after it" : "no code cache written (an entry without bin/node-code-cache.js?)";
  console.log(`${entry}: first start CPU to listening ${first.cpuMs.toFixed(0)} ms, idle RSS ${first.rssMiB.toFixed(1)} MiB (${cache})`);
}
const samples = new Map(entries.map((e) => [e, []]));
for (let i = 0; i < runs; i++) for (const entry of entries) samples.get(entry).push(await once(entry));
const stat = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[(sorted.length - 1) >> 1], min: sorted[0], max: sorted.at(-1) };
};
for (const [entry, list] of samples) {
  const cpu = stat(list.map((s) => s.cpuMs));
  const rss = stat(list.map((s) => s.rssMiB));
  console.log(
    `${entry}: CPU to listening ${cpu.median.toFixed(0)} ms (${cpu.min.toFixed(0)}–${cpu.max.toFixed(0)}), idle RSS ${rss.median.toFixed(1)} MiB (${rss.min.toFixed(1)}–${rss.max.toFixed(1)}), ${runs} runs`,
  );
}
