/**
 * What the core allocates per small proxied GET, and where: the bench's bootstrap on the
 * memory runtime (bench/lib/core-pair.ts: 64 keep-alive clients, `GET /64`, an nginx-shaped
 * answer), run under V8's sampling heap profiler with the objects later collected kept in
 * the profile, so it counts every allocation, not only what lives on. Node only (node:inspector):
 *
 *   node --import tsx bench/alloc-per-request.ts [--requests N] [--top N]
 *
 * Prints bytes per request in all and by allocating function (self). The memory runtime
 * and the test clients are counted too (their frames are in runtimes/memory and
 * bench/lib), apart from the core's.
 */
import { Session } from "node:inspector/promises";
import { resolve } from "node:path";
import { startCore, PROXY_PORT, UPSTREAM_PORT } from "./lib/core-pair.ts";
import { polyvoyConfig } from "./lib/targets.mjs";

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const at = args.indexOf(name);
  return at < 0 ? fallback : Number(args[at + 1]);
};
const requests = option("--requests", 50_000);
const top = option("--top", 25);

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

const root = resolve(import.meta.dirname, "..");
const run = await startCore(root, polyvoyConfig(PROXY_PORT, UPSTREAM_PORT));
run(20_000); // warm-up: optimized code, pools and caches filled
const session = new Session();
session.connect();
await session.post("HeapProfiler.startSampling", { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
const micros = run(requests);
const { profile } = (await session.post("HeapProfiler.stopSampling")) as { profile: { head: ProfileNode } };
session.disconnect();

const bySite = new Map<string, number>();
let total = 0;
const walk = (node: ProfileNode): void => {
  total += node.selfSize;
  if (node.selfSize > 0) {
    const f = node.callFrame;
    const file = f.url.replace(`file://${root}/`, "");
    const key = `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
    bySite.set(key, (bySite.get(key) ?? 0) + node.selfSize);
  }
  for (const child of node.children) walk(child);
};
walk(profile.head);
const perRequest = (bytes: number): string => (bytes / requests).toFixed(0);
console.log(`${requests} requests, ${micros.toFixed(2)} µs CPU each (under the profiler); allocated ${perRequest(total)} B per request`);
let core = 0;
for (const [site, bytes] of bySite) if (/ (core|runtimes\/kit)\//.test(site)) core += bytes;
console.log(`in core/ and runtimes/kit/: ${perRequest(core)} B per request`);
for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${perRequest(bytes).padStart(6)} B  ${site}`);
