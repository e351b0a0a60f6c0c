/**
 * envoy.extensions.filters.http.csrf.v3.CsrfPolicy: the csrf HTTP filter's config and its
 * per-route config (core/http/filters/csrf.ts).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { CsrfPolicyConfig } from "./bootstrap.ts";
import { runtimeFractionalPercent } from "./fractional-percent-schema.ts";
import { stringMatcher } from "./matcher-schema.ts";

export const CSRF_POLICY_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.csrf.v3.CsrfPolicy";

export const csrfPolicy: z.ZodType<CsrfPolicyConfig> = lazySchema(() =>
  strictObject({
    filter_enabled: runtimeFractionalPercent,
    shadow_enabled: runtimeFractionalPercent.optional(),
    additional_origins: z.array(stringMatcher).default([]),
  })
  .transform((p): CsrfPolicyConfig => ({
    filterEnabled: p.filter_enabled,
    ...(p.shadow_enabled && { shadowEnabled: p.shadow_enabled }),
    additionalOrigins: p.additional_origins as CsrfPolicyConfig["additionalOrigins"],
  })));
