/**
 * The router's upstream_http_filters (envoy.extensions.filters.http.router.v3.Router field 8,
 * core/config/upstream-http-filters-schema.ts): taken as Envoy's router FilterConfig
 * processes them (router.cc: processFilters(…, "router upstream http", …)): each filter one
 * with an upstream factory, the codec the terminal filter; refused with Envoy's
 * validateTerminalFilters messages for that chain type otherwise.
 */
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import type { RouterConfig } from "../../../core/config/bootstrap.ts";
import { problemsOf } from "./config-problems.ts";

const AT = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.upstream_http_filters";
const CODEC = { name: "envoy.filters.http.upstream_codec", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec" } };
const MUTATION = {
  name: "envoy.filters.http.header_mutation",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
    mutations: { request_mutations: [{ append: { header: { key: "x-router-filter", value: "on" } } }] },
  },
};
const BUFFER = { name: "envoy.filters.http.buffer", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer", max_request_bytes: 1024 } };

function bootstrap(upstreamHttpFilters: unknown[] | undefined) {
  const router = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", ...(upstreamHttpFilters ? { upstream_http_filters: upstreamHttpFilters } : {}) } };
  const hcm = {
    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    stat_prefix: "ingress",
    route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200 } }] }] },
    http_filters: [router],
  };
  const listener = { name: "l", address: { socket_address: { address: "127.0.0.1", port_value: 1 } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: hcm }] }] };
  return JSON.stringify({ static_resources: { listeners: [listener] } });
}

const routerOf = (filters: unknown[] | undefined): RouterConfig => {
  const hcm = loadBootstrap(bootstrap(filters), "json").listeners[0]!.filterChains[0]!.filters[0]! as unknown as { config: { httpFilters: { config: RouterConfig }[] } };
  return hcm.config.httpFilters[0]!.config;
};
const problems = (filters: unknown[]) => problemsOf(() => loadBootstrap(bootstrap(filters), "json"));

describe("the router's upstream_http_filters", () => {
  test("header_mutation and buffer before the codec: the filters, without the codec", () => {
    const router = routerOf([MUTATION, BUFFER, CODEC]);
    expect(router.upstreamHttpFilters?.map((f) => f.type)).toEqual(["envoy.filters.http.header_mutation", "envoy.filters.http.buffer"]);
  });

  test("ext_proc, which Envoy runs upstream too: taken", () => {
    const extProc = { name: "envoy.filters.http.ext_proc", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor", grpc_service: { envoy_grpc: { cluster_name: "p" } } } };
    expect(routerOf([extProc, CODEC]).upstreamHttpFilters?.map((f) => f.type)).toEqual(["envoy.filters.http.ext_proc"]);
  });

  test("none, an empty list or only the codec: no filter", () => {
    expect(routerOf(undefined).upstreamHttpFilters).toBeUndefined();
    expect(routerOf([]).upstreamHttpFilters).toBeUndefined();
    expect(routerOf([CODEC]).upstreamHttpFilters).toBeUndefined();
  });

  test("a last filter that is not the codec: Envoy's non-terminal message for the router's chain", () => {
    expect(problems([MUTATION])).toEqual([`${AT}[0]: Error: non-terminal filter named envoy.filters.http.header_mutation of type envoy.filters.http.header_mutation is the last filter in a router upstream http filter chain. When upstream_http_filters are specified, they must explicitly end with an UpstreamCodec filter.`]);
  });

  test("the codec before the end: Envoy's terminal message for the router's chain", () => {
    expect(problems([{ ...CODEC, name: "early" }, MUTATION, CODEC])).toEqual([`${AT}[0]: Error: terminal filter named early of type envoy.filters.http.upstream_codec must be the last filter in a router upstream http filter chain.`]);
  });

  test("a filter Envoy runs downstream only: Envoy's message", () => {
    const cors = { name: "envoy.filters.http.cors", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" } };
    expect(problems([cors, CODEC])).toEqual([
      `${AT}[0]: Didn't find a registered implementation for 'envoy.filters.http.cors' with type URL: 'envoy.extensions.filters.http.cors.v3.Cors' (Envoy runs envoy.filters.http.cors downstream only)`,
    ]);
  });

  test("a filter's own config is checked as in the HCM's http_filters", () => {
    const bad = { ...BUFFER, typed_config: { ...BUFFER.typed_config, max_request_bytes: 0 } };
    expect(problems([bad, CODEC])[0]).toMatch(/upstream_http_filters\[0\]\.typed_config\.max_request_bytes: /);
  });
});
