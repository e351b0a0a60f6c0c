/**
 * envoy.config.core.v3.RetryPolicy, as Envoy turns it into a route RetryPolicy for an
 * async client's request (Http::Utility::convertCoreToRouteRetryPolicy,
 * source/common/http/utility.cc): num_retries (default 1), a back-off of base_interval
 * (default 1 s) and max_interval (default 10 × base), each try bounded by the back-off's
 * max interval, and the caller's default conditions when retry_on is empty — none for a
 * GrpcService (Grpc::AsyncClientImpl passes ""), Envoy's HTTP fetchers pass
 * "5xx,gateway-error,connect-failure,reset". The host predicates and the retry priority
 * are the route's (retry-policy-schema.ts).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { strictObject } from "./shared-schemas.ts";
import type { RetryPolicyConfig } from "./bootstrap.ts";
import { durationMs, uint32 } from "./proto-schema.ts";
import { retryHostPredicate, retryOn, retryPriority } from "./retry-policy-schema.ts";
import { parseRetryOn } from "./retry-on.ts";
import { unsupportedField } from "./unsupported-field.ts";

/** The conditions Envoy's HTTP fetchers (ext_authz, JWKS, OAuth2) pass convertCoreToRouteRetryPolicy. */
export const HTTP_FETCH_RETRY_ON = "5xx,gateway-error,connect-failure,reset";
export const HTTP_FETCH_RETRY_ON_BITS = parseRetryOn(HTTP_FETCH_RETRY_ON).bits;

const DEFAULT_BASE_INTERVAL_MS = 1000;

/** envoy.config.core.v3.BackoffStrategy: base_interval required (at least 1 ms), max_interval above 0. */
const backOffStrategy = strictObject({
  base_interval: durationMs.refine((ms) => ms >= 1, { message: "must be at least 1ms" }),
  max_interval: durationMs.refine((ms) => ms > 0, { message: "must be greater than 0s" }).optional(),
}).superRefine((b, ctx) => {
  // Http::Utility::validateCoreRetryPolicy.
  if (b.max_interval !== undefined && b.max_interval < b.base_interval) {
    ctx.addIssue({ code: "custom", message: "max_interval must be greater than or equal to the base_interval", path: ["max_interval"] });
  }
});

/**
 * `defaultRetryOn`: the caller's conditions. Envoy uses retry_on only when the caller has
 * none (the gRPC async client); a caller with its own (ext_authz's HTTP client) retries on
 * those whatever retry_on says, so a retry_on there is refused (`fixedRetryOn` names them).
 */
export function coreRetryPolicy(defaultRetryOn: number, fixedRetryOn?: string) {
  return strictObject({
    retry_back_off: backOffStrategy.optional(),
    num_retries: uint32.default(1),
    retry_on: fixedRetryOn === undefined ? retryOn.optional() : unsupportedField(`Envoy retries on ${fixedRetryOn} here whatever retry_on says`, (v) => v === ""),
    retry_priority: retryPriority.optional(),
    retry_host_predicate: z.array(retryHostPredicate).default([]),
    host_selection_retry_max_attempts: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(1),
  }).transform((r): RetryPolicyConfig => {
    const base = r.retry_back_off?.base_interval ?? DEFAULT_BASE_INTERVAL_MS;
    const max = r.retry_back_off?.max_interval ?? base * 10;
    const policy: RetryPolicyConfig = {
      retryOn: typeof r.retry_on !== "number" || r.retry_on === 0 ? defaultRetryOn : r.retry_on,
      numRetries: r.num_retries,
      perTryTimeoutMs: max,
      perTryIdleTimeoutMs: 0,
      baseIntervalMs: base,
      maxIntervalMs: max,
      previousHosts: r.retry_host_predicate.some((p) => p.name === "envoy.retry_host_predicates.previous_hosts"),
      hostSelectionRetryMaxAttempts: r.host_selection_retry_max_attempts,
      retriableStatusCodes: [],
      retriableHeaders: [],
      retriableRequestHeaders: [],
    };
    if (r.retry_priority !== undefined) policy.previousPrioritiesUpdateFrequency = r.retry_priority;
    if (r.retry_host_predicate.some((p) => p.name === "envoy.retry_host_predicates.omit_canary_hosts")) policy.omitCanaryHosts = true;
    const omit = r.retry_host_predicate.flatMap((p) => (p.labels !== undefined && p.labels.length > 0 ? [p.labels] : []));
    if (omit.length > 0) policy.omitHostMetadata = omit;
    return policy;
  });
}
