import type { NetworkFilterConfig } from "../config/bootstrap.ts";
import type { ServerContext } from "../server-context.ts";
import type { ReadFilterFactory } from "./filter.ts";

/**
 * How one network filter type turns its validated config into a per-connection factory
 * (Envoy's `NamedNetworkFilterConfigFactory` and the `FilterFactoryCb` it returns). Run
 * once per listener; the filter it returns is built for each connection.
 */
export type NetworkFilterFactory<C = unknown> = (config: C, context: ServerContext) => ReadFilterFactory;

const FACTORIES = new Map<string, NetworkFilterFactory>();
/** Loads under way, so that a type asked for twice (two listeners, two chains) is imported and made once. */
const LOADING = new Map<string, Promise<void>>();
/** Filter types whose module is imported when a config first uses one (registerLazyNetworkFilterFactory). */
const LOADERS = new Map<string, () => Promise<NetworkFilterFactory>>();

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
const DEPENDENCIES = new Map<string, (config: never) => Promise<void> | undefined>();

export function registerNetworkFilterDependencies<T extends NetworkFilterConfig["type"]>(
  type: T,
  load: (config: Extract<NetworkFilterConfig, { type: T }>["config"]) => Promise<void> | undefined,
): void {
  DEPENDENCIES.set(type, load as (config: never) => Promise<void> | undefined);
}

/**
 * Load what `filters` need and is not loaded yet: lazily registered factories and their
 * dependencies. Undefined when there is nothing to load, so that the caller adds no turn of
 * the event loop (a memory runtime stepped by hand) unless a module must be imported.
 */
export function loadNetworkFilterFactories(filters: Iterable<NetworkFilterConfig>): Promise<void> | undefined {
  let loading: Promise<unknown>[] | undefined;
  for (const filter of filters) {
    const load = loadFactory(filter.type);
    if (load !== undefined) (loading ??= []).push(load);
    const dependencies = DEPENDENCIES.get(filter.type)?.(filter.config as never);
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

/** The load of `type`'s factory, when it is registered lazily and not loaded yet. */
function loadFactory(type: string): Promise<void> | undefined {
  if (FACTORIES.has(type)) return undefined;
  let loading = LOADING.get(type);
  if (loading === undefined) {
    const load = LOADERS.get(type);
    if (load === undefined) return undefined;
    loading = load().then(
      (factory) => {
        FACTORIES.set(type, factory);
        LOADING.delete(type);
      },
      (err: unknown) => {
        // Not kept: a later listener tries again.
        LOADING.delete(type);
        throw new Error(`cannot load the code of network filter type '${type}': ${err instanceof Error ? err.message : String(err)}`);
      },
    );
    LOADING.set(type, loading);
  }
  return loading;
}
