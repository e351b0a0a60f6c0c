/**
 * docs/configuration.md's "Known unsupported Envoy features": each feature written there
 * as a config field or value is refused by the config loader, and its first problem line is
 * pinned (nothing in the list is silently accepted). Every name of the list is either checked
 * here or said (NOT_CONFIG) to be a command-line flag, a supported "but X" exception, or
 * checked elsewhere.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import { problemsOf } from "./config-problems.ts";

type Json = Record<string, unknown>;

const ep = (extra: Json = {}) => ({ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 1 } } }, ...extra });

function withCluster(fields: Json, loadAssignment: Json = { cluster_name: "c", endpoints: [{ lb_endpoints: [ep()] }] }): Json {
  return { static_resources: { clusters: [{ name: "c", connect_timeout: "1s", load_assignment: loadAssignment, ...fields }] } };
}

function withHcm(fields: Json, route: Json = {}, vhost: Json = {}): Json {
  return {
    static_resources: {
      listeners: [
        {
          name: "l",
          address: { socket_address: { address: "127.0.0.1", port_value: 1 } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    stat_prefix: "s",
                    route_config: { virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "c", ...route } }], ...vhost }] },
                    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                    ...fields,
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [{ name: "c", connect_timeout: "1s", load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [ep()] }] } }],
    },
  };
}

function withListener(fields: Json, chain: Json = {}): Json {
  const config = withHcm({});
  const listener = (config.static_resources as { listeners: Json[] }).listeners[0]!;
  Object.assign(listener, fields);
  Object.assign((listener.filter_chains as Json[])[0]!, chain);
  return config;
}

function rbac(policy: Json): Json {
  return withHcm({ http_filters: [{ name: "envoy.filters.http.rbac", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC", rules: { policies: { p: policy } } } }, { name: "envoy.filters.http.router" }] });
}

function overload(action: string): Json {
  return {
    overload_manager: {
      resource_monitors: [{ name: "envoy.resource_monitors.fixed_heap", typed_config: { "@type": "type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig", max_heap_size_bytes: 1000000 } }],
      actions: [{ name: action, triggers: [{ name: "envoy.resource_monitors.fixed_heap", threshold: { value: 0.9 } }] }],
    },
  };
}

const dfpCluster = (typed: Json) => ({ static_resources: { clusters: [{ name: "c", connect_timeout: "1s", lb_policy: "CLUSTER_PROVIDED", cluster_type: { name: "envoy.clusters.dynamic_forward_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig", ...typed } } }] } });
const subset = (fields: Json) => withCluster({ lb_subset_config: { subset_selectors: [{ keys: ["v"] }], ...fields } });
const lbMeta = { filter_metadata: { "envoy.lb": { v: 1 } }, typed_filter_metadata: { x: { "@type": "type.googleapis.com/google.protobuf.Struct" } } };

/** A documented name → a config that uses it. */
const USES: Record<string, Json> = {
  scoped_routes: withHcm({ route_config: undefined, scoped_routes: { name: "x" } }),
  http3_protocol_options: withHcm({ http3_protocol_options: {} }),
  transport_socket_matches: withCluster({ transport_socket_matches: [{ name: "m", match: {}, transport_socket: { name: "envoy.transport_sockets.raw_buffer" } }] }),
  "envoy.filters.listener.original_dst": withListener({ listener_filters: [{ name: "envoy.filters.listener.original_dst", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst" } }] }),
  use_original_dst: withListener({ use_original_dst: true }),
  filter_chain_matcher: withListener({ filter_chain_matcher: {} }),
  use_proxy_proto: withListener({}, { use_proxy_proto: true }),
  HTTP_PROTO: withHcm({ tracing: { provider: { name: "envoy.tracers.zipkin", typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig", collector_cluster: "c", collector_endpoint: "/", collector_endpoint_version: "HTTP_PROTO" } } } }),
  collector_service: withHcm({ tracing: { provider: { name: "envoy.tracers.zipkin", typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig", collector_endpoint_version: "HTTP_JSON", collector_service: { http_uri: { uri: "http://c/api/v2/spans", cluster: "c", timeout: "1s" } } } } } }),
  "tracing.provider": withHcm({ tracing: { provider: { name: "envoy.tracers.dynamic_ot", typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.DynamicOtConfig" } } } }),
  remote_config: withHcm({ tracing: { provider: { name: "envoy.tracers.datadog", typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.DatadogConfig", collector_cluster: "backend", remote_config: {} } } } }),
  sampler: withHcm({ tracing: { provider: { name: "envoy.tracers.opentelemetry", typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig", sampler: { name: "envoy.tracers.opentelemetry.samplers.dynatrace", typed_config: { "@type": "type.googleapis.com/envoy.extensions.tracers.opentelemetry.samplers.v3.DynatraceSamplerConfig" } } } } } }),
  "grpc_service.retry_policy": withHcm({ tracing: { provider: { name: "envoy.tracers.skywalking", typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.SkyWalkingConfig", grpc_service: { envoy_grpc: { cluster_name: "backend" }, retry_policy: { num_retries: 1 } } } } } }),
  resource_detectors: withHcm({ tracing: { provider: { name: "envoy.tracers.opentelemetry", typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig", resource_detectors: [{ name: "envoy.tracers.opentelemetry.resource_detectors.environment", typed_config: { "@type": "type.googleapis.com/envoy.extensions.tracers.opentelemetry.resource_detectors.v3.EnvironmentResourceDetectorConfig" } }] } } } }),
  hystrix: { stats_sinks: [{ name: "envoy.stat_sinks.hystrix" }] },
  "hedge_policy.initial_requests": withHcm({}, { hedge_policy: { hedge_on_per_try_timeout: true, initial_requests: 3 } }),
  "hedge_policy.additional_request_chance": withHcm({}, { hedge_policy: { additional_request_chance: { numerator: 1 } } }),
  retry_options_predicates: withHcm({}, { retry_policy: { retry_options_predicates: [{ name: "x" }] } }),
  FALLBACK_LIST: subset({ metadata_fallback_policy: "FALLBACK_LIST" }),
  "subset_selectors[].single_host_per_subset": withCluster({ lb_subset_config: { subset_selectors: [{ keys: ["v"], single_host_per_subset: true }] } }),
  typed_filter_metadata: withCluster({}, { cluster_name: "c", endpoints: [{ lb_endpoints: [ep({ metadata: lbMeta })] }] }),
  dns_resolution_config: withCluster({ type: "STRICT_DNS", dns_resolution_config: { resolvers: [{ socket_address: { address: "8.8.8.8", port_value: 53 } }] } }),
  "preconnect_policy.predictive_preconnect_ratio": withCluster({ preconnect_policy: { predictive_preconnect_ratio: 2 } }),
  max_connection_pools: withCluster({ circuit_breakers: { thresholds: [{ max_connection_pools: 5 }] } }),
  weighted_priority_health: withCluster({}, { cluster_name: "c", endpoints: [{ lb_endpoints: [ep()] }], policy: { weighted_priority_health: true } }),
  drop_overloads: withCluster({}, { cluster_name: "c", endpoints: [{ lb_endpoints: [ep()] }], policy: { drop_overloads: [{ category: "x", drop_percentage: { numerator: 1 } }] } }),
  endpoint_stale_after: withCluster({}, { cluster_name: "c", endpoints: [{ lb_endpoints: [ep()] }], policy: { endpoint_stale_after: "1s" } }),
  update_merge_window: withCluster({ common_lb_config: { update_merge_window: "1s" } }),
  close_connections_on_host_set_change: withCluster({ common_lb_config: { close_connections_on_host_set_change: true } }),
  override_host_status: withCluster({ common_lb_config: { override_host_status: { statuses: ["HEALTHY"] } } }),
  custom_health_check: withCluster({ health_checks: [{ timeout: "1s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, custom_health_check: { name: "x" } }] }),
  alt_port: withCluster({ health_checks: [{ timeout: "1s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, alt_port: 5, tcp_health_check: {} }] }),
  monitors: withCluster({ outlier_detection: { monitors: [{ name: "x" }] } }),
  detect_degraded_hosts: withCluster({ outlier_detection: { detect_degraded_hosts: true } }),
  formatters: withHcm({ access_log: [{ name: "envoy.access_loggers.stdout", typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog", log_format: { text_format: "x\n", formatters: [{ name: "envoy.formatter.cel", typed_config: { "@type": "type.googleapis.com/envoy.extensions.formatter.cel.v3.Cel" } }] } } }] }),
  "%METADATA(CLUSTER/LISTENER/VIRTUAL_HOST:…)%": withHcm({ access_log: [{ name: "envoy.access_loggers.stdout", typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog", log_format: { text_format: "%METADATA(VIRTUAL_HOST:ns:key)%\n" } } }] }),
  path_rewrite_policy: withHcm({}, { path_rewrite_policy: { name: "x" } }),
  "upgrade_configs[].connect_config.allow_post": withHcm({}, { upgrade_configs: [{ upgrade_type: "CONNECT", connect_config: { allow_post: true } }] }),
  ".proxy_protocol_config": withHcm({}, { upgrade_configs: [{ upgrade_type: "CONNECT", connect_config: { proxy_protocol_config: {} } }] }),
  self: { dynamic_resources: { cds_config: { self: {} } } },
  HTTP3: withHcm({ codec_type: "HTTP3" }),
  codec_client_type: withCluster({ health_checks: [{ timeout: "1s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: "/", codec_client_type: "HTTP3" } }] }),
  signature_algorithms: withCluster({ transport_socket: { name: "envoy.transport_sockets.tls", typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", common_tls_context: { tls_params: { signature_algorithms: ["rsa_pss_rsae_sha256"] } } } } }),
  max_verify_depth: withCluster({ transport_socket: { name: "envoy.transport_sockets.tls", typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", common_tls_context: { validation_context: { max_verify_depth: 2 } } } } }),
  tls_options: withCluster({ health_checks: [{ timeout: "1s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {}, tls_options: { alpn_protocols: ["h2"] } }] }),
  metadata: withListener({}, { metadata: { filter_metadata: { x: {} } } }),
  filter_disabled: withListener({ listener_filters: [{ name: "envoy.filters.listener.tls_inspector", filter_disabled: { any_match: true } }] }),
  config_discovery: withListener({ listener_filters: [{ name: "envoy.filters.listener.tls_inspector", config_discovery: {} }] }),
  rules: withListener({ listener_filters: [{ name: "envoy.filters.listener.proxy_protocol", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol", rules: [{ tlv_type: 1 }] } }] }),
  pass_through_tlvs: withListener({ listener_filters: [{ name: "envoy.filters.listener.proxy_protocol", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol", pass_through_tlvs: { match_type: "INCLUDE_ALL" } } }] }),
  "tracing.http": { tracing: { http: { name: "envoy.tracers.zipkin" } } },
  "stats_config.histogram_bucket_settings": { stats_config: { histogram_bucket_settings: [{ match: { prefix: "x" }, buckets: [1] }] } },
  tap: withHcm({ http_filters: [{ name: "envoy.filters.http.tap" }, { name: "envoy.filters.http.router" }] }),
  mongo_proxy: withListener({}, { filters: [{ name: "envoy.filters.network.mongo_proxy" }] }),
  kafka_mesh: withListener({}, { filters: [{ name: "envoy.filters.network.kafka_mesh" }] }),
  matcher_tree: withHcm({ http_filters: [{ name: "envoy.filters.http.rbac", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC", matcher: { matcher_tree: {} } } }, { name: "envoy.filters.http.router" }] }),
  audit_logging_options: withHcm({ http_filters: [{ name: "envoy.filters.http.rbac", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC", rules: { audit_logging_options: {} } } }, { name: "envoy.filters.http.router" }] }),
  upstream_ip_port: withCluster({
    typed_extension_protocol_options: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        explicit_http_config: { http_protocol_options: {} },
        http_filters: [
          {
            name: "envoy.filters.http.rbac",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
              rules: { action: "ALLOW", policies: { p: { principals: [{ any: true }], permissions: [{ matcher: { name: "envoy.rbac.matchers.upstream_ip_port", typed_config: { "@type": "type.googleapis.com/envoy.extensions.rbac.matchers.upstream_ip_port.v3.UpstreamIpPortMatcher", upstream_ip: { address_prefix: "10.0.0.1", prefix_len: 32 } } } }] } } },
            },
          },
          { name: "envoy.filters.http.upstream_codec", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec" } },
        ],
      },
    },
  }),
  track_per_rule_stats: withHcm({ http_filters: [{ name: "envoy.filters.http.rbac", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC", track_per_rule_stats: true } }, { name: "envoy.filters.http.router" }] }),
  "lb_subset_config.metadata_fallback_policy": subset({ metadata_fallback_policy: "FALLBACK_LIST" }),
  typed_dns_resolver_config: withCluster({ type: "STRICT_DNS", typed_dns_resolver_config: { name: "envoy.network.dns_resolver.cares", typed_config: { "@type": "type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig", resolvers: [] } } }),
  "cluster_type: envoy.cluster.dns": withCluster({ cluster_type: { name: "envoy.cluster.dns" } }),
  sub_clusters_config: dfpCluster({ sub_clusters_config: {} }),
  sub_cluster_config: withHcm({ http_filters: [{ name: "envoy.filters.http.dynamic_forward_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig", sub_cluster_config: {} } }, { name: "envoy.filters.http.router" }] }),
  allow_coalesced_connections: dfpCluster({ dns_cache_config: { name: "d" }, allow_coalesced_connections: true }),
  key_value_config: dfpCluster({ dns_cache_config: { name: "d", key_value_config: {} } }),
  filter_state: withHcm({}, { hash_policy: [{ filter_state: { key: "k" } }] }),
  event_logger: withCluster({ health_checks: [{ timeout: "1s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {}, event_logger: [{ name: "x" }] }] }),
  send: withCluster({ health_checks: [{ timeout: "1s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: "/", send: { text: "00" } } }] }),
  service_name_matcher: withCluster({ health_checks: [{ timeout: "1s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: "/", service_name_matcher: { exact: "x" } } }] }),
  reset_high_memory_stream: overload("envoy.overload_actions.reset_high_memory_stream"),
  close_idle_http_connections: overload("envoy.overload_actions.close_idle_http_connections"),
  extension_filter: withHcm({ access_log: [{ name: "envoy.access_loggers.stdout", filter: { extension_filter: {} } }] }),
};

/**
 * Each name's first problem line, exactly. Two are not yet in the taxonomy's words, noted:
 * `detect_degraded_hosts` is newer than the Envoy protos polyvoy's field lists come from, and
 * the proxy_protocol listener filter's config is not among those protos' messages.
 */
const FIRST_LINE: Record<string, string> = {
  "sub_clusters_config": "static_resources.clusters[0].cluster_type.typed_config: `sub_clusters_config` is an Envoy field that polyvoy does not support yet (sub clusters (a STRICT_DNS cluster made per host:port) are not built: use dns_cache_config, whose hosts are made from the cache's answers)",
  "sub_cluster_config": "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config: `sub_cluster_config` is an Envoy field that polyvoy does not support yet (sub clusters (a STRICT_DNS cluster made per host:port) are not built: use dns_cache_config, whose hosts are made from the cache's answers)",
  "allow_coalesced_connections": "static_resources.clusters[0].cluster_type.typed_config: `allow_coalesced_connections` is an Envoy field that polyvoy does not support yet (HTTP/2 connections are not shared between hosts)",
  "key_value_config": "static_resources.clusters[0].cluster_type.typed_config.dns_cache_config: `key_value_config` is an Envoy field that polyvoy does not support yet (the cache is not persisted to a key-value store)",
  "scoped_routes": "static_resources.listeners[0].filter_chains[0].filters[0].typed_config: `scoped_routes` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "http3_protocol_options": "static_resources.listeners[0].filter_chains[0].filters[0].typed_config: `http3_protocol_options` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "transport_socket_matches": "static_resources.clusters[0]: `transport_socket_matches` is an Envoy field that polyvoy does not support yet (use transport_socket)",
  "envoy.filters.listener.original_dst": "static_resources.listeners[0].listener_filters[0]: envoy.filters.listener.original_dst (it reads a redirected connection's original destination, SO_ORIGINAL_DST) is an Envoy listener filter that polyvoy does not have: the runtimes' socket APIs do not give it",
  "use_original_dst": "static_resources.listeners[0]: `use_original_dst` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "filter_chain_matcher": "static_resources.listeners[0]: `filter_chain_matcher` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "use_proxy_proto": "static_resources.listeners[0].filter_chains[0]: `use_proxy_proto` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  HTTP_PROTO: "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.tracing.provider.typed_config.collector_endpoint_version: collector_endpoint_version HTTP_PROTO is not supported by polyvoy (it has no protobuf encoder for zipkin's proto3 spans): use HTTP_JSON, which every Zipkin collector (and Jaeger's) accepts",
  collector_service: "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.tracing.provider.typed_config.collector_service: collector_service (an HttpService) is not supported by polyvoy yet: use collector_cluster, collector_endpoint and collector_hostname",
  "tracing.provider": "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.tracing.provider: envoy.tracers.dynamic_ot is an Envoy tracer that polyvoy does not support yet (polyvoy has envoy.tracers.zipkin, which Jaeger's collector also takes, envoy.tracers.opentelemetry, envoy.tracers.skywalking and envoy.tracers.datadog)",
  remote_config: "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.tracing.provider.typed_config.remote_config: remote_config (Datadog Remote Configuration: polling the Agent's /v0.7/config for sampling rules and tags) is not supported by polyvoy's datadog tracer: remove it",
  sampler: "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.tracing.provider.typed_config.sampler: envoy.tracers.opentelemetry.samplers.dynatrace is an OpenTelemetry sampler that polyvoy does not support (it has envoy.tracers.opentelemetry.samplers.always_on; without a sampler the HCM's sampling decides)",
  "grpc_service.retry_policy": "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.tracing.provider.typed_config.grpc_service: `retry_policy` is an Envoy field that polyvoy does not support yet (Envoy retries this gRPC stream without resending the messages it already sent (no setBufferBodyForRetry); polyvoy retries unary calls (ext_authz, ratelimit) and ext_proc's stream only)",
  resource_detectors: "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.tracing.provider.typed_config.resource_detectors: resource_detectors are not supported by polyvoy's opentelemetry tracer yet (its resource has service.name only): remove them",
  "hystrix": "stats_sinks[0]: envoy.stat_sinks.hystrix (the Hystrix dashboard sink) is an Envoy stats sink that polyvoy does not support (polyvoy has envoy.stat_sinks.statsd, envoy.stat_sinks.dog_statsd, envoy.stat_sinks.metrics_service and envoy.stat_sinks.open_telemetry)",
  "hedge_policy.additional_request_chance": "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.hedge_policy: `additional_request_chance` is an Envoy field that polyvoy does not support yet (Envoy reads it but does not implement it (route_components.proto: not-implemented); only hedge_on_per_try_timeout hedges)",
  "hedge_policy.initial_requests": "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.hedge_policy: `initial_requests` is an Envoy field that polyvoy does not support yet (Envoy reads it but does not implement it (route_components.proto: not-implemented); only hedge_on_per_try_timeout hedges)",
  "retry_options_predicates": "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.retry_policy: `retry_options_predicates` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "FALLBACK_LIST": "static_resources.clusters[0].lb_subset_config.metadata_fallback_policy: FALLBACK_LIST is an Envoy value that polyvoy does not support yet (supported: METADATA_NO_FALLBACK; FALLBACK_LIST reads fallback_list in the route's metadata_match)",
  "subset_selectors[].single_host_per_subset": "static_resources.clusters[0].lb_subset_config.subset_selectors[0]: `single_host_per_subset` is an Envoy field that polyvoy does not support yet (a subset of one host each, for stateful sessions)",
  "typed_filter_metadata": "static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].metadata: `typed_filter_metadata` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "dns_resolution_config": "static_resources.clusters[0].dns_resolution_config: `resolvers` is an Envoy field that polyvoy does not support yet (polyvoy resolves names with the runtime's getaddrinfo (/etc/hosts, then the servers in /etc/resolv.conf), as Envoy's getaddrinfo resolver: resolver addresses and options cannot be set)",
  "preconnect_policy.predictive_preconnect_ratio": "static_resources.clusters[0].preconnect_policy: `predictive_preconnect_ratio` is an Envoy field that polyvoy does not support yet (polyvoy's load balancers cannot choose the next request's host ahead of it (Envoy's peekAnotherHost), which predictive preconnecting needs)",
  "max_connection_pools": "static_resources.clusters[0].circuit_breakers.thresholds[0]: `max_connection_pools` is an Envoy field that polyvoy does not support yet (polyvoy does not count a cluster's connection pools (one per host, protocol and SNI), so it cannot limit them)",
  "weighted_priority_health": "static_resources.clusters[0].load_assignment.policy: `weighted_priority_health` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "drop_overloads": "static_resources.clusters[0].load_assignment.policy: `drop_overloads` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "endpoint_stale_after": "static_resources.clusters[0].load_assignment.policy: `endpoint_stale_after` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "update_merge_window": "static_resources.clusters[0].common_lb_config: `update_merge_window` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "close_connections_on_host_set_change": "static_resources.clusters[0].common_lb_config: `close_connections_on_host_set_change` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "override_host_status": "static_resources.clusters[0].common_lb_config: `override_host_status` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "custom_health_check": "static_resources.clusters[0].health_checks[0]: `custom_health_check` is an Envoy field that polyvoy does not support yet (use http_health_check, tcp_health_check or grpc_health_check)",
  "alt_port": "static_resources.clusters[0].health_checks[0]: `alt_port` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "monitors": "static_resources.clusters[0].outlier_detection: `monitors` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "detect_degraded_hosts": "static_resources.clusters[0].outlier_detection: `detect_degraded_hosts` is not a field of envoy.config.cluster.v3.OutlierDetection",
  "formatters": "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.access_log[0].typed_config.log_format.formatters[0].typed_config.@type: formatter \"type.googleapis.com/envoy.extensions.formatter.cel.v3.Cel\" is not one of polyvoy's (envoy.formatter.req_without_query, envoy.formatter.metadata)",
  "%METADATA(CLUSTER/LISTENER/VIRTUAL_HOST:…)%": "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.access_log[0].typed_config.log_format.text_format: METADATA type VIRTUAL_HOST is not supported: polyvoy takes no virtual host metadata (supported: ROUTE, DYNAMIC, UPSTREAM_HOST) (in %METADATA(VIRTUAL_HOST:ns:key)%)",
  "path_rewrite_policy": "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route: `path_rewrite_policy` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "upgrade_configs[].connect_config.allow_post": "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.upgrade_configs[0].connect_config: `allow_post` is an Envoy field that polyvoy does not support yet (POST payloads tunnelled as raw TCP)",
  ".proxy_protocol_config": "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.upgrade_configs[0].connect_config: `proxy_protocol_config` is an Envoy field that polyvoy does not support yet (a PROXY protocol header on the tunnel's upstream connection)",
  "self": "dynamic_resources.cds_config: `self` is an Envoy field that polyvoy does not support yet (polyvoy has no xDS client for a management server's self source: use api_config_source or ads)",
  "HTTP3": "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.codec_type: HTTP3 is an Envoy value that polyvoy does not support yet (supported: AUTO, HTTP1, HTTP2)",
  "codec_client_type": "static_resources.clusters[0].health_checks[0].http_health_check.codec_client_type: HTTP3 is an Envoy value that polyvoy does not support yet (supported: HTTP1, HTTP2; polyvoy has no HTTP/3 client)",
  "signature_algorithms": "static_resources.clusters[0].transport_socket.typed_config.common_tls_context.tls_params: `signature_algorithms` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "max_verify_depth": "static_resources.clusters[0].transport_socket.typed_config.common_tls_context.validation_context: `max_verify_depth` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "tls_options": "static_resources.clusters[0].health_checks[0]: `tls_options` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "metadata": "static_resources.listeners[0].filter_chains[0]: `metadata` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "filter_disabled": "static_resources.listeners[0].listener_filters[0]: `filter_disabled` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "config_discovery": "static_resources.listeners[0].listener_filters[0]: `config_discovery` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "rules": "static_resources.listeners[0].listener_filters[0].typed_config: `rules` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "pass_through_tlvs": "static_resources.listeners[0].listener_filters[0].typed_config: `pass_through_tlvs` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
  "tracing.http": "tracing.http: envoy.tracers.zipkin is taken by polyvoy only in the HCM's tracing.provider (the bootstrap's tracing.http is deprecated in Envoy): move it there",
  "stats_config.histogram_bucket_settings": "stats_config: `histogram_bucket_settings` is an Envoy field that polyvoy does not support yet (every histogram has Envoy's default buckets (0.5 ms to 1 h))",
  "tap": "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0]: envoy.filters.http.tap (the tap filter) is an Envoy HTTP filter that polyvoy does not have (polyvoy's: docs/configuration.md)",
  "mongo_proxy": "static_resources.listeners[0].filter_chains[0].filters[0]: envoy.filters.network.mongo_proxy (the MongoDB proxy) is an Envoy network filter that polyvoy does not have (polyvoy's: docs/configuration.md)",
  "kafka_mesh": "static_resources.listeners[0].filter_chains[0].filters[0]: envoy.filters.network.kafka_mesh (the Kafka mesh filter) is an Envoy network filter that polyvoy does not have (polyvoy's: docs/configuration.md)",
  "matcher_tree": "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.matcher: `matcher_tree` is an Envoy field that polyvoy does not support yet (in RBAC matchers: use matcher_list)",
  "audit_logging_options": "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.rules: `audit_logging_options` is an Envoy field that polyvoy does not support yet (polyvoy has no RBAC audit loggers)",
  upstream_ip_port: "static_resources.clusters[0].typed_extension_protocol_options.envoy.extensions.upstreams.http.v3.HttpProtocolOptions.http_filters[0].typed_config.rules.policies.p.permissions[0]: `matcher` is an Envoy field that polyvoy does not support yet (matcher extensions)",
  "track_per_rule_stats": "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config: `track_per_rule_stats` is an Envoy field that polyvoy does not support yet (no per-policy stats)",
  "lb_subset_config.metadata_fallback_policy": "static_resources.clusters[0].lb_subset_config.metadata_fallback_policy: FALLBACK_LIST is an Envoy value that polyvoy does not support yet (supported: METADATA_NO_FALLBACK; FALLBACK_LIST reads fallback_list in the route's metadata_match)",
  "typed_dns_resolver_config": "static_resources.clusters[0].typed_dns_resolver_config.typed_config: `resolvers` is an Envoy field that polyvoy does not support yet (polyvoy resolves names with the runtime's getaddrinfo (/etc/hosts, then the servers in /etc/resolv.conf), as Envoy's getaddrinfo resolver: resolver addresses and options cannot be set)",
  "cluster_type: envoy.cluster.dns": "static_resources.clusters[0].cluster_type.name: cluster type 'envoy.cluster.dns' is not one polyvoy has (supported: envoy.clusters.aggregate, envoy.clusters.dynamic_forward_proxy)",
  "filter_state": "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.hash_policy[0]: `filter_state` is an Envoy field that polyvoy does not support yet (no polyvoy filter stores a hashable filter state object)",
  "event_logger": "static_resources.clusters[0].health_checks[0]: `event_logger` is an Envoy field that polyvoy does not support yet (health check event logger extensions: event_log_path is supported)",
  "send": "static_resources.clusters[0].health_checks[0].http_health_check: `send` is an Envoy field that polyvoy does not support yet (a request body for HTTP health checks)",
  "service_name_matcher": "static_resources.clusters[0].health_checks[0].http_health_check: `service_name_matcher` is an Envoy field that polyvoy does not support yet (x-envoy-upstream-healthchecked-cluster verification)",
  "reset_high_memory_stream": "overload_manager.actions[0].name: envoy.overload_actions.reset_high_memory_stream is an Envoy overload action that polyvoy does not support yet (it needs per-stream buffer accounting, which polyvoy does not have)",
  "close_idle_http_connections": "overload_manager.actions[0].name: envoy.overload_actions.close_idle_http_connections is an Envoy overload action that polyvoy does not support yet (it applies to HTTP/3 connections, which polyvoy does not have)",
  "extension_filter": "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.access_log[0].filter: `extension_filter` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
};

/** Names in the list that are not refused config: command-line flags, and the "but X" exceptions (supported). */
const NOT_CONFIG: Record<string, string> = {
  "--base-id": "a command-line flag (test/unit/cli.test.ts)",
  "--restart-epoch": "a command-line flag (test/unit/cli.test.ts)",
  "--concurrency": "a command-line flag (test/unit/cli.test.ts)",
  upstream_http_filters_with_tcp_proxy: "an Envoy restart feature (a runtime flag), not a config field: tcp_proxy tunnels run no upstream HTTP filters, as Envoy by default",
  previous_priorities: "the supported retry priority (\"but previous_priorities\")",
  previous_hosts: "a supported host predicate (\"but previous_hosts\")",
  omit_canary_hosts: "a supported host predicate",
  omit_host_metadata: "a supported host predicate",
  codec_type: "the field of the HTTP3 value (checked as HTTP3)",
  FALLBACK_LIST: "the value of lb_subset_config.metadata_fallback_policy (checked there)",
  session_ticket_keys: "refused only as several keys or an SDS secret (test/unit/config/tls-config.test.ts)",
  allow_expired_certificate: "refused on deno only (test/unit/config/tls-config.test.ts)",
  proxy_protocol: "the listener filter of rules and pass_through_tlvs (checked there)",
  selection_method: "a Maglev/ring-hash setting refused by value (test/unit/config/lb-policy-config.test.ts)",
  header_mutation: "a supported upstream HTTP filter (\"other than header_mutation, buffer and ext_proc\")",
  buffer: "a supported upstream HTTP filter (\"other than header_mutation, buffer and ext_proc\")",
  ext_proc: "a supported upstream HTTP filter (\"other than header_mutation, buffer and ext_proc\")",
  http_filters: "the cluster's field of upstream HTTP filters, taken; its refusals: test/unit/config/upstream-http-filters-config.test.ts",
  upstream_http_filters: "the router's field of upstream HTTP filters, taken; its refusals: test/unit/config/router-upstream-http-filters-config.test.ts",
  "0": "the one value of --base-id and --restart-epoch taken (\"other than `0`\")",
  "envoy.formatter.req_without_query": "a supported formatter (\"but envoy.formatter.req_without_query and envoy.formatter.metadata\")",
  "envoy.formatter.metadata": "a supported formatter (\"but envoy.formatter.req_without_query and envoy.formatter.metadata\")",
};

/** The list's names, from the feature column of each row. */
function documentedNames(): string[] {
  const text = readFileSync(join(import.meta.dirname, "../../../docs/configuration.md"), "utf8");
  const section = text.slice(text.indexOf("## Known unsupported Envoy features"));
  const rows = section.split("\n").filter((line) => line.startsWith("| ") && !line.startsWith("| feature") && !line.startsWith("| ---"));
  return rows.flatMap((row) => [...row.split("|")[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
}

describe("the known-unsupported list", () => {
  test("every name in the list is checked below, or is not refused config (the list and this test agree)", () => {
    const names = new Set(documentedNames());
    for (const name of Object.keys(USES)) expect(names, name).toContain(name);
    for (const name of names) expect(name in USES || name in NOT_CONFIG, name).toBe(true);
  });

  test.each(Object.entries(USES))("%s is refused with its line", (name, config) => {
    const problems = problemsOf(() => loadBootstrap(JSON.stringify(config), "json"));
    expect(problems[0]).toBe(FIRST_LINE[name]);
  });
});
