import { describe, expect, test } from "vitest";
import type { ClusterConfig } from "../../../core/config/bootstrap.ts";
import { ConfigError } from "../../../core/config/errors.ts";
import { DEFAULT_LOAD_BALANCING } from "../../../core/config/lb-policy-schema.ts";
import { loadBootstrap } from "../../../core/config/load.ts";

/** A one-cluster bootstrap with `fields` (YAML, indented for the cluster) added. */
function clusterYaml(fields: string, endpoints = "[{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 80 } } } }] }]"): string {
  return `static_resources:
  clusters:
  - name: c
    load_assignment:
      cluster_name: c
      endpoints: ${endpoints}
${fields
  .split("\n")
  .map((line) => `    ${line}`)
  .join("\n")}
`;
}

function cluster(fields: string, endpoints?: string): ClusterConfig {
  return loadBootstrap(clusterYaml(fields, endpoints), "yaml").clusters[0]!;
}

function problems(fields: string, endpoints?: string): string[] {
  try {
    loadBootstrap(clusterYaml(fields, endpoints), "yaml");
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("the config loaded");
}

describe("lb_policy and its settings", () => {
  test("defaults: no loadBalancing when nothing is set (ROUND_ROBIN, 50 % panic)", () => {
    const c = cluster("");
    expect(c.lbPolicy).toBe("ROUND_ROBIN");
    expect(c.loadBalancing).toBeUndefined();
  });

  test("each policy with Envoy's defaults", () => {
    for (const policy of ["LEAST_REQUEST", "RANDOM", "RING_HASH", "MAGLEV"]) {
      expect(cluster(`lb_policy: ${policy}`).loadBalancing).toEqual({ ...DEFAULT_LOAD_BALANCING, policy });
    }
    expect(DEFAULT_LOAD_BALANCING).toMatchObject({ healthyPanicThreshold: 50, choiceCount: 2, activeRequestBias: 1, minimumRingSize: 1024, maximumRingSize: 8388608, hashFunction: "XX_HASH", tableSize: 65537 });
  });

  test("ring_hash_lb_config, maglev_lb_config, least_request_lb_config, common_lb_config", () => {
    expect(cluster("lb_policy: RING_HASH\nring_hash_lb_config: { minimum_ring_size: 64, maximum_ring_size: 4096, hash_function: MURMUR_HASH_2 }").loadBalancing).toMatchObject({
      policy: "RING_HASH",
      minimumRingSize: 64,
      maximumRingSize: 4096,
      hashFunction: "MURMUR_HASH_2",
    });
    expect(cluster("lb_policy: MAGLEV\nmaglev_lb_config: { table_size: 7 }").loadBalancing).toMatchObject({ tableSize: 7 });
    expect(cluster('lb_policy: LEAST_REQUEST\nleast_request_lb_config: { choice_count: 3, active_request_bias: { default_value: 0.5, runtime_key: "k" } }').loadBalancing).toMatchObject({
      choiceCount: 3,
      activeRequestBias: 0.5,
      activeRequestBiasSet: true,
    });
    expect(cluster("common_lb_config: { healthy_panic_threshold: { value: 25.4 }, locality_weighted_lb_config: {} }").loadBalancing).toMatchObject({
      policy: "ROUND_ROBIN",
      healthyPanicThreshold: 25,
      localityWeighted: true,
    });
    expect(cluster("common_lb_config: { zone_aware_lb_config: { fail_traffic_on_panic: true, min_cluster_size: 6 } }").loadBalancing).toMatchObject({ failTrafficOnPanic: true });
  });

  test("Envoy's checks: a prime Maglev table, ring sizes in order and within 8M, choice_count ≥ 2", () => {
    expect(problems("lb_policy: MAGLEV\nmaglev_lb_config: { table_size: 8 }")).toEqual(["static_resources.clusters[0].maglev_lb_config.table_size: The table size of maglev must be prime number"]);
    expect(problems("lb_policy: RING_HASH\nring_hash_lb_config: { minimum_ring_size: 20, maximum_ring_size: 10 }")).toEqual([
      "static_resources.clusters[0].ring_hash_lb_config: ring hash: minimum_ring_size (20) > maximum_ring_size (10)",
    ]);
    expect(problems("lb_policy: RING_HASH\nring_hash_lb_config: { maximum_ring_size: 8388609 }")[0]).toContain("ring_hash_lb_config.maximum_ring_size");
    expect(problems("lb_policy: LEAST_REQUEST\nleast_request_lb_config: { choice_count: 1 }")[0]).toContain("least_request_lb_config.choice_count");
  });

  test("a policy's config under another lb_policy is refused, not ignored", () => {
    expect(problems("ring_hash_lb_config: { minimum_ring_size: 64 }")).toEqual([
      "static_resources.clusters[0].ring_hash_lb_config: applies to lb_policy RING_HASH only (lb_policy is ROUND_ROBIN)",
    ]);
  });

  test("unsupported settings name the field", () => {
    expect(problems("common_lb_config: { close_connections_on_host_set_change: true }")[0]).toContain("close_connections_on_host_set_change");
    expect(problems("common_lb_config: { consistent_hashing_lb_config: { hash_balance_factor: 99 } }")[0]).toContain("hash_balance_factor");
    expect(problems("round_robin_lb_config: { slow_start_config: { slow_start_window: 1s, window: 2s } }")[0]).toContain("window");
  });
});

describe("load_balancing_policy (typed extensions)", () => {
  const policy = (type: string, body = "") => `load_balancing_policy:
  policies:
  - typed_extension_config:
      name: x
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.load_balancing_policies.${type}
${body
  .split("\n")
  .filter((l) => l)
  .map((l) => `        ${l}`)
  .join("\n")}`;

  test("the same policies, with their settings", () => {
    expect(cluster(policy("round_robin.v3.RoundRobin")).loadBalancing).toEqual(DEFAULT_LOAD_BALANCING);
    expect(cluster(policy("least_request.v3.LeastRequest", "choice_count: 4")).loadBalancing).toMatchObject({ policy: "LEAST_REQUEST", choiceCount: 4 });
    expect(cluster(policy("random.v3.Random", "locality_lb_config: { locality_weighted_lb_config: {} }")).loadBalancing).toMatchObject({ policy: "RANDOM", localityWeighted: true });
    expect(cluster(policy("ring_hash.v3.RingHash", "hash_function: MURMUR_HASH_2\nminimum_ring_size: 128")).loadBalancing).toMatchObject({
      policy: "RING_HASH",
      hashFunction: "MURMUR_HASH_2",
      minimumRingSize: 128,
    });
    expect(cluster(policy("maglev.v3.Maglev", "table_size: 131")).loadBalancing).toMatchObject({ policy: "MAGLEV", tableSize: 131 });
  });

  test("the first supported policy wins; none supported is an error naming them", () => {
    const two = `load_balancing_policy:
  policies:
  - typed_extension_config: { name: a, typed_config: { "@type": type.googleapis.com/envoy.extensions.load_balancing_policies.client_side_weighted_round_robin.v3.ClientSideWeightedRoundRobin } }
  - typed_extension_config: { name: b, typed_config: { "@type": type.googleapis.com/envoy.extensions.load_balancing_policies.maglev.v3.Maglev } }`;
    expect(cluster(two).loadBalancing?.policy).toBe("MAGLEV");
    const none = `load_balancing_policy:
  policies:
  - typed_extension_config: { name: a, typed_config: { "@type": type.googleapis.com/envoy.extensions.load_balancing_policies.client_side_weighted_round_robin.v3.ClientSideWeightedRoundRobin } }`;
    expect(problems(none)[0]).toContain("didn't find a supported load balancer policy among [type.googleapis.com/envoy.extensions.load_balancing_policies.client_side_weighted_round_robin.v3.ClientSideWeightedRoundRobin]");
  });

  test("an unknown field of the typed config is named", () => {
    expect(problems(policy("maglev.v3.Maglev", "table_size: 8"))[0]).toContain("typed_config");
    expect(problems(policy("round_robin.v3.RoundRobin", "slow_start_config: { aggression: 2 }"))[0]).toContain("aggression");
  });
});

describe("endpoint fields", () => {
  test("weights, locality, priority, health_status, hostname, overprovisioning_factor", () => {
    const yaml = `static_resources:
  clusters:
  - name: c
    load_assignment:
      cluster_name: c
      policy: { overprovisioning_factor: 100 }
      endpoints:
      - locality: { region: r, zone: z }
        load_balancing_weight: 3
        lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } }, hostname: one.example }
          load_balancing_weight: 7
          health_status: DEGRADED
      - priority: 1
        lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 2 } } }
          health_status: HEALTHY
`;
    const c = loadBootstrap(yaml, "yaml").clusters[0]!;
    expect(c.overprovisioningFactor).toBe(100);
    expect(c.endpoints).toEqual([
      {
        priority: 0,
        locality: { region: "r", zone: "z", subZone: "" },
        loadBalancingWeight: 3,
        lbEndpoints: [{ address: { address: "127.0.0.1", port: 1 }, loadBalancingWeight: 7, hostname: "one.example", healthStatus: "DEGRADED" }],
      },
      { priority: 1, lbEndpoints: [{ address: { address: "127.0.0.1", port: 2 }, loadBalancingWeight: 1 }] },
    ]);
  });

  test("a weight of 0 is refused (Envoy: at least 1)", () => {
    expect(problems("", "[{ lb_endpoints: [{ load_balancing_weight: 0, endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 80 } } } }] }]")[0]).toContain("load_balancing_weight");
  });
});

describe("route hash_policy", () => {
  const route = (hashPolicy: string) => `static_resources:
  listeners:
  - address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: in
          http_filters: [{ name: envoy.filters.http.router, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } }]
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route:
                  cluster: c
                  hash_policy: ${hashPolicy}
  clusters:
  - name: c
    lb_policy: RING_HASH
    load_assignment: { cluster_name: c }
`;

  test("header, cookie with ttl, source_ip, query_parameter, terminal", () => {
    const b = loadBootstrap(
      route('[{ header: { header_name: X-User } }, { cookie: { name: sticky, ttl: 3600.5s, path: /, attributes: [{ name: SameSite, value: Lax }] }, terminal: true }, { connection_properties: { source_ip: true } }, { query_parameter: { name: u } }]'),
      "yaml",
    );
    const filter = b.listeners[0]!.filterChains[0]!.filters[0]!;
    const action = filter.type === "envoy.filters.network.http_connection_manager" ? filter.config.routeConfig.virtualHosts[0]!.routes[0]!.action : undefined;
    expect(action?.type === "route" ? action.route.hashPolicy : undefined).toEqual([
      { type: "header", headerName: "x-user", terminal: false },
      { type: "cookie", name: "sticky", path: "/", ttlSeconds: 3600, attributes: [{ name: "SameSite", value: "Lax" }], terminal: true },
      { type: "source_ip", terminal: false },
      { type: "query_parameter", name: "u", terminal: false },
    ]);
  });

  test("filter_state is refused with the reason", () => {
    expect(() => loadBootstrap(route("[{ filter_state: { key: k } }]"), "yaml")).toThrow(/hash_policy\[0\]: `filter_state` is an Envoy field that polyvoy does not support yet \(no polyvoy filter stores a hashable filter state object\)/);
  });
});
