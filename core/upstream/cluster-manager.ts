import type { ClusterConfig } from "../config/bootstrap.ts";
import type { ServerContext } from "../server-context.ts";
import type { StatsStore } from "../stats/stats-store.ts";
import { Cluster } from "./cluster.ts";
import type { Host } from "./host.ts";
import { Http1ConnPool } from "./http1-conn-pool.ts";

/** Envoy's default upstream idle_timeout (common_http_protocol_options): 1 hour. */
const DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS = 3_600_000;

/** Owns every cluster by name, and their HTTP connection pools per host (Envoy's `Upstream::ClusterManager`). */
export class ClusterManager {
  private readonly clusters = new Map<string, Cluster>();
  private readonly pools = new Map<Host, Http1ConnPool>();
  /** Set once the server exists (pools need its runtime and log). */
  context: ServerContext | undefined;

  constructor(configs: readonly ClusterConfig[], stats: StatsStore) {
    for (const config of configs) this.clusters.set(config.name, new Cluster(config, stats));
  }

  get(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }

  /** Every cluster, in config order (the admin's /clusters). */
  all(): Cluster[] {
    return [...this.clusters.values()];
  }

  /** The HTTP/1 connection pool for one host of a cluster, created on first use. */
  httpConnPool(cluster: Cluster, host: Host): Http1ConnPool {
    let pool = this.pools.get(host);
    if (!pool) {
      pool = new Http1ConnPool(cluster, host, this.context!, DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS);
      this.pools.set(host, pool);
    }
    return pool;
  }
}
