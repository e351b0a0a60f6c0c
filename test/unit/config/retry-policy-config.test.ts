/** retry_policy, request_mirror_policies, per_request_buffer_limit_bytes and retry_budget as loaded from a bootstrap: Envoy's defaults and refusals. */
import { describe, expect, test } from "vitest";
import type { HttpConnectionManagerConfig, NetworkFilterConfig } from "../../../core/config/bootstrap.ts";
import { ConfigError } from "../../../core/config/errors.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { RetryOn } from "../../../core/config/retry-on.ts";

const HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
const VHOST = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0]";

type Json = Record<string, unknown>;

function bootstrap(vhost: Json, cluster: Json = {}): string {
  return JSON.stringify({
    static_resources: {
      listeners: [
        {
          address: { socket_address: { address: "127.0.0.1", port_value: 8000 } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: { "@type": HCM_TYPE, stat_prefix: "in", http_filters: [ROUTER], route_config: { virtual_hosts: [{ name: "v", domains: ["*"], ...vhost }] } },
                },
              ],
            },
          ],
        },
      ],
      clusters: [{ name: "a", ...cluster }, { name: "m" }],
    },
  });
}

function hcm(text: string): HttpConnectionManagerConfig {
  const filter = loadBootstrap(text, "json").listeners[0]!.filterChains[0]!.filters[0]! as Extract<NetworkFilterConfig, { type: "envoy.filters.network.http_connection_manager" }>;
  return filter.config;
}

function problems(text: string): string[] {
  try {
    loadBootstrap(text, "json");
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("config loaded but should have been rejected");
}

const withRetry = (retry: Json): string => bootstrap({ routes: [{ match: { prefix: "/" }, route: { cluster: "a", retry_policy: retry } }] });

describe("retry_policy", () => {
  test("defaults: one retry, 25 ms base back-off capped at 10×, one host reselection, no per-try timeouts", () => {
    const action = hcm(withRetry({ retry_on: "5xx, connect-failure" })).routeConfig.virtualHosts[0]!.routes[0]!.action;
    expect(action.type === "route" && action.route.retryPolicy).toEqual({
      retryOn: RetryOn.FiveXX | RetryOn.ConnectFailure,
      numRetries: 1,
      perTryTimeoutMs: 0,
      perTryIdleTimeoutMs: 0,
      baseIntervalMs: 25,
      maxIntervalMs: 250,
      previousHosts: false,
      hostSelectionRetryMaxAttempts: 1,
      retriableStatusCodes: [],
      retriableHeaders: [],
      retriableRequestHeaders: [],
    });
  });

  test("every field", () => {
    const action = hcm(
      withRetry({
        retry_on: "gateway-error,unavailable",
        num_retries: 4,
        per_try_timeout: "0.5s",
        per_try_idle_timeout: "0.2s",
        retry_back_off: { base_interval: "0.1s" },
        retry_host_predicate: [{ name: "envoy.retry_host_predicates.previous_hosts", typed_config: { "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate" } }],
        host_selection_retry_max_attempts: 3,
        retriable_status_codes: [409, 429],
        retriable_headers: [{ name: "X-Retry", exact_match: "1" }],
        rate_limited_retry_back_off: { reset_headers: [{ name: "Retry-After" }, { name: "x-reset", format: "UNIX_TIMESTAMP" }] },
      }),
    ).routeConfig.virtualHosts[0]!.routes[0]!.action;
    const policy = action.type === "route" ? action.route.retryPolicy! : undefined;
    expect(policy).toMatchObject({
      retryOn: RetryOn.GatewayError | RetryOn.GrpcUnavailable,
      numRetries: 4,
      perTryTimeoutMs: 500,
      perTryIdleTimeoutMs: 200,
      baseIntervalMs: 100,
      maxIntervalMs: 1000,
      previousHosts: true,
      hostSelectionRetryMaxAttempts: 3,
      retriableStatusCodes: [409, 429],
      rateLimitedRetryBackOff: { resetHeaders: [{ name: "retry-after", format: "SECONDS" }, { name: "x-reset", format: "UNIX_TIMESTAMP" }], maxIntervalMs: 300_000 },
    });
    expect(policy!.retriableHeaders[0]!.name).toBe("x-retry");
  });

  test.each([
    [{ retry_on: "5xx,conect-failure" }, [`${VHOST}.routes[0].route.retry_policy.retry_on: unknown retry_on condition "conect-failure"`]],
    [{ retry_back_off: { base_interval: "0.5s", max_interval: "0.1s" } }, [`${VHOST}.routes[0].route.retry_policy.retry_back_off.max_interval: max_interval must be greater than or equal to base_interval`]],
    [{ retry_back_off: { base_interval: "0s" } }, [`${VHOST}.routes[0].route.retry_policy.retry_back_off.base_interval: must be greater than 0s`]],
    [
      { retry_host_predicate: [{ name: "envoy.retry_host_predicates.omit_hosts" }] },
      [
        `${VHOST}.routes[0].route.retry_policy.retry_host_predicate[0].name: envoy.retry_host_predicates.omit_hosts is an Envoy retry host predicate that polyvoy does not support yet (supported: envoy.retry_host_predicates.{previous_hosts,omit_canary_hosts,omit_host_metadata})`,
      ],
    ],
    [
      { retry_priority: { name: "envoy.retry_priorities.previous_priorities" } },
      [`${VHOST}.routes[0].route.retry_policy.retry_priority.typed_config.update_frequency: update_frequency: value must be greater than 0`],
    ],
    [
      { retry_priority: { name: "x", typed_config: { "@type": "type.googleapis.com/envoy.extensions.retry.priority.other_priority.v3.OtherPriorityConfig" } } },
      [`${VHOST}.routes[0].route.retry_policy.retry_priority.typed_config.@type: type.googleapis.com/envoy.extensions.retry.priority.other_priority.v3.OtherPriorityConfig is an Envoy retry priority that polyvoy does not support yet (supported: envoy.retry_priorities.previous_priorities)`],
    ],
  ])("%j is refused", (retry, expected) => {
    expect(problems(withRetry(retry))).toEqual(expected);
  });

  test("retry_priority previous_priorities and the omit_* host predicates (omit_host_metadata keeps its envoy.lb labels)", () => {
    const action = hcm(
      withRetry({
          retry_priority: {
            name: "envoy.retry_priorities.previous_priorities",
            typed_config: { "@type": "type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig", update_frequency: 2 },
          },
          retry_host_predicate: [
            { name: "envoy.retry_host_predicates.omit_canary_hosts" },
            { name: "m", typed_config: { "@type": "type.googleapis.com/envoy.extensions.retry.host.omit_host_metadata.v3.OmitHostMetadataConfig", metadata_match: { filter_metadata: { "envoy.lb": { version: "v1" } } } } },
          ],
        }),
    ).routeConfig.virtualHosts[0]!.routes[0]!.action;
    const policy = action.type === "route" ? action.route.retryPolicy! : undefined!;
    expect(policy.previousPrioritiesUpdateFrequency).toBe(2);
    expect(policy.previousHosts).toBe(false);
    expect(policy.omitCanaryHosts).toBe(true);
    expect(policy.omitHostMetadata).toEqual([[["version", "v1"]]]);
  });

  test("on the virtual host, with the attempt-count switches and a buffer limit", () => {
    const vhost = hcm(
      bootstrap({
        retry_policy: { retry_on: "reset" },
        include_request_attempt_count: true,
        include_attempt_count_in_response: true,
        per_request_buffer_limit_bytes: 4096,
        routes: [{ match: { prefix: "/" }, per_request_buffer_limit_bytes: 10, route: { cluster: "a" } }],
      }),
    ).routeConfig.virtualHosts[0]!;
    expect(vhost.retryPolicy?.retryOn).toBe(RetryOn.Reset);
    expect(vhost.includeRequestAttemptCount).toBe(true);
    expect(vhost.includeAttemptCountInResponse).toBe(true);
    expect(vhost.includeIsTimeoutRetryHeader).toBeUndefined();
    expect(vhost.perRequestBufferLimitBytes).toBe(4096);
    expect(vhost.routes[0]!.perRequestBufferLimitBytes).toBe(10);
  });
});

describe("request_mirror_policies", () => {
  test("without runtime_fraction every request is mirrored; with one, its default_value", () => {
    const action = hcm(
      bootstrap({
        routes: [
          {
            match: { prefix: "/" },
            route: {
              cluster: "a",
              request_mirror_policies: [
                { cluster: "m" },
                { cluster_header: "X-Mirror-To", runtime_fraction: { default_value: { numerator: 5, denominator: "TEN_THOUSAND" }, runtime_key: "mirror.x" }, trace_sampled: false },
              ],
            },
          },
        ],
      }),
    ).routeConfig.virtualHosts[0]!.routes[0]!.action;
    expect(action.type === "route" && action.route.requestMirrorPolicies).toEqual([
      { cluster: "m", fraction: { numerator: 100, denominator: 100 }, disableShadowHostSuffixAppend: false },
      { clusterHeader: "x-mirror-to", fraction: { numerator: 5, denominator: 10_000, runtimeKey: "mirror.x" }, disableShadowHostSuffixAppend: false },
    ]);
  });

  test("a mirror cluster that does not exist is refused, as Envoy's \"unknown shadow cluster\"", () => {
    expect(problems(bootstrap({ request_mirror_policies: [{ cluster: "nope" }], routes: [{ match: { prefix: "/" }, route: { cluster: "a", request_mirror_policies: [{ cluster: "gone" }] } }] }))).toEqual([
      `${VHOST}.routes[0].route.request_mirror_policies[0].cluster: no cluster named "gone" is defined`,
      `${VHOST}.request_mirror_policies[0].cluster: no cluster named "nope" is defined`,
    ]);
  });

  test("one of cluster and cluster_header", () => {
    expect(problems(bootstrap({ routes: [{ match: { prefix: "/" }, route: { cluster: "a", request_mirror_policies: [{}] } }] }))).toEqual([
      `${VHOST}.routes[0].route.request_mirror_policies[0]: must set one of cluster, cluster_header`,
    ]);
  });
});

describe("circuit_breakers retry_budget", () => {
  test("an empty retry_budget sets no field, so max_retries stays in charge (upstream_impl.cc keeps both as optionals)", () => {
    const config = loadBootstrap(bootstrap({ routes: [] }, { circuit_breakers: { thresholds: [{ max_retries: 7, retry_budget: {} }] } }), "json").clusters[0]!;
    expect(config.circuitBreakers).toEqual({ maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 7 });
  });

  test("one field set: only that one is kept (the other falls back to Envoy's 20 % or 3 at every check)", () => {
    const config = loadBootstrap(bootstrap({ routes: [] }, { circuit_breakers: { thresholds: [{ retry_budget: { min_retry_concurrency: 0 } }] } }), "json").clusters[0]!;
    expect(config.circuitBreakers.retryBudget).toEqual({ minRetryConcurrency: 0 });
  });

  test("set values", () => {
    const config = loadBootstrap(bootstrap({ routes: [] }, { circuit_breakers: { thresholds: [{ retry_budget: { budget_percent: { value: 12.5 }, min_retry_concurrency: 10 } }] } }), "json").clusters[0]!;
    expect(config.circuitBreakers.retryBudget).toEqual({ budgetPercent: 12.5, minRetryConcurrency: 10 });
  });
});
