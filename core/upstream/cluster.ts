import type { ClusterConfig } from "../config/bootstrap.ts";
import { Host } from "./host.ts";
import { ResourceManager } from "./resource-manager.ts";
import { RoundRobinLoadBalancer } from "./round-robin.ts";

/** A STATIC cluster: a fixed set of hosts from `load_assignment`, balanced round robin. */
export class Cluster {
  readonly name: string;
  readonly hosts: readonly Host[];
  readonly loadBalancer: RoundRobinLoadBalancer;
  /** Circuit breakers, shared by the connection pools of all its hosts. */
  readonly resources: ResourceManager;

  constructor(readonly config: ClusterConfig) {
    this.name = config.name;
    this.hosts = config.endpoints.map((endpoint) => new Host(endpoint.address, endpoint.port));
    this.loadBalancer = new RoundRobinLoadBalancer(this.hosts);
    this.resources = new ResourceManager(config.circuitBreakers);
  }
}
