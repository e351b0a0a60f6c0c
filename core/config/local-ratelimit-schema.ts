/**
 * envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit: the local_ratelimit
 * HTTP filter's config (core/http/filters/local-ratelimit.ts), on the filter and as
 * per-route config (typed_per_filter_config), with Envoy's rules
 * (source/extensions/filters/http/local_ratelimit/local_ratelimit.cc).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, nonEmptyString, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { LocalRateLimitConfig, LocalRateLimitDescriptorConfig, TokenBucketConfig } from "./bootstrap.ts";
import { headerValueOption } from "./custom-headers-schema.ts";
import { runtimeFractionalPercent } from "./fractional-percent-schema.ts";
import { durationMs, uint32 } from "./proto-schema.ts";
import { unsupportedField } from "./unsupported-field.ts";
import { filterRateLimit } from "./ratelimit-schema.ts";

export const LOCAL_RATE_LIMIT_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";

/** Envoy's LocalRateLimiterImpl: "local rate limit token bucket fill timer must be >= 50ms". */
const MIN_FILL_INTERVAL_MS = 50;

/** envoy.type.v3.TokenBucket */
const tokenBucket = lazySchema(() =>
  strictObject({
      max_tokens: uint32.min(1),
      tokens_per_fill: uint32.min(1).default(1),
      fill_interval: durationMs,
    })
    .superRefine((b, ctx) => {
      if (b.fill_interval < MIN_FILL_INTERVAL_MS) {
        ctx.addIssue({ code: "custom", message: "local rate limit token bucket fill timer must be >= 50ms", path: ["fill_interval"] });
      }
    })
    .transform((b): TokenBucketConfig => ({ maxTokens: b.max_tokens, tokensPerFill: b.tokens_per_fill, fillIntervalMs: b.fill_interval })));

/** envoy.type.v3.HttpStatus: the code as a number (proto enum names are not accepted). */
const httpStatus = lazySchema(() =>
  strictObject({ code: z.number().int().min(100).max(599) }));

/** envoy.extensions.common.ratelimit.v3.LocalRateLimitDescriptor */
const descriptor = lazySchema(() =>
  strictObject({
      // An entry without a value (or with "", the same in proto3) matches any value of its
      // key: a dynamic descriptor, a bucket per distinct request descriptor (Envoy's
      // DynamicDescriptorMap, local_ratelimit_impl.cc).
      entries: z.array(strictObject({ key: nonEmptyString, value: z.string().optional() })).min(1),
      token_bucket: tokenBucket,
    })
    .transform((d): LocalRateLimitDescriptorConfig => ({ entries: d.entries.map((e) => [e.key, e.value ?? ""]), tokenBucket: d.token_bucket })),
);

/** Envoy's LocalRateLimiterImpl: each descriptor once (the dynamic ones among themselves, as DynamicDescriptorMap::addDescriptor). */
function uniqueDescriptors(descriptors: LocalRateLimitDescriptorConfig[], ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  descriptors.forEach((d, i) => {
    const key = JSON.stringify(d.entries);
    if (seen.has(key)) {
      const text = d.entries.map(([k, v]) => `${k}=${v}`).join(", ");
      ctx.addIssue({ code: "custom", message: `duplicate descriptor in the local rate descriptor: ${text}`, path: ["descriptors", i] });
    }
    seen.add(key);
  });
}

/** Envoy's FilterConfig: max_dynamic_descriptors when unset. */
const DEFAULT_MAX_DYNAMIC_DESCRIPTORS = 20;

function localRateLimit(perRoute: boolean) {
  return strictObject({
      stat_prefix: nonEmptyString,
      status: httpStatus.optional(),
      token_bucket: tokenBucket.optional(),
      filter_enabled: runtimeFractionalPercent.optional(),
      filter_enforced: runtimeFractionalPercent.optional(),
      request_headers_to_add_when_not_enforced: z.array(headerValueOption).max(10).default([]),
      response_headers_to_add: z.array(headerValueOption).max(10).default([]),
      enable_x_ratelimit_headers: z.enum(["OFF", "DRAFT_VERSION_03"]).default("OFF"),
      descriptors: z.array(descriptor).default([]),
      // The filter's own rate_limits (Envoy ≥ 1.33): with them the route's and virtual host's are not read.
      rate_limits: z.array(filterRateLimit).default([]),
      stage: uint32.max(10).default(0),
      vh_rate_limits: z.enum(["OVERRIDE", "INCLUDE", "IGNORE"]).default("OVERRIDE"),
      always_consume_default_token_bucket: z.union([z.boolean(), strictObject({ value: z.boolean() }).transform((w) => w.value)]).default(true),
      max_dynamic_descriptors: z.union([uint32, strictObject({ value: uint32 }).transform((w) => w.value)]).default(DEFAULT_MAX_DYNAMIC_DESCRIPTORS),
      local_rate_limit_per_downstream_connection: boolFalse,
      local_cluster_rate_limit: unsupportedField("sharing the limit across the local cluster"),
      rate_limited_as_resource_exhausted: boolFalse,
    })
    .superRefine((c, ctx) => {
      uniqueDescriptors(c.descriptors, ctx);
      // Envoy's FilterConfig: "local rate limit token bucket must be set for per filter configs".
      if (perRoute && c.token_bucket === undefined) {
        ctx.addIssue({ code: "custom", message: "local rate limit token bucket must be set for per filter configs", path: ["token_bucket"] });
      }
    })
    .transform(
      (c): LocalRateLimitConfig => ({
        statPrefix: c.stat_prefix,
        // Envoy's toErrorCode: a status under 400 means the default, 429.
        status: c.status !== undefined && c.status.code >= 400 ? c.status.code : 429,
        ...(c.token_bucket && { tokenBucket: c.token_bucket }),
        ...(c.filter_enabled && { filterEnabled: c.filter_enabled }),
        ...(c.filter_enforced && { filterEnforced: c.filter_enforced }),
        requestHeadersToAddWhenNotEnforced: c.request_headers_to_add_when_not_enforced,
        responseHeadersToAdd: c.response_headers_to_add,
        enableXRateLimitHeaders: c.enable_x_ratelimit_headers === "DRAFT_VERSION_03",
        rateLimitedAsResourceExhausted: c.rate_limited_as_resource_exhausted,
        ...(c.local_rate_limit_per_downstream_connection && { perDownstreamConnection: true }),
        // Only when descriptors are configured: without them the rest means nothing (Envoy's hasDescriptors).
        ...(c.descriptors.length > 0 && {
          descriptors: c.descriptors,
          stage: c.stage,
          vhRateLimits: c.vh_rate_limits,
          alwaysConsumeDefaultTokenBucket: c.always_consume_default_token_bucket,
          ...(c.descriptors.some((d) => d.entries.some(([, value]) => value === "")) && { maxDynamicDescriptors: c.max_dynamic_descriptors }),
          ...(c.rate_limits.length > 0 && { rateLimits: c.rate_limits }),
        }),
      }),
    );
}

/** On the filter (http_filters): the token bucket may be left to per-route configs. */
export const localRateLimitConfig: z.ZodType<LocalRateLimitConfig> = lazySchema(() =>
  localRateLimit(false));
/** In typed_per_filter_config: a token bucket is required. */
export const localRateLimitPerRouteConfig: z.ZodType<LocalRateLimitConfig> = lazySchema(() =>
  localRateLimit(true));
