#!/usr/bin/env node
// gRPC unary through polyvoy vs direct: h2load (Debian's nghttp2-client) posts gRPC frames
// to a @grpc/grpc-js server directly, then through polyvoy (downstream h2c, an HTTP/2
// cluster) on each runtime. Prints requests per second (median of --runs).
//
//   node bench/grpc-unary.mjs [--runtimes node,bun,deno] [--seconds 5] [--runs 3]
//                             [--connections 8] [--streams 10]
import { spawn, execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const ROOT = resolve(import.meta.dirname, "..");
const BIN = join(ROOT, "node_modules/.bin");
const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith("--") ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
);
const runtimes = (args.runtimes ?? "node,bun,deno").split(",");
const seconds = Number(args.seconds ?? 5);
const runs = Number(args.runs ?? 3);
const connections = Number(args.connections ?? 8);
const streams = Number(args.streams ?? 10);

const dir = mkdtempSync(join(tmpdir(), "polyvoy-grpc-bench-"));
writeFileSync(join(dir, "echo.proto"), 'syntax = "proto3"; package bench; service Echo { rpc Unary (Msg) returns (Msg); } message Msg { string text = 1; }\n');
// One gRPC message: the 5-byte prefix (uncompressed, length) and Msg{text: "hello"}.
const message = Buffer.from([0x0a, 0x05, ...Buffer.from("hello")]);
const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]);
writeFileSync(join(dir, "request.bin"), frame);

function freePort() {
  return new Promise((res) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

function h2load(port) {
  return new Promise((res, rej) => {
    const argv = ["-D", String(seconds), "-c", String(connections), "-m", String(streams), "-d", join(dir, "request.bin")];
    argv.push("-H", "content-type: application/grpc", "-H", "te: trailers", `http://127.0.0.1:${port}/bench.Echo/Unary`);
    execFile("h2load", argv, { maxBuffer: 16 << 20 }, (err, stdout) => {
      if (err) return rej(err);
      const rate = /finished in [^,]+, ([\d.]+) req\/s/.exec(stdout);
      const ok = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(stdout);
      if (!rate || !ok || Number(ok[2]) > 0) return rej(new Error(`h2load: ${stdout.slice(-600)}`));
      res(Number(rate[1]));
    });
  });
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const definition = grpc.loadPackageDefinition(protoLoader.loadSync(join(dir, "echo.proto")));
const server = new grpc.Server();
server.addService(definition.bench.Echo.service, { Unary: (call, cb) => cb(null, { text: call.request.text }) });
const grpcPort = await new Promise((res, rej) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));

const results = [];
async function measure(label, port) {
  await h2load(port); // warm-up
  const rates = [];
  for (let i = 0; i < runs; i++) rates.push(await h2load(port));
  results.push([label, median(rates)]);
  console.log(`${label}: ${Math.round(median(rates))} req/s (runs: ${rates.map(Math.round).join(", ")})`);
}

await measure("direct (grpc-js server)", grpcPort);
for (const runtime of runtimes) {
  const port = await freePort();
  const config = join(dir, `polyvoy-${runtime}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      static_resources: {
        listeners: [
          {
            name: "grpc",
            address: { socket_address: { address: "127.0.0.1", port_value: port } },
            filter_chains: [
              {
                filters: [
                  {
                    name: "envoy.filters.network.http_connection_manager",
                    typed_config: {
                      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                      stat_prefix: "grpc",
                      codec_type: "AUTO",
                      route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "grpc", timeout: "0s" } }] }] },
                      http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                    },
                  },
                ],
              },
            ],
          },
        ],
        clusters: [
          {
            name: "grpc",
            type: "STATIC",
            typed_extension_protocol_options: {
              "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                explicit_http_config: { http2_protocol_options: {} },
              },
            },
            load_assignment: { cluster_name: "grpc", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: grpcPort } } } }] }] },
          },
        ],
      },
    }),
  );
  const argv = {
    node: [process.execPath, ["--import", "tsx", join(ROOT, "runtimes/node/main.ts"), "-c", config]],
    bun: [join(BIN, "bun"), [join(ROOT, "runtimes/bun/main.ts"), "-c", config]],
    deno: [join(BIN, "deno"), ["run", "-A", join(ROOT, "runtimes/deno/main.ts"), "-c", config]],
  }[runtime];
  const proc = spawn(argv[0], argv[1], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
  await new Promise((res, rej) => {
    let err = "";
    proc.stderr.on("data", (d) => {
      err += d;
      if (/listening on/.test(err)) res();
    });
    proc.on("exit", () => rej(new Error(`polyvoy on ${runtime} exited: ${err}`)));
  });
  try {
    await measure(`through polyvoy on ${runtime}`, port);
  } finally {
    proc.kill("SIGKILL");
  }
}
server.forceShutdown();
const direct = results[0][1];
for (const [label, rate] of results.slice(1)) console.log(`${label}: ${((rate / direct) * 100).toFixed(0)} % of direct`);
