/**
 * envoy.config.route.v3.RetryPolicy and RouteAction.RequestMirrorPolicy, for routes and
 * virtual hosts (route-config-schema.ts wires them in), with Envoy's defaults
 * (source/common/router/config_impl.cc, RetryPolicyImpl and ShadowPolicyImpl).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, nonEmptyString, optionalBool, optionalNonEmptyString, optionalString, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { RequestMirrorPolicyConfig, RetryPolicyConfig } from "./bootstrap.ts";
import { headerMatcher } from "./matcher-schema.ts";
import { durationMs, headerName, oneOf, uint32 } from "./proto-schema.ts";
import { parseRetryGrpcOn, parseRetryOn } from "./retry-on.ts";
import { withRuntimeKey } from "./fractional-percent-schema.ts";
import { unsupportedNameMessage } from "./refusal.ts";

/** Envoy's default base interval (runtime upstream.base_retry_backoff_ms): 25 ms. */
const DEFAULT_BASE_INTERVAL_MS = 25;
/** rate_limited_retry_back_off.max_interval default: 300 s. */
const DEFAULT_RATE_LIMITED_MAX_INTERVAL_MS = 300_000;

const HOST_PREDICATE_TYPES = {
  "envoy.retry_host_predicates.previous_hosts": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate",
  "envoy.retry_host_predicates.omit_canary_hosts": "type.googleapis.com/envoy.extensions.retry.host.omit_canary_hosts.v3.OmitCanaryHostsPredicate",
  "envoy.retry_host_predicates.omit_host_metadata": "type.googleapis.com/envoy.extensions.retry.host.omit_host_metadata.v3.OmitHostMetadataConfig",
} as const;
export type HostPredicateName = keyof typeof HOST_PREDICATE_TYPES;

const PREVIOUS_PRIORITIES = "envoy.retry_priorities.previous_priorities";
const PREVIOUS_PRIORITIES_TYPE = "type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig";

const positiveDuration = lazySchema(() =>
  durationMs.refine((ms) => ms > 0, { message: "must be greater than 0s" }));

/**
 * retry_on: comma-separated conditions, HTTP and gRPC ones in one string. Envoy drops a
 * name it does not know; here it is an error, so a typo cannot silently turn a retry off.
 */
export const retryOn = lazySchema(() =>
  z.string().transform((text, ctx) => {
  const http = parseRetryOn(text);
  const grpc = parseRetryGrpcOn(http.unknown.join(","));
  for (const name of grpc.unknown) ctx.addIssue({ code: "custom", message: `unknown retry_on condition "${name}"` });
  return http.bits | grpc.bits;
}));

/** A retry host predicate as parsed: its name, and omit_host_metadata's `envoy.lb` labels. */
export interface HostPredicate {
  readonly name: HostPredicateName;
  readonly labels?: readonly (readonly [string, unknown])[];
}

/**
 * retry_host_predicate. The extension is found by its typed_config's type (else its
 * name), as Envoy's getAndCheckFactory. omit_canary_hosts rejects a host whose `envoy.lb`
 * metadata has `canary: true`; omit_host_metadata one whose `envoy.lb` metadata has every
 * label of its metadata_match's `envoy.lb` (Envoy's OmitHostsRetryPredicate reads only
 * that namespace: the others are accepted and do nothing there too).
 */
export const retryHostPredicate = lazySchema(() =>
  strictObject({
    name: nonEmptyString,
    typed_config: z
      .looseObject({ "@type": z.string() })
      .optional(),
  })
  .transform((p, ctx): HostPredicate => {
    const type = p.typed_config?.["@type"];
    const name = (type !== undefined ? (Object.keys(HOST_PREDICATE_TYPES) as HostPredicateName[]).find((n) => HOST_PREDICATE_TYPES[n] === type) : (p.name as HostPredicateName)) as HostPredicateName | undefined;
    if (name === undefined || !(name in HOST_PREDICATE_TYPES)) {
      const supported = Object.keys(HOST_PREDICATE_TYPES);
      const shown = `envoy.retry_host_predicates.{${supported.map((n) => n.replace("envoy.retry_host_predicates.", "")).join(",")}}`;
      const message = unsupportedNameMessage("retry host predicate", type ?? p.name, supported, undefined, shown);
      ctx.addIssue({ code: "custom", message, path: type !== undefined ? ["typed_config", "@type"] : ["name"] });
      return z.NEVER;
    }
    const fields = omitHostPredicateFields[name].safeParse(p.typed_config ?? {});
    if (!fields.success) {
      for (const issue of fields.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: ["typed_config", ...issue.path.map(String)] });
      return z.NEVER;
    }
    if (name !== "envoy.retry_host_predicates.omit_host_metadata") return { name };
    const lb = (fields.data as { metadata_match?: { filter_metadata?: Record<string, Record<string, unknown>> } }).metadata_match?.filter_metadata?.["envoy.lb"] ?? {};
    return { name, labels: Object.entries(lb) };
  }));

/** What each predicate's typed_config may hold besides its type. */
const omitHostPredicateFields: Record<HostPredicateName, z.ZodType> = {
  "envoy.retry_host_predicates.previous_hosts": lazySchema(() =>
  strictObject({ "@type": optionalString })),
  "envoy.retry_host_predicates.omit_canary_hosts": lazySchema(() =>
  strictObject({ "@type": optionalString })),
  // envoy.config.core.v3.Metadata: filter_metadata (typed_filter_metadata is not matched by the predicate).
  "envoy.retry_host_predicates.omit_host_metadata": lazySchema(() =>
  strictObject({
    "@type": optionalString,
    metadata_match: strictObject({ filter_metadata: z.record(z.string(), z.record(z.string(), z.unknown())).optional() }).optional(),
  })),
};

/** retry_priority: envoy.retry_priorities.previous_priorities (update_frequency > 0, required by Envoy). */
export const retryPriority = lazySchema(() =>
  strictObject({
    name: nonEmptyString,
    typed_config: strictObject({ "@type": z.string(), update_frequency: z.number().int().max(2 ** 31 - 1).optional() }).optional(),
  })
  .transform((p, ctx): number => {
    const type = p.typed_config?.["@type"];
    if ((type !== undefined && type !== PREVIOUS_PRIORITIES_TYPE) || (type === undefined && p.name !== PREVIOUS_PRIORITIES)) {
      ctx.addIssue({ code: "custom", message: unsupportedNameMessage("retry priority", type ?? p.name, [PREVIOUS_PRIORITIES]), path: type !== undefined ? ["typed_config", "@type"] : ["name"] });
      return z.NEVER;
    }
    const frequency = p.typed_config?.update_frequency ?? 0;
    if (frequency <= 0) {
      ctx.addIssue({ code: "custom", message: "update_frequency: value must be greater than 0", path: ["typed_config", "update_frequency"] });
      return z.NEVER;
    }
    return frequency;
  }));

const retryBackOff = lazySchema(() =>
  strictObject({ base_interval: positiveDuration, max_interval: positiveDuration.optional() })
  .superRefine((b, ctx) => {
    // config_impl.cc: "retry_policy.max_interval must greater than or equal to the base_interval".
    if (b.max_interval !== undefined && b.max_interval < b.base_interval) {
      ctx.addIssue({ code: "custom", message: "max_interval must be greater than or equal to base_interval", path: ["max_interval"] });
    }
  }));

const rateLimitedRetryBackOff = lazySchema(() =>
  strictObject({
  reset_headers: z
    .array(strictObject({ name: headerName, format: z.enum(["SECONDS", "UNIX_TIMESTAMP"]).default("SECONDS") }))
    .min(1),
  max_interval: positiveDuration.default(DEFAULT_RATE_LIMITED_MAX_INTERVAL_MS),
}));

/** envoy.config.route.v3.RetryPolicy (no retry_options_predicates or typed per-try options). */
export const retryPolicy = lazySchema(() =>
  strictObject({
    retry_on: retryOn.default(0),
    num_retries: uint32.default(1),
    per_try_timeout: durationMs.default(0),
    per_try_idle_timeout: durationMs.default(0),
    retry_host_predicate: z.array(retryHostPredicate).default([]),
    retry_priority: retryPriority.optional(),
    host_selection_retry_max_attempts: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(1),
    retriable_status_codes: z.array(z.number().int().min(100).max(599)).default([]),
    retry_back_off: retryBackOff.optional(),
    rate_limited_retry_back_off: rateLimitedRetryBackOff.optional(),
    retriable_headers: z.array(headerMatcher).default([]),
    retriable_request_headers: z.array(headerMatcher).default([]),
  })
  .transform((r): RetryPolicyConfig => {
    const base = r.retry_back_off?.base_interval ?? DEFAULT_BASE_INTERVAL_MS;
    const policy: RetryPolicyConfig = {
      retryOn: r.retry_on,
      numRetries: r.num_retries,
      perTryTimeoutMs: r.per_try_timeout,
      perTryIdleTimeoutMs: r.per_try_idle_timeout,
      baseIntervalMs: base,
      // "By default, cap the max interval to 10 times the base interval" (retry_state_impl.cc).
      maxIntervalMs: r.retry_back_off?.max_interval ?? base * 10,
      previousHosts: r.retry_host_predicate.some((p) => p.name === "envoy.retry_host_predicates.previous_hosts"),
      hostSelectionRetryMaxAttempts: r.host_selection_retry_max_attempts,
      retriableStatusCodes: r.retriable_status_codes,
      retriableHeaders: r.retriable_headers,
      retriableRequestHeaders: r.retriable_request_headers,
    };
    if (r.retry_priority !== undefined) policy.previousPrioritiesUpdateFrequency = r.retry_priority;
    if (r.retry_host_predicate.some((p) => p.name === "envoy.retry_host_predicates.omit_canary_hosts")) policy.omitCanaryHosts = true;
    // Envoy: an empty label set never rejects (metadataLabelMatch would match every host).
    const omit = r.retry_host_predicate.flatMap((p) => (p.labels !== undefined && p.labels.length > 0 ? [p.labels] : []));
    if (omit.length > 0) policy.omitHostMetadata = omit;
    if (r.rate_limited_retry_back_off) {
      policy.rateLimitedRetryBackOff = { resetHeaders: r.rate_limited_retry_back_off.reset_headers, maxIntervalMs: r.rate_limited_retry_back_off.max_interval };
    }
    return policy;
  }));

const DENOMINATORS = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 } as const;

/** envoy.config.core.v3.RuntimeFractionalPercent: default_value, which a runtime layer's value for runtime_key overrides. */
const runtimeFraction = lazySchema(() =>
  strictObject({
  default_value: strictObject({ numerator: uint32.default(0), denominator: z.enum(["HUNDRED", "TEN_THOUSAND", "MILLION"]).default("HUNDRED") })
    .default({ numerator: 0, denominator: "HUNDRED" }),
  runtime_key: optionalString,
}));

/** envoy.config.route.v3.RouteAction.RequestMirrorPolicy */
export const requestMirrorPolicy = lazySchema(() =>
  strictObject({
    cluster: optionalNonEmptyString,
    cluster_header: headerName.optional(),
    runtime_fraction: runtimeFraction.optional(),
    // Tracing is not implemented: the mirror's span sampling has nothing to change.
    trace_sampled: optionalBool,
    disable_shadow_host_suffix_append: boolFalse,
  })
  .transform((m, ctx): RequestMirrorPolicyConfig => {
    oneOf(m, ["cluster", "cluster_header"] as const, ctx, true);
    // No runtime_fraction: every request is mirrored (ShadowPolicyImpl's default of 100 %).
    const fraction = m.runtime_fraction?.default_value ?? { numerator: 100, denominator: "HUNDRED" as const };
    const policy: RequestMirrorPolicyConfig = {
      fraction: withRuntimeKey({ numerator: fraction.numerator, denominator: DENOMINATORS[fraction.denominator] }, m.runtime_fraction?.runtime_key),
      disableShadowHostSuffixAppend: m.disable_shadow_host_suffix_append,
    };
    if (m.cluster !== undefined) policy.cluster = m.cluster;
    if (m.cluster_header !== undefined) policy.clusterHeader = m.cluster_header;
    return policy;
  }));

/** per_request_buffer_limit_bytes (google.protobuf.UInt32Value). */
export const perRequestBufferLimitBytes = uint32;
