import type { Logger } from "./log.ts";
import type { Runtime } from "./port.ts";
import type { StatsStore } from "./stats/stats-store.ts";
import type { AccessLogger } from "./access-log/logger.ts";
import type { ClusterManager } from "./upstream/cluster-manager.ts";

/** What filters and listeners may use of the server (Envoy's `Server::Configuration::FactoryContext`). */
export interface ServerContext {
  readonly runtime: Runtime;
  readonly log: Logger;
  readonly clusterManager: ClusterManager;
  readonly stats: StatsStore;
  /** The access loggers configured on a filter (its `access_log`), opened at startup. */
  accessLoggers(filterConfig: object): readonly AccessLogger[];
}
