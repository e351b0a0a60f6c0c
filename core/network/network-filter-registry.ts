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
 * The per-connection factory for one network filter of a listener's chain. The config
 * loader has already checked that referenced clusters exist.
 */
export function createReadFilterFactory(filter: NetworkFilterConfig, context: ServerContext): ReadFilterFactory {
  const factory = FACTORIES.get(filter.type);
  if (factory === undefined) throw new Error(`no factory for network filter type ${filter.type}`); // the config schema admits only registered types
  return factory(filter.config, context);
}
