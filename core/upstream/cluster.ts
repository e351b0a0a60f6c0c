import type { ClusterConfig } from "../config/bootstrap.ts";
import { Host } from "./host.ts";
import { PrioritySet } from "./host-set.ts";
import { ResourceManager } from "./resource-manager.ts";
import { ClusterStats } from "./cluster-stats.ts";
import type { StatsStore } from "../stats/stats-store.ts";
import type { LoadBalancer } from "./load-balancer.ts";
import { RoundRobinLoadBalancer } from "./round-robin.ts";

/**
 * One upstream cluster (Envoy's `ClusterImplBase` with its `ClusterInfo`): its hosts by
 * priority, the load balancer over them, circuit breakers and stats. A STATIC cluster's
 * hosts come from `load_assignment` once, here; a STRICT_DNS or LOGICAL_DNS cluster's
 * from its discovery (strict-dns-cluster.ts, logical-dns-cluster.ts), which the cluster
 * manager runs, into the same PrioritySet.
 */
export class Cluster {
  readonly name: string;
  readonly prioritySet = new PrioritySet();
  readonly loadBalancer: LoadBalancer;
  /** Circuit breakers, shared by the connection pools of all its hosts. */
  readonly resources: ResourceManager;

  readonly stats: ClusterStats;

  constructor(
    readonly config: ClusterConfig,
    store: StatsStore,
  ) {
    this.name = config.name;
    this.resources = new ResourceManager(config.circuitBreakers, store.scope(`cluster.${config.name}.circuit_breakers.default.`));
    this.stats = new ClusterStats(store, config.name);
    this.prioritySet.addMemberUpdateCallback((added, removed) => {
      if (added.length > 0 || removed.length > 0) this.stats.membershipChange.inc();
      this.updateMembershipStats();
    });
    this.loadBalancer = new RoundRobinLoadBalancer(this.prioritySet);
    if (config.type === "STATIC") this.setStaticHosts();
    // No hosts until the first answer: the balancer finds an empty priority 0.
    else this.prioritySet.getOrCreateHostSet(0);
  }

  /** Every host of every priority (the admin's /clusters). */
  get hosts(): readonly Host[] {
    return this.prioritySet.allHosts();
  }

  private setStaticHosts(): void {
    const byPriority: Host[][] = [];
    for (const locality of this.config.endpoints) {
      const hosts = (byPriority[locality.priority] ??= []);
      for (const endpoint of locality.lbEndpoints) {
        const { address, port } = endpoint.address;
        hosts.push(new Host(address, port, { hostname: endpoint.hostname, weight: endpoint.loadBalancingWeight, priority: locality.priority }));
      }
    }
    if (byPriority.length === 0) byPriority.push([]);
    for (let priority = 0; priority < byPriority.length; priority++) {
      const hosts = byPriority[priority] ?? [];
      this.prioritySet.updateHosts(priority, hosts, hosts, []);
    }
  }

  /** Envoy's membership gauges (ClusterImplBase::onPreInitComplete and its member update callback). */
  private updateMembershipStats(): void {
    let total = 0;
    let healthy = 0;
    let degraded = 0;
    for (const set of this.prioritySet.hostSetsPerPriority) {
      total += set.hosts.length;
      healthy += set.healthyHosts.length;
      degraded += set.degradedHosts.length;
    }
    this.stats.membershipTotal.set(total);
    this.stats.membershipHealthy.set(healthy);
    this.stats.membershipDegraded.set(degraded);
  }
}
