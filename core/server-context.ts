import type { Logger } from "./log.ts";
import type { Runtime } from "./port.ts";
import type { ClusterManager } from "./upstream/cluster-manager.ts";

/** What filters and listeners may use of the server (Envoy's `Server::Configuration::FactoryContext`). */
export interface ServerContext {
  readonly runtime: Runtime;
  readonly log: Logger;
  readonly clusterManager: ClusterManager;
}
