/** The global ratelimit filter's typed_config and its RateLimitPerRoute: what is accepted, Envoy's defaults, and the refusals by name. */
import { describe, expect, test } from "vitest";
import { HCM_FILTERS, ROUTE_PER_FILTER, filterConfig, load, problems } from "./http-filter-config.ts";

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit";
const PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute";
const filter = (fields: Record<string, unknown>) => ({
  name: "envoy.filters.http.ratelimit",
  typed_config: { "@type": TYPE, domain: "d", rate_limit_service: { grpc_service: { envoy_grpc: { cluster_name: "authz" } } }, ...fields },
});
const perRoute = (fields: Record<string, unknown>) => ({ typed_per_filter_config: { "envoy.filters.http.ratelimit": { "@type": PER_ROUTE, ...fields } } });

function routePerFilter(fields: Record<string, unknown>): unknown {
  const listener = load(filter({}), perRoute(fields)).listeners[0] as unknown as {
    filterChains: { filters: { config: { routeConfig: { virtualHosts: { routes: { typedPerFilterConfig?: Map<string, unknown> | Record<string, unknown> }[] }[] } } }[] }[];
  };
  const route = listener.filterChains[0]!.filters[0]!.config.routeConfig.virtualHosts[0]!.routes[0]!;
  const perFilter = route.typedPerFilterConfig;
  return perFilter instanceof Map ? perFilter.get("envoy.filters.http.ratelimit") : perFilter?.["envoy.filters.http.ratelimit"];
}

describe("ratelimit typed_config", () => {
  test("rate_limit_service.grpc_service.timeout is accepted; the call's bound stays the filter's timeout (20 ms by default), as Envoy's ratelimit config.cc has it", () => {
    const withServiceTimeout = (extra: Record<string, unknown>) => filter({ rate_limit_service: { grpc_service: { envoy_grpc: { cluster_name: "authz" }, timeout: "1s" } }, ...extra });
    expect(filterConfig(withServiceTimeout({}))).toMatchObject({ timeoutMs: 20, unusedServiceTimeoutMs: 1000 });
    expect(filterConfig(withServiceTimeout({ timeout: "0.5s" }))).toMatchObject({ timeoutMs: 500, unusedServiceTimeoutMs: 1000 });
    expect(filterConfig(filter({}))).not.toHaveProperty("unusedServiceTimeoutMs");
  });

  test("response_headers_to_add (at most 10) and the filter's own rate_limits (no stage, no disable_key)", () => {
    const config = filterConfig(filter({ response_headers_to_add: [{ header: { key: "x-limited", value: "%REQ(:PATH)%" } }], rate_limits: [{ actions: [{ generic_key: { descriptor_value: "all" } }] }] }));
    expect(config).toMatchObject({ responseHeadersToAdd: [{ key: "x-limited", value: "%REQ(:PATH)%", formatted: true }], rateLimits: [{ stage: -1, actions: [{ type: "generic_key", descriptorKey: "generic_key", descriptorValue: "all" }] }] });
    expect(filterConfig(filter({}))).toMatchObject({ responseHeadersToAdd: [] });
    expect(filterConfig(filter({})).rateLimits).toBeUndefined();
    const eleven = Array.from({ length: 11 }, (_, i) => ({ header: { key: `x-${i}`, value: "v" } }));
    expect(problems(filter({ response_headers_to_add: eleven }))[0]).toContain(`${HCM_FILTERS}.response_headers_to_add`);
    expect(problems(filter({ rate_limits: [{ stage: 1, actions: [{ generic_key: { descriptor_value: "x" } }] }] }))).toEqual([
      `${HCM_FILTERS}.rate_limits[0].stage: stage is not supported in the filter's rate_limits (Envoy: 'stage' field and 'disable_key' field are not supported)`,
    ]);
    expect(problems(filter({ rate_limits: [{ disable_key: "k", actions: [{ generic_key: { descriptor_value: "x" } }] }] }))[0]).toContain("rate_limits[0]: `disable_key` is an Envoy field that polyvoy does not support yet (a runtime switch per rate limit)");
  });

  test("RateLimitPerRoute: vh_rate_limits (default OVERRIDE), domain, rate_limits; override_option other than DEFAULT refused", () => {
    expect(routePerFilter({})).toEqual({ vhRateLimits: "OVERRIDE", domain: "" });
    expect(routePerFilter({ vh_rate_limits: "IGNORE", domain: "other", override_option: "DEFAULT", rate_limits: [{ actions: [{ remote_address: {} }] }] })).toEqual({
      vhRateLimits: "IGNORE",
      domain: "other",
      rateLimits: [{ stage: -1, actions: [{ type: "remote_address" }] }],
    });
    expect(problems(filter({}), perRoute({ override_option: "INCLUDE_POLICY" }))).toEqual([
      `${ROUTE_PER_FILTER}.envoy.filters.http.ratelimit.override_option: INCLUDE_POLICY is an Envoy value that polyvoy does not support yet (supported: DEFAULT; Envoy's ratelimit filter implements no other)`,
    ]);
    expect(problems(filter({}), perRoute({ vh_rate_limits: "SOMETIMES" }))[0]).toContain(`${ROUTE_PER_FILTER}.envoy.filters.http.ratelimit.vh_rate_limits`);
  });
});
