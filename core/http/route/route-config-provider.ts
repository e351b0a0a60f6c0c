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
