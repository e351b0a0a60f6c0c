#!/usr/bin/env node
/**
 * UDP proxy throughput: datagrams per second through polyvoy's udp_proxy (from source, one
 * process) on node, bun and deno, against a plain node:dgram relay doing the same job (a
 * session per client with its own upstream socket) as the peer. An echo upstream and a
 * closed-loop client (N clients, each keeping W datagrams of S bytes in flight; a lost one
 * is replaced after 200 ms) run in child processes of their own.
 *
 *   node bench/udp-proxy-throughput.mjs [--seconds 5] [--clients 4] [--window 16] [--size 64] [--only node,bun,deno,relay]
 *
 * Prints one line per target: replies/s and the datagrams lost.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const ROOT = resolve(import.meta.dirname, "..");
const BIN = join(ROOT, "node_modules/.bin");
const { values } = parseArgs({ options: { seconds: { type: "string", default: "5" }, clients: { type: "string", default: "4" }, window: { type: "string", default: "16" }, size: { type: "string", default: "64" }, only: { type: "string", default: "relay,node,bun,deno" } } });
const UPSTREAM = 25005;
const PROXY = 25000;

const ECHO = `const d=require("node:dgram");const s=d.createSocket("udp4");s.on("message",(m,r)=>s.send(m,r.port,r.address));s.bind(${UPSTREAM},"127.0.0.1",()=>console.log("ready"));`;
const RELAY = `const d=require("node:dgram");const l=d.createSocket("udp4");const sessions=new Map();
l.on("message",(m,r)=>{const k=r.address+"|"+r.port;let u=sessions.get(k);if(!u){u=d.createSocket("udp4");u.on("message",(b)=>l.send(b,r.port,r.address));u.bind(0,"0.0.0.0");sessions.set(k,u);}u.send(m,${UPSTREAM},"127.0.0.1");});
l.bind(${PROXY},"127.0.0.1",()=>console.log("listening on"));`;
const CLIENT = (seconds, clients, window, size) => `const d=require("node:dgram");let replies=0,lost=0;const payload=Buffer.alloc(${size},120);const end=Date.now()+${seconds}*1000;
for(let c=0;c<${clients};c++){const s=d.createSocket("udp4");let last=Date.now();
s.on("message",()=>{replies++;last=Date.now();if(Date.now()<end)s.send(payload,${PROXY},"127.0.0.1");});
s.bind(0,"127.0.0.1",()=>{for(let i=0;i<${window};i++)s.send(payload,${PROXY},"127.0.0.1");});
const t=setInterval(()=>{if(Date.now()>=end)return clearInterval(t);if(Date.now()-last>200){lost+=${window};last=Date.now();for(let i=0;i<${window};i++)s.send(payload,${PROXY},"127.0.0.1");}},50);}
setTimeout(()=>{console.log(JSON.stringify({replies,lost}));process.exit(0);},${seconds}*1000+300);`;

const CONFIG = {
  static_resources: {
    listeners: [{ name: "udp", address: { socket_address: { protocol: "UDP", address: "127.0.0.1", port_value: PROXY } }, listener_filters: [{ name: "envoy.filters.udp_listener.udp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig", stat_prefix: "bench", cluster: "echo" } }] }],
    clusters: [{ name: "echo", type: "STATIC", load_assignment: { cluster_name: "echo", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: UPSTREAM } } } }] }] } }],
  },
};

function start(cmd, args, ready) {
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolvePromise, reject) => {
    let text = "";
    const on = (d) => {
      text += d;
      if (text.includes(ready)) resolvePromise(child);
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

const dir = mkdtempSync(join(tmpdir(), "polyvoy-udp-bench-"));
const configPath = join(dir, "udp.json");
writeFileSync(configPath, JSON.stringify(CONFIG));
const proxies = {
  relay: [process.execPath, ["-e", RELAY]],
  node: [process.execPath, ["--import", "tsx", join(ROOT, "runtimes/node/main.ts"), "-c", configPath, "--concurrency", "1"]],
  bun: [join(BIN, "bun"), [join(ROOT, "runtimes/bun/main.ts"), "-c", configPath, "--concurrency", "1"]],
  deno: [join(BIN, "deno"), ["run", "-A", join(ROOT, "runtimes/deno/main.ts"), "-c", configPath, "--concurrency", "1"]],
};

const echo = await start(process.execPath, ["-e", ECHO], "ready");
const seconds = Number(values.seconds);
try {
  for (const name of values.only.split(",")) {
    const [cmd, args] = proxies[name];
    const proxy = await start(cmd, args, "listening on");
    try {
      const { replies, lost } = await run(process.execPath, ["-e", CLIENT(seconds, Number(values.clients), Number(values.window), Number(values.size))]);
      console.log(`${name.padEnd(6)} ${Math.round(replies / seconds).toString().padStart(8)} datagrams/s round trip (${values.clients} clients × ${values.window} in flight, ${values.size} B), ${lost} lost`);
    } finally {
      proxy.kill("SIGKILL");
    }
  }
} finally {
  echo.kill("SIGKILL");
}
