/**
 * cluster_type envoy.clusters.aggregate in the config (core/config/aggregate-cluster-schema.ts):
 * accepted as Envoy's docs write it, refused with Envoy's messages where Envoy refuses it
 * (lb_policy other than CLUSTER_PROVIDED, CLUSTER_PROVIDED elsewhere, an empty list), and
 * refused where Envoy would accept and ignore: fields about hosts of its own, a name that
 * no cluster can ever have without CDS, an aggregate among its clusters.
 */
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";

const TYPE_URL = "type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig";

function staticCluster(name: string): Record<string, unknown> {
  return { name, load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 1 } } } }] }] } };
}

function aggregate(name: string, clusters: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, connect_timeout: "0.25s", lb_policy: "CLUSTER_PROVIDED", cluster_type: { name: "envoy.clusters.aggregate", typed_config: { "@type": TYPE_URL, clusters } }, ...extra };
}

function load(clusters: Record<string, unknown>[], dynamic?: Record<string, unknown>) {
  return loadBootstrap(JSON.stringify({ ...(dynamic ? { dynamic_resources: dynamic } : {}), static_resources: { clusters } }), "json");
}

function errors(clusters: Record<string, unknown>[], dynamic?: Record<string, unknown>): string {
  try {
    load(clusters, dynamic);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("the config was accepted");
}

describe("aggregate cluster config", () => {
  test("Envoy's example: the clusters in order, lb_policy CLUSTER_PROVIDED, the aggregate's healthy_panic_threshold", () => {
    const bootstrap = load([aggregate("agg", ["a", "b"], { common_lb_config: { healthy_panic_threshold: { value: 30 } } }), staticCluster("a"), staticCluster("b")]);
    const agg = bootstrap.clusters[0]!;
    expect(agg.aggregateClusters).toEqual(["a", "b"]);
    expect(agg.lbPolicy).toBe("CLUSTER_PROVIDED");
    expect(agg.endpoints).toEqual([]);
    expect(agg.loadBalancing?.healthyPanicThreshold).toBe(30);
  });

  test("lb_policy must be CLUSTER_PROVIDED on an aggregate, and only there (Envoy's messages)", () => {
    expect(errors([aggregate("agg", ["a"], { lb_policy: "ROUND_ROBIN" }), staticCluster("a")])).toContain(
      "static_resources.clusters[0].lb_policy: cluster manager: cluster provided LB not specified but cluster 'agg' provided one. Check cluster documentation.",
    );
    expect(errors([{ ...staticCluster("a"), lb_policy: "CLUSTER_PROVIDED" }])).toContain(
      "static_resources.clusters[0].lb_policy: cluster manager: cluster provided LB specified but cluster 'a' did not provide one. Check cluster documentation.",
    );
  });

  test("clusters must list at least one; the type and typed_config must be the aggregate's", () => {
    expect(errors([aggregate("agg", [])])).toContain("static_resources.clusters[0].cluster_type.typed_config.clusters: value must contain at least 1 item(s)");
    expect(errors([{ ...aggregate("agg", ["a"]), cluster_type: { name: "envoy.clusters.redis" } }, staticCluster("a")])).toContain("cluster_type.name: cluster type 'envoy.clusters.redis' is not one polyvoy has");
    expect(errors([aggregate("agg", ["a"], { type: "STATIC" }), staticCluster("a")])).toContain("static_resources.clusters[0].cluster_type: only one of type, cluster_type");
  });

  test("fields about hosts or connections of its own are refused, naming the field", () => {
    const message = errors([aggregate("agg", ["a"], { load_assignment: { cluster_name: "agg", endpoints: [] }, health_checks: [], common_lb_config: { locality_weighted_lb_config: {} } }), staticCluster("a")]);
    expect(message).toContain("static_resources.clusters[0].load_assignment: an aggregate cluster has no hosts or connections of its own");
    expect(message).toContain("static_resources.clusters[0].health_checks: an aggregate cluster has no hosts or connections of its own");
    expect(message).toContain("static_resources.clusters[0].common_lb_config.locality_weighted_lb_config: an aggregate cluster picks a priority level only");
  });

  test("limits and connection settings its clusters' pools would apply are refused; max_retries is the aggregate's", () => {
    const message = errors([
      aggregate("agg", ["a"], {
        circuit_breakers: { thresholds: [{ max_connections: 1, max_pending_requests: 1, max_requests: 1, max_retries: 1 }] },
        protocol_selection: "USE_DOWNSTREAM_PROTOCOL",
        upstream_connection_options: { tcp_keepalive: {} },
      }),
      staticCluster("a"),
    ]);
    for (const field of ["max_connections", "max_pending_requests", "max_requests"]) {
      expect(message).toContain(`static_resources.clusters[0].circuit_breakers.thresholds[0].${field}: an aggregate cluster's requests and connections are counted by its clusters' pools`);
    }
    expect(message).not.toContain("max_retries");
    expect(message).toContain("static_resources.clusters[0].protocol_selection: an aggregate cluster has no connections of its own");
    expect(message).toContain("static_resources.clusters[0].upstream_connection_options: an aggregate cluster has no hosts or connections of its own");
    expect(load([aggregate("agg", ["a"], { circuit_breakers: { thresholds: [{ max_retries: 5 }] } }), staticCluster("a")]).clusters[0]!.name).toBe("agg");
  });

  test("auto_sni on the aggregate is refused with where polyvoy reads it (its clusters), unlike Envoy", () => {
    const options = { "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": { "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions", upstream_http_protocol_options: { auto_sni: true }, explicit_http_config: { http_protocol_options: {} } } };
    const message = errors([aggregate("agg", ["a"], { typed_extension_protocol_options: options }), staticCluster("a")]);
    expect(message).toContain("polyvoy takes auto_sni and auto_san_validation from the cluster serving the host");
  });

  test("a name no cluster has is refused without CDS, accepted with it (CDS may add it later)", () => {
    expect(errors([aggregate("agg", ["a", "later"]), staticCluster("a")])).toContain(
      "static_resources.clusters[0].cluster_type.typed_config.clusters[1]: no cluster named 'later': it is not in static_resources.clusters and there is no cds_config to add it",
    );
    expect(load([aggregate("agg", ["a", "later"]), staticCluster("a")], { cds_config: { path_config_source: { path: "/cds.yaml" } } }).clusters[0]!.aggregateClusters).toEqual(["a", "later"]);
  });

  test("an aggregate naming itself or another aggregate is refused (Envoy would find no hosts there)", () => {
    expect(errors([aggregate("agg", ["a", "agg"]), staticCluster("a")])).toContain("clusters[1]: aggregate cluster 'agg' cannot name itself");
    const message = errors([aggregate("outer", ["inner"]), aggregate("inner", ["outer"])]);
    expect(message).toContain("static_resources.clusters[0].cluster_type.typed_config.clusters[0]: cluster 'inner' is an aggregate cluster");
    expect(message).toContain("static_resources.clusters[1].cluster_type.typed_config.clusters[0]: cluster 'outer' is an aggregate cluster");
  });
});
