import type { NetworkFilterConfig } from "../config/bootstrap.ts";
import type { ServerContext } from "../server-context.ts";
import type { ReadFilterFactory } from "./filter.ts";
import { LazyFactories } from "../util/lazy-factories.ts";

/**
 * How one network filter type turns its validated config into a per-connection factory
 * (Envoy's `NamedNetworkFilterConfigFactory` and the `FilterFactoryCb` it returns). Run
 * once per listener; the filter it returns is built for each connection.
 */
export type NetworkFilterFactory<C = unknown> = (config: C, context: ServerContext) => ReadFilterFactory;

/** Built-in and loaded factories; lazily registered types (registerLazyNetworkFilterFactory) and their loads. */
const REGISTRY = new LazyFactories<NetworkFilterFactory>("network filter");
const FACTORIES = REGISTRY.factories;
const LOADERS = REGISTRY.loaders;

/**
 * Make a network filter type buildable from a listener's filter chain. The built-in
 * ones are registered in core/extensions.ts; their config schemas are in config/schema.ts.
 */
export function registerNetworkFilterFactory<T extends NetworkFilterConfig["type"]>(
  type: T,
  factory: NetworkFilterFactory<Extract<NetworkFilterConfig, { type: T }>["config"]>,
): void {
  FACTORIES.set(type, factory as NetworkFilterFactory);
}

/**
 * Make a network filter type buildable whose module loads only when a listener first uses
 * it (loadNetworkFilterFactories, awaited before the listener is built): a start-up with no
 * such filter evaluates none of its code.
 */
export function registerLazyNetworkFilterFactory<T extends NetworkFilterConfig["type"]>(
  type: T,
  load: () => Promise<NetworkFilterFactory<Extract<NetworkFilterConfig, { type: T }>["config"]>>,
): void {
  LOADERS.set(type, load as () => Promise<NetworkFilterFactory>);
}

/**
 * What a filter type needs loaded before a listener with it is built, beyond its own
 * factory (the HTTP connection manager: its http_filters' factories).
 */
const DEPENDENCIES = new Map<string, (config: never, context: ServerContext) => Promise<void> | undefined>();

export function registerNetworkFilterDependencies<T extends NetworkFilterConfig["type"]>(
  type: T,
  load: (config: Extract<NetworkFilterConfig, { type: T }>["config"], context: ServerContext) => Promise<void> | undefined,
): void {
  DEPENDENCIES.set(type, load as (config: never, context: ServerContext) => Promise<void> | undefined);
}

/**
 * Load what `filters` need and is not loaded yet: lazily registered factories and their
 * dependencies. Undefined when there is nothing to load, so that the caller adds no turn of
 * the event loop (a memory runtime stepped by hand) unless a module must be imported.
 */
export function loadNetworkFilterFactories(filters: Iterable<NetworkFilterConfig>, context: ServerContext): Promise<void> | undefined {
  let loading: Promise<unknown>[] | undefined;
  for (const filter of filters) {
    const load = REGISTRY.load(filter.type);
    if (load !== undefined) (loading ??= []).push(load);
    const dependencies = DEPENDENCIES.get(filter.type)?.(filter.config as never, context);
    if (dependencies !== undefined) (loading ??= []).push(dependencies);
  }
  return loading === undefined ? undefined : Promise.all(loading).then(() => {});
}

/**
 * The per-connection factory for one network filter of a listener's chain. The config
 * loader has already checked that referenced clusters exist.
 */
export function createReadFilterFactory(filter: NetworkFilterConfig, context: ServerContext): ReadFilterFactory {
  const factory = FACTORIES.get(filter.type);
  if (factory !== undefined) return factory(filter.config, context);
  // An internal error, never a config one: the config schema admits only registered types,
  // and a lazy type's module is loaded before its listener is built (loadListenerFilters).
  if (LOADERS.has(filter.type)) throw new Error(`internal error: network filter type ${filter.type} is registered lazily and its module was not loaded before the listener was built (loadListenerFilters)`);
  throw new Error(`internal error: no factory for network filter type ${filter.type}`);
}

/** @internal The lazily registered types and their loaders (a test runs each once). */
export function lazyNetworkFilterLoaders(): ReadonlyMap<string, () => Promise<NetworkFilterFactory>> {
  return LOADERS;
}
