/**
 * envoy.extensions.filters.http.health_check.v3.HealthCheck: the health_check HTTP
 * filter's config (core/http/filters/health-check.ts), with Envoy's rules.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { HealthCheckFilterConfig } from "./bootstrap.ts";
import { headerMatcher } from "./matcher-schema.ts";
import { durationMs } from "./proto-schema.ts";

/** envoy.type.v3.Percent */
const percent = lazySchema(() =>
  strictObject({ value: z.number().min(0).max(100).default(0) }).transform((p) => p.value));

export const healthCheckFilterConfig: z.ZodType<HealthCheckFilterConfig> = lazySchema(() =>
  strictObject({
    // A BoolValue Envoy requires ("value is required").
    pass_through_mode: z.boolean({ message: "value is required" }),
    cache_time: durationMs.optional(),
    cluster_min_healthy_percentages: z.record(z.string(), percent).default({}),
    headers: z.array(headerMatcher).default([]),
  })
  .superRefine((c, ctx) => {
    // Envoy's factory (health_check/config.cc): caching answers only makes sense when passing requests through.
    if (!c.pass_through_mode && c.cache_time) {
      ctx.addIssue({ code: "custom", message: "cache_time_ms must not be set when path_through_mode is disabled", path: ["cache_time"] });
    }
  })
  .transform(
    (c): HealthCheckFilterConfig => ({
      passThroughMode: c.pass_through_mode,
      cacheTimeMs: c.cache_time ?? 0,
      clusterMinHealthyPercentages: Object.entries(c.cluster_min_healthy_percentages),
      headers: c.headers,
    }),
  ));
