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

const ALWAYS = { default_value: { numerator: 100 } };
const FILTERS = [
  { name: "envoy.filters.http.cors", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" } },
  {
    name: "envoy.filters.http.local_ratelimit",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
      stat_prefix: "bench",
      token_bucket: { max_tokens: 1_000_000_000, tokens_per_fill: 1_000_000_000, fill_interval: "1s" },
      filter_enabled: ALWAYS,
      filter_enforced: ALWAYS,
    },
  },
  { name: "envoy.filters.http.csrf", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.csrf.v3.CsrfPolicy", filter_enabled: ALWAYS } },
  {
    name: "envoy.filters.http.header_mutation",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
      mutations: { request_mutations: [{ append: { header: { key: "x-bench", value: "1" } } }] },
    },
  },
  { name: "envoy.filters.http.fault", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault" } },
];

/** The performance target's rbac: one ALLOW policy every bench request matches (a path prefix and a header present). */
const RBAC = {
  name: "envoy.filters.http.rbac",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
    rules: {
      action: "ALLOW",
      policies: {
        bench: {
          permissions: [{ url_path: { path: { prefix: "/" } } }],
          principals: [{ header: { name: "host", present_match: true } }],
        },
      },
    },
  },
};

/** The TypeScript filter, by the path the memory runtime's importModule knows it under. */
const USER_FILTER_MODULE = "./examples/filters/add-header.ts";
const USER_FILTER = {
  name: "add-header",
  typed_config: { "@type": "type.googleapis.com/polyvoy.filters.http.script.v1.Script", module: USER_FILTER_MODULE, config: { header: "x-bench", value: "1" } },
};

function withFilters(config: object, filters: object[]): object {
  const copy = structuredClone(config) as { static_resources: { listeners: { filter_chains: { filters: { typed_config: { http_filters: object[]; route_config: object } }[] }[] }[] } };
  const hcm = copy.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config;
  hcm.http_filters.unshift(...filters);
  // A CORS policy on the route configuration, so the cors filter has a policy to apply.
  (hcm.route_config as Record<string, unknown>).typed_per_filter_config = {
    "envoy.filters.http.cors": { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy", allow_origin_string_match: [{ exact: "https://app.example" }] },
  };
  return copy;
}

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
const [cors, ratelimit, , headerMutation] = FILTERS;
const bFilters = userFilterOnly ? [USER_FILTER] : withUserFilter ? [...FILTERS, USER_FILTER] : targetChain ? [cors, ratelimit, headerMutation, RBAC, USER_FILTER] : FILTERS;
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
