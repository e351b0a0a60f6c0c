import type { RouteConfiguration } from "../../config/bootstrap.ts";
import type { RouteTable } from "./route-table.ts";

/**
 * Envoy's Router::RouteConfigProvider: where an HTTP connection manager finds its route
 * table. A static route_config's never changes; an RDS one's
 * (rds-route-config-provider.ts) is replaced whole by each accepted update, and each new
 * stream snaps the table current when it begins.
 */
export interface RouteConfigProvider {
  readonly routeTable: RouteTable;
}

/** Envoy's NullConfigImpl: what an RDS connection manager routes with before its first update (no virtual host: 404 NR). */
export function emptyRouteConfiguration(name: string): RouteConfiguration {
  return {
    name,
    virtualHosts: [],
    requestHeadersToAdd: [],
    requestHeadersToRemove: [],
    responseHeadersToAdd: [],
    responseHeadersToRemove: [],
    ignorePortInHostMatching: false,
    mostSpecificHeaderMutationsWins: false,
  };
}
