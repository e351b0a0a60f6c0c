import type { ServerContext } from "../../server-context.ts";
import type { Counter } from "../../stats/counter.ts";
import { counterSet, type CounterSet } from "../../stats/counter-set.ts";
import type { HttpFilterChainContext } from "./http-filter-registry.ts";

/** Why a 3xx that internal_redirect_policy covers went downstream instead (Envoy's passthrough_internal_redirect_*). */
export type PassthroughReason = "bad_location" | "unsafe_scheme" | "too_many_redirects" | "no_route" | "predicate";

/**
 * Envoy's ALL_ROUTER_STATS (source/common/router/context_impl.h), less the passthrough ones
 * kept by reason below. rq_redirect is declared but, as in Envoy since redirects became direct
 * responses (router.cc decodeHeaders counts a redirect route as rq_direct_response), never counted.
 */
const ROUTER_COUNTERS = ["no_cluster", "no_route", "rq_direct_response", "rq_redirect", "rq_reset_after_downstream_response_started", "rq_total"] as const;

/**
 * The router filter's own stats (Envoy's FilterStats, rooted at `http.<stat_prefix>.` like the
 * connection manager's): made with the chain's router (its FilterConfig), shared by its streams,
 * so every HCM with a router shows them at 0 from the start and one without has none.
 */
export class RouterStats {
  readonly passthroughInternalRedirect: Readonly<Record<PassthroughReason, Counter>>;
  readonly counters: CounterSet<(typeof ROUTER_COUNTERS)[number]>;

  constructor(server: ServerContext, statPrefix: string) {
    const prefix = `http.${statPrefix}.`;
    this.counters = counterSet(server.stats, prefix, ROUTER_COUNTERS);
    const scope = server.stats.scope(prefix);
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

/** The chain's RouterStats: made when the chain's router is built (its factory's prepare), found by its streams. */
export function routerStats(server: ServerContext, chain: HttpFilterChainContext): RouterStats {
  let stats = byChain.get(chain);
  if (stats === undefined) byChain.set(chain, (stats = new RouterStats(server, chain.statPrefix)));
  return stats;
}
