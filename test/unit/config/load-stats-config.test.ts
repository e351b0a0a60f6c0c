/**
 * cluster_manager.load_stats_config (core/config/schema.ts): the load reporting service's
 * ApiConfigSource as Envoy's ClusterManagerImpl reads it — GRPC or DELTA_GRPC with one
 * gRPC service on a static cluster ("Unknown gRPC client cluster" otherwise, Envoy's
 * checkActiveStaticCluster), transport V3; REST and set_node_on_first_message_only (which
 * the reporter would not honour) refused by name.
 */
import { describe, expect, test } from "vitest";
import { loadConfig } from "../../../core/config/load.ts";

const LRS_CLUSTER = {
  name: "lrs_cluster",
  type: "STATIC",
  http2_protocol_options: {},
  load_assignment: { cluster_name: "lrs_cluster", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 18000 } } } }] }] },
};

function load(loadStatsConfig: object): { problems?: readonly string[]; bootstrap?: { loadStatsConfig?: unknown } } {
  return loadConfig(JSON.stringify({ cluster_manager: { load_stats_config: loadStatsConfig }, static_resources: { clusters: [LRS_CLUSTER] } }), "json") as never;
}

const grpc = (extra: object = {}) => ({ api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "lrs_cluster" } }], ...extra });

describe("cluster_manager.load_stats_config", () => {
  test("GRPC and DELTA_GRPC are taken: the service's cluster, authority and metadata", () => {
    expect(load(grpc()).bootstrap!.loadStatsConfig).toEqual({ target: { clusterName: "lrs_cluster", authority: "", initialMetadata: [] } });
    const delta = load(grpc({ api_type: "DELTA_GRPC", grpc_services: [{ envoy_grpc: { cluster_name: "lrs_cluster", authority: "lrs.example" }, initial_metadata: [{ key: "x-k", value: "v" }] }] }));
    expect(delta.problems).toBeUndefined();
    expect(delta.bootstrap!.loadStatsConfig).toEqual({ target: { clusterName: "lrs_cluster", authority: "lrs.example", initialMetadata: [["x-k", "v"]] } });
  });

  test("the cluster must exist (Envoy's message)", () => {
    expect(load(grpc({ grpc_services: [{ envoy_grpc: { cluster_name: "nope" } }] })).problems).toEqual([
      "cluster_manager.load_stats_config.grpc_services[0].envoy_grpc.cluster_name: Unknown gRPC client cluster 'nope'",
    ]);
  });

  test("what cannot be honoured is refused by name", () => {
    const rest = load({ api_type: "REST", transport_api_version: "V3", cluster_names: ["lrs_cluster"], refresh_delay: "1s" }).problems!;
    expect(rest).toHaveLength(1);
    expect(rest[0]).toMatch(/^cluster_manager\.load_stats_config\.api_type: load_stats_config type must be gRPC/);
    const node = load(grpc({ set_node_on_first_message_only: true })).problems!;
    expect(node).toHaveLength(1);
    expect(node[0]).toMatch(/^cluster_manager\.load_stats_config\.set_node_on_first_message_only: every load report carries the node/);
    expect(load(grpc({ grpc_services: [] })).problems![0]).toMatch(/^cluster_manager\.load_stats_config\.grpc_services: .*Only singleton gRPC service lists supported/);
    expect(load(grpc({ transport_api_version: "V2" })).problems![0]).toMatch(/^cluster_manager\.load_stats_config\.transport_api_version/);
    expect(load(grpc({ api_type: undefined })).problems![0]).toMatch(/^cluster_manager\.load_stats_config\.api_type/);
  });
});
