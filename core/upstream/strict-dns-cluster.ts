import type { LbEndpointConfig, LocalityLbEndpointsConfig } from "../config/bootstrap.ts";
import type { Logger } from "../log.ts";
import type { ResolvedAddress, Runtime } from "../port.ts";
import type { Cluster } from "./cluster.ts";
import { DnsResolveTarget, type DnsAnswerHandler, type DnsDiscovery } from "./dns-resolve-target.ts";
import { edsHealthFlag, HealthFlag, Host, type HostOptions } from "./host.ts";

/** One endpoint's name and the hosts it resolved to, by address. */
interface Endpoint {
  readonly target: DnsResolveTarget;
  readonly config: LbEndpointConfig;
  readonly priority: number;
  /** What each of its hosts is made with besides the address: hostname, weight, priority, locality, health_status. */
  readonly hostOptions: HostOptions;
  /** In answer order. */
  hosts: Host[];
}

/**
 * STRICT_DNS discovery (Envoy's StrictDnsClusterImpl, strict_dns_cluster.cc): every
 * endpoint's name is resolved on its own schedule and every address it resolves to is
 * a host. A refresh keeps the Host of an address that stays (its stats and pools live
 * on) and tells the cluster's PrioritySet only what was added and removed; the cluster
 * manager drains the pools of removed hosts, so requests in flight on them finish.
 * Until a name first resolves it has no hosts: the cluster manager holds start-up (and a
 * CDS cluster's warming) until each name's first resolution completed, answered or not.
 */
export class StrictDnsCluster implements DnsAnswerHandler, DnsDiscovery {
  private readonly endpoints: Endpoint[] = [];
  private readonly byTarget = new Map<DnsResolveTarget, Endpoint>();

  constructor(
    private readonly cluster: Cluster,
    runtime: Runtime,
    private readonly log: Logger,
  ) {
    const settings = cluster.config.dns!;
    for (const locality of cluster.config.endpoints) {
      for (const config of locality.lbEndpoints) this.addEndpoint(locality, config, new DnsResolveTarget(cluster.name, config.address.address, settings, runtime, cluster.stats, log, this));
    }
  }

  private addEndpoint(locality: LocalityLbEndpointsConfig, config: LbEndpointConfig, target: DnsResolveTarget): void {
    const hostOptions: HostOptions = {
      hostname: config.hostname ?? config.address.address,
      weight: config.loadBalancingWeight,
      priority: locality.priority,
      ...(locality.locality ? { locality: locality.locality } : {}),
      healthFlags: edsHealthFlag(config.healthStatus),
      ...(config.healthCheck ? { healthCheckPort: config.healthCheck.port, healthCheckHostname: config.healthCheck.hostname } : {}),
      ...(config.metadata ? { metadata: config.metadata } : {}),
      ...(locality.metadata ? { localityMetadata: locality.metadata } : {}),
    };
    const endpoint: Endpoint = { target, config, priority: locality.priority, hostOptions, hosts: [] };
    this.endpoints.push(endpoint);
    this.byTarget.set(target, endpoint);
  }

  /** Every name resolved (or failed) once; no endpoints: at once (Envoy's DnsClusterImpl::startPreInit). */
  get warmed(): Promise<void> {
    return Promise.all(this.endpoints.map((e) => e.target.firstDone)).then(() => undefined);
  }

  start(): void {
    for (const endpoint of this.endpoints) endpoint.target.startResolve();
  }

  stop(): void {
    for (const endpoint of this.endpoints) endpoint.target.stop();
  }

  /** Hosts dropped by DNS stay while health checking passes them (Envoy's dont_remove_healthy_hosts). */
  private keepsHealthyHosts(): boolean {
    return this.cluster.config.healthChecks !== undefined && this.cluster.config.ignoreHealthOnHostRemoval !== true;
  }

  onDnsAnswer(target: DnsResolveTarget, addresses: readonly ResolvedAddress[]): boolean {
    const endpoint = this.byTarget.get(target)!;
    const previous = new Map(endpoint.hosts.map((host) => [host.address, host]));
    const hosts: Host[] = [];
    const added: Host[] = [];
    const seen = new Set<string>();
    for (const { address } of addresses) {
      // A resolver may repeat an address; it is one host (BaseDynamicClusterImpl::updateDynamicHostList).
      if (seen.has(address)) continue;
      seen.add(address);
      let host = previous.get(address);
      // Back while it was being kept for its health: an ordinary member again.
      host?.healthFlagClear(HealthFlag.PendingDynamicRemoval);
      if (!host) {
        const { port } = endpoint.config.address;
        host = new Host(address, port, endpoint.hostOptions);
        added.push(host);
      }
      hosts.push(host);
    }
    const removed: Host[] = [];
    const keep = this.keepsHealthyHosts();
    for (const host of endpoint.hosts) {
      if (seen.has(host.address)) continue;
      // BaseDynamicClusterImpl::updateDynamicHostList: with active health checking (and
      // without ignore_health_on_host_removal), a host the answer dropped stays while its
      // checks pass — excluded from nothing, flagged /pending_dynamic_removal — and goes
      // at the first answer after a check failed it.
      if (keep && !host.healthFlagGet(HealthFlag.FailedActiveHc) && !host.healthFlagGet(HealthFlag.FailedEdsHealth)) {
        host.healthFlagSet(HealthFlag.PendingDynamicRemoval);
        hosts.push(host);
      } else {
        removed.push(host);
      }
    }
    endpoint.hosts = hosts;
    if (added.length === 0 && removed.length === 0) {
      this.cluster.stats.updateNoRebuild.inc();
      return true;
    }
    if (this.log.enabled("debug")) this.log.debug(`DNS hosts have changed for ${target.dnsAddress}`);
    // The priority's hosts are every endpoint's of that priority, in config order.
    const all = this.endpoints.filter((e) => e.priority === endpoint.priority).flatMap((e) => e.hosts);
    this.cluster.prioritySet.updateHosts(endpoint.priority, all, added, removed, this.cluster.hostSetOptions(endpoint.priority));
    return true;
  }
}
