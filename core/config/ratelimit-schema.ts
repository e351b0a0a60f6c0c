/**
 * The global rate limit: a route's and virtual host's `rate_limits`
 * (envoy.config.route.v3.RateLimit, core/http/route/rate-limit-policy.ts) and the
 * envoy.filters.http.ratelimit filter's config
 * (envoy.extensions.filters.http.ratelimit.v3.RateLimit, core/http/filters/ratelimit.ts).
 * Every field that would be accepted and ignored is refused by name.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, nonEmptyString, strictObject, stringEmpty } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { RateLimitActionConfig, RateLimitConfig, RateLimitPerRouteConfig, RateLimitPolicyConfig } from "./bootstrap.ts";
import { grpcService } from "./grpc-service-schema.ts";
import { headerMatcher, queryParameterMatcher } from "./matcher-schema.ts";
import { headerValueOption } from "./custom-headers-schema.ts";
import { durationMs, headerName, oneOf, uint32 } from "./proto-schema.ts";
import { isFalse, unsupportedField, unsupportedValue } from "./unsupported-field.ts";

export const RATE_LIMIT_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit";

/** Envoy's default for the filter's `timeout` (ratelimit config.cc). */
const DEFAULT_TIMEOUT_MS = 20;

const UInt32Value = lazySchema(() =>
  z.union([uint32, strictObject({ value: uint32 }).transform((w) => w.value)]));
const BoolValue = lazySchema(() =>
  z.union([z.boolean(), strictObject({ value: z.boolean() }).transform((w) => w.value)]));

const ACTIONS = [
  "source_cluster",
  "destination_cluster",
  "request_headers",
  "remote_address",
  "generic_key",
  "header_value_match",
  "masked_remote_address",
  "query_parameters",
  "query_parameter_value_match",
] as const;

/** envoy.config.route.v3.RateLimit.Action */
const action = lazySchema(() =>
  strictObject({
      source_cluster: strictObject({}).optional(),
      destination_cluster: strictObject({}).optional(),
      request_headers: strictObject({ header_name: headerName, descriptor_key: nonEmptyString, skip_if_absent: boolFalse }).optional(),
      remote_address: strictObject({}).optional(),
      generic_key: strictObject({ descriptor_value: nonEmptyString, descriptor_key: stringEmpty }).optional(),
      header_value_match: strictObject({
          descriptor_key: stringEmpty,
          descriptor_value: nonEmptyString,
          expect_match: BoolValue.default(true),
          headers: z.array(headerMatcher).min(1),
        })
        .optional(),
      masked_remote_address: strictObject({ v4_prefix_mask_len: UInt32Value.pipe(z.number().max(32)).optional(), v6_prefix_mask_len: UInt32Value.pipe(z.number().max(128)).optional() })
        .optional(),
      dynamic_metadata: unsupportedField("a rate limit action polyvoy does not have"),
      metadata: unsupportedField("a rate limit action polyvoy does not have"),
      extension: unsupportedField("rate limit action extensions"),
      query_parameters: strictObject({ query_parameter_name: nonEmptyString, descriptor_key: nonEmptyString, skip_if_absent: boolFalse }).optional(),
      query_parameter_value_match: strictObject({
          descriptor_key: stringEmpty,
          descriptor_value: nonEmptyString,
          expect_match: BoolValue.default(true),
          query_parameters: z.array(queryParameterMatcher).min(1),
        })
        .optional(),
    })
    .transform((a, ctx): RateLimitActionConfig => {
      const key = oneOf(a, ACTIONS, ctx, true);
      switch (key) {
        case "source_cluster":
        case "destination_cluster":
        case "remote_address":
          return { type: key };
        case "request_headers": {
          const r = a.request_headers!;
          return { type: key, headerName: r.header_name, descriptorKey: r.descriptor_key, skipIfAbsent: r.skip_if_absent };
        }
        case "generic_key": {
          const g = a.generic_key!;
          return { type: key, descriptorKey: g.descriptor_key === "" ? "generic_key" : g.descriptor_key, descriptorValue: g.descriptor_value };
        }
        case "header_value_match": {
          const h = a.header_value_match!;
          return { type: key, descriptorKey: h.descriptor_key === "" ? "header_match" : h.descriptor_key, descriptorValue: h.descriptor_value, expectMatch: h.expect_match, headers: h.headers };
        }
        case "masked_remote_address": {
          // Envoy's defaults: the whole address (32 and 128 bits).
          const m = a.masked_remote_address!;
          return { type: key, v4PrefixMaskLen: m.v4_prefix_mask_len ?? 32, v6PrefixMaskLen: m.v6_prefix_mask_len ?? 128 };
        }
        case "query_parameters": {
          const q = a.query_parameters!;
          return { type: key, queryParameterName: q.query_parameter_name, descriptorKey: q.descriptor_key, skipIfAbsent: q.skip_if_absent };
        }
        case "query_parameter_value_match": {
          const q = a.query_parameter_value_match!;
          return { type: key, descriptorKey: q.descriptor_key === "" ? "query_match" : q.descriptor_key, descriptorValue: q.descriptor_value, expectMatch: q.expect_match, queryParameters: q.query_parameters };
        }
        default:
          return z.NEVER;
      }
    }));

/** envoy.config.route.v3.RateLimit */
export const rateLimitPolicy = lazySchema(() =>
  strictObject({
      stage: uint32.max(10).default(0),
      actions: z.array(action).min(1),
      disable_key: unsupportedField("a runtime switch per rate limit", (v) => v === ""),
      limit: unsupportedField("a dynamic metadata override"),
      apply_on_stream_done: unsupportedField(undefined, isFalse),
      hits_addend: unsupportedField(),
    })
    .transform((r): RateLimitPolicyConfig => ({ stage: r.stage, actions: r.actions })));

/**
 * A RateLimit in the filter's own or a route's RateLimitPerRoute `rate_limits` (Envoy's
 * filters/common/ratelimit_config): the route's message, but "'stage' field and
 * 'disable_key' field are not supported"; every entry applies, whatever the filter's stage.
 */
export const filterRateLimit = lazySchema(() =>
  z
    .unknown()
    .superRefine((raw, ctx) => {
      if (typeof raw === "object" && raw !== null && "stage" in raw) ctx.addIssue({ code: "custom", message: "stage is not supported in the filter's rate_limits (Envoy: 'stage' field and 'disable_key' field are not supported)", path: ["stage"] });
    })
    .pipe(rateLimitPolicy)
    .transform((p): RateLimitPolicyConfig => ({ stage: ANY_STAGE, actions: p.actions })));

/** The stage of a filter-level rate limit: every filter's. */
export const ANY_STAGE = -1;

/** envoy.type.v3.HttpStatus as a number; Envoy's toErrorCode makes anything under 400 the default. */
function errorStatus(fallback: number) {
  return strictObject({ code: z.number().int().min(100).max(599) })
    .optional()
    .transform((s) => (s !== undefined && s.code >= 400 ? s.code : fallback));
}

export const rateLimitConfig: z.ZodType<RateLimitConfig> = lazySchema(() =>
  strictObject({
      domain: nonEmptyString,
      stage: uint32.max(10).default(0),
      request_type: z.enum(["internal", "external", "both"]).default("both"),
      timeout: durationMs.default(DEFAULT_TIMEOUT_MS),
      failure_mode_deny: boolFalse,
      rate_limited_as_resource_exhausted: boolFalse,
      rate_limit_service: strictObject({
        // grpc_service.timeout is accepted as Envoy accepts it, but the call is bounded by the
        // filter's own timeout (20 ms by default): ratelimit/config.cc passes that to
        // rateLimitClient, and Envoy's gRPC client reads no GrpcService.timeout. The filter says
        // so in a warning at start (ratelimit.ts) rather than ignore it silently.
        grpc_service: grpcService({ timeout: "taken", retryPolicy: "taken" }),
        transport_api_version: z.enum(["V3"], { message: "only V3 is supported" }).optional(),
      }),
      enable_x_ratelimit_headers: z.enum(["OFF", "DRAFT_VERSION_03"]).default("OFF"),
      disable_x_envoy_ratelimited_header: boolFalse,
      rate_limited_status: errorStatus(429),
      status_on_error: errorStatus(500),
      response_headers_to_add: z.array(headerValueOption).max(10).default([]),
      stat_prefix: unsupportedField(undefined, (v) => v === ""),
      filter_enabled: unsupportedField(),
      filter_enforced: unsupportedField(),
      failure_mode_deny_percent: unsupportedField(),
      rate_limits: z.array(filterRateLimit).optional(),
    })
    .transform(
      (c): RateLimitConfig => ({
        domain: c.domain,
        stage: c.stage,
        requestType: c.request_type,
        timeoutMs: c.timeout,
        failureModeDeny: c.failure_mode_deny,
        rateLimitedAsResourceExhausted: c.rate_limited_as_resource_exhausted,
        service: c.rate_limit_service.grpc_service.target,
        ...(c.rate_limit_service.grpc_service.timeoutMs !== undefined && { unusedServiceTimeoutMs: c.rate_limit_service.grpc_service.timeoutMs }),
        enableXRateLimitHeaders: c.enable_x_ratelimit_headers === "DRAFT_VERSION_03",
        disableXEnvoyRateLimitedHeader: c.disable_x_envoy_ratelimited_header,
        rateLimitedStatus: c.rate_limited_status,
        statusOnError: c.status_on_error,
        responseHeadersToAdd: c.response_headers_to_add,
        ...(c.rate_limits !== undefined && c.rate_limits.length > 0 ? { rateLimits: c.rate_limits } : {}),
      }),
    ));

export const RATE_LIMIT_PER_ROUTE_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute";

/** envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute */
export const rateLimitPerRouteConfig: z.ZodType<RateLimitPerRouteConfig> = lazySchema(() =>
  strictObject({
      vh_rate_limits: z.enum(["OVERRIDE", "INCLUDE", "IGNORE"]).default("OVERRIDE"),
      // Envoy's proto marks it not implemented: it reads only DEFAULT (getRateLimitOverrideOption is gone from the filter).
      override_option: unsupportedValue("supported: DEFAULT; Envoy's ratelimit filter implements no other", (v) => v === "DEFAULT" || v === 0),
      rate_limits: z.array(filterRateLimit).optional(),
      domain: stringEmpty,
    })
    .transform(
      (c): RateLimitPerRouteConfig => ({
        vhRateLimits: c.vh_rate_limits,
        domain: c.domain,
        ...(c.rate_limits !== undefined && c.rate_limits.length > 0 ? { rateLimits: c.rate_limits } : {}),
      }),
    ));
