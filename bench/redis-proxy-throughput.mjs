#!/usr/bin/env node
/**
 * redis_proxy throughput: Debian's redis-benchmark (SET and GET, N clients, optionally
 * pipelined) against a real redis-server directly, then through polyvoy's redis_proxy (from
 * source, one process) on node, bun and deno. Server, proxy and benchmark run in processes
 * of their own.
 *
 *   node bench/redis-proxy-throughput.mjs [--requests 100000] [--clients 50] [--pipeline 1] [--only direct,node,bun,deno]
 *
 * Prints one line per target and command: requests/s, p50 latency (redis-benchmark's CSV).
 * Through the proxy redis-benchmark warns "Could not fetch server CONFIG": CONFIG is not a
 * command redis_proxy routes (Envoy answers it "unsupported command" too).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const ROOT = resolve(import.meta.dirname, "..");
const BIN = join(ROOT, "node_modules/.bin");
const { values } = parseArgs({ options: { requests: { type: "string", default: "100000" }, clients: { type: "string", default: "50" }, pipeline: { type: "string", default: "1" }, only: { type: "string", default: "direct,node,bun,deno" } } });

function freePort() {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/** Resolve once something on `port` answers a RESP PING. */
async function waitForPing(port, child) {
  for (let i = 0; i < 400; i++) {
    if (child.exitCode !== null) throw new Error(`${child.spawnfile} exited (${child.exitCode})`);
    const ok = await new Promise((resolveOk) => {
      const socket = connect(port, "127.0.0.1");
      socket.on("connect", () => socket.write("*1\r\n$4\r\nPING\r\n"));
      socket.on("data", (d) => {
        socket.destroy();
        resolveOk(d.toString().startsWith("+PONG"));
      });
      socket.on("error", () => resolveOk(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing answers PING on ${port}`);
}

function benchmark(port) {
  const args = ["-h", "127.0.0.1", "-p", String(port), "-t", "set,get", "-n", values.requests, "-c", values.clients, "-P", values.pipeline, "--csv"];
  const child = spawn("redis-benchmark", args, { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  return new Promise((resolveRows) => child.on("exit", () => resolveRows(out.trim().split("\n").slice(1).map((line) => line.split(",").map((f) => f.replace(/"/g, ""))))));
}

const started = [];
try {
  const redisPort = await freePort();
  const redis = spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  started.push(redis);
  await waitForPing(redisPort, redis);
  const proxyPort = await freePort();
  const config = {
    static_resources: {
      listeners: [{ name: "redis", address: { socket_address: { address: "127.0.0.1", port_value: proxyPort } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.redis_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy", stat_prefix: "bench", settings: { op_timeout: "5s" }, prefix_routes: { catch_all_route: { cluster: "redis" } } } }] }] }],
      clusters: [{ name: "redis", type: "STATIC", connect_timeout: "5s", load_assignment: { cluster_name: "redis", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: redisPort } } } }] }] } }],
    },
  };
  const configPath = join(mkdtempSync(join(tmpdir(), "polyvoy-redis-bench-")), "redis.json");
  writeFileSync(configPath, JSON.stringify(config));
  const proxies = {
    node: [process.execPath, ["--import", "tsx", join(ROOT, "runtimes/node/main.ts"), "-c", configPath, "--concurrency", "1"]],
    bun: [join(BIN, "bun"), [join(ROOT, "runtimes/bun/main.ts"), "-c", configPath, "--concurrency", "1"]],
    deno: [join(BIN, "deno"), ["run", "-A", join(ROOT, "runtimes/deno/main.ts"), "-c", configPath, "--concurrency", "1"]],
  };
  const report = (label, rows) => {
    for (const [test, rps, , , p50] of rows) console.log(`${label.padEnd(8)} ${test.padEnd(4)} ${String(Math.round(Number(rps))).padStart(8)} requests/s  p50 ${p50} ms  (${values.clients} clients, pipeline ${values.pipeline})`);
  };
  for (const name of values.only.split(",")) {
    if (name === "direct") {
      report("direct", await benchmark(redisPort));
      continue;
    }
    const [cmd, args] = proxies[name];
    const proxy = spawn(cmd, args, { cwd: ROOT, stdio: "ignore" });
    try {
      await waitForPing(proxyPort, proxy);
      report(name, await benchmark(proxyPort));
    } finally {
      proxy.kill("SIGKILL");
      await new Promise((r) => (proxy.exitCode !== null ? r() : proxy.once("exit", r)));
    }
  }
} finally {
  for (const child of started) child.kill("SIGKILL");
}
