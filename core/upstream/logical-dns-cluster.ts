import type { FilterMetadata, LbEndpointConfig } from "../config/bootstrap.ts";
import type { Logger } from "../log.ts";
import type { ResolvedAddress, Runtime } from "../port.ts";
import type { Cluster } from "./cluster.ts";
import { DnsResolveTarget, type DnsAnswerHandler, type DnsDiscovery } from "./dns-resolve-target.ts";
import { Host } from "./host.ts";

/**
 * LOGICAL_DNS discovery (Envoy's LogicalDnsCluster with its LogicalHost,
 * logical_dns_cluster.cc): one name, one host. The host is made at the first answer
 * with an address and kept from then on; when the name resolves elsewhere the host's
 * address moves (new connections go to the first address of the latest answer,
 * connections already open stay). An answer without addresses changes nothing and
 * counts as a failure, so a name that stops resolving keeps its last address.
 */
export class LogicalDnsCluster implements DnsAnswerHandler, DnsDiscovery {
  private readonly target: DnsResolveTarget;
  private readonly endpoint: LbEndpointConfig;
  private host: Host | undefined;
  private readonly localityMetadata: FilterMetadata | undefined;

  constructor(
    private readonly cluster: Cluster,
    runtime: Runtime,
    log: Logger,
  ) {
    // The schema checked that there is exactly one endpoint.
    this.endpoint = cluster.config.endpoints[0]!.lbEndpoints[0]!;
    this.localityMetadata = cluster.config.endpoints[0]!.metadata;
    this.target = new DnsResolveTarget(cluster.name, this.endpoint.address.address, cluster.config.dns!, runtime, cluster.stats, log, this);
  }

  /** The name resolved (or failed) once (LogicalDnsCluster::startResolve's first completion). */
  get warmed(): Promise<void> {
    return this.target.firstDone;
  }

  start(): void {
    this.target.startResolve();
  }

  stop(): void {
    this.target.stop();
  }

  onDnsAnswer(_target: DnsResolveTarget, addresses: readonly ResolvedAddress[]): boolean {
    const first = addresses[0];
    if (!first) return false;
    if (!this.host) {
      // Priority 0 whatever the config says (Envoy rewrites it: one host has no failover).
      const hostname = this.endpoint.hostname ?? this.endpoint.address.address;
      const healthCheck = this.endpoint.healthCheck;
      this.host = new Host(first.address, this.endpoint.address.port, {
        hostname,
        weight: this.endpoint.loadBalancingWeight,
        priority: 0,
        ...(healthCheck ? { healthCheckPort: healthCheck.port, healthCheckHostname: healthCheck.hostname } : {}),
        ...(this.endpoint.metadata ? { metadata: this.endpoint.metadata } : {}),
        ...(this.localityMetadata ? { localityMetadata: this.localityMetadata } : {}),
      });
      this.cluster.prioritySet.updateHosts(0, [this.host], [this.host], [], this.cluster.hostSetOptions(0));
    } else if (this.host.address !== first.address) {
      this.host.setAddress(first.address);
    } else {
      this.cluster.stats.updateNoRebuild.inc();
    }
    return true;
  }
}
