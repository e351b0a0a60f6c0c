import type { RedisProxyConfig } from "../../config/bootstrap.ts";
import type { ServerContext } from "../../server-context.ts";
import type { ReadFilterFactory } from "../filter.ts";
import { CommandSplitter } from "./command-splitter.ts";
import { RedisConnPool } from "./redis-conn-pool.ts";
import { RedisProxyFilter, type RedisProxyFilterConfig } from "./redis-proxy-filter.ts";
import { RedisProxyStats } from "./redis-proxy-stats.ts";
import { RedisRouter } from "./redis-router.ts";

/**
 * The filter's config, built once per listener (per worker): the router, one connection
 * pool per cluster a route names, the stats; each connection gets a filter over them
 * (Envoy's RedisProxyFilterConfigFactory, redis_proxy/config.cc).
 */
export function redisProxyFilterFactory(config: RedisProxyConfig, context: ServerContext): ReadFilterFactory {
  const router = new RedisRouter(config.routes, config.catchAllRoute, config.caseInsensitive);
  const pools = new Map<string, RedisConnPool>();
  for (const cluster of router.clusters()) {
    // Envoy's config.cc: a route's cluster must exist when the listener is made.
    if (!context.clusterManager.get(cluster)) throw new Error(`redis_proxy ${config.statPrefix}: unknown cluster '${cluster}'`);
    pools.set(cluster, new RedisConnPool(cluster, context, config));
  }
  // The listener gone (removed or replaced, its connections closed): its upstream connections go too.
  context.onListenerDestroyed?.(() => {
    for (const pool of pools.values()) pool.close();
  });
  const stats = new RedisProxyStats(context.stats, config.statPrefix, config.latencyInMicros);
  const shared: RedisProxyFilterConfig = {
    stats,
    splitter: new CommandSplitter(router, pools, stats, context.runtime, config.latencyInMicros),
    downstreamAuthPasswords: config.downstreamAuthPasswords,
    downstreamAuthUsername: config.downstreamAuthUsername,
    drain: context,
  };
  return (connection) => new RedisProxyFilter(shared, connection);
}
