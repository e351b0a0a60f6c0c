import type { NetworkFilterConfig } from "../config/bootstrap.ts";
import type { ServerContext } from "../server-context.ts";
import type { ReadFilterFactory } from "./filter.ts";
import { TcpProxyFilter } from "./tcp-proxy.ts";
import { ConnectionLimit, ConnectionLimitFilter } from "./connection-limit.ts";
import { TcpProxyStats } from "./tcp-proxy-stats.ts";
import { ConnectionManagerStats } from "../http/conn-manager/connection-manager-stats.ts";
import { ConnectionManager } from "../http/conn-manager/connection-manager.ts";
import { RouteTable } from "../http/router/route-table.ts";

/**
 * Turns a validated network filter config into a per-connection factory, as Envoy's
 * `NamedNetworkFilterConfigFactory` does. The config loader has already checked that
 * referenced clusters exist.
 */
export function createReadFilterFactory(filter: NetworkFilterConfig, context: ServerContext): ReadFilterFactory {
  switch (filter.type) {
    case "envoy.filters.network.tcp_proxy": {
      const cluster = context.clusterManager.get(filter.config.cluster);
      if (!cluster) throw new Error(`tcp_proxy ${filter.config.statPrefix}: unknown cluster '${filter.config.cluster}'`);
      const stats = new TcpProxyStats(context.stats, filter.config.statPrefix);
      return () => new TcpProxyFilter(filter.config, cluster, context, stats);
    }
    case "envoy.filters.network.http_connection_manager": {
      // The route table is compiled once per listener and shared by its connections.
      const routeTable = new RouteTable(filter.config.routeConfig);
      const stats = new ConnectionManagerStats(context.stats, filter.config.statPrefix);
      return () => new ConnectionManager(filter.config, routeTable, context, stats);
    }
    case "envoy.filters.network.connection_limit": {
      // One count per filter config, shared by the connections through its chain.
      const limit = new ConnectionLimit(filter.config, context);
      return () => new ConnectionLimitFilter(limit, context);
    }
  }
}
