import type { ClusterConfig } from "../config/bootstrap.ts";
import { Cluster } from "./cluster.ts";

/** Owns every cluster by name (Envoy's `Upstream::ClusterManager`). */
export class ClusterManager {
  private readonly clusters = new Map<string, Cluster>();

  constructor(configs: readonly ClusterConfig[]) {
    for (const config of configs) this.clusters.set(config.name, new Cluster(config));
  }

  get(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }
}
