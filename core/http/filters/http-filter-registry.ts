import type { HttpFilterConfig, RouteConfiguration } from "../../config/bootstrap.ts";
import type { ServerContext } from "../../server-context.ts";
import type { StreamDecoderFilter, StreamEncoderFilter, StreamFilter } from "../filter.ts";
import type { FilterManager } from "../conn-manager/filter-manager.ts";
import { LazyFactories } from "../../util/lazy-factories.ts";

/**
 * How one HTTP filter type is built for each stream (Envoy's `NamedHttpFilterConfigFactory`
 * and the `FilterFactoryCb` it returns): `kind` says which chains the filter joins —
 * decoder (request, in config order), encoder (response, in reverse) or both (dual).
 * `name` is the filter's name in http_filters (the key of its typed_per_filter_config).
 */
export type HttpFilterFactory<C = unknown> = (
  | { kind: "decoder"; create(config: C, server: ServerContext, chain: HttpFilterChainContext, name: string): StreamDecoderFilter }
  | { kind: "encoder"; create(config: C, server: ServerContext, chain: HttpFilterChainContext, name: string): StreamEncoderFilter }
  | { kind: "dual"; create(config: C, server: ServerContext, chain: HttpFilterChainContext, name: string): StreamFilter }
) & {
  /**
   * Optional: throw if this runtime cannot run the filter as configured (a port
   * capability it lacks), when the listener is built — at start, not at the first request.
   */
  check?(config: C, server: ServerContext, name: string, chain: HttpFilterChainContext): void;
  /**
   * Optional: build what the filter's streams share — its FilterConfig, with its stats —
   * when the listener is built. Envoy's factory makes the FilterConfig when the HCM config
   * loads (e.g. fault_filter.cc FaultFilterConfig → generateStats), so its counters are in
   * /stats at 0 before any request, not at the first one.
   */
  prepare?(config: C, server: ServerContext, chain: HttpFilterChainContext, name: string): void;
  /**
   * Optional: the same for one of the filter's typed_per_filter_config entries, when the
   * route table is built (Envoy's createRouteSpecificFilterConfig, called as the route
   * configuration loads): e.g. a per-route local_ratelimit's own limiter and stats.
   */
  preparePerRoute?(config: unknown, server: ServerContext): void;
  /**
   * Optional: what a filter config needs done asynchronously before its listener is built,
   * after the factory loaded (the Lua filter reads its code's files and the modules they
   * require, then runs the code's top level): awaited with the loads; a rejection fails the
   * listener's build. Undefined when there is nothing to wait for (no turn of the event loop).
   */
  resolve?(config: C, server: ServerContext, chain: HttpFilterChainContext, name: string): Promise<void> | undefined;
};

/** What a filter may know of the connection manager whose chain it joins. */
export interface HttpFilterChainContext {
  /** The HCM's stat_prefix: filters such as fault and cors count under `http.<statPrefix>.`. */
  readonly statPrefix: string;
  /**
   * Where the chain's filters' own stats go, when not under `http.<statPrefix>.`: a
   * cluster's upstream HTTP filters count under `cluster.<name>.`, as Envoy's cluster gives
   * its upstream filter factories its own stats scope (ClusterInfoImpl, upstream_impl.cc).
   */
  readonly statsScope?: string;
  /**
   * The chain runs per upstream attempt (a cluster's http_filters, the router's
   * upstream_http_filters): Envoy's filters ask their factory context (isUpstream, as
   * ext_proc's FilterConfig) and skip what only a downstream stream can do.
   */
  readonly upstream?: boolean;
}

/** The scope the chain's filters' stats go under: `http.<statPrefix>.`, or the chain's own. */
export function filterStatsScope(chain: HttpFilterChainContext): string {
  return chain.statsScope ?? `http.${chain.statPrefix}.`;
}

/** Built-in and loaded factories; lazily registered types (registerLazyHttpFilterFactory) and their loads. */
const REGISTRY = new LazyFactories<HttpFilterFactory>("HTTP filter");
const FACTORIES = REGISTRY.factories;
const LOADERS = REGISTRY.loaders;

/**
 * Make an HTTP filter type buildable from http_filters (the built-in ones are registered
 * in core/extensions.ts; its config schema is declared in
 * config/http-connection-manager-schema.ts; its per-route schema, if any, in
 * config/per-filter-config-schema.ts).
 */
export function registerHttpFilterFactory<C>(type: string, factory: HttpFilterFactory<C>): void {
  FACTORIES.set(type, factory as HttpFilterFactory);
}

/**
 * Make an HTTP filter type buildable whose module loads only when a listener first uses it
 * (loadHttpFilterFactories, awaited before the listener is built): a start-up with no such
 * filter evaluates none of its code (in a bundle, esbuild keeps an import()ed module's top
 * level in a function run on that import).
 */
export function registerLazyHttpFilterFactory<C>(type: string, load: () => Promise<HttpFilterFactory<C>>): void {
  LOADERS.set(type, load as () => Promise<HttpFilterFactory>);
}

/**
 * Load the lazily registered factories of `types` not loaded yet. Undefined when there is
 * none to load, so that a caller adds no turn of the event loop (a memory runtime stepped by
 * hand) unless a module must be imported.
 */
export function loadHttpFilterFactories(types: Iterable<string>): Promise<void> | undefined {
  let loading: Promise<void>[] | undefined;
  for (const type of types) {
    const load = REGISTRY.load(type);
    if (load !== undefined) (loading ??= []).push(load);
  }
  return loading === undefined ? undefined : Promise.all(loading).then(() => {});
}

/**
 * Load the factories of `configs` (loadHttpFilterFactories), then run the `resolve` of the
 * factories that have one on their configs. Undefined when there is nothing to do.
 */
export function resolveHttpFilters(configs: readonly HttpFilterConfig[], server: ServerContext, chain: HttpFilterChainContext): Promise<void> | undefined {
  const loading = loadHttpFilterFactories(configs.map((config) => config.type));
  const resolveAll = (): Promise<void> | undefined => {
    let resolving: Promise<void>[] | undefined;
    for (const config of configs) {
      const resolved = FACTORIES.get(config.type)?.resolve?.(config.config, server, chain, config.name);
      if (resolved !== undefined) (resolving ??= []).push(resolved);
    }
    return resolving === undefined ? undefined : Promise.all(resolving).then(() => {});
  };
  return loading === undefined ? resolveAll() : loading.then(resolveAll);
}

/** Build one stream's filter chain from the HCM's http_filters, in order (Envoy's FilterChainFactory::createFilterChain). */
export function createFilterChain(configs: readonly HttpFilterConfig[], server: ServerContext, manager: FilterManager, chain: HttpFilterChainContext): void {
  // A loop, not forEach(): this runs per request, and a callback would be garbage each time.
  for (let i = 0; i < configs.length; i++) {
    const config = configs[i]!;
    const factory = FACTORIES.get(config.type) ?? missingFactory(config.type);
    switch (factory.kind) {
      case "decoder":
        manager.addStreamDecoderFilter(factory.create(config.config, server, chain, config.name), config.name);
        break;
      case "encoder":
        manager.addStreamEncoderFilter(factory.create(config.config, server, chain, config.name), config.name);
        break;
      case "dual":
        manager.addStreamFilter(factory.create(config.config, server, chain, config.name), config.name);
        break;
    }
  }
}

/**
 * At listener build: every filter of the chain can run on this runtime (the factories'
 * `check`), then each builds what its streams share (`prepare`): its stats exist from now.
 */
export function checkFilterChain(configs: readonly HttpFilterConfig[], server: ServerContext, chain: HttpFilterChainContext): void {
  // Every type must be loaded here: a lazy one skipped would lose its check (jwt_authn's starts its JWKS fetch).
  for (const config of configs) (FACTORIES.get(config.type) ?? missingFactory(config.type)).check?.(config.config, server, config.name, chain);
  for (const config of configs) FACTORIES.get(config.type)!.prepare?.(config.config, server, chain, config.name);
}

/**
 * When a route table is built (at listener build, and on each RDS update): the per-route
 * configs of the chain's filters, on the route configuration, its virtual hosts and their
 * routes, built now (the factories' `preparePerRoute`). An entry is the config of the
 * filter of that name; one naming no filter of the chain is never used, and is skipped.
 */
export function prepareRouteConfigs(configs: readonly HttpFilterConfig[], routes: RouteConfiguration, server: ServerContext): void {
  const byName = new Map<string, HttpFilterFactory>();
  for (const config of configs) {
    const factory = FACTORIES.get(config.type) ?? missingFactory(config.type);
    if (factory.preparePerRoute !== undefined) byName.set(config.name, factory);
  }
  if (byName.size === 0) return;
  const prepare = (level: { typedPerFilterConfig?: ReadonlyMap<string, unknown> }) => {
    if (level.typedPerFilterConfig === undefined) return;
    for (const [name, config] of level.typedPerFilterConfig) byName.get(name)?.preparePerRoute!(config, server);
  };
  prepare(routes);
  for (const vhost of routes.virtualHosts) {
    prepare(vhost);
    for (const route of vhost.routes) prepare(route);
  }
}

/** @internal The lazily registered types and their loaders (a test runs each once). */
export function lazyHttpFilterLoaders(): ReadonlyMap<string, () => Promise<HttpFilterFactory>> {
  return LOADERS;
}

/**
 * No factory for `type` at build: an internal error, never a config one. The config schema
 * admits only registered types, and a lazy type's module is loaded before its listener is
 * built (loadListenerFilters, awaited by ListenerManager.build).
 */
function missingFactory(type: string): never {
  if (LOADERS.has(type)) throw new Error(`internal error: HTTP filter type ${type} is registered lazily and its module was not loaded before the listener was built (loadListenerFilters)`);
  throw new Error(`internal error: no factory for HTTP filter type ${type}`);
}
