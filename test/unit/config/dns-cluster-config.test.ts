/** The DNS cluster types and their fields: Envoy's defaults and Envoy's refusals. */
import { describe, expect, test } from "vitest";
import type { ClusterConfig } from "../../../core/config/bootstrap.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { yamlProblems as problems } from "./config-problems.ts";

function clusterYaml(fields: string, endpoints = "address: backend.svc, port_value: 8080"): string {
  return `
static_resources:
  clusters:
  - name: backend
${fields
  .split("\n")
  .filter((line) => line.trim() !== "")
  .map((line) => `    ${line}`)
  .join("\n")}
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { ${endpoints} } } }
`;
}

function cluster(yaml: string): ClusterConfig {
  return loadBootstrap(yaml, "yaml").clusters[0]!;
}

const AT = "static_resources.clusters[0]";

describe("STRICT_DNS and LOGICAL_DNS clusters", () => {
  test("host names are accepted, with Envoy's defaults: 5 s refresh, failures at the refresh rate, AUTO, no TTL, no jitter", () => {
    const c = cluster(clusterYaml("type: STRICT_DNS"));
    expect(c.type).toBe("STRICT_DNS");
    expect(c.endpoints[0]!.lbEndpoints[0]!.address).toEqual({ address: "backend.svc", port: 8080 });
    expect(c.dns).toEqual({ refreshRateMs: 5000, respectDnsTtl: false, lookupFamily: "AUTO", jitterMs: 0 });
  });

  test("every DNS field, and the endpoint's hostname", () => {
    const c = cluster(
      clusterYaml(
        `type: LOGICAL_DNS
dns_refresh_rate: 10s
dns_failure_refresh_rate: { base_interval: 0.5s }
respect_dns_ttl: true
dns_lookup_family: V4_PREFERRED
dns_jitter: 2s
typed_dns_resolver_config:
  name: envoy.network.dns_resolver.getaddrinfo
  typed_config: { "@type": type.googleapis.com/envoy.extensions.network.dns_resolver.getaddrinfo.v3.GetAddrInfoDnsResolverConfig }`,
      ).replace("endpoint: { address:", "endpoint: { hostname: api.example.com, address:"),
    );
    expect(c.dns).toEqual({
      refreshRateMs: 10_000,
      // max_interval defaults to ten times base_interval (Config::Utility::prepareDnsRefreshStrategy).
      failureRefreshRate: { baseIntervalMs: 500, maxIntervalMs: 5000 },
      respectDnsTtl: true,
      lookupFamily: "V4_PREFERRED",
      jitterMs: 2000,
    });
    expect(c.endpoints[0]!.lbEndpoints[0]!.hostname).toBe("api.example.com");
  });

  test("a STATIC cluster keeps its IP-only rule and message, and ignores DNS fields as Envoy does", () => {
    expect(problems(clusterYaml("type: STATIC"))).toEqual([
      `${AT}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address: "backend.svc" is not an IP address (Envoy needs an IPv4 or IPv6 literal here, not a host name)`,
    ]);
    const c = cluster(clusterYaml("dns_lookup_family: V4_ONLY\ndns_refresh_rate: 1s", "address: 10.0.0.1, port_value: 80"));
    expect(c.type).toBe("STATIC");
    expect(c.dns).toBeUndefined();
  });

  test("an IP literal in a DNS cluster is fine (it resolves to itself)", () => {
    expect(cluster(clusterYaml("type: STRICT_DNS", "address: 10.0.0.1, port_value: 80")).type).toBe("STRICT_DNS");
  });

  test("LOGICAL_DNS needs exactly one endpoint (Envoy's messages)", () => {
    const two = clusterYaml("type: LOGICAL_DNS").replace(/( +- endpoint: .*\n)/, "$1$1");
    expect(problems(two)).toEqual([`${AT}.load_assignment: LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint`]);
    const none = "static_resources:\n  clusters:\n  - name: backend\n    type: LOGICAL_DNS\n";
    expect(problems(none)).toEqual([`${AT}: LOGICAL_DNS clusters must have a single host`]);
    // STRICT_DNS without endpoints is a cluster without hosts, as in Envoy.
    expect(loadBootstrap("static_resources:\n  clusters:\n  - name: backend\n    type: STRICT_DNS\n", "yaml").clusters[0]!.endpoints).toEqual([]);
  });

  test("port_value is required", () => {
    expect(problems(clusterYaml("type: STRICT_DNS", "address: backend.svc"))[0]).toMatch(/socket_address\.port_value/);
  });

  test("refresh rates: over 1 ms; max_interval not below base_interval", () => {
    expect(problems(clusterYaml("type: STRICT_DNS\ndns_refresh_rate: 0s"))).toEqual([`${AT}.dns_refresh_rate: must be greater than 1ms`]);
    expect(problems(clusterYaml("type: STRICT_DNS\ndns_failure_refresh_rate: { base_interval: 2s, max_interval: 1s }"))).toEqual([
      `${AT}.dns_failure_refresh_rate.max_interval: dns_failure_refresh_rate must have max_interval greater than or equal to the base_interval`,
    ]);
    expect(problems(clusterYaml("type: STRICT_DNS\ndns_failure_refresh_rate: { max_interval: 1s }"))[0]).toMatch(/dns_failure_refresh_rate\.base_interval/);
    expect(problems(clusterYaml("type: STRICT_DNS\ndns_lookup_family: V5")).join()).toContain("dns_lookup_family");
  });

  test("resolvers that would change where names are looked up are refused, saying why", () => {
    const cares = `type: STRICT_DNS
typed_dns_resolver_config:
  name: envoy.network.dns_resolver.cares
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig
    resolvers: [{ socket_address: { address: 8.8.8.8, port_value: 53 } }]`;
    expect(problems(clusterYaml(cares))).toEqual([
      `${AT}.typed_dns_resolver_config.typed_config: \`resolvers\` is an Envoy field that polyvoy does not support yet (polyvoy resolves names with the runtime's getaddrinfo (/etc/hosts, then the servers in /etc/resolv.conf), as Envoy's getaddrinfo resolver: resolver addresses and options cannot be set)`,
    ]);
    // A c-ares resolver with nothing set means the system's resolvers: accepted.
    expect(cluster(clusterYaml(cares.replace(/\n {4}resolvers:.*/, ""))).type).toBe("STRICT_DNS");
    const legacy = "type: STRICT_DNS\ndns_resolution_config: { dns_resolver_options: { use_tcp_for_dns_lookups: true } }";
    expect(problems(clusterYaml(legacy))[0]).toMatch(/^static_resources\.clusters\[0\]\.dns_resolution_config: `dns_resolver_options` is an Envoy field that polyvoy does not support yet \(/);
    const apple = "type: STRICT_DNS\ntyped_dns_resolver_config: { name: x, typed_config: { '@type': type.googleapis.com/envoy.extensions.network.dns_resolver.apple.v3.AppleDnsResolverConfig } }";
    expect(problems(clusterYaml(apple))).toEqual([
      `${AT}.typed_dns_resolver_config.typed_config.@type: type.googleapis.com/envoy.extensions.network.dns_resolver.apple.v3.AppleDnsResolverConfig is an Envoy DNS resolver that polyvoy does not support yet (supported: type.googleapis.com/envoy.extensions.network.dns_resolver.getaddrinfo.v3.GetAddrInfoDnsResolverConfig)`,
    ]);
  });
});
