/**
 * Loading an HTTP filter's config the way a user writes it: one filter before the router in
 * an HCM whose one route goes to `backend` (clusters `backend` and `authz` exist), so a
 * test states only the filter and, when it wants, what the route adds.
 */
import { loadBootstrap } from "../../../core/config/load.ts";
import { httpProxyConfig } from "../../support/configs.ts";
import { problemsOf } from "./config-problems.ts";

export const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
/** Where a problem in the filter's typed_config is reported. */
export const HCM_FILTERS = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config";
/** Where a problem in the route's typed_per_filter_config is reported. */
export const ROUTE_PER_FILTER = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].typed_per_filter_config";

export function load(filter: object, routeExtra: Record<string, unknown> = {}, bootstrapExtra: Record<string, unknown> = {}) {
  const config = httpProxyConfig({
    listenPort: 10000,
    clusters: { backend: [8080], authz: [9000] },
    routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend" }, ...routeExtra } }],
    hcm: { http_filters: [filter, ROUTER] },
  });
  return loadBootstrap(JSON.stringify({ ...config, ...bootstrapExtra }), "json");
}

/** The problems the loader reports (the test fails if it loads). */
export function problems(filter: object, routeExtra: Record<string, unknown> = {}, bootstrapExtra: Record<string, unknown> = {}): string[] {
  return problemsOf(() => load(filter, routeExtra, bootstrapExtra));
}

/** The filter's validated config. */
export function filterConfig(filter: object): Record<string, unknown> {
  const listener = load(filter).listeners[0] as unknown as { filterChains: { filters: { config: { httpFilters: { config: unknown }[] } }[] }[] };
  return listener.filterChains[0]!.filters[0]!.config.httpFilters[0]!.config as Record<string, unknown>;
}
