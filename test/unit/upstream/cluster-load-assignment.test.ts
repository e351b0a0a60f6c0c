import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { Cluster } from "../../../core/upstream/cluster.ts";
import { HostHealth } from "../../../core/upstream/host.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

function clusterFrom(yaml: string): Cluster {
  const runtime = new MemoryRuntime({ seed: 2 });
  return new Cluster(loadBootstrap(yaml, "yaml").clusters[0]!, new StatsStore(), () => runtime.random());
}

const at = (port: number, extra = "") => `{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } }${extra} }`;

describe("a STATIC cluster's load_assignment reaches its balancer", () => {
  test("locality weights with locality_weighted_lb_config: 1:3 between localities of 3 and 1 hosts", () => {
    const cluster = clusterFrom(`static_resources:
  clusters:
  - name: c
    common_lb_config: { locality_weighted_lb_config: {} }
    load_assignment:
      cluster_name: c
      endpoints:
      - { locality: { zone: a }, load_balancing_weight: 1, lb_endpoints: [${at(1)}, ${at(2)}, ${at(3)}] }
      - { locality: { zone: b }, load_balancing_weight: 3, lb_endpoints: [${at(4)}] }
`);
    let zoneB = 0;
    for (let i = 0; i < 4000; i++) if (cluster.loadBalancer.chooseHost(undefined)!.port === 4) zoneB++;
    // EDF over localities: exact within a pick or two.
    expect(Math.abs(zoneB - 3000)).toBeLessThanOrEqual(2);
  });

  test("health_status: UNHEALTHY and TIMEOUT fail, DRAINING fails and excludes (/eds_status_draining), DEGRADED degrades; priorities and hostname kept", () => {
    const cluster = clusterFrom(`static_resources:
  clusters:
  - name: c
    load_assignment:
      cluster_name: c
      endpoints:
      - lb_endpoints: [${at(1, ", health_status: UNHEALTHY")}, ${at(2, ", health_status: DRAINING")}, ${at(3, ", health_status: TIMEOUT")}, ${at(4, ", health_status: DEGRADED")}]
      - priority: 2
        lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 5 } }, hostname: five } }]
`);
    expect(cluster.hosts.map((h) => [h.port, h.health(), h.healthFlagsText(), h.priority, h.hostname])).toEqual([
      [1, HostHealth.Unhealthy, "/failed_eds_health", 0, ""],
      [2, HostHealth.Unhealthy, "/eds_status_draining", 0, ""],
      [3, HostHealth.Unhealthy, "/failed_eds_health", 0, ""],
      [4, HostHealth.Degraded, "/degraded_eds_health", 0, ""],
      [5, HostHealth.Healthy, "healthy", 2, "five"],
    ]);
    expect(cluster.prioritySet.hostSetsPerPriority[0]!.excludedHosts.map((h) => h.port)).toEqual([2]);
    // Priority 0: no healthy host, 1 degraded of the 3 not excluded (46 %); priority 2 is fully healthy and takes it all.
    for (let i = 0; i < 20; i++) expect(cluster.loadBalancer.chooseHost(undefined)!.port).toBe(5);
  });
});
