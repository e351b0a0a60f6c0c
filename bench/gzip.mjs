#!/usr/bin/env node
// gzip of 16 KiB responses: polyvoy's compressor filter on node, bun and deno against nginx's
// `gzip on` at the same level, each proxying the same nginx origin (one 16 KiB JSON
// document), wrk with `Accept-Encoding: gzip` on 64 keep-alive connections. The issue's
// target: polyvoy at least 0.5× nginx's requests per second. Beside req/s, the proxy's CPU
// per request (user + system of its process from /proc/<pid>/stat over each run, divided by
// wrk's request count): on a loaded machine req/s mostly measures the other processes, the
// CPU a request costs much less so.
//
//   node bench/gzip.mjs [--level 1] [--seconds 10] [--runs 3] [--connections 64] [--only polyvoy-bun,nginx]
//
// nginx's gzip_comp_level defaults to 1, and polyvoy is given the same compression_level
// (with Envoy's other defaults: window_bits 12, memory_level 5, where nginx uses 15 and 8:
// smaller tables for Envoy, a slightly larger output). Processes are pinned as in
// bench/run.mjs (bench/lib/system.mjs: the proxy on core 0, wrk and the origin on core 1)
// when taskset is there.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import http from "node:http";
import { nginxMain, nginxTempPaths } from "./lib/origin.mjs";
import { polyvoyConfig } from "./lib/targets.mjs";
import { BIN, Proc, ROOT, cpuPlan, freePort, nofileHardLimit, processCounters, run, sleep, which, wrapped } from "./lib/system.mjs";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i < 0 ? fallback : args[i + 1];
};
const level = Number(option("--level", 1));
const seconds = Number(option("--seconds", 10));
const runs = Number(option("--runs", 3));
const connections = Number(option("--connections", 64));
const only = option("--only", "")?.split(",").filter(Boolean);

const wrk = which("wrk");
const nginx = which("nginx");
if (!wrk) throw new Error("wrk not installed");
if (!nginx) throw new Error("nginx not installed (the origin and the peer)");
const cpu = cpuPlan();
const nofile = Math.min(nofileHardLimit(), 65536);
const workDir = mkdtempSync(join(tmpdir(), "polyvoy-gzip-bench-"));
const started = new Set();

/** A 16 KiB JSON document: records that repeat in shape, not in content (compresses about 5:1). */
function document() {
  const records = [];
  let text = "";
  for (let i = 0; text.length < 16 * 1024; i++) {
    records.push({ id: i, name: `user-${(i * 7919) % 10007}`, email: `u${(i * 104729) % 99991}@example.com`, active: i % 3 !== 0, score: (i * 37) % 1000 });
    text = JSON.stringify(records);
  }
  return text.slice(0, 16 * 1024 - 1) + "]";
}
const BODY = document();

function originConfig(port) {
  return `${nginxMain(workDir, "origin", nofile)}
http {
  access_log off;
${nginxTempPaths(workDir, "origin")}
  default_type application/json;
  keepalive_requests 1000000000;
  keepalive_timeout 600s;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    root ${workDir}/www;
  }
}
`;
}

function nginxPeerConfig(port, originPort) {
  return `${nginxMain(workDir, "peer", nofile)}
http {
  access_log off;
${nginxTempPaths(workDir, "peer")}
  keepalive_requests 1000000000;
  keepalive_timeout 600s;
  gzip on;
  gzip_comp_level ${level};
  gzip_types application/json;
  gzip_proxied any;
  upstream origin {
    server 127.0.0.1:${originPort};
    keepalive 1024;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

function polyvoyGzipConfig(port, originPort) {
  const config = polyvoyConfig(port, originPort);
  const hcm = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  hcm.http_filters.unshift({
    name: "envoy.filters.http.compressor",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor",
      compressor_library: {
        name: "bench",
        typed_config: { "@type": "type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip", compression_level: level === 0 ? "DEFAULT_COMPRESSION" : `COMPRESSION_LEVEL_${level}` },
      },
    },
  });
  return config;
}

/** GET /16k.json with Accept-Encoding: gzip; the body must be gzip of the document. */
function checkGzip(port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/16k.json", agent: false, timeout: 2000, headers: { "accept-encoding": "gzip" } }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        try {
          if (res.headers["content-encoding"] !== "gzip") throw new Error(`content-encoding ${res.headers["content-encoding"]}`);
          const body = Buffer.concat(chunks);
          if (gunzipSync(body).toString() !== BODY) throw new Error("the body does not gunzip to the document");
          resolve(body.length);
        } catch (error) {
          reject(error);
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

async function ready(port, proc) {
  for (let i = 0; i < 300; i++) {
    if (proc && !proc.running) throw new Error(`${proc.label} exited:\n${proc.output.slice(-2000)}`);
    try {
      return await checkGzip(port);
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`${proc?.label} not ready:\n${proc?.output.slice(-2000)}`);
}

/** One wrk run: requests per second, and the proxy's (`pid`) CPU µs per request when /proc tells it. */
async function wrkRun(port, duration, pid) {
  const argv = wrapped(cpu.load, wrk, ["-t1", `-c${connections}`, `-d${duration}s`, "--timeout", "10s", "-H", "Accept-Encoding: gzip", `http://127.0.0.1:${port}/16k.json`], nofile);
  const before = processCounters(pid);
  const result = await run(argv, { timeoutMs: (duration + 30) * 1000 });
  const after = processCounters(pid);
  const rps = Number(result.stdout.match(/Requests\/sec:\s+([\d.]+)/)?.[1]);
  if (!Number.isFinite(rps)) throw new Error(`wrk: ${result.stderr || result.stdout}`);
  if (/Non-2xx|Socket errors/.test(result.stdout)) console.log(`    wrk reported errors: ${result.stdout.match(/(Non-2xx.*|Socket errors.*)/)?.[0]}`);
  const requests = Number(result.stdout.match(/(\d+) requests in/)?.[1]);
  const cpuUs = before && after && requests > 0 ? (after.cpuUs - before.cpuUs) / requests : NaN;
  return { rps, cpuUs };
}

const TARGETS = [
  ...["node", "bun", "deno"].map((runtime) => ({
    id: `polyvoy-${runtime}`,
    start(port, originPort) {
      const config = join(workDir, `polyvoy-${runtime}.json`);
      writeFileSync(config, JSON.stringify(polyvoyGzipConfig(port, originPort)));
      const argv = {
        node: [process.execPath, ["--import", "tsx", join(ROOT, "runtimes/node/main.ts"), "-c", config, "--concurrency", "1"]],
        bun: [join(BIN, "bun"), [join(ROOT, "runtimes/bun/main.ts"), "-c", config, "--concurrency", "1"]],
        deno: [join(BIN, "deno"), ["run", "-A", join(ROOT, "runtimes/deno/main.ts"), "-c", config, "--concurrency", "1"]],
      }[runtime];
      return new Proc(`polyvoy on ${runtime}`, wrapped(cpu.proxy, ...argv, nofile));
    },
  })),
  {
    id: "nginx",
    start(port, originPort) {
      const conf = join(workDir, "peer-nginx.conf");
      writeFileSync(conf, nginxPeerConfig(port, originPort));
      return new Proc("nginx", wrapped(cpu.proxy, nginx, ["-c", conf, "-p", workDir], nofile));
    },
  },
];

try {
  mkdirSync(join(workDir, "www"));
  writeFileSync(join(workDir, "www/16k.json"), BODY);
  const originPort = await freePort();
  writeFileSync(join(workDir, "origin.conf"), originConfig(originPort));
  const origin = new Proc("origin (nginx)", wrapped(cpu.load, nginx, ["-c", join(workDir, "origin.conf"), "-p", workDir], nofile));
  started.add(origin);
  console.log(`gzip of a 16 KiB JSON response, level ${level}, ${connections} connections, ${runs} × ${seconds} s; ${cpu.pinned ? "pinned: proxy core 0, load core 1" : cpu.note}`);
  const results = {};
  for (const target of TARGETS) {
    if (only.length > 0 && !only.includes(target.id)) continue;
    const port = await freePort();
    const proc = target.start(port, originPort);
    started.add(proc);
    const gzBytes = await ready(port, proc);
    await wrkRun(port, 3, proc.pid); // warm-up
    const samples = [];
    for (let i = 0; i < runs; i++) samples.push(await wrkRun(port, seconds, proc.pid));
    await proc.stop();
    started.delete(proc);
    const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    const rps = median(samples.map((s) => s.rps));
    const cpuUs = median(samples.map((s) => s.cpuUs));
    results[target.id] = { rps, cpuUs };
    console.log(
      `  ${target.id.padEnd(14)} ${samples.map((s) => s.rps.toFixed(0)).join("  ")} req/s (median ${rps.toFixed(0)}); ` +
        `${samples.map((s) => s.cpuUs.toFixed(0)).join("  ")} CPU µs/request (median ${cpuUs.toFixed(0)}); ${gzBytes} bytes gzipped`,
    );
  }
  if (results.nginx) {
    for (const [id, r] of Object.entries(results)) {
      if (id !== "nginx") console.log(`  ${id}: ${(r.rps / results.nginx.rps).toFixed(2)}× nginx's req/s, ${(results.nginx.cpuUs / r.cpuUs).toFixed(2)}× nginx's requests per CPU second`);
    }
  }
} finally {
  await Promise.all([...started].map((proc) => proc.stop()));
  rmSync(workDir, { recursive: true, force: true });
}
