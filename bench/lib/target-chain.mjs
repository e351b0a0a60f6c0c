// The HTTP filter chains the filter benches put before the router (issue #28's performance
// target: cors, local_ratelimit, header_mutation, rbac and a TypeScript filter), shared by
// bench/filter-chain-ab.ts (CPU of the core, in one process) and
// bench/filter-chain-throughput.mjs (req/s through real sockets).

const ALWAYS = { default_value: { numerator: 100 } };

export const CORS = { name: "envoy.filters.http.cors", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" } };
export const LOCAL_RATELIMIT = {
  name: "envoy.filters.http.local_ratelimit",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
    stat_prefix: "bench",
    token_bucket: { max_tokens: 1_000_000_000, tokens_per_fill: 1_000_000_000, fill_interval: "1s" },
    filter_enabled: ALWAYS,
    filter_enforced: ALWAYS,
  },
};
export const CSRF = { name: "envoy.filters.http.csrf", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.csrf.v3.CsrfPolicy", filter_enabled: ALWAYS } };
export const HEADER_MUTATION = {
  name: "envoy.filters.http.header_mutation",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
    mutations: { request_mutations: [{ append: { header: { key: "x-bench", value: "1" } } }] },
  },
};
export const FAULT = { name: "envoy.filters.http.fault", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault" } };

/** The performance target's rbac: one ALLOW policy every bench request matches (a path prefix and a header present). */
export const RBAC = {
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

/** The TypeScript filter examples/filters/add-header.ts (one request and one response header), by `module` path. */
export function userFilter(module) {
  return { name: "add-header", typed_config: { "@type": "type.googleapis.com/polyvoy.filters.http.script.v1.Script", module, config: { header: "x-bench", value: "1" } } };
}

/** The performance target's chain, the TypeScript filter loaded from `userFilterModule`. */
export function targetChain(userFilterModule) {
  return [CORS, LOCAL_RATELIMIT, HEADER_MUTATION, RBAC, userFilter(userFilterModule)];
}

/** `config` (bench/lib/targets.mjs polyvoyConfig) with `filters` before its router, and a CORS policy for the cors filter to apply. */
export function withFilters(config, filters) {
  const copy = structuredClone(config);
  const hcm = copy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  hcm.http_filters.unshift(...filters);
  hcm.route_config.typed_per_filter_config = {
    "envoy.filters.http.cors": { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy", allow_origin_string_match: [{ exact: "https://app.example" }] },
  };
  return copy;
}
