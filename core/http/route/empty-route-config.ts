import type { RouteConfiguration } from "../../config/bootstrap.ts";

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
