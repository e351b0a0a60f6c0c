/** health_checks, outlier_detection and the health_check HTTP filter in config: Envoy's defaults and refusals. */
import { describe, expect, test } from "vitest";
import { ConfigError } from "../../../core/config/errors.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { httpProxyConfig } from "../../support/configs.ts";

function load(clusterExtra: Record<string, unknown>, hcm?: Record<string, unknown>) {
  const config = httpProxyConfig({ listenPort: 10000, clusters: { backend: [8080] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], clusterExtra, hcm });
  return loadBootstrap(JSON.stringify(config), "json");
}

function problems(clusterExtra: Record<string, unknown>, hcm?: Record<string, unknown>): string[] {
  try {
    load(clusterExtra, hcm);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("loaded");
}

const base = { timeout: "1s", interval: "5s", unhealthy_threshold: 2, healthy_threshold: 3 };

describe("health_checks", () => {
  test("Envoy's defaults: expected_statuses [200, 201), no_traffic_interval 60 s, edge intervals from interval, reuse_connection true", () => {
    const cluster = load({ health_checks: [{ ...base, http_health_check: { path: "/healthz" } }] }).clusters[0]!;
    expect(cluster.healthChecks).toEqual([
      {
        timeoutMs: 1000,
        intervalMs: 5000,
        initialJitterMs: 0,
        intervalJitterMs: 0,
        intervalJitterPercent: 0,
        unhealthyThreshold: 2,
        healthyThreshold: 3,
        reuseConnection: true,
        noTrafficIntervalMs: 60_000,
        noTrafficHealthyIntervalMs: 60_000,
        unhealthyIntervalMs: 5000,
        unhealthyEdgeIntervalMs: 5000,
        healthyEdgeIntervalMs: 5000,
        alwaysLogHealthCheckFailures: false,
        alwaysLogHealthCheckSuccess: false,
        checker: {
          kind: "http",
          codecClientType: "HTTP1",
          host: "",
          path: "/healthz",
          method: "GET",
          expectedStatuses: [{ start: 200, end: 201 }],
          retriableStatuses: [],
          requestHeadersToAdd: [],
          requestHeadersToRemove: [],
          receive: [],
          responseBufferSize: 1024,
        },
      },
    ]);
  });

  test("grpc_health_check: service_name, authority and initial_metadata; empty by default", () => {
    const plain = load({ health_checks: [{ ...base, grpc_health_check: {} }] }).clusters[0]!;
    expect(plain.healthChecks![0]!.checker).toEqual({ kind: "grpc", serviceName: "", authority: "", initialMetadata: [] });
    const full = load({ health_checks: [{ ...base, grpc_health_check: { service_name: "pkg.Svc", authority: "svc.local", initial_metadata: [{ header: { key: "x-hc", value: "1" } }] } }] }).clusters[0]!;
    expect(full.healthChecks![0]!.checker).toMatchObject({ kind: "grpc", serviceName: "pkg.Svc", authority: "svc.local", initialMetadata: [{ key: "x-hc", value: "1" }] });
  });

  test("tcp payloads: text is hex, binary base64", () => {
    const cluster = load({ health_checks: [{ ...base, tcp_health_check: { send: { text: "50494E47" }, receive: [{ binary: "UE9ORw==" }] } }] }).clusters[0]!;
    expect(cluster.healthChecks![0]!.checker).toEqual({ kind: "tcp", send: "50494e47", receive: ["504f4e47"] });
  });

  test("what is not implemented, or not valid, is an error naming the field", () => {
    const at = "static_resources.clusters[0].health_checks[0]";
    expect(problems({ health_checks: [{ ...base, http_health_check: { path: "/", codec_client_type: "HTTP3" } }] })).toEqual([
      `${at}.http_health_check.codec_client_type: HTTP3 is an Envoy value that polyvoy does not support yet (supported: HTTP1, HTTP2; polyvoy has no HTTP/3 client)`,
    ]);
    expect(load({ health_checks: [{ ...base, http_health_check: { path: "/", codec_client_type: "HTTP2" } }] }).clusters[0]!.healthChecks![0]!.checker).toMatchObject({ codecClientType: "HTTP2" });
    expect(problems({ health_checks: [{ ...base, grpc_health_check: { service_name: "s", unknown: 1 } }] })[0]).toContain(`${at}.grpc_health_check`);
    expect(problems({ health_checks: [{ ...base, grpc_health_check: { initial_metadata: [{ header: { key: "x", value: "%START_TIME%" } }] } }] })[0]).toContain("%…% commands are not supported");
    expect(problems({ health_checks: [{ ...base, http_health_check: { path: "/" }, event_logger: [{ name: "x" }] }] })).toEqual([`${at}: \`event_logger\` is an Envoy field that polyvoy does not support yet (health check event logger extensions: event_log_path is supported)`]);
    expect(problems({ health_checks: [{ timeout: "1s", interval: "5s", tcp_health_check: {} }] })).toEqual([
      `${at}.unhealthy_threshold: value is required`,
      `${at}.healthy_threshold: value is required`,
    ]);
    expect(problems({ health_checks: [{ ...base, tcp_health_check: { send: { text: "abc" } } }] })).toEqual([`${at}.tcp_health_check.send.text: invalid hex string 'abc'`]);
    expect(problems({ health_checks: [{ ...base, tcp_health_check: {} }, { ...base, tcp_health_check: {} }] })).toEqual([
      "static_resources.clusters[0].health_checks: Multiple health checks not supported",
    ]);
    expect(problems({ health_checks: [{ ...base, http_health_check: { path: "/", expected_statuses: [{ start: 99, end: 200 }] } }] })[0]).toContain("must be at least 100");
  });
});

describe("outlier_detection", () => {
  test("Envoy's defaults", () => {
    const cluster = load({ outlier_detection: {} }).clusters[0]!;
    expect(cluster.outlierDetection).toEqual({
      consecutive5xx: 5,
      intervalMs: 10_000,
      baseEjectionTimeMs: 30_000,
      maxEjectionPercent: 10,
      enforcingConsecutive5xx: 100,
      enforcingSuccessRate: 100,
      successRateMinimumHosts: 5,
      successRateRequestVolume: 100,
      successRateStdevFactor: 1900,
      consecutiveGatewayFailure: 5,
      enforcingConsecutiveGatewayFailure: 0,
      splitExternalLocalOriginErrors: false,
      consecutiveLocalOriginFailure: 5,
      enforcingConsecutiveLocalOriginFailure: 100,
      enforcingLocalOriginSuccessRate: 100,
      failurePercentageThreshold: 85,
      enforcingFailurePercentage: 0,
      enforcingFailurePercentageLocalOrigin: 0,
      failurePercentageMinimumHosts: 5,
      failurePercentageRequestVolume: 50,
      maxEjectionTimeMs: 300_000,
      maxEjectionTimeJitterMs: 0,
      successfulActiveHealthCheckUnejectHost: true,
      alwaysEjectOneHost: false,
    });
    // max_ejection_time defaults to base_ejection_time when that is larger.
    expect(load({ outlier_detection: { base_ejection_time: "400s" } }).clusters[0]!.outlierDetection!.maxEjectionTimeMs).toBe(400_000);
  });

  test("Envoy's refusals", () => {
    expect(problems({ outlier_detection: { base_ejection_time: "60s", max_ejection_time: "30s" } })).toEqual([
      "static_resources.clusters[0].outlier_detection.max_ejection_time: outlier detector's max_ejection_time cannot be smaller than base_ejection_time",
    ]);
    expect(problems({ outlier_detection: { max_ejection_percent: 101 } })[0]).toContain("static_resources.clusters[0].outlier_detection.max_ejection_percent");
    expect(problems({ outlier_detection: { monitors: [] } })[0]).toContain("outlier_detection: `monitors`");
  });
});

describe("envoy.filters.http.health_check", () => {
  const filter = (config: Record<string, unknown>) => ({
    http_filters: [
      { name: "envoy.filters.http.health_check", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck", ...config } },
      { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
    ],
  });

  test("pass_through_mode is required; cache_time only in pass-through mode", () => {
    expect(problems({}, filter({}))[0]).toContain("http_filters[0].typed_config.pass_through_mode: ");
    expect(problems({}, filter({ pass_through_mode: false, cache_time: "1s" }))[0]).toContain("cache_time_ms must not be set when path_through_mode is disabled");
  });
});
