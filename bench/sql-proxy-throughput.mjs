#!/usr/bin/env node
/**
 * mysql_proxy and postgres_proxy throughput: queries per second from a closed-loop client
 * (bench/load/mysql-client.mjs, postgres-client.mjs: N sessions, each one query in flight)
 * against a stand-in server speaking the protocol's bytes (bench/peers/mysql-origin.mjs,
 * postgres-origin.mjs), directly, then through polyvoy (from source, one process) on node,
 * bun and deno: tcp_proxy alone, and the protocol's filter before tcp_proxy (SQL parsing on,
 * Envoy's default). Origin, client and proxy run in processes of their own.
 *
 *   node bench/sql-proxy-throughput.mjs [--seconds 5] [--connections 16] [--protocols mysql,postgres] [--only direct,node,bun,deno]
 *
 * Prints one line per protocol and target: queries/s, p99 latency, errors.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const ROOT = resolve(import.meta.dirname, "..");
const BIN = join(ROOT, "node_modules/.bin");
const { values } = parseArgs({ options: { seconds: { type: "string", default: "5" }, connections: { type: "string", default: "16" }, protocols: { type: "string", default: "mysql,postgres" }, only: { type: "string", default: "direct,node,bun,deno" } } });
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const protocols = values.protocols.split(",");

const FILTERS = {
  mysql: { name: "envoy.filters.network.mysql_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.mysql_proxy.v3.MySQLProxy", stat_prefix: "bench" } },
  postgres: { name: "envoy.filters.network.postgres_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.postgres_proxy.v3alpha.PostgresProxy", stat_prefix: "bench" } },
};

function freePort() {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/** Spawn and resolve once `ready(output)` holds. */
function start(cmd, args, ready) {
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolvePromise, reject) => {
    let text = "";
    const on = (d) => {
      text += d;
      if (ready(text)) resolvePromise({ child, text });
    };
    child.stdout.on("data", on);
    child.stderr.on("data", on);
    child.on("exit", (code) => reject(new Error(`${cmd} exited (${code}): ${text}`)));
  });
}

function run(cmd, args) {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  return new Promise((resolvePromise) => child.on("exit", () => resolvePromise(JSON.parse(out.trim().split("\n").pop()))));
}

const tcpProxy = (protocol) => ({ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: `${protocol}_tcp`, cluster: protocol } });
const listener = (name, port, filters) => ({ name, address: { socket_address: { address: "127.0.0.1", port_value: port } }, filter_chains: [{ filters }] });

const origins = {};
const ports = {};
const started = [];
try {
  const listeners = [];
  const clusters = [];
  for (const protocol of protocols) {
    const { child, text } = await start(process.execPath, [join(ROOT, `bench/peers/${protocol}-origin.mjs`), "0"], (t) => /listening \d+/.test(t));
    started.push(child);
    origins[protocol] = Number(/listening (\d+)/.exec(text)[1]);
    ports[protocol] = { tcp: await freePort(), filter: await freePort() };
    listeners.push(listener(`${protocol}-tcp`, ports[protocol].tcp, [tcpProxy(protocol)]), listener(`${protocol}-filter`, ports[protocol].filter, [FILTERS[protocol], tcpProxy(protocol)]));
    clusters.push({ name: protocol, type: "STATIC", connect_timeout: "5s", load_assignment: { cluster_name: protocol, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: origins[protocol] } } } }] }] } });
  }
  const dir = mkdtempSync(join(tmpdir(), "polyvoy-sql-bench-"));
  const configPath = join(dir, "sql.json");
  writeFileSync(configPath, JSON.stringify({ static_resources: { listeners, clusters } }));
  const proxies = {
    node: [process.execPath, ["--import", "tsx", join(ROOT, "runtimes/node/main.ts"), "-c", configPath, "--concurrency", "1"]],
    bun: [join(BIN, "bun"), [join(ROOT, "runtimes/bun/main.ts"), "-c", configPath, "--concurrency", "1"]],
    deno: [join(BIN, "deno"), ["run", "-A", join(ROOT, "runtimes/deno/main.ts"), "-c", configPath, "--concurrency", "1"]],
  };
  const measure = async (protocol, label, port) => {
    const result = await run(process.execPath, [join(ROOT, `bench/load/${protocol}-client.mjs`), JSON.stringify({ port, connections, seconds })]);
    const qps = Math.round(result.requests / (result.duration_us / 1e6));
    const errors = Object.values(result.errors).reduce((a, b) => a + b, 0);
    console.log(`${protocol.padEnd(8)} ${label.padEnd(14)} ${String(qps).padStart(8)} queries/s  p99 ${(result.latency_us.p99 / 1000).toFixed(2)} ms  ${errors} errors  (${connections} sessions)`);
  };
  for (const name of values.only.split(",")) {
    if (name === "direct") {
      for (const protocol of protocols) await measure(protocol, "direct", origins[protocol]);
      continue;
    }
    const [cmd, args] = proxies[name];
    const { child: proxy } = await start(cmd, args, (t) => (t.match(/listening on/g) ?? []).length >= listeners.length);
    try {
      for (const protocol of protocols) {
        await measure(protocol, `${name} tcp`, ports[protocol].tcp);
        await measure(protocol, `${name} filter`, ports[protocol].filter);
      }
    } finally {
      proxy.kill("SIGKILL");
    }
  }
} finally {
  for (const child of started) child.kill("SIGKILL");
}
