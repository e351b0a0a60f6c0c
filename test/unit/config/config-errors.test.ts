/**
 * The config error taxonomy, line for line: a misspelt key (not a field of that Envoy
 * message, with the closest field offered), an Envoy field polyvoy does not support yet,
 * a value out of range, a reference to something missing; no knock-on lines after a
 * refusal; and configs read as Envoy's loader reads them (enum names in any case,
 * TypedStruct, duplicate YAML keys, `!ignore`).
 */
import { describe, expect, test } from "vitest";
import { loadConfig } from "../../../core/config/load.ts";

type Json = Record<string, any>;

const SUPPORTED = "(supported fields: docs/configuration.md)";
const HTTP_LISTENER = "static_resources.listeners[0]";
const HCM = `${HTTP_LISTENER}.filter_chains[0].filters[0].typed_config`;
const ROUTE = `${HCM}.route_config.virtual_hosts[0].routes[0]`;
const TCP = "static_resources.listeners[1].filter_chains[0].filters[0].typed_config";
const CLUSTER = "static_resources.clusters[0]";
const HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

function base(): Json {
  return {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: 9901 } } },
    static_resources: {
      listeners: [
        {
          name: "http",
          address: { socket_address: { address: "127.0.0.1", port_value: 10000 } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type": HCM_TYPE,
                    stat_prefix: "ingress_http",
                    route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }] }] },
                    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                  },
                },
              ],
            },
          ],
        },
        {
          name: "tcp",
          address: { socket_address: { address: "127.0.0.1", port_value: 10001 } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.tcp_proxy",
                  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "tcp", cluster: "backend" },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: "backend",
          connect_timeout: "1s",
          load_assignment: { cluster_name: "backend", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 8080 } } } }] }] },
        },
      ],
    },
  };
}

/** The base config with `change` applied. */
function changed(change: (c: Json) => void): Json {
  const config = base();
  change(config);
  return config;
}

const hcm = (c: Json): Json => c.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
const route = (c: Json): Json => hcm(c).route_config.virtual_hosts[0].routes[0];
const cluster = (c: Json): Json => c.static_resources.clusters[0];
const tcp = (c: Json): Json => c.static_resources.listeners[1].filter_chains[0].filters[0].typed_config;

function problems(config: Json | string, format: "yaml" | "json" = "json"): readonly string[] {
  const result = loadConfig(typeof config === "string" ? config : JSON.stringify(config), format);
  return "problems" in result ? result.problems : [];
}

describe("config errors say what to do", () => {
  test("the base config is valid", () => {
    expect(problems(base())).toEqual([]);
  });

  test.each<[string, (c: Json) => void, string[]]>([
    // (b) not a field of that Envoy message: the closest field, when close.
    ["a misspelt cluster field", (c) => void (cluster(c).conect_timeout = "2s"), [`${CLUSTER}: \`conect_timeout\` is not a field of envoy.config.cluster.v3.Cluster; did you mean \`connect_timeout\`?`]],
    ["a misspelt top-level field", (c) => void (c.static_resource = {}), ["config: `static_resource` is not a field of envoy.config.bootstrap.v3.Bootstrap; did you mean `static_resources`?"]],
    ["a key nothing like a field", (c) => void (cluster(c).colour = "blue"), [`${CLUSTER}: \`colour\` is not a field of envoy.config.cluster.v3.Cluster`]],
    ["a misspelt HCM field", (c) => void (hcm(c).stat_prefx = "x"), [`${HCM}: \`stat_prefx\` is not a field of envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager; did you mean \`stat_prefix\`?`]],
    ["a misspelt route field", (c) => void (route(c).route.timout = "1s"), [`${ROUTE}.route: \`timout\` is not a field of envoy.config.route.v3.RouteAction; did you mean \`timeout\`?`]],
    ["a misspelt socket address field", (c) => void (c.admin.address.socket_address.port = 1), ["admin.address.socket_address: `port` is not a field of envoy.config.core.v3.SocketAddress"]],
    // (a) an Envoy field polyvoy does not support yet.
    ["an unsupported cluster field", (c) => void (cluster(c).upstream_bind_config = {}), [`${CLUSTER}: \`upstream_bind_config\` is an Envoy field that polyvoy does not support yet ${SUPPORTED}`]],
    ["an unsupported bootstrap field, by its JSON name", (c) => void (c.enableDispatcherStats = true), [`config: \`enable_dispatcher_stats\` is an Envoy field that polyvoy does not support yet ${SUPPORTED}`]],
    ["an unsupported listener field", (c) => void (c.static_resources.listeners[0].transparent = true), [`${HTTP_LISTENER}: \`transparent\` is an Envoy field that polyvoy does not support yet ${SUPPORTED}`]],
    ["an unsupported tcp_proxy field", (c) => void (c.static_resources.listeners[1].filter_chains[0].filters[0].typed_config.max_downstream_connection_duration = "5s"), [`${TCP}: \`max_downstream_connection_duration\` is an Envoy field that polyvoy does not support yet ${SUPPORTED}`]],
    ["an unsupported enum value", (c) => void (hcm(c).codec_type = "HTTP3"), [`${HCM}.codec_type: HTTP3 is an Envoy value that polyvoy does not support yet (supported: AUTO, HTTP1, HTTP2)`]],
    ["a misspelt enum value", (c) => void (cluster(c).lb_policy = "ROUND_ROBN"), [`${CLUSTER}.lb_policy: "ROUND_ROBN" is not a value of envoy.config.cluster.v3.Cluster.LbPolicy (supported: ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV, CLUSTER_PROVIDED, LOAD_BALANCING_POLICY_CONFIG); did you mean \`ROUND_ROBIN\`?`]],
    ["a DNS cluster's endpoints may be host names", (c) => {
      cluster(c).type = "strict_dns";
      cluster(c).dns_lookup_family = "V4_ONLY";
      cluster(c).load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address = "backend.example";
    }, []],
    ["a LOGICAL_DNS cluster of one endpoint", (c) => void (cluster(c).type = "LOGICAL_DNS"), []],
    ["a host name in a STATIC cluster", (c) => void (cluster(c).load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address = "backend.example"), [
      `${CLUSTER}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address: "backend.example" is not an IP address (Envoy needs an IPv4 or IPv6 literal here, not a host name)`,
    ]],
    ["an Envoy field refused with its reason", (c) => void (cluster(c).circuit_breakers = { thresholds: [{ max_connection_pools: 1 }] }), [
      `${CLUSTER}.circuit_breakers.thresholds[0]: \`max_connection_pools\` is an Envoy field that polyvoy does not support yet (polyvoy does not count a cluster's connection pools (one per host, protocol and SNI), so it cannot limit them)`,
    ]],
    ["an Envoy value polyvoy takes only some of", (c) => void (cluster(c).lb_subset_config = { subset_selectors: [{ keys: ["v"] }], metadata_fallback_policy: "FALLBACK_LIST" }), [
      `${CLUSTER}.lb_subset_config.metadata_fallback_policy: FALLBACK_LIST is an Envoy value that polyvoy does not support yet (supported: METADATA_NO_FALLBACK; FALLBACK_LIST reads fallback_list in the route's metadata_match)`,
    ]],
    ["a bool polyvoy takes at one value only", (c) => void (hcm(c).http2_protocol_options = { allow_metadata: true }), [`${HCM}.http2_protocol_options.allow_metadata: true is an Envoy value that polyvoy does not support yet (supported: false)`]],
    ["an Envoy extension by name that polyvoy lacks", (c) => void (c.overload_manager = {
      resource_monitors: [{ name: "envoy.resource_monitors.fixed_heap", typed_config: { "@type": "type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig", max_heap_size_bytes: 1000000 } }],
      actions: [{ name: "envoy.overload_actions.reset_high_memory_stream", triggers: [{ name: "envoy.resource_monitors.fixed_heap", threshold: { value: 0.9 } }] }],
    }), [
      "overload_manager.actions[0].name: envoy.overload_actions.reset_high_memory_stream is an Envoy overload action that polyvoy does not support yet (it needs per-stream buffer accounting, which polyvoy does not have)",
    ]],
    ["a name that is not an Envoy extension of that kind", (c) => void (route(c).route.retry_policy = { retry_host_predicate: [{ name: "previous_hosts" }] }), [
      `${ROUTE}.route.retry_policy.retry_host_predicate[0].name: "previous_hosts" is not an Envoy retry host predicate (supported: envoy.retry_host_predicates.{previous_hosts,omit_canary_hosts,omit_host_metadata})`,
    ]],
    // (c) out of range.
    ["a port out of range", (c) => void (c.admin.address.socket_address.port_value = 70000), ["admin.address.socket_address.port_value: 70000 is out of range (must be <= 65535)"]],
    ["a negative buffer limit", (c) => void (cluster(c).per_connection_buffer_limit_bytes = -1), [`${CLUSTER}.per_connection_buffer_limit_bytes: -1 is out of range (must be >= 1)`]],
    ["a status out of range", (c) => void (route(c).direct_response = { status: 700 }, delete route(c).route), [`${ROUTE}.direct_response.status: 700 is out of range (must be <= 599)`]],
    // (d) a reference to something missing.
    ["a route to a missing cluster", (c) => void (route(c).route.cluster = "bakend"), [`${ROUTE}.route.cluster: no cluster named "bakend" is defined; did you mean "backend"?`]],
    ["tcp_proxy to a missing cluster", (c) => void (c.static_resources.listeners[1].filter_chains[0].filters[0].typed_config.cluster = "elsewhere"), [`${TCP}.cluster: no cluster named "elsewhere" is defined`]],
    ["a tcp_proxy weighted cluster that is missing", (c) => void (tcp(c).weighted_clusters = { clusters: [{ name: "backend", weight: 1 }, { name: "canary", weight: 2 }] }, delete tcp(c).cluster), [
      `${TCP}.weighted_clusters.clusters[1].name: no cluster named "canary" is defined`,
    ]],
    ["tcp_proxy with both cluster and weighted_clusters", (c) => void (tcp(c).weighted_clusters = { clusters: [{ name: "backend", weight: 1 }] }), [`${TCP}.weighted_clusters: set exactly one of cluster and weighted_clusters`]],
    ["tcp_proxy with neither", (c) => void delete tcp(c).cluster, [`${TCP}.cluster: set exactly one of cluster and weighted_clusters`]],
    ["a tcp_proxy cluster weight of 0", (c) => void (tcp(c).weighted_clusters = { clusters: [{ name: "backend", weight: 0 }] }, delete tcp(c).cluster), [`${TCP}.weighted_clusters.clusters[0].weight: 0 is out of range (must be >= 1)`]],
    ["a weighted cluster that is missing", (c) => void (route(c).route = { weighted_clusters: { clusters: [{ name: "backend", weight: 1 }, { name: "canary", weight: 1 }] } }), [
      `${ROUTE}.route.weighted_clusters.clusters[1].name: no cluster named "canary" is defined`,
    ]],
    // No knock-on lines after a refusal.
    ["a refused cluster specifier is not also a missing one", (c) => void (route(c).route = { inline_cluster_specifier_plugin: { extension: { name: "m", typed_config: { "@type": "type.googleapis.com/envoy.extensions.router.cluster_specifiers.matcher.v3.MatcherClusterSpecifier" } } } }), [
      `${ROUTE}.route.inline_cluster_specifier_plugin.extension.typed_config.@type: type.googleapis.com/envoy.extensions.router.cluster_specifiers.matcher.v3.MatcherClusterSpecifier is an Envoy cluster specifier plugin that polyvoy does not support yet (supported: type.googleapis.com/envoy.extensions.router.cluster_specifiers.lua.v3.LuaConfig)`,
    ]],
    ["RDS is not also a missing route_config", (c) => void (delete hcm(c).route_config, (hcm(c).rds = { route_config_name: "r" })), [`${HCM}.rds.config_source: missing required field`]],
    ["a refused path specifier is not also a missing one", (c) => void (route(c).match = { path_match_policy: { name: "x" } }), [`${ROUTE}.match: \`path_match_policy\` is an Envoy field that polyvoy does not support yet ${SUPPORTED}`]],
    ["a field refused by a check of its object is not also a missing oneof member", (c) => void (cluster(c).health_checks = [{ timeout: "1s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, custom_health_check: { name: "x" } }]), [
      `${CLUSTER}.health_checks[0]: \`custom_health_check\` is an Envoy field that polyvoy does not support yet (use http_health_check, tcp_health_check or grpc_health_check)`,
    ]],
    ["a genuinely missing oneof is still reported", (c) => void (route(c).route = { timeout: "1s" }), [`${ROUTE}.route: must set one of cluster, cluster_header, weighted_clusters, cluster_specifier_plugin, inline_cluster_specifier_plugin`]],
  ])("%s", (_, change, expected) => {
    expect(problems(changed(change))).toEqual(expected);
  });
});

describe("inputs the checker once threw on or dropped", () => {
  test("an HTTP filter with an empty name is a problem line, not a TypeError from the terminal-filter check", () => {
    const lines = problems(changed((c) => void (hcm(c).http_filters[0].name = "")));
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatch(/^static_resources\.listeners\[0\]\.filter_chains\[0\]\.filters\[0\]\.typed_config\.http_filters\[0\]\.name: /);
  });

  test.each(["json", "yaml"] as const)("a map key __proto__ is refused, not dropped with its value unchecked (%s)", (format) => {
    const perFilter = '{"__proto__": {"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "disabled": "not a bool"}}';
    const text = JSON.stringify(changed((c) => void (route(c).typed_per_filter_config = "PER_FILTER"))).replace('"PER_FILTER"', perFilter);
    // The JSON text is YAML too.
    const lines = problems(text, format);
    expect(lines).toContain(`${ROUTE}.typed_per_filter_config.__proto__: the key "__proto__" is not supported`);
  });
});

describe("nesting", () => {
  /** An RBAC policy whose permission is `depth` not_rules around `any`. */
  function nested(depth: number): Json {
    let permission: Json = { any: true };
    for (let i = 0; i < depth; i++) permission = { not_rule: permission };
    return changed((c) => {
      hcm(c).http_filters.unshift({
        name: "envoy.filters.http.rbac",
        typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC", rules: { action: "ALLOW", policies: { p: { permissions: [permission], principals: [{ any: true }] } } } },
      });
    });
  }

  test("a config nested beyond 200 levels is one problem line, not a stack overflow", () => {
    // 100 nested messages (protobuf's limit) pass.
    expect(problems(nested(99))).toEqual([]);
    const lines = problems(nested(3000));
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatch(/: nested deeper than 200 levels \(fields and list items; protobuf's parsers stop at 100 nested messages\)$/);
  });
});

describe("configs are read as Envoy reads them", () => {
  test("enum names in any case", () => {
    expect(problems(changed((c) => {
      cluster(c).lb_policy = "round_robin";
      cluster(c).type = "static";
      hcm(c).codec_type = "auto";
      hcm(c).server_header_transformation = "Pass_Through";
    }))).toEqual([]);
    const result = loadConfig(JSON.stringify(changed((c) => void (hcm(c).codec_type = "http1"))), "json");
    expect("bootstrap" in result && (result.bootstrap.listeners[0]!.filterChains[0]!.filters[0]!.config as { codecType: string }).codecType).toBe("HTTP1");
  });

  test.each(["xds.type.v3.TypedStruct", "udpa.type.v1.TypedStruct"])("a %s typed_config is the message it names", (typedStruct) => {
    const config = changed((c) => {
      const { "@type": typeUrl, ...value } = hcm(c);
      c.static_resources.listeners[0].filter_chains[0].filters[0].typed_config = { "@type": `type.googleapis.com/${typedStruct}`, type_url: typeUrl, value };
    });
    expect(problems(config)).toEqual([]);
    const result = loadConfig(JSON.stringify(config), "json");
    expect("bootstrap" in result && result.bootstrap.listeners[0]!.filterChains[0]!.filters[0]!.type).toBe("envoy.filters.network.http_connection_manager");
    // Its fields are checked as the message's own.
    config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.value.stat_prefx = "x";
    expect(problems(config)).toEqual([
      `${HCM}: \`stat_prefx\` is not a field of envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager; did you mean \`stat_prefix\`?`,
    ]);
  });

  test("a repeated field given one value holds that value, as protobuf's legacy JSON parser reads it (Envoy's tls example)", () => {
    const config = changed((c) => {
      hcm(c).http_filters = hcm(c).http_filters[0]; // one filter, not a list of one
      c.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].domains = "*";
    });
    expect(problems(config)).toEqual([]);
    const result = loadConfig(JSON.stringify(config), "json");
    const httpConfig = "bootstrap" in result ? (result.bootstrap.listeners[0]!.filterChains[0]!.filters[0]!.config as { httpFilters: { name: string }[] }) : undefined;
    expect(httpConfig?.httpFilters.map((f) => f.name)).toEqual(["envoy.filters.http.router"]);
    // A field that is not repeated still takes no list.
    expect(problems(changed((c) => void (hcm(c).stat_prefix = ["a"])))).toEqual([`${HCM}.stat_prefix: expected string, got array`]);
  });

  test("a key given twice in YAML: the later value wins, as with Envoy's YAML loader", () => {
    const yaml = "admin:\n  address:\n    socket_address: { address: 127.0.0.1, port_value: 1, port_value: 9901 }\n";
    const result = loadConfig(yaml, "yaml");
    expect("bootstrap" in result && result.bootstrap.admin?.address.port).toBe(9901);
  });

  test("keys tagged !ignore are dropped (a place for YAML anchors)", () => {
    const yaml = "!ignore anchors:\n  - &admin { address: 127.0.0.1, port_value: 9901 }\nadmin:\n  address:\n    socket_address: *admin\n";
    const result = loadConfig(yaml, "yaml");
    expect("bootstrap" in result && result.bootstrap.admin?.address.port).toBe(9901);
  });

  test("a JSON file's syntax errors are JSON's", () => {
    expect(problems('{\n  "admin": {\n    "address": {,}\n  }\n}', "json")).toEqual([
      `config: JSON syntax error at line 3, column 17: expected a member name in double quotes, found ","`,
    ]);
    expect(problems('{"admin": {}', "json")).toEqual([`config: JSON syntax error at line 1, column 13: expected ',' or '}' after an object member, found the end of the text`]);
    expect(problems('{"admin": tru}', "json")).toEqual([`config: JSON syntax error at line 1, column 11: expected a value, found "t"`]);
    expect(problems('{"admin": {}} x', "json")).toEqual([`config: JSON syntax error at line 1, column 15: unexpected "x" after the top-level value`]);
    expect(problems('{"a": "\\q"}', "json")).toEqual([`config: JSON syntax error at line 1, column 8: invalid escape \\q in a string`]);
    expect(problems('{"a": 01}', "json")).toEqual([`config: JSON syntax error at line 1, column 8: invalid number`]);
    // A byte order mark is not a syntax error.
    expect(problems(`\uFEFF${JSON.stringify(base())}`, "json")).toEqual([]);
  });

  test("a binary file is not a text file", () => {
    expect(problems("\u007fELF\u0002\u0001\u0001\u0000\u0000", "yaml")).toEqual(["config: not a text file (it contains NUL bytes)"]);
    expect(problems("admin: \uFFFD\uFFFD", "yaml")).toEqual(["config: not a text file (it is not valid UTF-8)"]);
  });
});
