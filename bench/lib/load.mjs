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
const POSTGRES = join(BENCH, "load/postgres-client.mjs");
const TCP = join(BENCH, "load/tcp-client.mjs");
const KAFKA = join(BENCH, "load/kafka-client.mjs");

export function loadTools() {
  const wrk = which("wrk");
  return { wrk, h2load: which("h2load"), throughput: wrk ? "wrk" : "node-client" };
}

/**
 * One closed-loop throughput run: `connections` keep-alive connections (or a new one per
 * request with `close`) for `seconds`. Resolves with {requests, duration_us, errors, latency_us}.
 */
export async function throughputRun(ctx, { port, path, connections, seconds, method = "GET", uploadBytes = 0, close = false, host = "127.0.0.1", hostHeader, headers = [], bodyFile, tls = false, protocol, streams = 1, tcp, inFlight }) {
  if (protocol === "h2c" || protocol === "h2") return h2loadRun(ctx, { url: `${protocol === "h2" ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}${path}`, connections, streams, seconds, hostHeader, extra: headers.flatMap((h) => ["-H", h]) });
  // gRPC unary: h2c POSTs of the gRPC origin's one request (its file), as a gRPC client sends them.
  if (protocol === "grpc") {
    if (!ctx.grpcOrigin) throw new Error("no gRPC origin");
    const grpc = ["-d", ctx.grpcOrigin.requestFile, "-H", "content-type: application/grpc", "-H", "te: trailers"];
    return h2loadRun(ctx, { url: `http://${host}:${port}${path}`, connections, streams, seconds, hostHeader, extra: grpc });
  }
  if (protocol === "postgres" || protocol === "postgres-filter") return postgresRun(ctx, { port, host, connections, seconds });
  if (protocol === "kafka" || protocol === "kafka-filter") return kafkaRun(ctx, { port, host, connections, seconds, inFlight });
  if (tcp) return tcpRun(ctx, { port, host, connections, seconds, mode: tcp });
  const scheme = tls || protocol === "https" ? "https" : "http";
  if (scheme === "https" && !ctx.tools.wrk) throw new Error("wrk not found: the bench's node client does not speak TLS");
  if (ctx.tools.wrk) {
    const env = { ...process.env, BENCH_METHOD: method, BENCH_BODY_BYTES: String(uploadBytes), BENCH_CLOSE: close ? "1" : "0", BENCH_HOST: hostHeader ?? "", BENCH_BODY_FILE: bodyFile ?? "", BENCH_HEADERS: headers.join("\n") };
    const authority = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    const argv = wrapped(ctx.cpu.load, ctx.tools.wrk, [
      "-t1",
      `-c${connections}`,
      `-d${seconds}s`,
      "--timeout",
      "10s",
      "-s",
      WRK_LUA,
      `${scheme}://${authority}${path}`,
    ], ctx.nofile);
    const result = await run(argv, { env, timeoutMs: (seconds + 30) * 1000 });
    const line = result.stdout.split("\n").find((l) => l.startsWith("BENCH_JSON "));
    if (!line) throw new Error(`wrk gave no result (exit ${result.code}): ${result.stderr || result.stdout}`);
    return JSON.parse(line.slice("BENCH_JSON ".length));
  }
  return nodeClient(ctx, { port, host, path, connections, durationMs: seconds * 1000, method, bodyBytes: uploadBytes, close, mode: "closed", hostHeader, headers, bodyFile });
}

/**
 * One h2load run (one thread, on the load core): `connections` HTTP/2 connections with
 * `streams` requests in flight on each, for `seconds`; an https URL negotiates h2 by ALPN.
 * Resolves with wrk's summary shape; h2load gives no percentiles, so latency_us holds its
 * mean request time in p50 and its maximum in p99.
 */
async function h2loadRun(ctx, { url, connections, streams, seconds, hostHeader, extra = [] }) {
  if (!ctx.tools.h2load) throw new Error("h2load not found (apt-get install nghttp2-client)");
  const host = hostHeader ? ["-H", `:authority: ${hostHeader}`] : [];
  const argv = wrapped(ctx.cpu.load, ctx.tools.h2load, ["-t1", `-c${connections}`, `-m${streams}`, `-D${seconds}`, ...host, ...extra, url], ctx.nofile);
  const result = await run(argv, { timeoutMs: (seconds + 30) * 1000 });
  return parseH2load(result.stdout, result.stderr, result.code);
}

/** h2load's text summary → {requests, duration_us, errors, latency_us}. */
export function parseH2load(stdout, stderr = "", code = 0) {
  const finished = /finished in ([\d.]+)(ms|s),/.exec(stdout);
  const counts = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(stdout);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(stdout);
  if (!finished || !counts || !codes) throw new Error(`h2load gave no result (exit ${code}): ${(stderr || stdout).slice(-500)}`);
  const toUs = (value, unit) => Number(value) * ({ us: 1, ms: 1000, s: 1e6 }[unit] ?? 1);
  const time = /time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)/.exec(stdout);
  const [, , , done, , failed, errored, timeout] = counts.map(Number);
  const non2xx = Number(codes[2]) + Number(codes[3]) + Number(codes[4]);
  return {
    requests: done,
    duration_us: toUs(finished[1], finished[2]),
    // `status`: answered but not 2xx (throughputSample leaves them out of req/s), as wrk.lua counts
    errors: { status: non2xx, failed: failed - non2xx > 0 ? failed - non2xx : 0, errored, timeout },
    latency_us: time ? { p50: toUs(time[5], time[6]), p99: toUs(time[3], time[4]) } : { p50: 0, p99: 0 },
  };
}

/** One PostgreSQL run (bench/load/postgres-client.mjs, on the load core): wrk's summary shape, queries as requests. */
async function postgresRun(ctx, { port, host, connections, seconds }) {
  const argv = wrapped(ctx.cpu.load, process.execPath, [POSTGRES, JSON.stringify({ port, host, connections, seconds })], ctx.nofile);
  const result = await run(argv, { timeoutMs: (seconds + 30) * 1000 });
  const line = result.stdout.split("\n").find((l) => l.startsWith("{"));
  if (!line) throw new Error(`the PostgreSQL client gave no result (exit ${result.code}): ${result.stderr.slice(-500)}`);
  return JSON.parse(line);
}

/** One Kafka run (bench/load/kafka-client.mjs, on the load core): wrk's summary shape, responses matched by correlation id as requests. */
async function kafkaRun(ctx, { port, host, connections, seconds, inFlight }) {
  const argv = wrapped(ctx.cpu.load, process.execPath, [KAFKA, JSON.stringify({ port, host, connections, seconds, inFlight })], ctx.nofile);
  const result = await run(argv, { timeoutMs: (seconds + 30) * 1000 });
  const line = result.stdout.split("\n").find((l) => l.startsWith("{"));
  if (!line) throw new Error(`the Kafka client gave no result (exit ${result.code}): ${result.stderr.slice(-500)}`);
  return JSON.parse(line);
}

/** One TCP run (bench/load/tcp-client.mjs, on the load core): wrk's summary shape, echoed 64 KiB chunks or connections as requests. */
async function tcpRun(ctx, { port, host, connections, seconds, mode }) {
  const argv = wrapped(ctx.cpu.load, process.execPath, [TCP, JSON.stringify({ port, host, connections, seconds, mode })], ctx.nofile);
  const result = await run(argv, { timeoutMs: (seconds + 30) * 1000 });
  const line = result.stdout.split("\n").find((l) => l.startsWith("{"));
  if (!line) throw new Error(`the TCP client gave no result (exit ${result.code}): ${result.stderr.slice(-500)}`);
  return JSON.parse(line);
}

/** The fixed-rate latency run (open loop), with an in-process warm-up. */
export function rateRun(ctx, { port, path, rate, connections, seconds, warmupSeconds, host = "127.0.0.1", hostHeader, headers = [], method = "GET", bodyFile, tls = false }) {
  if (tls) throw new Error("the fixed-rate client speaks plain HTTP/1.1 only: --rate cannot measure an HTTPS listener");
  return nodeClient(ctx, { port, host, path, rate, connections, durationMs: seconds * 1000, warmupMs: warmupSeconds * 1000, mode: "rate", hostHeader, headers, method, bodyFile });
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
