/**
 * The cost of a chain of HTTP filters before the router, CPU per small GET, in one process
 * (bench/lib/core-pair.ts): A serves the bench config (router alone), B the same with
 * cors, local_ratelimit, csrf, header_mutation (one added header) and fault (no fault
 * injected) before the router, each doing its per-request work.
 *
 * With --user-filter, B is a TypeScript filter (examples/filters/add-header.ts: one request
 * header, one response header) before the router; with --with-user-filter, B is the five
 * filters and that one. With --target-chain, B is the chain of the performance target:
 * cors, local_ratelimit, header_mutation, rbac (one ALLOW policy on a path prefix and a
 * header) and the TypeScript filter.
 *
 *   npx tsx bench/filter-chain-ab.ts [--requests N] [--pairs N] [--user-filter | --with-user-filter | --target-chain]   # also: npx bun …, npx deno run -A …
 */
import { resolve } from "node:path";
import { PROXY_PORT, startCore, UPSTREAM_PORT } from "./lib/core-pair.ts";
import { polyvoyConfig } from "./lib/targets.mjs";
import { CORS, CSRF, FAULT, HEADER_MUTATION, LOCAL_RATELIMIT, targetChain as theTargetChain, userFilter, withFilters } from "./lib/target-chain.mjs";

/** The TypeScript filter, by the path the memory runtime's importModule knows it under. */
const USER_FILTER_MODULE = "./examples/filters/add-header.ts";
const USER_FILTER = userFilter(USER_FILTER_MODULE);
const FILTERS = [CORS, LOCAL_RATELIMIT, CSRF, HEADER_MUTATION, FAULT];

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const i = args.indexOf(name);
  return i < 0 ? fallback : Number(args[i + 1]);
};
const requests = option("--requests", 20_000);
const pairs = option("--pairs", 30);
const root = resolve(import.meta.dirname, "..");
const base = polyvoyConfig(PROXY_PORT, UPSTREAM_PORT);
const userFilterOnly = args.includes("--user-filter");
const withUserFilter = args.includes("--with-user-filter");
const targetChain = args.includes("--target-chain");
const bFilters = userFilterOnly ? [USER_FILTER] : withUserFilter ? [...FILTERS, USER_FILTER] : targetChain ? theTargetChain(USER_FILTER_MODULE) : FILTERS;
const bLabel = userFilterOnly
  ? "a TypeScript filter + router"
  : withUserFilter
    ? "five filters + a TypeScript filter + router"
    : targetChain
      ? "cors, local_ratelimit, header_mutation, rbac, a TypeScript filter + router"
      : "five filters + router";
const modules = { [USER_FILTER_MODULE]: await import(resolve(root, USER_FILTER_MODULE)) };
const a = await startCore(root, base);
const b = await startCore(root, withFilters(base, bFilters), modules);
for (let i = 0; i < 5; i++) {
  a(requests);
  b(requests);
}
const ratios: number[] = [];
const as: number[] = [];
const bs: number[] = [];
for (let i = 0; i < pairs; i++) {
  // Alternate which goes first.
  let aMicros: number;
  let bMicros: number;
  if (i % 2 === 0) {
    aMicros = a(requests);
    bMicros = b(requests);
  } else {
    bMicros = b(requests);
    aMicros = a(requests);
  }
  as.push(aMicros);
  bs.push(bMicros);
  ratios.push(bMicros / aMicros);
}
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
console.log(
  `router alone ${median(as).toFixed(2)} µs/request, ${bLabel} ${median(bs).toFixed(2)}; ` +
    `ratio ${median(ratios).toFixed(3)} by the median of ${pairs} pairs of ${requests} requests`,
);
process.exit(0);
