/**
 * Two checkouts' cores, CPU per request side by side in one process (bench/lib/core-pair.ts):
 *
 *   git worktree add /tmp/before HEAD~1
 *   npx bun bench/core-ab.ts /tmp/before .            # also: npx tsx …, npx deno run -A …
 *
 * Run it a second time with the two swapped, and once with one checkout against itself:
 * the second core started in a process can run a few per cent apart from the first by
 * itself, which that control shows. See docs/performance.md, "A change to the core,
 * before and after".
 */
import { resolve } from "node:path";
import { measureCorePair, PROXY_PORT, UPSTREAM_PORT } from "./lib/core-pair.ts";
import { polyvoyConfig } from "./lib/targets.mjs";

const USAGE = "usage: core-ab.ts DIR_A DIR_B [--requests N] [--pairs N]";

function parse(args: string[]): { a: string; b: string; requests: number; pairs: number } {
  const dirs: string[] = [];
  let requests = 20_000;
  let pairs = 30;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--requests" || arg === "--pairs") {
      const value = Number(args[++i]);
      if (!Number.isInteger(value) || value < 1) throw new Error(`${arg} needs a positive whole number\n${USAGE}`);
      if (arg === "--requests") requests = value;
      else pairs = value;
    } else if (arg.startsWith("-")) {
      throw new Error(`unknown option ${arg}\n${USAGE}`);
    } else {
      dirs.push(resolve(arg));
    }
  }
  if (dirs.length !== 2) throw new Error(USAGE);
  return { a: dirs[0]!, b: dirs[1]!, requests, pairs };
}

function runtimeName(): string {
  const g = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } } };
  if (g.Bun) return `bun ${g.Bun.version}`;
  if (g.Deno) return `deno ${g.Deno.version.deno}`;
  return `node ${process.versions.node}`;
}

let options: ReturnType<typeof parse>;
try {
  options = parse(process.argv.slice(2));
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}
const result = await measureCorePair(options.a, options.b, polyvoyConfig(PROXY_PORT, UPSTREAM_PORT), options);
console.log(
  `${runtimeName()}: A ${result.aMicros.toFixed(2)} µs/request, B ${result.bMicros.toFixed(2)}; ` +
    `B/A ${result.ratio.toFixed(3)} by the median of ${result.pairs} pairs of ${options.requests} requests (B faster in ${result.bFaster})`,
);
process.exit(0);
