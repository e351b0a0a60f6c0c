#!/usr/bin/env node
// JavaScriptCore's eden (young-generation) collections in polyvoy's own heap on Bun, two or
// more one-file entries interleaved (A, B, A, B …), for changes to what the proxy's heap
// keeps alive after start (the config loader and zod, weak collections). Each run starts
// `bun --preload bench/lib/bun-eden-probe.js <entry> -c <config>` (the start-up scenario's
// config); once the proxy listens, the probe makes a request-like churn of short-lived
// objects (~400 KB) and times one `edenGC()` after each, `--collections` times, then ends
// the process. Reported per entry: the median of the runs' median, 10th and 90th
// percentile pause, and the heap's size and weak collections after start.
//
//   node bench/bun-eden-ab.mjs --runs 6 /tmp/a/polyvoy-bun.js dist/polyvoy-bun.js
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BENCH, BIN, freePort } from "./lib/system.mjs";

const args = process.argv.slice(2);
let runs = 6;
let collections = 400;
const entries = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--runs") runs = Number(args[++i]);
  else if (args[i] === "--collections") collections = Number(args[++i]);
  else entries.push(resolve(args[i]));
}
if (entries.length === 0) {
  console.error("usage: node bench/bun-eden-ab.mjs [--runs N] [--collections N] <polyvoy-bun.js> …");
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), "polyvoy-eden-"));
const config = join(dir, "envoy.json");
const hcm = {
  "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  stat_prefix: "eden",
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

const results = new Map(entries.map((e) => [e, []]));
for (let run = 1; run <= runs; run++) {
  for (const entry of entries) {
    const out = spawnSync(join(BIN, "bun"), ["--preload", join(BENCH, "lib/bun-eden-probe.js"), entry, "-c", config], {
      encoding: "utf8",
      env: { ...process.env, POLYVOY_EDEN_PROBE_COLLECTIONS: String(collections) },
      timeout: 120_000,
    });
    const line = out.stderr.split("\n").find((l) => l.startsWith("{\"probe\""));
    if (!line) throw new Error(`${entry}: no probe result: ${out.stderr.slice(-500)}`);
    const probe = JSON.parse(line).probe;
    results.get(entry).push(probe);
    console.error(`run ${run} ${entry}: eden pause median ${probe.median.toFixed(3)} ms (p10 ${probe.p10.toFixed(3)}, p90 ${probe.p90.toFixed(3)}), heap ${probe.heapMiB.toFixed(1)} MiB`);
  }
}
for (const [entry, probes] of results) {
  const med = (key) => median(probes.map((p) => p[key])).toFixed(3);
  console.log(`${entry}: eden pause median ${med("median")} ms, p10 ${med("p10")}, p90 ${med("p90")} (medians of ${probes.length} runs); heap after start ${med("heapMiB")} MiB, weak collections ${JSON.stringify(probes[0].weak)}`);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
