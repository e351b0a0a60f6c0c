/**
 * The dynamic forward proxy's config (core/config/dynamic-forward-proxy-schema.ts and the
 * cluster checks in schema.ts): DnsCacheConfig with Envoy's defaults, the cluster's
 * CLUSTER_PROVIDED and auto_sni / auto_san_validation rules with Envoy's messages, the
 * filter's config and PerRouteConfig, and what is refused by name.
 */
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import { yamlProblems } from "./config-problems.ts";

const C = "static_resources.clusters[0]";
const CLUSTER_TYPE = "type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig";
const cluster = (typed: string, fields = "    lb_policy: CLUSTER_PROVIDED\n") =>
  `static_resources:\n  clusters:\n  - name: c\n    connect_timeout: 1s\n${fields}    cluster_type:\n      name: envoy.clusters.dynamic_forward_proxy\n      typed_config: { "@type": ${CLUSTER_TYPE}, ${typed} }\n`;

describe("dynamic_forward_proxy cluster config", () => {
  test("DnsCacheConfig defaults (Envoy's DnsCacheImpl); auto_sni and auto_san_validation on without upstream options", () => {
    const c = loadBootstrap(cluster("dns_cache_config: { name: dfp }"), "yaml").clusters[0]!;
    expect(c.dynamicForwardProxy).toEqual({
      dnsCache: { name: "dfp", lookupFamily: "AUTO", refreshRateMs: 60_000, minRefreshRateMs: 5000, hostTtlMs: 300_000, maxHosts: 1024, maxPendingRequests: 1024, queryTimeoutMs: 5000 },
    });
    expect([c.autoSni, c.autoSanValidation]).toEqual([true, true]);
  });

  test("every DnsCacheConfig field it honours", () => {
    const typed = "dns_cache_config: { name: dfp, dns_lookup_family: V4_ONLY, dns_refresh_rate: 2s, dns_min_refresh_rate: 3s, host_ttl: 4s, max_hosts: 5, dns_failure_refresh_rate: { base_interval: 1s }, dns_cache_circuit_breaker: { max_pending_requests: 6 }, dns_query_timeout: 0.5s, typed_dns_resolver_config: { name: envoy.network.dns_resolver.getaddrinfo, typed_config: { '@type': type.googleapis.com/envoy.extensions.network.dns_resolver.getaddrinfo.v3.GetAddrInfoDnsResolverConfig } } }";
    expect(loadBootstrap(cluster(typed), "yaml").clusters[0]!.dynamicForwardProxy!.dnsCache).toEqual({
      name: "dfp",
      lookupFamily: "V4_ONLY",
      refreshRateMs: 2000,
      minRefreshRateMs: 3000,
      hostTtlMs: 4000,
      maxHosts: 5,
      failureRefreshRate: { baseIntervalMs: 1000, maxIntervalMs: 10_000 },
      maxPendingRequests: 6,
      queryTimeoutMs: 500,
    });
  });

  test("lb_policy must be CLUSTER_PROVIDED; auto_sni / auto_san_validation off needs allow_insecure_cluster_options (Envoy's messages)", () => {
    expect(yamlProblems(cluster("dns_cache_config: { name: dfp }", ""))).toEqual([
      `${C}.lb_policy: cluster manager: cluster provided LB not specified but cluster 'c' provided one. Check cluster documentation.`,
    ]);
    const insecure = "    lb_policy: CLUSTER_PROVIDED\n    upstream_http_protocol_options: { auto_sni: true }\n";
    expect(yamlProblems(cluster("dns_cache_config: { name: dfp }", insecure))).toEqual([
      `${C}.upstream_http_protocol_options: dynamic_forward_proxy cluster must have auto_sni and auto_san_validation true unless allow_insecure_cluster_options is set.`,
    ]);
    const allowed = loadBootstrap(cluster("dns_cache_config: { name: dfp }, allow_insecure_cluster_options: true", insecure), "yaml").clusters[0]!;
    expect([allowed.autoSni, allowed.autoSanValidation]).toEqual([true, undefined]);
  });

  test("typed HttpProtocolOptions without upstream_http_protocol_options: both off, so refused unless allow_insecure_cluster_options (Envoy's ClusterFactory)", () => {
    const typedOptions =
      '    lb_policy: CLUSTER_PROVIDED\n    typed_extension_protocol_options: { envoy.extensions.upstreams.http.v3.HttpProtocolOptions: { "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions, explicit_http_config: { http_protocol_options: {} } } }\n';
    expect(yamlProblems(cluster("dns_cache_config: { name: dfp }", typedOptions))).toEqual([
      `${C}.typed_extension_protocol_options.envoy.extensions.upstreams.http.v3.HttpProtocolOptions: dynamic_forward_proxy cluster must have auto_sni and auto_san_validation true unless allow_insecure_cluster_options is set.`,
    ]);
    const allowed = loadBootstrap(cluster("dns_cache_config: { name: dfp }, allow_insecure_cluster_options: true", typedOptions), "yaml").clusters[0]!;
    expect([allowed.autoSni, allowed.autoSanValidation]).toEqual([undefined, undefined]);
  });

  test("refused by name: sub clusters, coalescing, persistence, the cluster's own hosts and DNS fields", () => {
    const problems = (typed: string, fields?: string) => yamlProblems(cluster(typed, fields)).join("\n");
    expect(problems("sub_clusters_config: {}")).toMatch(/cluster_type\.typed_config: `sub_clusters_config` is an Envoy field that polyvoy does not support yet \(sub clusters/);
    expect(problems("dns_cache_config: { name: dfp }, allow_coalesced_connections: true")).toMatch(/`allow_coalesced_connections` is an Envoy field/);
    expect(problems("dns_cache_config: { name: dfp, key_value_config: {} }")).toMatch(/dns_cache_config: `key_value_config` is an Envoy field/);
    expect(problems("dns_cache_config: { name: dfp, preresolve_hostnames: [{ address: a, port_value: 70000 }] }")).toMatch(/preresolve_hostnames\.0\.port_value/);
    expect(problems("dns_cache_config: { name: dfp, max_hosts: 1, preresolve_hostnames: [{ address: a, port_value: 80 }, { address: b, port_value: 80 }] }")).toMatch(/preresolve_hostnames: DNS Cache \[dfp\] configured with preresolve_hostnames=2 larger than max_hosts=1/);
    expect(problems("dns_cache_config: { name: dfp, preresolve_hostnames: [{ address: a, port_value: 80, named_port: x }] }")).toMatch(/preresolve_hostnames\.0.*named_port/);
    expect(problems("dns_cache_config: { name: dfp, use_tcp_for_dns_lookups: true }")).toMatch(/`use_tcp_for_dns_lookups` is an Envoy field/);
    expect(problems("dns_cache_config: { name: dfp }", "    lb_policy: CLUSTER_PROVIDED\n    dns_refresh_rate: 1s\n")).toMatch(/clusters\[0\]\.dns_refresh_rate: a dynamic_forward_proxy cluster does not use it: set it in the cluster's dns_cache_config/);
    expect(problems("dns_cache_config: { name: dfp }", "    lb_policy: CLUSTER_PROVIDED\n    outlier_detection: {}\n")).toMatch(/clusters\[0\]\.outlier_detection: a dynamic_forward_proxy cluster does not use it/);
    expect(problems("dns_cache_config: { name: dfp }", "    lb_policy: CLUSTER_PROVIDED\n    type: STRICT_DNS\n")).toMatch(/cluster_type: only one of type, cluster_type may be set/);
    expect(problems("dns_cache_config: { name: '' }")).toMatch(/dns_cache_config\.name/);
    expect(problems("dns_cache_config: { name: dfp, max_hosts: 0 }")).toMatch(/max_hosts: /);
  });
});

describe("DNS caches shared by name", () => {
  test("two configs of one name must be equal (Envoy's message); equal ones and other names are fine", () => {
    const two = (a: string, b: string) =>
      `static_resources:\n  clusters:\n` +
      ["a", "b"].map((name, i) => `  - name: ${name}\n    lb_policy: CLUSTER_PROVIDED\n    cluster_type: { name: envoy.clusters.dynamic_forward_proxy, typed_config: { "@type": ${CLUSTER_TYPE}, dns_cache_config: ${i === 0 ? a : b} } }\n`).join("");
    expect(yamlProblems(two("{ name: d }", "{ name: d, max_hosts: 3 }"))).toEqual([
      "static_resources.clusters[1].cluster_type.typed_config.dns_cache_config: config specified DNS cache 'd' with different settings",
    ]);
    expect(loadBootstrap(two("{ name: d, max_hosts: 3 }", "{ max_hosts: 3, name: d }"), "yaml").clusters).toHaveLength(2);
    expect(loadBootstrap(two("{ name: d }", "{ name: e, max_hosts: 3 }"), "yaml").clusters).toHaveLength(2);
  });
});

describe("dynamic_forward_proxy filter config", () => {
  const hcm = (filter: string, route = "") => `static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: in
          route_config: { virtual_hosts: [{ name: a, domains: ["*"], routes: [{ match: { prefix: / }, direct_response: { status: 200 }${route} }] }] }
          http_filters:
          - name: envoy.filters.http.dynamic_forward_proxy
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig, ${filter} }
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
`;
  const PER_ROUTE = ', typed_per_filter_config: { envoy.filters.http.dynamic_forward_proxy: { "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.PerRouteConfig, ';

  test("its cache and save_upstream_address; sub_cluster_config refused by name; the cache is required", () => {
    expect(() => loadBootstrap(hcm("dns_cache_config: { name: dfp }, save_upstream_address: true"), "yaml")).not.toThrow();
    expect(yamlProblems(hcm("sub_cluster_config: {}")).join("\n")).toMatch(/`sub_cluster_config` is an Envoy field that polyvoy does not support yet \(sub clusters/);
    expect(yamlProblems(hcm("save_upstream_address: true")).join("\n")).toMatch(/dns_cache_config: must set one of dns_cache_config, sub_cluster_config/);
  });

  test("PerRouteConfig: one of host_rewrite_literal and host_rewrite_header", () => {
    expect(() => loadBootstrap(hcm("dns_cache_config: { name: dfp }", `${PER_ROUTE}host_rewrite_literal: a.test } }`), "yaml")).not.toThrow();
    expect(yamlProblems(hcm("dns_cache_config: { name: dfp }", `${PER_ROUTE}host_rewrite_literal: a.test, host_rewrite_header: x-host } }`)).join("\n")).toMatch(/must set only one of host_rewrite_literal, host_rewrite_header/);
  });
});

describe("sni_dynamic_forward_proxy network filter config", () => {
  const chain = (typed: string) => `static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.sni_dynamic_forward_proxy
        typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3.FilterConfig, ${typed} }
      - name: envoy.filters.network.tcp_proxy
        typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: t, cluster: c }
  clusters:
  - name: c
    lb_policy: CLUSTER_PROVIDED
    cluster_type: { name: envoy.clusters.dynamic_forward_proxy, typed_config: { "@type": ${CLUSTER_TYPE}, dns_cache_config: { name: d } } }
`;

  test("dns_cache_config and port_value (1–65535) are required; it is not terminal; its cache shares the cluster's by name", () => {
    const filter = loadBootstrap(chain("dns_cache_config: { name: d }, port_value: 443"), "yaml").listeners[0]!.filterChains[0]!.filters[0]!;
    expect(filter.config).toEqual({ dnsCache: expect.objectContaining({ name: "d" }), portValue: 443 });
    expect(yamlProblems(chain("dns_cache_config: { name: d }")).join("\n")).toMatch(/typed_config\.port_value: /);
    expect(yamlProblems(chain("dns_cache_config: { name: d }, port_value: 0")).join("\n")).toMatch(/port_value: 0 is out of range \(must be >= 1\)/);
    expect(yamlProblems(chain("port_value: 443")).join("\n")).toMatch(/dns_cache_config/);
    expect(yamlProblems(chain("dns_cache_config: { name: d, max_hosts: 2 }, port_value: 443"))).toEqual([
      "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.dns_cache_config: config specified DNS cache 'd' with different settings",
    ]);
  });
});
