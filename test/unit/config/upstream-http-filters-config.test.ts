/**
 * A cluster's HttpProtocolOptions.http_filters (core/config/upstream-http-filters-schema.ts):
 * accepted as Envoy takes them (ending with envoy.filters.http.upstream_codec), refused with
 * Envoy's messages where Envoy refuses (ClusterInfoImpl in source/common/upstream/upstream_impl.cc),
 * and every filter polyvoy does not run upstream refused by name.
 */
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import { problemsOf } from "./config-problems.ts";

const OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const AT = `static_resources.clusters[0].typed_extension_protocol_options.${OPTIONS}.http_filters`;
const CODEC = { name: "envoy.filters.http.upstream_codec", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec" } };
const MUTATION = {
  name: "envoy.filters.http.header_mutation",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
    mutations: { request_mutations: [{ append: { header: { key: "x-upstream-filter", value: "on" } } }] },
  },
};
const BUFFER = { name: "envoy.filters.http.buffer", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer", max_request_bytes: 1024 } };

function bootstrap(httpFilters: unknown[] | undefined) {
  const options = { "@type": `type.googleapis.com/${OPTIONS}`, explicit_http_config: { http_protocol_options: {} }, ...(httpFilters ? { http_filters: httpFilters } : {}) };
  const cluster = {
    name: "origin",
    connect_timeout: "1s",
    load_assignment: { cluster_name: "origin", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 1 } } } }] }] },
    typed_extension_protocol_options: { [OPTIONS]: options },
  };
  return JSON.stringify({ static_resources: { clusters: [cluster] } });
}

const load = (filters: unknown[] | undefined) => loadBootstrap(bootstrap(filters), "json");
const problems = (filters: unknown[]) => problemsOf(() => load(filters));

describe("a cluster's upstream http_filters", () => {
  test("header_mutation and buffer before the codec: the filters, without the codec", () => {
    const cluster = load([MUTATION, BUFFER, CODEC]).clusters[0]!;
    expect(cluster.upstreamHttpFilters?.map((f) => f.type)).toEqual(["envoy.filters.http.header_mutation", "envoy.filters.http.buffer"]);
    expect(cluster.upstreamHttpFilters?.map((f) => f.name)).toEqual(["envoy.filters.http.header_mutation", "envoy.filters.http.buffer"]);
  });

  test("ext_proc, which Envoy runs upstream too: taken", () => {
    const extProc = { name: "envoy.filters.http.ext_proc", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor", grpc_service: { envoy_grpc: { cluster_name: "origin" } } } };
    expect(load([extProc, CODEC]).clusters[0]!.upstreamHttpFilters?.map((f) => f.type)).toEqual(["envoy.filters.http.ext_proc"]);
  });

  test("none or an empty list: no list of the cluster's own; only the codec: an empty one (it wins over the router's)", () => {
    expect(load(undefined).clusters[0]!.upstreamHttpFilters).toBeUndefined();
    expect(load([]).clusters[0]!.upstreamHttpFilters).toBeUndefined();
    expect(load([CODEC]).clusters[0]!.upstreamHttpFilters).toEqual([]);
  });

  test("a list not ending with the codec: Envoy's message", () => {
    expect(problems([MUTATION])).toEqual([`${AT}[0]: The codec filter is the only valid terminal upstream HTTP filter, use 'envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec'`]);
    // By its type URL, as Envoy looks at it: the name alone does not make the last filter the codec.
    expect(problems([MUTATION, { name: "envoy.filters.http.upstream_codec" }])).toEqual([`${AT}[1]: The codec filter is the only valid terminal upstream HTTP filter, use 'envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec'`]);
  });

  test("the codec before the end: Envoy's terminal-filter message", () => {
    expect(problems([{ ...CODEC, name: "early" }, MUTATION, CODEC])).toEqual([`${AT}[0]: Error: terminal filter named early of type envoy.filters.http.upstream_codec must be the last filter in a upstream http filter chain.`]);
  });

  test("a filter polyvoy has but does not run upstream, and one it does not have: refused by name", () => {
    const cors = { name: "envoy.filters.http.cors", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" } };
    // Envoy has no upstream factory for cors: its own message (Config::Utility::getAndCheckFactory).
    expect(problems([cors, CODEC])).toEqual([
      `${AT}[0]: Didn't find a registered implementation for 'envoy.filters.http.cors' with type URL: 'envoy.extensions.filters.http.cors.v3.Cors' (Envoy runs envoy.filters.http.cors downstream only)`,
    ]);
    const router = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
    expect(problems([router, CODEC])[0]).toContain("Didn't find a registered implementation for 'envoy.filters.http.router' with type URL: 'envoy.extensions.filters.http.router.v3.Router'");
    // Envoy runs Lua (UpstreamLuaFilterConfig) and RBAC (upstream_rbac) upstream: so does polyvoy.
    const lua = { name: "envoy.filters.http.lua", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua", default_source_code: { inline_string: "" } } };
    const rbac = { name: "envoy.filters.http.rbac", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC" } };
    expect(() => problems([lua, rbac, CODEC])).toThrow("config loaded but should have been rejected");
    const wasm = { name: "envoy.filters.http.wasm", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm" } };
    expect(problems([wasm, CODEC])).toEqual([`${AT}[0]: envoy.filters.http.wasm: polyvoy does not run Wasm filters, downstream or upstream`]);
    // http-filter-cc's C++ filter.
    const sample = { name: "sample", typed_config: { "@type": "type.googleapis.com/sample.Decoder", key: "via-upstream" } };
    expect(problems([sample, CODEC])).toEqual([`${AT}[0]: "sample" is not one of polyvoy's HTTP filters (polyvoy's: docs/configuration.md)`]);
  });

  test("a filter's own config is checked as in the HCM's http_filters", () => {
    const bad = { ...BUFFER, typed_config: { ...BUFFER.typed_config, max_request_bytes: 0 } };
    expect(problems([bad, CODEC])[0]).toMatch(/^static_resources\.clusters\[0\]\..*http_filters\[0\]\.typed_config\.max_request_bytes: /);
    const extra = { ...CODEC, typed_config: { ...CODEC.typed_config, foo: 1 } };
    expect(problems([extra])[0]).toContain("UpstreamCodec has no fields");
  });

  test("HttpFilter fields polyvoy does not build are refused by name", () => {
    for (const field of ["disabled", "is_optional", "config_discovery"]) {
      const value = field === "config_discovery" ? { config_source: { ads: {} } } : true;
      const lines = problems([{ ...MUTATION, [field]: value }, CODEC]);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toBe(`${AT}[0]: \`${field}\` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)`);
    }
  });
});
