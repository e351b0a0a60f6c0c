import type { RedisRouteConfig } from "../../config/bootstrap.ts";
import { asciiLower } from "../../util/ascii-lower.ts";

/** What a key routes to: the cluster, and the key as it goes upstream (remove_prefix). */
export interface RedisRouteMatch {
  readonly cluster: string;
  readonly key: string;
}

/**
 * prefix_routes (Envoy's PrefixRoutes, redis_proxy/router_impl.cc): the route whose prefix
 * is the key's longest, else catch_all_route; with case_insensitive the key's case does not
 * matter (prefixes are lower-cased at load); remove_prefix strips the matched prefix from the
 * key sent upstream. Keys and prefixes are byte strings (one char per byte).
 */
export class RedisRouter {
  /** Longest prefix first: the first that matches is the longest. */
  private readonly routes: readonly RedisRouteConfig[];

  constructor(
    routes: readonly RedisRouteConfig[],
    private readonly catchAll: RedisRouteConfig | undefined,
    private readonly caseInsensitive: boolean,
  ) {
    this.routes = routes.map((r) => (caseInsensitive ? { ...r, prefix: asciiLower(r.prefix) } : r)).sort((a, b) => b.prefix.length - a.prefix.length);
  }

  route(key: string): RedisRouteMatch | undefined {
    const lookup = this.caseInsensitive ? asciiLower(key) : key;
    for (const route of this.routes) {
      if (lookup.startsWith(route.prefix)) return { cluster: route.cluster, key: route.removePrefix ? key.slice(route.prefix.length) : key };
    }
    return this.catchAll === undefined ? undefined : { cluster: this.catchAll.cluster, key };
  }

  /** Every cluster a route names (their pools are made at start). */
  clusters(): Set<string> {
    const names = new Set(this.routes.map((r) => r.cluster));
    if (this.catchAll) names.add(this.catchAll.cluster);
    return names;
  }
}
