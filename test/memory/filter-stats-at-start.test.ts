/**
 * HTTP filters' stats exist from config load, at 0, as Envoy's: its filter factories build
 * each FilterConfig (and its stats) when the HCM config loads, and a per-route config's
 * (createRouteSpecificFilterConfig) when the route table loads — not at the first request.
 * Read through the admin's /stats on a fresh proxy, before any request (static routes, and
 * a route configuration from RDS).
 */
import { afterEach, describe, expect, test } from "vitest";
import { filterProxy, type FilterProxy } from "./support/filter-proxy.ts";
import { MemoryHttpClient } from "./support/http-peers.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { startProxy } from "./support/proxy.ts";

const ADMIN_PORT = 9901;
const ALWAYS = { default_value: { numerator: 100, denominator: "HUNDRED" }, runtime_key: "rl_enabled" };
const LOCAL_RL = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";

const FILTERS = [
  { name: "envoy.filters.http.fault", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault" } },
  { name: "envoy.filters.http.cors", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" } },
  { name: "envoy.filters.http.csrf", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.csrf.v3.CsrfPolicy", filter_enabled: { default_value: { numerator: 100 } } } },
  { name: "envoy.filters.http.rbac", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC", rules: { action: "DENY" }, rules_stat_prefix: "r." } },
  {
    name: "envoy.filters.http.ext_authz",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz", http_service: { server_uri: { uri: "http://authz", cluster: "backend", timeout: "0.5s" } } },
  },
  {
    name: "envoy.filters.http.local_ratelimit",
    typed_config: { "@type": LOCAL_RL, stat_prefix: "filter_rl", token_bucket: { max_tokens: 5, fill_interval: "1s" }, filter_enabled: ALWAYS, filter_enforced: ALWAYS },
  },
  {
    name: "envoy.filters.http.compressor",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor",
      compressor_library: { name: "text", typed_config: { "@type": "type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip" } },
    },
  },
  {
    name: "envoy.filters.http.decompressor",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.decompressor.v3.Decompressor",
      decompressor_library: { name: "up", typed_config: { "@type": "type.googleapis.com/envoy.extensions.compression.gzip.decompressor.v3.Gzip" } },
    },
  },
];

/** A route whose own local_ratelimit config (its own stat_prefix) is a limiter of its own. */
const PER_ROUTE_RL = {
  match: { prefix: "/limited" },
  action: {
    route: { cluster: "backend" },
    typed_per_filter_config: {
      "envoy.filters.http.local_ratelimit": { "@type": LOCAL_RL, stat_prefix: "route_rl", token_bucket: { max_tokens: 1, fill_interval: "60s" }, filter_enabled: ALWAYS, filter_enforced: ALWAYS },
    },
  },
};

/** Every stat of the filters above, each at 0 (Envoy's names). */
const EXPECTED_AT_ZERO = [
  "http.ingress_http.fault.delays_injected",
  "http.ingress_http.fault.aborts_injected",
  "http.ingress_http.fault.faults_overflow",
  "http.ingress_http.fault.response_rl_injected",
  "http.ingress_http.fault.active_faults",
  "http.ingress_http.cors.origin_valid",
  "http.ingress_http.cors.origin_invalid",
  "http.ingress_http.csrf.missing_source_origin",
  "http.ingress_http.csrf.request_invalid",
  "http.ingress_http.csrf.request_valid",
  "http.ingress_http.rbac.r.allowed",
  "http.ingress_http.rbac.r.denied",
  "http.ingress_http.ext_authz.ok",
  "http.ingress_http.ext_authz.denied",
  "http.ingress_http.ext_authz.error",
  "http.ingress_http.ext_authz.failure_mode_allowed",
  "filter_rl.http_local_rate_limit.enabled",
  "filter_rl.http_local_rate_limit.ok",
  "filter_rl.http_local_rate_limit.rate_limited",
  "filter_rl.http_local_rate_limit.enforced",
  "http.ingress_http.compressor.text.gzip.compressed",
  "http.ingress_http.compressor.text.gzip.not_compressed",
  "http.ingress_http.compressor.text.gzip.no_accept_header",
  "http.ingress_http.decompressor.up.gzip.request.decompressed",
  "http.ingress_http.decompressor.up.gzip.response.not_decompressed",
  "http.ingress_http.decompressor.up.gzip.decompressor_library.zlib_data_error",
];
const PER_ROUTE_AT_ZERO = ["route_rl.http_local_rate_limit.enabled", "route_rl.http_local_rate_limit.ok", "route_rl.http_local_rate_limit.rate_limited", "route_rl.http_local_rate_limit.enforced"];

let proxy: FilterProxy | undefined;
afterEach(() => {
  proxy?.close();
  proxy = undefined;
});

async function adminStats(p: FilterProxy): Promise<Map<string, string>> {
  const client = new MemoryHttpClient(p.runtime, ADMIN_PORT);
  client.request("GET", "/stats");
  await p.runtime.settle();
  const response = client.responses[0]!;
  expect(response.status).toBe(200);
  const stats = new Map<string, string>();
  for (const line of response.text().split("\n")) {
    const colon = line.indexOf(": ");
    if (colon > 0) stats.set(line.slice(0, colon), line.slice(colon + 2));
  }
  return stats;
}

const admin = { admin: { address: { socket_address: { address: "127.0.0.1", port_value: ADMIN_PORT } } } };

describe("HTTP filter stats at config load", () => {
  test("a fresh proxy's /stats lists each filter's stats at 0 before any request, a per-route local_ratelimit's too", async () => {
    proxy = await filterProxy(FILTERS, { bootstrap: admin, routes: [PER_ROUTE_RL, { match: { prefix: "/" }, cluster: "backend" }] });
    const stats = await adminStats(proxy);
    for (const name of [...EXPECTED_AT_ZERO, ...PER_ROUTE_AT_ZERO]) expect([name, stats.get(name)]).toEqual([name, "0"]);
    // The counters are the ones the requests then count on.
    expect((await proxy.request("GET", "/limited", { headers: { "accept-encoding": "gzip" } })).status).toBe(200);
    expect((await proxy.request("GET", "/limited")).status).toBe(429);
    const after = await adminStats(proxy);
    expect(after.get("route_rl.http_local_rate_limit.ok")).toBe("1");
    expect(after.get("route_rl.http_local_rate_limit.rate_limited")).toBe("1");
    expect(after.get("filter_rl.http_local_rate_limit.enabled")).toBe("0");
    expect(after.get("http.ingress_http.rbac.r.allowed")).toBe("2");
  });
});

describe("per-route filter stats from RDS", () => {
  test("a route configuration read from RDS builds its per-route local_ratelimit (its stats at 0) as it is accepted", async () => {
    const rdsPath = "/xds/rds.json";
    const routeConfiguration = {
      "@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
      name: "routes",
      virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/limited" }, direct_response: { status: 200 }, typed_per_filter_config: PER_ROUTE_RL.action.typed_per_filter_config }] }],
    };
    const runtime = new MemoryRuntime({ seed: 1, files: { [rdsPath]: JSON.stringify({ version_info: "1", resources: [routeConfiguration] }) }, directories: ["/xds"] });
    const hcm = {
      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
      stat_prefix: "ingress",
      rds: { route_config_name: "routes", config_source: { path_config_source: { path: rdsPath }, resource_api_version: "V3" } },
      http_filters: [FILTERS.find((f) => f.name === "envoy.filters.http.local_ratelimit"), { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
    };
    const listener = { name: "l", address: { socket_address: { address: "127.0.0.1", port_value: 10000 } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: hcm }] }] };
    const starting = startProxy(runtime, { static_resources: { listeners: [listener] } });
    let server;
    for (let i = 0; i < 500 && server === undefined; i++) {
      runtime.advance(10);
      await new Promise((resolve) => setTimeout(resolve, 0));
      server = await Promise.race([starting, Promise.resolve(undefined)]);
    }
    expect(server).toBeDefined();
    expect((server!.stats.get("http.ingress.rds.routes.config_reload") as { value: number }).value).toBe(1);
    for (const name of PER_ROUTE_AT_ZERO) expect([name, (server!.stats.get(name) as { value: number } | undefined)?.value]).toEqual([name, 0]);
  });
});
