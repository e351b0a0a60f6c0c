/**
 * A cluster's `health_checks` (envoy.config.core.v3.HealthCheck) and `outlier_detection`
 * (envoy.config.cluster.v3.OutlierDetection), with Envoy's defaults and validation
 * rules (health_check.proto, outlier_detection.proto, outlier_detection_impl.cc).
 * What is not implemented is an error naming the field: custom health checks,
 * HTTP/2 and HTTP/3 health-check codecs, event logger extensions, TLS options, extension monitors.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, boolTrue, nonEmptyString, optionalNonEmptyString, optionalString, strictObject, stringEmpty } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { GrpcHealthCheckConfig, HealthCheckConfig, HttpHealthCheckConfig, OutlierDetectionConfig, StatusRange, TcpHealthCheckConfig } from "./bootstrap.ts";
import { headerValueOption, removableHeader } from "./custom-headers-schema.ts";
import { durationMs, oneOf, uint32 } from "./proto-schema.ts";
import { decodeBase64 } from "../util/base64.ts";
import { refuseField } from "./unsupported-field.ts";
import { unsupportedValueMessage } from "./refusal.ts";

/** Envoy's HealthCheck.no_traffic_interval default: 60 s. */
const DEFAULT_NO_TRAFFIC_INTERVAL_MS = 60_000;
/** Envoy's HttpHealthCheck.expected_statuses default: [200, 201), i.e. only 200. */
const DEFAULT_EXPECTED_STATUSES: readonly StatusRange[] = [{ start: 200, end: 201 }];

const positiveDuration = lazySchema(() =>
  durationMs.refine((ms) => ms > 0, { message: "must be greater than 0s" }));
const percent = lazySchema(() =>
  uint32.max(100));

/** envoy.config.core.v3.HealthCheck.Payload: `text` is hex, `binary` base64 bytes. Output: lowercase hex. */
const payload = lazySchema(() =>
  strictObject({ text: optionalString, binary: optionalString })
    .transform((p, ctx): string => {
      const key = oneOf(p, ["text", "binary"] as const, ctx, true);
      if (key === "text") {
        // Envoy: Hex::decode of the text; a bad hex string is "invalid hex string".
        const text = p.text!;
        if (text.length === 0 || text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
          ctx.addIssue({ code: "custom", message: `invalid hex string '${text}'`, path: ["text"] });
          return z.NEVER;
        }
        return text.toLowerCase();
      }
      if (key === "binary") {
        const bytes = decodeBase64(p.binary!.replace(/=+$/, ""));
        let hex = "";
        for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
        return hex;
      }
      return z.NEVER;
    }));

/** envoy.type.v3.Int64Range for statuses: Envoy refuses a start below 100 or an end above 600. */
const statusRange = lazySchema(() =>
  strictObject({ start: z.number().int(), end: z.number().int() })
    .superRefine((r, ctx) => {
      if (r.start < 100) ctx.addIssue({ code: "custom", message: `start of range [${r.start}, ${r.end}) must be at least 100`, path: ["start"] });
      if (r.end > 600) ctx.addIssue({ code: "custom", message: `end of range [${r.start}, ${r.end}) must be at most 600`, path: ["end"] });
      if (r.start >= r.end) ctx.addIssue({ code: "custom", message: `range [${r.start}, ${r.end}) is empty` });
    }));

/** A health check is no stream: the %…% commands have nothing to format from here. */
const healthCheckHeaders = lazySchema(() =>
  z
    .array(headerValueOption.refine((option) => !option.formatted, { message: "%…% commands are not supported in a health check's request headers" }))
    .max(1000)).default([]);

const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH"] as const;

/** envoy.config.core.v3.HealthCheck.HttpHealthCheck */
const httpHealthCheck = lazySchema(() =>
  strictObject({
    host: stringEmpty,
    path: nonEmptyString,
    send: z.unknown().optional(),
    receive: z.array(payload).default([]),
    response_buffer_size: z.number().int().min(0).optional(),
    request_headers_to_add: healthCheckHeaders,
    request_headers_to_remove: z.array(removableHeader).default([]),
    expected_statuses: z.array(statusRange).default([]),
    retriable_statuses: z.array(statusRange).default([]),
    codec_client_type: z.enum(["HTTP1", "HTTP2", "HTTP3"]).default("HTTP1"),
    service_name_matcher: z.unknown().optional(),
    // CONNECT is refused by Envoy's validation; METHOD_UNSPECIFIED means GET.
    method: z.enum(["METHOD_UNSPECIFIED", ...METHODS]).default("GET"),
  })
  .superRefine((h, ctx) => {
    if (h.codec_client_type === "HTTP3") {
      ctx.addIssue({ code: "custom", message: unsupportedValueMessage("HTTP3", "supported: HTTP1, HTTP2; polyvoy has no HTTP/3 client"), path: ["codec_client_type"] });
    }
    if (h.send !== undefined) refuseField(ctx, "a request body for HTTP health checks", ["send"]);
    if (h.service_name_matcher !== undefined) refuseField(ctx, "x-envoy-upstream-healthchecked-cluster verification", ["service_name_matcher"]);
  })
  .transform(
    (h): HttpHealthCheckConfig => ({
      kind: "http",
      codecClientType: h.codec_client_type === "HTTP2" ? "HTTP2" : "HTTP1",
      host: h.host,
      path: h.path,
      method: h.method === "METHOD_UNSPECIFIED" ? "GET" : h.method,
      expectedStatuses: h.expected_statuses.length > 0 ? h.expected_statuses : DEFAULT_EXPECTED_STATUSES.map((range) => ({ ...range })),
      retriableStatuses: h.retriable_statuses,
      requestHeadersToAdd: h.request_headers_to_add,
      requestHeadersToRemove: h.request_headers_to_remove,
      receive: h.receive,
      responseBufferSize: h.response_buffer_size ?? 1024,
    }),
  ));

/** envoy.config.core.v3.HealthCheck.TcpHealthCheck */
const tcpHealthCheck = lazySchema(() =>
  strictObject({ send: payload.optional(), receive: z.array(payload).default([]) })
  .transform((t): TcpHealthCheckConfig => ({ kind: "tcp", send: t.send ?? "", receive: t.receive })));

/** envoy.config.core.v3.HealthCheck.GrpcHealthCheck */
const grpcHealthCheck = lazySchema(() =>
  strictObject({
      service_name: stringEmpty,
      // Envoy's rule: a well-formed header value, no CR, LF or NUL.
      authority: z
        .string()
        .regex(/^[^\0\r\n]*$/, "must be a valid header value")
        .default(""),
      initial_metadata: healthCheckHeaders,
    })
    .transform((g): GrpcHealthCheckConfig => ({ kind: "grpc", serviceName: g.service_name, authority: g.authority, initialMetadata: g.initial_metadata })));

/** envoy.config.core.v3.HealthCheck */
const healthCheck = lazySchema(() =>
  strictObject({
      // Required by Envoy ("value is required"), checked below so each missing one is named.
      timeout: positiveDuration.optional(),
      interval: positiveDuration.optional(),
      initial_jitter: durationMs.optional(),
      interval_jitter: durationMs.optional(),
      interval_jitter_percent: uint32.optional(),
      unhealthy_threshold: uint32.optional(),
      healthy_threshold: uint32.optional(),
      reuse_connection: boolTrue,
      http_health_check: httpHealthCheck.optional(),
      tcp_health_check: tcpHealthCheck.optional(),
      grpc_health_check: grpcHealthCheck.optional(),
      custom_health_check: z.unknown().optional(),
      no_traffic_interval: positiveDuration.optional(),
      no_traffic_healthy_interval: positiveDuration.optional(),
      unhealthy_interval: positiveDuration.optional(),
      unhealthy_edge_interval: positiveDuration.optional(),
      healthy_edge_interval: positiveDuration.optional(),
      always_log_health_check_failures: boolFalse,
      always_log_health_check_success: boolFalse,
      event_log_path: optionalNonEmptyString,
      event_logger: z.unknown().optional(),
    })
    .transform((h, ctx): HealthCheckConfig => {
      for (const field of ["timeout", "interval", "unhealthy_threshold", "healthy_threshold"] as const) {
        if (h[field] === undefined) ctx.addIssue({ code: "custom", message: "value is required", path: [field] });
      }
      if (h.custom_health_check !== undefined) refuseField(ctx, "use http_health_check, tcp_health_check or grpc_health_check", ["custom_health_check"]);
      if (h.event_logger !== undefined) refuseField(ctx, "health check event logger extensions: event_log_path is supported", ["event_logger"]);
      const kind = oneOf(h, ["http_health_check", "tcp_health_check", "grpc_health_check", "custom_health_check"] as const, ctx, true);
      if (kind === undefined || h.timeout === undefined || h.interval === undefined || h.unhealthy_threshold === undefined || h.healthy_threshold === undefined) return z.NEVER;
      const checker = kind === "http_health_check" ? h.http_health_check! : kind === "tcp_health_check" ? h.tcp_health_check! : kind === "grpc_health_check" ? h.grpc_health_check! : undefined;
      if (!checker) return z.NEVER;
      const noTrafficIntervalMs = h.no_traffic_interval ?? DEFAULT_NO_TRAFFIC_INTERVAL_MS;
      const unhealthyIntervalMs = h.unhealthy_interval ?? h.interval;
      return {
        timeoutMs: h.timeout,
        intervalMs: h.interval,
        initialJitterMs: h.initial_jitter ?? 0,
        intervalJitterMs: h.interval_jitter ?? 0,
        intervalJitterPercent: h.interval_jitter_percent ?? 0,
        unhealthyThreshold: h.unhealthy_threshold,
        healthyThreshold: h.healthy_threshold,
        reuseConnection: h.reuse_connection,
        noTrafficIntervalMs,
        noTrafficHealthyIntervalMs: h.no_traffic_healthy_interval ?? noTrafficIntervalMs,
        unhealthyIntervalMs,
        // Envoy (health_checker_impl.cc): the unhealthy edge defaults to unhealthy_interval, the healthy edge to interval.
        unhealthyEdgeIntervalMs: h.unhealthy_edge_interval ?? unhealthyIntervalMs,
        healthyEdgeIntervalMs: h.healthy_edge_interval ?? h.interval,
        alwaysLogHealthCheckFailures: h.always_log_health_check_failures,
        alwaysLogHealthCheckSuccess: h.always_log_health_check_success,
        ...(h.event_log_path !== undefined ? { eventLogPath: h.event_log_path } : {}),
        checker,
      };
    }));

/** Envoy (cluster_manager_impl.cc) takes at most one: "Multiple health checks not supported". */
export const healthChecks = lazySchema(() =>
  z.array(healthCheck).superRefine((checks, ctx) => {
  if (checks.length > 1) ctx.addIssue({ code: "custom", message: "Multiple health checks not supported" });
}));

/** envoy.config.cluster.v3.OutlierDetection, defaults from outlier_detection.proto. */
export const outlierDetection = lazySchema(() =>
  strictObject({
      consecutive_5xx: uint32.default(5),
      interval: positiveDuration.default(10_000),
      base_ejection_time: positiveDuration.default(30_000),
      max_ejection_percent: percent.default(10),
      enforcing_consecutive_5xx: percent.default(100),
      enforcing_success_rate: percent.default(100),
      success_rate_minimum_hosts: uint32.default(5),
      success_rate_request_volume: uint32.default(100),
      success_rate_stdev_factor: uint32.default(1900),
      consecutive_gateway_failure: uint32.default(5),
      enforcing_consecutive_gateway_failure: percent.default(0),
      split_external_local_origin_errors: boolFalse,
      consecutive_local_origin_failure: uint32.default(5),
      enforcing_consecutive_local_origin_failure: percent.default(100),
      enforcing_local_origin_success_rate: percent.default(100),
      failure_percentage_threshold: percent.default(85),
      enforcing_failure_percentage: percent.default(0),
      enforcing_failure_percentage_local_origin: percent.default(0),
      failure_percentage_minimum_hosts: uint32.default(5),
      failure_percentage_request_volume: uint32.default(50),
      max_ejection_time: positiveDuration.optional(),
      max_ejection_time_jitter: durationMs.default(0),
      successful_active_health_check_uneject_host: boolTrue,
      always_eject_one_host: boolFalse,
    })
    .transform((o, ctx): OutlierDetectionConfig => {
      // Envoy: max_ejection_time defaults to 300 s or base_ejection_time, whichever is larger.
      const maxEjectionTimeMs = o.max_ejection_time ?? Math.max(300_000, o.base_ejection_time);
      if (maxEjectionTimeMs < o.base_ejection_time) {
        ctx.addIssue({ code: "custom", message: "outlier detector's max_ejection_time cannot be smaller than base_ejection_time", path: ["max_ejection_time"] });
        return z.NEVER;
      }
      return {
        consecutive5xx: o.consecutive_5xx,
        intervalMs: o.interval,
        baseEjectionTimeMs: o.base_ejection_time,
        maxEjectionPercent: o.max_ejection_percent,
        enforcingConsecutive5xx: o.enforcing_consecutive_5xx,
        enforcingSuccessRate: o.enforcing_success_rate,
        successRateMinimumHosts: o.success_rate_minimum_hosts,
        successRateRequestVolume: o.success_rate_request_volume,
        successRateStdevFactor: o.success_rate_stdev_factor,
        consecutiveGatewayFailure: o.consecutive_gateway_failure,
        enforcingConsecutiveGatewayFailure: o.enforcing_consecutive_gateway_failure,
        splitExternalLocalOriginErrors: o.split_external_local_origin_errors,
        consecutiveLocalOriginFailure: o.consecutive_local_origin_failure,
        enforcingConsecutiveLocalOriginFailure: o.enforcing_consecutive_local_origin_failure,
        enforcingLocalOriginSuccessRate: o.enforcing_local_origin_success_rate,
        failurePercentageThreshold: o.failure_percentage_threshold,
        enforcingFailurePercentage: o.enforcing_failure_percentage,
        enforcingFailurePercentageLocalOrigin: o.enforcing_failure_percentage_local_origin,
        failurePercentageMinimumHosts: o.failure_percentage_minimum_hosts,
        failurePercentageRequestVolume: o.failure_percentage_request_volume,
        maxEjectionTimeMs,
        maxEjectionTimeJitterMs: o.max_ejection_time_jitter,
        successfulActiveHealthCheckUnejectHost: o.successful_active_health_check_uneject_host,
        alwaysEjectOneHost: o.always_eject_one_host,
      };
    }));
