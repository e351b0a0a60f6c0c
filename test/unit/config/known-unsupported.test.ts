/**
 * docs/configuration.md's "Known unsupported Envoy features": each feature written there
 * as a config field or value is refused by the config loader with a line that names it
 * (nothing in the list is silently accepted). Features that are not config (command-line
 * flags) and the list's "but X" exceptions (supported) are not checked here.
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
  transport_socket_connect_timeout: withListener({}, { transport_socket_connect_timeout: "1s" }),
  "tracing.provider": withHcm({ tracing: { provider: { name: "envoy.tracers.zipkin", typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig", collector_cluster: "c", collector_endpoint: "/" } } } }),
  stats_sinks: { stats_sinks: [{ name: "envoy.stat_sinks.statsd" }] },
  oauth2: withHcm({ http_filters: [{ name: "envoy.filters.http.oauth2" }, { name: "envoy.filters.http.router" }] }),
  ext_proc: withHcm({ http_filters: [{ name: "envoy.filters.http.ext_proc" }, { name: "envoy.filters.http.router" }] }),
  hedge_policy: withHcm({}, { hedge_policy: { hedge_on_per_try_timeout: true } }),
  retry_options_predicates: withHcm({}, { retry_policy: { retry_options_predicates: [{ name: "x" }] } }),
  FALLBACK_LIST: subset({ metadata_fallback_policy: "FALLBACK_LIST" }),
  "subset_selectors[].single_host_per_subset": withCluster({ lb_subset_config: { subset_selectors: [{ keys: ["v"], single_host_per_subset: true }] } }),
  typed_filter_metadata: withCluster({}, { cluster_name: "c", endpoints: [{ lb_endpoints: [ep({ metadata: lbMeta })] }] }),
  dns_resolution_config: withCluster({ type: "STRICT_DNS", dns_resolution_config: { resolvers: [{ socket_address: { address: "8.8.8.8", port_value: 53 } }] } }),
  ORIGINAL_DST: withCluster({ type: "ORIGINAL_DST" }),
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
  formatters: withHcm({ access_log: [{ name: "envoy.access_loggers.stdout", typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog", log_format: { text_format: "x\n", formatters: [{ name: "f" }] } } }] }),
  grpc_status_filter: withHcm({ access_log: [{ name: "envoy.access_loggers.stdout", filter: { grpc_status_filter: {} } }] }),
  metadata_filter: withHcm({ access_log: [{ name: "envoy.access_loggers.stdout", filter: { metadata_filter: {} } }] }),
  path_rewrite_policy: withHcm({}, { path_rewrite_policy: { name: "x" } }),
  "upgrade_configs[].connect_config.allow_post": withHcm({}, { upgrade_configs: [{ upgrade_type: "CONNECT", connect_config: { allow_post: true } }] }),
};

/** The list's names, from the feature column of each row. */
function documentedNames(): string[] {
  const text = readFileSync(join(import.meta.dirname, "../../../docs/configuration.md"), "utf8");
  const section = text.slice(text.indexOf("## Known unsupported Envoy features"));
  const rows = section.split("\n").filter((line) => line.startsWith("| ") && !line.startsWith("| feature") && !line.startsWith("| ---"));
  return rows.flatMap((row) => [...row.split("|")[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
}

describe("the known-unsupported list", () => {
  test("every name checked below is in the list (the list and this test agree)", () => {
    const names = new Set(documentedNames());
    for (const name of Object.keys(USES)) expect(names, name).toContain(name);
  });

  test.each(Object.entries(USES))("%s is refused with a line that names it", (name, config) => {
    const problems = problemsOf(() => loadBootstrap(JSON.stringify(config), "json"));
    const word = name.replace(/^.*[.\]]/, "").replace(/^\.?/, "");
    expect(problems.some((line) => line.includes(word)), problems.join("\n")).toBe(true);
  });
});
