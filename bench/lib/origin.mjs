// The origin every proxy forwards to: nginx with one worker on the load core, fixed bodies
// (64 B, 16 KiB, 1 MiB) and an upload endpoint that reads the whole body before answering.
// Fallback when nginx is absent: the same bodies from Bun.serve (bench/peers/bun-origin.ts).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BENCH, BIN, Proc, freePort, waitReady, which, wrapped } from "./system.mjs";

export const BODY_64 = "polyvoy-bench-origin-0123456789abcdefghijklmnopqrstuvwxyz-64-by\n";
export const SIZES = { "/64": 64, "/16k": 16 * 1024, "/1m": 1024 * 1024, "/upload": 64 };

/** Write the bodies the origin serves into `dir`. */
export function writeBodies(dir) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "64"), BODY_64);
  writeFileSync(join(dir, "16k"), Buffer.alloc(16 * 1024, "x"));
  writeFileSync(join(dir, "1m"), Buffer.alloc(1024 * 1024, "x"));
  // POST to an existing static file is a 405, which error_page turns into the 64-byte answer
  // (after `mirror_request_body` has made nginx read the whole upload).
  writeFileSync(join(dir, "upload"), BODY_64);
}

/** Settings every nginx here shares (origin and peer): one process, no daemon, files under `dir`. */
export function nginxMain(dir, name, nofile) {
  return `master_process off;
daemon off;
worker_processes 1;
worker_rlimit_nofile ${nofile};
error_log ${dir}/${name}-error.log error;
pid ${dir}/${name}.pid;
events { worker_connections ${nofile - 100}; multi_accept on; }
`;
}

export function nginxTempPaths(dir, name) {
  return ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((kind) => `  ${kind}_temp_path ${dir}/${name}-${kind}-temp;`)
    .join("\n");
}

function originConfig(dir, port, nofile) {
  return `${nginxMain(dir, "origin", nofile)}
http {
  access_log off;
${nginxTempPaths(dir, "origin")}
  default_type text/plain;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000000;
  keepalive_timeout 600s;
  client_max_body_size 0;
  client_body_buffer_size 2m;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    root ${dir}/www;
    location = /upload {
      mirror /_drop;
      mirror_request_body on;
      error_page 405 =200 @uploaded;
    }
    location @uploaded { return 200 "${BODY_64.trimEnd()}\\n"; }
    # a failing upstream, 64 bytes: bench/filter-chain-throughput.mjs --with custom_response_fires
    location = /503 { return 503 "${BODY_64.trimEnd()}\\n"; }
    # any other path gets the 64-byte body: polyvoy compare's --origin builtin serves a
    # user's routes, whatever paths they forward
    location / { try_files $uri /64; }
    location = /_drop { internal; return 204; }
  }
}
`;
}

/** Start the origin; resolves with {port, proc, kind, version note}. */
export async function startOrigin(ctx) {
  const port = await freePort();
  writeBodies(join(ctx.workDir, "www"));
  const nginx = which("nginx");
  let proc;
  let kind;
  if (nginx) {
    const conf = join(ctx.workDir, "origin-nginx.conf");
    writeFileSync(conf, originConfig(ctx.workDir, port, ctx.nofile));
    proc = new Proc("origin (nginx)", wrapped(ctx.cpu.load, nginx, ["-c", conf, "-p", ctx.workDir], ctx.nofile));
    kind = "nginx";
  } else {
    proc = new Proc(
      "origin (Bun.serve fallback)",
      wrapped(ctx.cpu.load, join(BIN, "bun"), [join(BENCH, "peers/bun-origin.ts"), String(port), join(ctx.workDir, "www")], ctx.nofile),
    );
    kind = "bun";
  }
  await waitReady(port, "/64", 64, proc);
  return { port, proc, kind };
}

/** The gRPC unary scenario's Echo service and its one request, as h2load posts it. */
export const GRPC_PROTO = 'syntax = "proto3"; package bench; service Echo { rpc Unary (Msg) returns (Msg); } message Msg { string text = 1; }\n';
export const GRPC_PATH = "/bench.Echo/Unary";

/**
 * The gRPC origin (bench/peers/grpc-origin.mjs, @grpc/grpc-js) on the load core, and the
 * request body h2load posts to it: one gRPC message (the 5-byte prefix, then Msg{text: "hello"}).
 */
export async function startGrpcOrigin(ctx) {
  const proto = join(ctx.workDir, "grpc-echo.proto");
  writeFileSync(proto, GRPC_PROTO);
  const message = Buffer.from([0x0a, 0x05, ...Buffer.from("hello")]);
  const requestFile = join(ctx.workDir, "grpc-request.bin");
  writeFileSync(requestFile, Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]));
  const proc = new Proc("gRPC origin (@grpc/grpc-js)", wrapped(ctx.cpu.load, process.execPath, [join(BENCH, "peers/grpc-origin.mjs"), proto], ctx.nofile));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const match = /listening (\d+)/.exec(proc.output);
    if (match) return { port: Number(match[1]), proc, requestFile };
    if (!proc.running) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await proc.stop();
  throw new Error(`the gRPC origin did not start: ${proc.output.slice(-500)}`);
}

/**
 * The ext-proc-duplex scenario's ExternalProcessor (bench/peers/ext-proc-processor.mjs,
 * @grpc/grpc-js: each request body chunk echoed unchanged) on the load core.
 */
export async function startExtProcProcessor(ctx) {
  const proc = new Proc("ext_proc processor (bench/peers/ext-proc-processor.mjs)", wrapped(ctx.cpu.load, process.execPath, [join(BENCH, "peers/ext-proc-processor.mjs")], ctx.nofile));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const match = /listening (\d+)/.exec(proc.output);
    if (match) return { port: Number(match[1]), proc };
    if (!proc.running) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await proc.stop();
  throw new Error(`the ext_proc processor did not start: ${proc.output.slice(-500)}`);
}

/**
 * The PostgreSQL scenarios' origin (bench/peers/postgres-origin.mjs: the protocol's bytes
 * over node:net, one row per simple query) on the load core.
 */
export async function startPostgresOrigin(ctx) {
  const proc = new Proc("PostgreSQL origin (bench/peers/postgres-origin.mjs)", wrapped(ctx.cpu.load, process.execPath, [join(BENCH, "peers/postgres-origin.mjs"), "0"], ctx.nofile));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const match = /listening (\d+)/.exec(proc.output);
    if (match) return { port: Number(match[1]), proc };
    if (!proc.running) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await proc.stop();
  throw new Error(`the PostgreSQL origin did not start: ${proc.output.slice(-500)}`);
}

/**
 * The Kafka scenarios' origin (bench/peers/kafka-origin.mjs: the protocol's framing over
 * node:net, one Produce v9 response per request, by correlation id) on the load core.
 */
export async function startKafkaOrigin(ctx) {
  const proc = new Proc("Kafka origin (bench/peers/kafka-origin.mjs)", wrapped(ctx.cpu.load, process.execPath, [join(BENCH, "peers/kafka-origin.mjs"), "0"], ctx.nofile));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const match = /listening (\d+)/.exec(proc.output);
    if (match) return { port: Number(match[1]), proc };
    if (!proc.running) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await proc.stop();
  throw new Error(`the Kafka origin did not start: ${proc.output.slice(-500)}`);
}

/** The TCP scenarios' echo origin (bench/peers/tcp-echo-origin.mjs), on the load core. */
export async function startTcpEchoOrigin(ctx) {
  const proc = new Proc("TCP echo origin (bench/peers/tcp-echo-origin.mjs)", wrapped(ctx.cpu.load, process.execPath, [join(BENCH, "peers/tcp-echo-origin.mjs"), "0"], ctx.nofile));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const match = /listening (\d+)/.exec(proc.output);
    if (match) return { port: Number(match[1]), proc };
    if (!proc.running) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await proc.stop();
  throw new Error(`the TCP echo origin did not start: ${proc.output.slice(-500)}`);
}
