/**
 * CORS policies (core/http/filters/cors.ts): envoy.extensions.filters.http.cors.v3.CorsPolicy
 * (typed_per_filter_config) and envoy.config.route.v3.CorsPolicy (the deprecated `cors`
 * field of a route action or virtual host) have the same fields; and the filter's own
 * config, envoy.extensions.filters.http.cors.v3.Cors, which has none.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { optionalBool, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { CorsPolicyConfig } from "./bootstrap.ts";
import { runtimeFractionalPercent } from "./fractional-percent-schema.ts";
import { stringMatcher } from "./matcher-schema.ts";
import { headerValue } from "./proto-schema.ts";

export const CORS_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors";
export const CORS_POLICY_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy";

/** The filter's config: the Cors message has no fields (policies live on routes). */
export const corsFilterConfig = lazySchema(() =>
  strictObject({}));

export const corsPolicy: z.ZodType<CorsPolicyConfig> = lazySchema(() =>
  strictObject({
    allow_origin_string_match: z.array(stringMatcher).default([]),
    allow_methods: headerValue.default(""),
    allow_headers: headerValue.default(""),
    expose_headers: headerValue.default(""),
    max_age: headerValue.default(""),
    allow_credentials: optionalBool,
    allow_private_network_access: optionalBool,
    forward_not_matching_preflights: optionalBool,
    filter_enabled: runtimeFractionalPercent.optional(),
    shadow_enabled: runtimeFractionalPercent.optional(),
  })
  .transform((p): CorsPolicyConfig => {
    const policy: CorsPolicyConfig = {
      allowOrigins: p.allow_origin_string_match as CorsPolicyConfig["allowOrigins"],
      allowMethods: p.allow_methods,
      allowHeaders: p.allow_headers,
      exposeHeaders: p.expose_headers,
      maxAge: p.max_age,
    };
    if (p.allow_credentials !== undefined) policy.allowCredentials = p.allow_credentials;
    if (p.allow_private_network_access !== undefined) policy.allowPrivateNetworkAccess = p.allow_private_network_access;
    if (p.forward_not_matching_preflights !== undefined) policy.forwardNotMatchingPreflights = p.forward_not_matching_preflights;
    if (p.filter_enabled !== undefined) policy.filterEnabled = p.filter_enabled;
    if (p.shadow_enabled !== undefined) policy.shadowEnabled = p.shadow_enabled;
    return policy;
  }));
