import type { ClusterConfig } from "../config/bootstrap.ts";
import { Host } from "./host.ts";
import { ResourceManager } from "./resource-manager.ts";
import { ClusterStats } from "./cluster-stats.ts";
import type { StatsStore } from "../stats/stats-store.ts";
import { RoundRobinLoadBalancer } from "./round-robin.ts";

/** A STATIC cluster: a fixed set of hosts from `load_assignment`, balanced round robin. */
export class Cluster {
  readonly name: string;
  readonly hosts: readonly Host[];
  readonly loadBalancer: RoundRobinLoadBalancer;
  /** Circuit breakers, shared by the connection pools of all its hosts. */
  readonly resources: ResourceManager;

  readonly stats: ClusterStats;

  constructor(
    readonly config: ClusterConfig,
    store: StatsStore,
  ) {
    this.name = config.name;
    this.hosts = config.endpoints.map((endpoint) => new Host(endpoint.address, endpoint.port));
    this.loadBalancer = new RoundRobinLoadBalancer(this.hosts);
    this.resources = new ResourceManager(config.circuitBreakers, store.scope(`cluster.${config.name}.circuit_breakers.default.`));
    this.stats = new ClusterStats(store, config.name);
    // STATIC hosts have no health checking: all are healthy members.
    this.stats.membershipTotal.set(this.hosts.length);
    this.stats.membershipHealthy.set(this.hosts.length);
  }
}
