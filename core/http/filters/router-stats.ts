import type { ServerContext } from "../../server-context.ts";
import type { Counter } from "../../stats/counter.ts";
import type { HttpFilterChainContext } from "./http-filter-registry.ts";

/** Why a 3xx that internal_redirect_policy covers went downstream instead (Envoy's passthrough_internal_redirect_*). */
export type PassthroughReason = "bad_location" | "unsafe_scheme" | "too_many_redirects" | "no_route" | "predicate";

/**
 * The router filter's own stats (Envoy's RouterStats, rooted at `http.<stat_prefix>.`
 * like the connection manager's): made once per filter chain, shared by its streams.
 */
export class RouterStats {
  readonly passthroughInternalRedirect: Readonly<Record<PassthroughReason, Counter>>;
  /** A request the router found no route for (the connection manager's stats declare it too, so it shows from the start). */
  readonly noRoute: Counter;

  constructor(server: ServerContext, statPrefix: string) {
    const scope = server.stats.scope(`http.${statPrefix}.`);
    this.noRoute = scope.counter("no_route");
    this.passthroughInternalRedirect = {
      bad_location: scope.counter("passthrough_internal_redirect_bad_location"),
      unsafe_scheme: scope.counter("passthrough_internal_redirect_unsafe_scheme"),
      too_many_redirects: scope.counter("passthrough_internal_redirect_too_many_redirects"),
      no_route: scope.counter("passthrough_internal_redirect_no_route"),
      predicate: scope.counter("passthrough_internal_redirect_predicate"),
    };
  }
}

const byChain = new WeakMap<HttpFilterChainContext, RouterStats>();

/** The chain's RouterStats, made by its first stream. */
export function routerStats(server: ServerContext, chain: HttpFilterChainContext): RouterStats {
  let stats = byChain.get(chain);
  if (stats === undefined) byChain.set(chain, (stats = new RouterStats(server, chain.statPrefix)));
  return stats;
}
