/**
 * The global rate limit: a route's and virtual host's `rate_limits`
 * (envoy.config.route.v3.RateLimit, core/http/route/rate-limit-policy.ts) and the
 * envoy.filters.http.ratelimit filter's config
 * (envoy.extensions.filters.http.ratelimit.v3.RateLimit, core/http/filters/ratelimit.ts).
 * Every field that would be accepted and ignored is refused by name.
 */
// Namespace import: under one runtime, vitest's module loader drops zod's `z` named export.
import * as z from "zod";
import { lazySchema } from "./lazy-schema.ts";
import type { RateLimitActionConfig, RateLimitConfig, RateLimitPolicyConfig } from "./bootstrap.ts";
import { grpcService } from "./grpc-service-schema.ts";
import { headerMatcher } from "./matcher-schema.ts";
import { durationMs, headerName, oneOf, uint32 } from "./proto-schema.ts";
import { isFalse, unsupportedField } from "./unsupported-field.ts";

export const RATE_LIMIT_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit";

/** Envoy's default for the filter's `timeout` (ratelimit config.cc). */
const DEFAULT_TIMEOUT_MS = 20;

const BoolValue = lazySchema(() =>
  z.union([z.boolean(), z.strictObject({ value: z.boolean() }).transform((w) => w.value)]));

const ACTIONS = ["source_cluster", "destination_cluster", "request_headers", "remote_address", "generic_key", "header_value_match"] as const;

/** envoy.config.route.v3.RateLimit.Action */
const action = lazySchema(() =>
  z
    .strictObject({
      source_cluster: z.strictObject({}).optional(),
      destination_cluster: z.strictObject({}).optional(),
      request_headers: z.strictObject({ header_name: headerName, descriptor_key: z.string().min(1), skip_if_absent: z.boolean().default(false) }).optional(),
      remote_address: z.strictObject({}).optional(),
      generic_key: z.strictObject({ descriptor_value: z.string().min(1), descriptor_key: z.string().default("") }).optional(),
      header_value_match: z
        .strictObject({
          descriptor_key: z.string().default(""),
          descriptor_value: z.string().min(1),
          expect_match: BoolValue.default(true),
          headers: z.array(headerMatcher).min(1),
        })
        .optional(),
      masked_remote_address: unsupportedField("the masked_remote_address rate limit action is not supported yet"),
      dynamic_metadata: unsupportedField("the dynamic_metadata rate limit action is not supported"),
      metadata: unsupportedField("the metadata rate limit action is not supported"),
      extension: unsupportedField("rate limit action extensions are not supported"),
      query_parameters: unsupportedField("the query_parameters rate limit action is not supported yet"),
      query_parameter_value_match: unsupportedField("the query_parameter_value_match rate limit action is not supported yet"),
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
        default:
          return z.NEVER;
      }
    }));

/** envoy.config.route.v3.RateLimit */
export const rateLimitPolicy = lazySchema(() =>
  z
    .strictObject({
      stage: uint32.max(10).default(0),
      actions: z.array(action).min(1),
      disable_key: unsupportedField("disable_key (a runtime switch per rate limit) is not supported", (v) => v === ""),
      limit: unsupportedField("limit (a dynamic metadata override) is not supported"),
      apply_on_stream_done: unsupportedField("apply_on_stream_done is not supported", isFalse),
      hits_addend: unsupportedField("hits_addend is not supported"),
    })
    .transform((r): RateLimitPolicyConfig => ({ stage: r.stage, actions: r.actions })));

/** envoy.type.v3.HttpStatus as a number; Envoy's toErrorCode makes anything under 400 the default. */
function errorStatus(fallback: number) {
  return z
    .strictObject({ code: z.number().int().min(100).max(599) })
    .optional()
    .transform((s) => (s !== undefined && s.code >= 400 ? s.code : fallback));
}

export const rateLimitConfig: z.ZodType<RateLimitConfig> = lazySchema(() =>
  z
    .strictObject({
      domain: z.string().min(1),
      stage: uint32.max(10).default(0),
      request_type: z.enum(["internal", "external", "both"]).default("both"),
      timeout: durationMs.default(DEFAULT_TIMEOUT_MS),
      failure_mode_deny: z.boolean().default(false),
      rate_limited_as_resource_exhausted: z.boolean().default(false),
      rate_limit_service: z.strictObject({
        grpc_service: grpcService({ timeout: "grpc_service.timeout is not what bounds the call: use the filter's timeout" }),
        transport_api_version: z.enum(["V3"], { message: "only V3 is supported" }).optional(),
      }),
      enable_x_ratelimit_headers: z.enum(["OFF", "DRAFT_VERSION_03"]).default("OFF"),
      disable_x_envoy_ratelimited_header: z.boolean().default(false),
      rate_limited_status: errorStatus(429),
      status_on_error: errorStatus(500),
      response_headers_to_add: unsupportedField("response_headers_to_add is not supported yet"),
      stat_prefix: unsupportedField("stat_prefix is not supported yet", (v) => v === ""),
      filter_enabled: unsupportedField("filter_enabled is not supported yet"),
      filter_enforced: unsupportedField("filter_enforced is not supported yet"),
      failure_mode_deny_percent: unsupportedField("failure_mode_deny_percent is not supported yet"),
      rate_limits: unsupportedField("the filter's own rate_limits are not supported: put them on the route or virtual host"),
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
        enableXRateLimitHeaders: c.enable_x_ratelimit_headers === "DRAFT_VERSION_03",
        disableXEnvoyRateLimitedHeader: c.disable_x_envoy_ratelimited_header,
        rateLimitedStatus: c.rate_limited_status,
        statusOnError: c.status_on_error,
      }),
    ));
