import type { FilterMetadata, LocalityLbEndpointsConfig } from "../config/bootstrap.ts";
import type { RawDiscoveryResponse } from "../config/xds/raw-discovery-response.ts";
import { createSubscription, type Subscription } from "../config/xds/subscription.ts";
import type { DynamicResource } from "../config/xds/xds-manager.ts";
import type { LoadAssignmentDecoder } from "../config/xds/load-assignment.ts";
import type { Logger } from "../log.ts";
import type { Runtime } from "../port.ts";
import type { StatsStore } from "../stats/stats-store.ts";
import type { Cluster } from "./cluster.ts";
import { edsHealthFlag, HealthFlag, Host } from "./host.ts";
import { abstractEndpointRefusal } from "../network/abstract-pipe.ts";
import { pipeEndpointKeepaliveRefusal } from "./tcp-keepalive.ts";

/** The health flags an endpoint's EDS health_status sets. */
const EDS_FLAGS = HealthFlag.FailedEdsHealth | HealthFlag.DegradedEdsHealth | HealthFlag.EdsStatusDraining;

const CLUSTER_LOAD_ASSIGNMENT_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

/**
 * Envoy's EdsClusterImpl (source/extensions/clusters/eds/eds.cc) over a filesystem
 * subscription: the cluster's hosts are the ClusterLoadAssignment named by
 * eds_cluster_config.service_name (or the cluster's name) in a watched file. An update
 * keeps the Host of an endpoint that stays (its stats, pools and health live on; a new
 * weight or health_status is set on it in place, as Envoy's updateDynamicHostList does) and tells the cluster's PrioritySet only what was added and removed, as DNS
 * discovery does: the cluster manager drains the pools of removed hosts, so requests
 * in flight on them finish. A refused update (not one assignment of that name, an
 * address that is not an IP) keeps the hosts in use. Stats: the subscription's under
 * `cluster.<name>.` (update_attempt, update_success, update_failure, update_rejected,
 * update_empty, update_time, version), as Envoy's. The cluster warms (start() resolves)
 * once the first read is done, applied or not.
 */
export class EdsClusterImpl {
  private readonly subscription: Subscription;
  private readonly serviceName: string;
  /** Each host by what makes it (address, port, hostname, locality, health check address, priority); weight and EDS health change in place. */
  private hostsByKey = new Map<string, Host>();
  private priorities = 0;
  private accepted: DynamicResource | undefined;

  constructor(
    private readonly cluster: Cluster,
    private readonly runtime: Runtime,
    private readonly log: Logger,
    stats: StatsStore,
    /** config/xds/eds-resource.ts's decodeLoadAssignment, given by the server (it needs the schemas). */
    private readonly decode: LoadAssignmentDecoder,
  ) {
    const eds = cluster.config.eds!;
    this.serviceName = eds.serviceName ?? cluster.name;
    const context = { runtime, log, openMux: decode.mux?.openMux, restFetch: decode.mux?.restFetch, node: decode.mux?.node };
    this.subscription = createSubscription(context, `eds cluster '${cluster.name}'`, eds.configSource, CLUSTER_LOAD_ASSIGNMENT_TYPE, [this.serviceName], stats.scope(`cluster.${cluster.name}.`), (response, path) =>
      this.onConfigUpdate(response, path),
    );
  }

  /** Settles when the first read is done (the cluster's warming). */
  warmed: Promise<void> = Promise.resolve();

  /** Read the file and start watching it. */
  start(): void {
    this.warmed = this.subscription.start().then(() => undefined);
  }

  /** Settles once start() put the subscription's watch on its management server's stream (at once for the other sources). */
  get subscribed(): Promise<void> {
    return this.subscription.subscribed ?? Promise.resolve();
  }

  stop(): void {
    this.subscription.stop();
  }

  /** The assignment in use, for /config_dump (EndpointsConfigDump). */
  dump(): readonly DynamicResource[] {
    return this.accepted ? [this.accepted] : [];
  }

  /** EdsClusterImpl::onConfigUpdate: one ClusterLoadAssignment, of the expected name. */
  private async onConfigUpdate(response: RawDiscoveryResponse, path: string): Promise<void> {
    const { resources } = response;
    const stats = this.cluster.stats;
    if (resources.length === 0) {
      // validateUpdateSize: the hosts stay as they are.
      stats.updateEmpty.inc();
      this.log.debug(`Missing ClusterLoadAssignment for ${this.serviceName} in onConfigUpdate()`);
      return;
    }
    const { XdsUpdateError } = await import("../config/xds/discovery-response.ts");
    if (resources.length !== 1) throw new XdsUpdateError("rejected", `Unexpected EDS resource length: ${resources.length}`);
    const { value, document } = await this.decode(resources[0], path);
    if (value.cluster_name !== this.serviceName) throw new XdsUpdateError("rejected", `Unexpected EDS cluster (expecting ${this.serviceName}): ${value.cluster_name}`);
    // As a static cluster's (cluster-manager.ts): hosts no connect could reach are refused.
    const abstractRefusal = abstractEndpointRefusal(this.runtime, value.endpoints);
    if (abstractRefusal !== undefined) throw new XdsUpdateError("rejected", abstractRefusal);
    // As a static cluster's (schema.ts): TCP keepalive timers are refused on pipe hosts, not dropped.
    const keepaliveRefusal = pipeEndpointKeepaliveRefusal(this.cluster.config, value.endpoints);
    if (keepaliveRefusal !== undefined) throw new XdsUpdateError("rejected", keepaliveRefusal);
    this.updateHosts(value.endpoints, value.policy?.overprovisioning_factor);
    this.accepted = { name: this.serviceName, versionInfo: response.versionInfo, lastUpdated: this.runtime.wallClock(), document };
  }

  private updateHosts(localities: readonly LocalityLbEndpointsConfig[], overprovisioningFactor: number | undefined): void {
    const previous = this.hostsByKey;
    const next = new Map<string, Host>();
    const byPriority: Host[][] = [];
    const added: Host[][] = [];
    const updatedInPlace: boolean[] = [];
    for (const group of localities) {
      const hosts = (byPriority[group.priority] ??= []);
      for (const endpoint of group.lbEndpoints) {
        const { address, port } = endpoint.address;
        const key = JSON.stringify([group.priority, address, port, endpoint.hostname, group.locality, endpoint.healthCheck]);
        // An endpoint listed twice is one host (BaseDynamicClusterImpl::updateDynamicHostList).
        if (next.has(key)) continue;
        let host = previous.get(key);
        if (host) {
          // Envoy's updateDynamicHostList updates a host that stays in place: its weight and
          // EDS health status change, its pools, stats and active health state live on.
          const edsFlags = edsHealthFlag(endpoint.healthStatus);
          const hostEdsFlags = (host.healthFlagGet(HealthFlag.FailedEdsHealth) ? HealthFlag.FailedEdsHealth : 0) | (host.healthFlagGet(HealthFlag.DegradedEdsHealth) ? HealthFlag.DegradedEdsHealth : 0) | (host.healthFlagGet(HealthFlag.EdsStatusDraining) ? HealthFlag.EdsStatusDraining : 0);
          if (host.weight !== endpoint.loadBalancingWeight || hostEdsFlags !== edsFlags) {
            host.weight = endpoint.loadBalancingWeight;
            host.healthFlagClear(EDS_FLAGS);
            if (edsFlags !== 0) host.healthFlagSet(edsFlags);
            updatedInPlace[group.priority] = true;
          }
          if (!sameMetadata(host, endpoint.metadata, group.metadata)) {
            // New metadata on a kept host is set in place and counts as a change (subsets are rebuilt).
            host.metadata = endpoint.metadata ?? {};
            host.localityMetadata = group.metadata ?? {};
            updatedInPlace[group.priority] = true;
          }
        } else {
          host = new Host(address, port, {
            weight: endpoint.loadBalancingWeight,
            priority: group.priority,
            ...(endpoint.hostname !== undefined ? { hostname: endpoint.hostname } : {}),
            ...(group.locality ? { locality: group.locality } : {}),
            healthFlags: edsHealthFlag(endpoint.healthStatus),
            ...(endpoint.healthCheck ? { healthCheckPort: endpoint.healthCheck.port, healthCheckHostname: endpoint.healthCheck.hostname } : {}),
            ...(endpoint.metadata ? { metadata: endpoint.metadata } : {}),
            ...(group.metadata ? { localityMetadata: group.metadata } : {}),
            ...(endpoint.address.pipe ? { pipe: true } : {}),
          });
          (added[group.priority] ??= []).push(host);
        }
        next.set(key, host);
        hosts.push(host);
      }
    }
    const removed: Host[][] = [];
    for (const [key, host] of previous) if (!next.has(key)) (removed[host.priority] ??= []).push(host);
    this.hostsByKey = next;
    const priorities = Math.max(this.priorities, byPriority.length, 1);
    this.priorities = byPriority.length;
    let changed = false;
    for (let priority = 0; priority < priorities; priority++) {
      const add = added[priority] ?? [];
      const remove = removed[priority] ?? [];
      if (add.length === 0 && remove.length === 0 && updatedInPlace[priority] !== true) continue;
      changed = true;
      const options = this.cluster.hostSetOptions(priority, localities, overprovisioningFactor);
      this.cluster.prioritySet.updateHosts(priority, byPriority[priority] ?? [], add, remove, options);
    }
    if (!changed) this.cluster.stats.updateNoRebuild.inc();
  }
}

/** Does the host carry this endpoint's and locality's metadata (compared as JSON, as Envoy compares the protos)? */
function sameMetadata(host: Host, metadata: FilterMetadata | undefined, localityMetadata: FilterMetadata | undefined): boolean {
  return JSON.stringify(host.metadata) === JSON.stringify(metadata ?? {}) && JSON.stringify(host.localityMetadata) === JSON.stringify(localityMetadata ?? {});
}
