import type { ClusterConfig } from "../config/bootstrap.ts";
import { HealthFlag, Host, NO_LOCALITY } from "./host.ts";
import { localityKey, PrioritySet, type HostSetOptions } from "./host-set.ts";
import { ResourceManager } from "./resource-manager.ts";
import { ClusterStats } from "./cluster-stats.ts";
import type { StatsStore } from "../stats/stats-store.ts";
import type { LoadBalancer } from "./load-balancer.ts";
import { createLoadBalancer } from "./load-balancer-factory.ts";
import type { RandomSource } from "./load-balancer-base.ts";

/** A fixed sequence for clusters built without the runtime's random() (tests only). */
function fallbackRandom(): RandomSource {
  let state = 0x9e3779b9;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

/** Envoy's HostImpl::setEdsHealthFlag: the endpoint's health_status as a health flag. */
function edsHealthFlag(status: string | undefined): number {
  switch (status) {
    case "UNHEALTHY":
    case "DRAINING":
    case "TIMEOUT":
      return HealthFlag.FailedEdsHealth;
    case "DEGRADED":
      return HealthFlag.DegradedEdsHealth;
    default:
      return 0;
  }
}

/**
 * One upstream cluster (Envoy's `ClusterImplBase` with its `ClusterInfo`): its hosts by
 * priority, the load balancer over them, circuit breakers and stats. A STATIC cluster's
 * hosts come from `load_assignment` once, here.
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
    /** The port's random(), for the load balancer's random choices. */
    random: RandomSource = fallbackRandom(),
  ) {
    this.name = config.name;
    this.resources = new ResourceManager(config.circuitBreakers, store.scope(`cluster.${config.name}.circuit_breakers.default.`));
    this.stats = new ClusterStats(store, config.name);
    this.prioritySet.addMemberUpdateCallback((added, removed) => {
      if (added.length > 0 || removed.length > 0) this.stats.membershipChange.inc();
      this.updateMembershipStats();
    });
    this.setStaticHosts();
    // After the hosts: a balancer starts from the hosts it is given (later changes reach it by callback).
    this.loadBalancer = createLoadBalancer(config.loadBalancing, this.prioritySet, store.scope(`cluster.${config.name}.`), random);
  }

  /** Every host of every priority (the admin's /clusters). */
  get hosts(): readonly Host[] {
    return this.prioritySet.allHosts();
  }

  /**
   * What a priority level needs besides its hosts, from load_assignment: each locality's
   * load_balancing_weight and the overprovisioning factor. Discovery passes it with every
   * `prioritySet.updateHosts` (DNS clusters too: their localities come from the same config).
   */
  hostSetOptions(priority: number): HostSetOptions {
    const localityWeights = new Map<string, number>();
    for (const group of this.config.endpoints) {
      if (group.priority === priority) localityWeights.set(localityKey(group.locality ?? NO_LOCALITY), group.loadBalancingWeight ?? 0);
    }
    const factor = this.config.overprovisioningFactor;
    return factor !== undefined ? { localityWeights, overprovisioningFactor: factor } : { localityWeights };
  }

  private setStaticHosts(): void {
    const byPriority: Host[][] = [];
    for (const group of this.config.endpoints) {
      const hosts = (byPriority[group.priority] ??= []);
      for (const endpoint of group.lbEndpoints) {
        const { address, port } = endpoint.address;
        hosts.push(
          new Host(address, port, {
            weight: endpoint.loadBalancingWeight,
            priority: group.priority,
            ...(endpoint.hostname !== undefined ? { hostname: endpoint.hostname } : {}),
            ...(group.locality ? { locality: group.locality } : {}),
            healthFlags: edsHealthFlag(endpoint.healthStatus),
          }),
        );
      }
    }
    if (byPriority.length === 0) byPriority.push([]);
    for (let priority = 0; priority < byPriority.length; priority++) {
      const hosts = byPriority[priority] ?? [];
      this.prioritySet.updateHosts(priority, hosts, hosts, [], this.hostSetOptions(priority));
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
