/** The admin's `/clusters`: every cluster's circuit breakers and hosts with their stats, as Envoy prints them. */
import { formatAddress } from "../network/address.ts";
import type { Cluster } from "../upstream/cluster.ts";
import { HealthFlag, type Host, type Locality } from "../upstream/host.ts";
import { SuccessRateMonitorType } from "../upstream/host-monitors.ts";

import type { ResourceManager } from "../upstream/resource-manager.ts";

/** A priority's thresholds now: the runtime's circuit_breakers.<cluster>.<priority>.* or the configured ones (Envoy prints resource.max()). */
function thresholdsNow(r: ResourceManager): { maxConnections: number; maxPendingRequests: number; maxRequests: number; maxRetries: number } {
  return { maxConnections: r.connections.max, maxPendingRequests: r.pendingRequests.max, maxRequests: r.requests.max, maxRetries: r.retries.max };
}

/** Whether CDS (a file or a management server) added the cluster: Envoy's added_via_api. */
export type AddedViaApi = (cluster: Cluster) => boolean;
const NONE_VIA_API: AddedViaApi = () => false;

/**
 * Envoy's text form, one `cluster::…::value` line each: the cluster's
 * observability name, circuit breaker settings per priority and added_via_api, then
 * per host its counters and gauges (sorted by name), health flags, weight, locality,
 * priority and success rates (-1 unless outlier detection computed one last interval).
 */
export function clustersAsText(clusters: readonly Cluster[], addedViaApi: AddedViaApi = NONE_VIA_API): string {
  let out = "";
  for (const cluster of clusters) {
    const name = cluster.name;
    out += `${name}::observability_name::${name}\n`;
    for (const [priority, t] of [["default", thresholdsNow(cluster.resources)], ["high", thresholdsNow(cluster.resourcesHigh)]] as const) {
      out += `${name}::${priority}_priority::max_connections::${t.maxConnections}\n`;
      out += `${name}::${priority}_priority::max_pending_requests::${t.maxPendingRequests}\n`;
      out += `${name}::${priority}_priority::max_requests::${t.maxRequests}\n`;
      out += `${name}::${priority}_priority::max_retries::${t.maxRetries}\n`;
    }
    out += `${name}::added_via_api::${addedViaApi(cluster)}\n`;
    for (const host of cluster.hosts) {
      const at = `${name}::${formatAddress(host)}`;
      const stats = [...host.stats.counters(), ...host.stats.gauges()].sort(([a], [b]) => (a < b ? -1 : 1));
      for (const [stat, value] of stats) out += `${at}::${stat}::${value}\n`;
      out += `${at}::hostname::${host.hostname}\n`;
      out += `${at}::health_flags::${host.healthFlagsText()}\n`;
      out += `${at}::weight::${host.weight}\n`;
      out += `${at}::region::${host.locality.region}\n`;
      out += `${at}::zone::${host.locality.zone}\n`;
      out += `${at}::sub_zone::${host.locality.subZone}\n`;
      out += `${at}::canary::false\n`;
      out += `${at}::priority::${host.priority}\n`;
      out += `${at}::success_rate::${host.outlierDetector.successRate(SuccessRateMonitorType.ExternalOrigin)}\n`;
      out += `${at}::local_origin_success_rate::${host.outlierDetector.successRate(SuccessRateMonitorType.LocalOrigin)}\n`;
    }
  }
  return out;
}

/**
 * `/clusters?format=json`: envoy.admin.v3.Clusters in proto3 JSON as Envoy prints it
 * (zero values and false are left out; uint64 stat values are strings).
 */
export function clustersAsJson(clusters: readonly Cluster[], addedViaApi: AddedViaApi = NONE_VIA_API): string {
  const thresholds = (t: { maxConnections: number; maxPendingRequests: number; maxRequests: number; maxRetries: number }) => ({
    max_connections: t.maxConnections,
    max_pending_requests: t.maxPendingRequests,
    max_requests: t.maxRequests,
    max_retries: t.maxRetries,
  });
  const metric = (name: string, value: number, gauge: boolean) => ({
    name,
    ...(value !== 0 ? { value: String(value) } : {}),
    ...(gauge ? { type: "GAUGE" } : {}),
  });
  const statuses = clusters.map((cluster) => ({
    name: cluster.name,
    host_statuses: cluster.hosts.map((host) => ({
      address: host.pipe ? { pipe: { path: host.address } } : { socket_address: { address: host.address, port_value: host.port } },
      stats: [
        ...host.stats.counters().map(([name, value]) => metric(name, value, false)),
        ...host.stats.gauges().map(([name, value]) => metric(name, value, true)),
      ],
      health_status: healthStatusJson(host),
      weight: host.weight,
      ...(host.hostname !== "" ? { hostname: host.hostname } : {}),
      ...(host.priority !== 0 ? { priority: host.priority } : {}),
      locality: localityJson(host.locality),
      ...successRatesJson(host),
    })),
    circuit_breakers: {
      thresholds: [thresholds(thresholdsNow(cluster.resources)), { priority: "HIGH", ...thresholds(thresholdsNow(cluster.resourcesHigh)) }],
    },
    observability_name: cluster.name,
    ...(addedViaApi(cluster) ? { added_via_api: true } : {}),
  }));
  return JSON.stringify({ cluster_statuses: statuses }, null, 2);
}

/** envoy.admin.v3.HostHealthStatus: the set flags as true fields (proto3 JSON leaves false out). */
function healthStatusJson(host: Host): Record<string, unknown> {
  const status: Record<string, unknown> = {};
  if (host.healthFlagGet(HealthFlag.FailedActiveHc)) status.failed_active_health_check = true;
  if (host.healthFlagGet(HealthFlag.FailedOutlierCheck)) status.failed_outlier_check = true;
  if (host.healthFlagGet(HealthFlag.DegradedActiveHc)) status.failed_active_degraded_check = true;
  if (host.healthFlagGet(HealthFlag.PendingDynamicRemoval)) status.pending_dynamic_removal = true;
  if (host.healthFlagGet(HealthFlag.PendingActiveHc)) status.pending_active_hc = true;
  if (host.healthFlagGet(HealthFlag.ExcludedViaImmediateHcFail)) status.excluded_via_immediate_hc_fail = true;
  if (host.healthFlagGet(HealthFlag.ActiveHcTimeout)) status.active_hc_timeout = true;
  status.eds_health_status = host.healthFlagGet(HealthFlag.FailedEdsHealth)
    ? "UNHEALTHY"
    : host.healthFlagGet(HealthFlag.EdsStatusDraining)
      ? "DRAINING"
      : host.healthFlagGet(HealthFlag.DegradedEdsHealth)
        ? "DEGRADED"
        : "HEALTHY";
  return status;
}

/** success_rate / local_origin_success_rate (google.protobuf.DoubleValue), present only when computed (Envoy's clusters_handler.cc). */
function successRatesJson(host: Host): Record<string, { value: number }> {
  const json: Record<string, { value: number }> = {};
  const external = host.outlierDetector.successRate(SuccessRateMonitorType.ExternalOrigin);
  const local = host.outlierDetector.successRate(SuccessRateMonitorType.LocalOrigin);
  if (external >= 0) json.success_rate = { value: external };
  if (local >= 0) json.local_origin_success_rate = { value: local };
  return json;
}

/** envoy.config.core.v3.Locality in proto3 JSON: empty strings left out. */
function localityJson(locality: Locality): Record<string, string> {
  const json: Record<string, string> = {};
  if (locality.region !== "") json.region = locality.region;
  if (locality.zone !== "") json.zone = locality.zone;
  if (locality.subZone !== "") json.sub_zone = locality.subZone;
  return json;
}
