// Load generators, all started on the load core: wrk (Debian) for throughput, the bench's own
// node client for fixed-rate latency (and for throughput when wrk is absent), and the
// idle-connection opener of the memory scenario.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { BENCH, run, which, wrapped } from "./system.mjs";

const WRK_LUA = join(BENCH, "load/wrk.lua");
const CLIENT = join(BENCH, "load/http-client.mjs");
const IDLE = join(BENCH, "load/idle-conns.mjs");

export function loadTools() {
  const wrk = which("wrk");
  return { wrk, throughput: wrk ? "wrk" : "node-client" };
}

/**
 * One closed-loop throughput run: `connections` keep-alive connections (or a new one per
 * request with `close`) for `seconds`. Resolves with {requests, duration_us, errors, latency_us}.
 */
export async function throughputRun(ctx, { port, path, connections, seconds, method = "GET", uploadBytes = 0, close = false, host = "127.0.0.1", hostHeader, bodyFile, tls = false }) {
  if (ctx.tools.wrk) {
    const env = { ...process.env, BENCH_METHOD: method, BENCH_BODY_BYTES: String(uploadBytes), BENCH_CLOSE: close ? "1" : "0", BENCH_HOST: hostHeader ?? "", BENCH_BODY_FILE: bodyFile ?? "" };
    const authority = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    const argv = wrapped(ctx.cpu.load, ctx.tools.wrk, [
      "-t1",
      `-c${connections}`,
      `-d${seconds}s`,
      "--timeout",
      "10s",
      "-s",
      WRK_LUA,
      `${tls ? "https" : "http"}://${authority}${path}`,
    ], ctx.nofile);
    const result = await run(argv, { env, timeoutMs: (seconds + 30) * 1000 });
    const line = result.stdout.split("\n").find((l) => l.startsWith("BENCH_JSON "));
    if (!line) throw new Error(`wrk gave no result (exit ${result.code}): ${result.stderr || result.stdout}`);
    return JSON.parse(line.slice("BENCH_JSON ".length));
  }
  if (tls) throw new Error("HTTPS needs wrk (the bench's own client speaks plain HTTP/1.1 only)");
  return nodeClient(ctx, { port, host, path, connections, durationMs: seconds * 1000, method, bodyBytes: uploadBytes, close, mode: "closed", hostHeader, bodyFile });
}

/** The fixed-rate latency run (open loop), with an in-process warm-up. */
export function rateRun(ctx, { port, path, rate, connections, seconds, warmupSeconds, host = "127.0.0.1", hostHeader, method = "GET", bodyFile, tls = false }) {
  if (tls) throw new Error("the fixed-rate client speaks plain HTTP/1.1 only: --rate cannot measure an HTTPS listener");
  return nodeClient(ctx, { port, host, path, rate, connections, durationMs: seconds * 1000, warmupMs: warmupSeconds * 1000, mode: "rate", hostHeader, method, bodyFile });
}

async function nodeClient(ctx, options) {
  const seconds = ((options.durationMs ?? 0) + (options.warmupMs ?? 0)) / 1000;
  const argv = wrapped(ctx.cpu.load, process.execPath, [CLIENT, JSON.stringify(options)], ctx.nofile);
  const result = await run(argv, { timeoutMs: (seconds + 30) * 1000 });
  const line = result.stdout.split("\n").find((l) => l.startsWith("{"));
  if (!line) throw new Error(`load client gave no result (exit ${result.code}): ${result.stderr}`);
  return JSON.parse(line);
}

/**
 * Open `count` idle keep-alive connections (one request each). Resolves when all are open
 * with a handle: status() → current counts, close() → closes them and ends the client.
 */
export function openIdle(ctx, { port, count, concurrency = 64, timeoutMs = 120_000 }) {
  const [cmd, args] = wrapped(ctx.cpu.load, process.execPath, [IDLE, JSON.stringify({ port, count, concurrency, timeoutMs })], ctx.nofile);
  const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const waiters = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    try {
      const message = JSON.parse(line);
      waiters.shift()?.(message);
    } catch {
      // ignore
    }
  });
  const next = () => new Promise((resolvePromise) => waiters.push(resolvePromise));
  const exited = new Promise((resolvePromise) => child.on("exit", resolvePromise));
  const handle = {
    status() {
      const reply = next();
      child.stdin.write("status\n");
      return Promise.race([reply, exited.then(() => ({ event: "exited" }))]);
    },
    async close() {
      if (child.exitCode === null) child.stdin.end("close\n");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  return Promise.race([
    next().then((ready) => ({ ready, handle })),
    exited.then(() => {
      throw new Error(`idle-connection client exited early: ${stderr.slice(-1000)}`);
    }),
  ]);
}
