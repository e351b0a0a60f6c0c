/**
 * The HTTP filters of a cluster's http_filters, made per upstream attempt by the same
 * factories as the HCM's (http-filter-registry.ts), as Envoy's filters register an
 * UpstreamHttpFilterConfigFactory beside their NamedHttpFilterConfigFactory
 * (header_mutation/config.cc, buffer/config.cc). The config schema admits only the types
 * that run unchanged upstream (config/upstream-http-filters-schema.ts:
 * UPSTREAM_HTTP_FILTER_TYPES); their modules load with the cluster's code, before it serves.
 */
import type { ClusterConfig, HttpFilterConfig } from "../../config/bootstrap.ts";
import type { ServerContext } from "../../server-context.ts";
import type { FilterManager } from "../conn-manager/filter-manager.ts";
import { createFilterChain, loadHttpFilterFactories, type HttpFilterChainContext } from "./http-filter-registry.ts";

/**
 * What the upstream filters know of their chain. None of the types allowed upstream keeps
 * stats; one that does would count under its cluster's scope (Envoy's upstream filter
 * factories get the cluster's stats scope), not an HCM's.
 */
const UPSTREAM_CHAIN: HttpFilterChainContext = { statPrefix: "" };

/** The modules of `config`'s upstream filters, loaded (cluster-manager.ts loadCode); undefined when there is nothing to load. */
export function loadUpstreamHttpFilters(config: ClusterConfig): Promise<void> | undefined {
  const filters = config.upstreamHttpFilters;
  return filters === undefined ? undefined : loadHttpFilterFactories(filters.map((filter) => filter.type));
}

/** Add the cluster's filters to an attempt's chain, in config order (Envoy's createFilterChain per UpstreamRequest). */
export function addUpstreamHttpFilters(configs: readonly HttpFilterConfig[], server: ServerContext, manager: FilterManager): void {
  createFilterChain(configs, server, manager, UPSTREAM_CHAIN);
}
