/**
 * Upstream HTTP filters — a cluster's http_filters, or the router's upstream_http_filters —
 * made per upstream attempt by the same factories as the HCM's (http-filter-registry.ts), as
 * Envoy's filters register an UpstreamHttpFilterConfigFactory beside their
 * NamedHttpFilterConfigFactory (header_mutation/config.cc, buffer/config.cc). The config
 * schema admits only the types that run unchanged upstream
 * (config/upstream-http-filters-schema.ts: UPSTREAM_HTTP_FILTER_TYPES). A cluster's modules
 * load with the cluster's code, the router's with its HCM's filters, before either serves.
 */
import type { ClusterConfig, HttpFilterConfig } from "../../config/bootstrap.ts";
import type { ServerContext } from "../../server-context.ts";
import type { FilterManager } from "../conn-manager/filter-manager.ts";
import { checkFilterChain, createFilterChain, loadHttpFilterFactories, resolveHttpFilters, type HttpFilterChainContext } from "./http-filter-registry.ts";

/** One list of upstream filters and the chain they are made in (their owner's: Envoy gives each list's factories its owner's context). */
export interface UpstreamHttpFilterChain {
  readonly filters: readonly HttpFilterConfig[];
  readonly chain: HttpFilterChainContext;
}

/** Each list's chain, made once (a lookup per attempt, no allocation). */
const CHAINS = new WeakMap<readonly HttpFilterConfig[], UpstreamHttpFilterChain>();

function chainOf(filters: readonly HttpFilterConfig[], chain: HttpFilterChainContext): UpstreamHttpFilterChain {
  let made = CHAINS.get(filters);
  if (made === undefined) CHAINS.set(filters, (made = { filters, chain }));
  return made;
}

/**
 * The context the router's upstream_http_filters are made (and checked, prepared) in: its
 * HCM's (Envoy's router FilterConfig builds them with the HCM's factory context), marked
 * upstream — an UpstreamFactoryContext, so the filters know (ext_proc's isUpstream).
 */
export function routerUpstreamChainContext(chain: HttpFilterChainContext): HttpFilterChainContext {
  // router.cc gives the list's factories `context.scope().prefix()` as their stats prefix:
  // the HCM's factory context's scope is the listener's global one, prefix "" — so the
  // router's ext_proc counts at the root (`ext_proc.…`), not under `http.<stat_prefix>.`.
  return { ...chain, statsScope: "", upstream: true };
}

/** The router's upstream_http_filters as a chain in its HCM's context. */
export function routerUpstreamHttpFilterChain(filters: readonly HttpFilterConfig[] | undefined, chain: HttpFilterChainContext): UpstreamHttpFilterChain | undefined {
  // Per stream (a router filter each): the lookup first, the context made only the first time.
  return filters === undefined ? undefined : (CHAINS.get(filters) ?? chainOf(filters, routerUpstreamChainContext(chain)));
}

/**
 * The chain an HTTP attempt to `cluster` runs, as Envoy's UpstreamRequest picks it
 * (source/common/router/upstream_request.cc): the cluster's own http_filters when it has a
 * list — even only the codec (ClusterInfoImpl's has_configured_http_filters_) — else the
 * router's upstream_http_filters. Undefined when the one that wins has no filter: the
 * attempt writes to its connection.
 */
export function selectUpstreamHttpFilterChain(cluster: ClusterConfig, router: UpstreamHttpFilterChain | undefined): UpstreamHttpFilterChain | undefined {
  const own = cluster.upstreamHttpFilters;
  if (own === undefined) return router;
  // Per attempt: the lookup first, the cluster's context made only the first time.
  return own.length === 0 ? undefined : (CHAINS.get(own) ?? chainOf(own, clusterChain(cluster)));
}

/**
 * What a cluster's upstream filters know of their chain: no HCM, and their stats under the
 * cluster's (`cluster.<name>.ext_proc.…`). Envoy's ClusterInfoImpl (upstream_impl.cc) gave
 * its upstream filter factories the cluster's stats scope *and* that scope's prefix, which
 * doubled the name (`cluster.<name>.cluster.<name>.ext_proc.…`); envoyproxy/envoy#45987
 * (runtime guard envoy.reloadable_features.upstream_http_filters_correct_stats_prefix, on by
 * default) gives them the root scope and the prefix `cluster.<name>.`: current Envoy's names.
 */
function clusterChain(cluster: ClusterConfig): HttpFilterChainContext {
  return { statPrefix: "", statsScope: `cluster.${cluster.name}.`, upstream: true };
}

/** The modules of `config`'s upstream filters, loaded (cluster-manager.ts loadCode); undefined when there is nothing to load. */
export function loadUpstreamHttpFilters(config: ClusterConfig): Promise<void> | undefined {
  const filters = config.upstreamHttpFilters;
  return filters === undefined || filters.length === 0 ? undefined : loadHttpFilterFactories(filters.map((filter) => filter.type));
}

/**
 * When the cluster loads (its modules in, cluster-manager.ts loadCode): its upstream
 * filters resolved (what their configs read first: the Lua filter's code and modules), then
 * checked and prepared in the cluster's chain, as the HCM's and the router's lists are —
 * their stats (cluster.<name>.ext_proc.…) made at 0 then, as Envoy's ClusterInfoImpl
 * creates its filter factories with the cluster (upstream_impl.cc), not at the first attempt.
 */
export function prepareUpstreamHttpFilters(config: ClusterConfig, server: ServerContext): Promise<void> | undefined {
  const filters = config.upstreamHttpFilters;
  if (filters === undefined || filters.length === 0) return undefined;
  const chain = (CHAINS.get(filters) ?? chainOf(filters, clusterChain(config))).chain;
  const resolving = resolveHttpFilters(filters, server, chain);
  if (resolving === undefined) return void checkFilterChain(filters, server, chain);
  return resolving.then(() => checkFilterChain(filters, server, chain));
}

/** Add the list's filters to an attempt's chain, in config order (Envoy's createFilterChain per UpstreamRequest). */
export function addUpstreamHttpFilters(upstream: UpstreamHttpFilterChain, server: ServerContext, manager: FilterManager): void {
  createFilterChain(upstream.filters, server, manager, upstream.chain);
}
