/**
 * envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication and PerRouteConfig: the
 * jwt_authn filter's config (core/http/filters/jwt-authn/). Keys come from local_jwks,
 * parsed here so a bad key is a config error (Envoy refuses a local JWKS that does not
 * parse, source/extensions/filters/http/jwt_authn/jwks_cache.cc), or from remote_jwks,
 * fetched through a cluster (jwt-authn/remote-jwks.ts).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, boolTrue, nonEmptyString, optionalNonEmptyString, optionalString, strictObject, stringEmpty } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { JwtAuthnConfig, JwtAuthnPerRouteConfig, JwtJwk, JwtProviderConfig, JwtRequirementConfig, RemoteJwksConfig, RouteMatchConfig } from "./bootstrap.ts";
import { headerMatcher, queryParameterMatcher } from "./matcher-schema.ts";
import { dataSource } from "./data-source-schema.ts";
import { durationMs, headerName, oneOf, regexMatcher, uint32 } from "./proto-schema.ts";
import { isEmptyList, unsupportedField } from "./unsupported-field.ts";
import { parseJwks } from "../http/filters/jwt-authn/jwks.ts";

export const JWT_AUTHN_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";
export const JWT_AUTHN_PER_ROUTE_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig";

/** Why a rule's RouteMatch field is refused: Envoy's jwt_authn never reads it (matcher.cc's BaseMatcherImpl). */
const NOT_EVALUATED = "Envoy's jwt_authn rules do not evaluate it (jwt_authn/matcher.cc)";

/** Envoy's JwtProvider.clock_skew_seconds default. */
const DEFAULT_CLOCK_SKEW_SECONDS = 60;

/** Envoy's RemoteJwks.cache_duration default (jwks_cache.cc, jwks_async_fetcher.cc). */
const DEFAULT_CACHE_DURATION_MS = 600_000;
/** Envoy's JwksAsyncFetch.failed_refetch_duration default. */
const DEFAULT_FAILED_REFETCH_MS = 1000;
/** Envoy's convertCoreToRouteRetryPolicy defaults (source/common/http/utility.cc): base 1 s, max 10 × base. */
const DEFAULT_RETRY_BASE_INTERVAL_MS = 1000;

const positiveDuration = lazySchema(() =>
  durationMs.refine((ms) => ms > 0, { message: "must be greater than 0s" }));

/** envoy.config.core.v3.HttpUri: timeout is required by Envoy. */
const httpUri = lazySchema(() =>
  strictObject({
  uri: z.string().min(1).refine((uri) => /^https?:\/\/[^/?#]+/i.test(uri), { message: "must be an absolute http:// or https:// URI" }),
  cluster: nonEmptyString,
  timeout: durationMs,
}));

/**
 * envoy.config.core.v3.RetryPolicy as the JWKS fetcher converts it (convertCoreToRouteRetryPolicy):
 * the retry conditions are fixed to "5xx,gateway-error,connect-failure,reset", so a
 * retry_on would be ignored by Envoy: refused here rather than ignored.
 */
const coreRetryPolicy = lazySchema(() =>
  strictObject({
    retry_back_off: strictObject({ base_interval: positiveDuration, max_interval: positiveDuration.optional() }).optional(),
    num_retries: uint32.default(1),
    retry_on: unsupportedField("Envoy's JWKS fetcher retries on 5xx,gateway-error,connect-failure,reset whatever retry_on says", (v) => v === ""),
    retry_priority: unsupportedField("not for the JWKS fetcher"),
    retry_host_predicate: unsupportedField("not for the JWKS fetcher", isEmptyList),
    host_selection_retry_max_attempts: unsupportedField("not for the JWKS fetcher", (v) => v === 0 || v === "0"),
  })
  .transform((r, ctx) => {
    const base = r.retry_back_off?.base_interval ?? DEFAULT_RETRY_BASE_INTERVAL_MS;
    const max = r.retry_back_off?.max_interval ?? base * 10;
    if (max < base) ctx.addIssue({ code: "custom", message: "max_interval must be greater than or equal to the base_interval", path: ["retry_back_off", "max_interval"] });
    return { numRetries: r.num_retries, baseIntervalMs: base, maxIntervalMs: max };
  }));

/** envoy.extensions.filters.http.jwt_authn.v3.RemoteJwks. */
const remoteJwks = lazySchema(() =>
  strictObject({
    http_uri: httpUri,
    cache_duration: positiveDuration.optional(),
    async_fetch: strictObject({ fast_listener: boolFalse, failed_refetch_duration: positiveDuration.default(DEFAULT_FAILED_REFETCH_MS) }).optional(),
    retry_policy: coreRetryPolicy.optional(),
  })
  .transform(
    (r): RemoteJwksConfig => ({
      uri: r.http_uri.uri,
      cluster: r.http_uri.cluster,
      timeoutMs: r.http_uri.timeout,
      cacheDurationMs: r.cache_duration ?? DEFAULT_CACHE_DURATION_MS,
      ...(r.async_fetch !== undefined && { asyncFetch: { fastListener: r.async_fetch.fast_listener, failedRefetchDurationMs: r.async_fetch.failed_refetch_duration } }),
      ...(r.retry_policy !== undefined && { retryPolicy: r.retry_policy }),
    }),
  ));

const provider = lazySchema(() =>
  strictObject({
    issuer: stringEmpty,
    audiences: z.array(z.string()).default([]),
    require_expiration: boolFalse,
    local_jwks: dataSource.optional(),
    remote_jwks: remoteJwks.optional(),
    forward: boolFalse,
    from_headers: z.array(strictObject({ name: headerName, value_prefix: stringEmpty })).default([]),
    from_params: z.array(nonEmptyString).default([]),
    forward_payload_header: stringEmpty,
    pad_forward_payload_header: boolFalse,
    clock_skew_seconds: uint32.default(DEFAULT_CLOCK_SKEW_SECONDS),
    // JwtClaimToHeader: both fields required (min_len 1), the header name an HTTP header name.
    claim_to_headers: z.array(strictObject({ header_name: headerName, claim_name: nonEmptyString })).default([]),
    payload_in_metadata: stringEmpty,
    header_in_metadata: stringEmpty,
  })
  .transform((p, ctx): JwtProviderConfig => {
    if ((p.remote_jwks === undefined) === (p.local_jwks === undefined)) {
      ctx.addIssue({ code: "custom", message: "must set exactly one of remote_jwks, local_jwks" });
      return z.NEVER;
    }
    let jwks: JwtJwk[] = [];
    if (p.local_jwks !== undefined) {
      const parsed = parseJwks(p.local_jwks);
      if (parsed.ok) jwks = parsed.keys;
      else ctx.addIssue({ code: "custom", message: parsed.error, path: ["local_jwks"] });
    }
    return {
      issuer: p.issuer,
      audiences: p.audiences,
      requireExpiration: p.require_expiration,
      jwks,
      ...(p.remote_jwks !== undefined && { remoteJwks: p.remote_jwks }),
      forward: p.forward,
      fromHeaders: p.from_headers.map((h) => ({ name: h.name.toLowerCase(), valuePrefix: h.value_prefix })),
      fromParams: p.from_params,
      forwardPayloadHeader: p.forward_payload_header.toLowerCase(),
      padForwardPayloadHeader: p.pad_forward_payload_header,
      clockSkewSeconds: p.clock_skew_seconds,
      claimToHeaders: p.claim_to_headers.map((c) => ({ header: c.header_name, claim: c.claim_name })),
      payloadInMetadata: p.payload_in_metadata,
      headerInMetadata: p.header_in_metadata,
    };
  }));

const REQUIREMENT_KINDS = ["provider_name", "provider_and_audiences", "requires_any", "requires_all", "allow_missing_or_failed", "allow_missing"] as const;

type RawRequirement = {
  provider_name?: string;
  provider_and_audiences?: { provider_name: string; audiences: string[] };
  requires_any?: { requirements: RawRequirement[] };
  requires_all?: { requirements: RawRequirement[] };
  allow_missing_or_failed?: Record<string, never>;
  allow_missing?: Record<string, never>;
};

const rawRequirement: z.ZodType<RawRequirement> = lazySchema(() =>
  strictObject({
    provider_name: optionalNonEmptyString,
    provider_and_audiences: strictObject({ provider_name: nonEmptyString, audiences: z.array(z.string()).default([]) }).optional(),
    // Envoy: a list needs at least two requirements.
    requires_any: strictObject({ requirements: z.array(rawRequirement).min(2) }).optional(),
    requires_all: strictObject({ requirements: z.array(rawRequirement).min(2) }).optional(),
    allow_missing_or_failed: strictObject({}).optional(),
    allow_missing: strictObject({}).optional(),
  }),
);

function requirement(raw: RawRequirement, providers: ReadonlyMap<string, unknown>, ctx: z.RefinementCtx, path: PropertyKey[]): JwtRequirementConfig | undefined {
  // An empty requirement (`requires: {}`) allows every request: Envoy's verifier.cc maps
  // REQUIRES_TYPE_NOT_SET to AllowAllVerifierImpl, at the top as inside requires_any/all.
  if (REQUIREMENT_KINDS.every((kind) => raw[kind] === undefined)) return { type: "allowAll" };
  const kind = oneOf(raw, REQUIREMENT_KINDS, { addIssue: (issue: z.core.$ZodRawIssue) => ctx.addIssue({ ...issue, path: [...path, ...(issue.path ?? [])] }) } as z.RefinementCtx, true);
  const checkProvider = (name: string, at: PropertyKey[]): void => {
    // Envoy: "Required provider ['x'] is not configured."
    if (!providers.has(name)) ctx.addIssue({ code: "custom", message: `Required provider ['${name}'] is not configured.`, path: at });
  };
  switch (kind) {
    case "provider_name":
      checkProvider(raw.provider_name!, [...path, "provider_name"]);
      return { type: "provider", provider: raw.provider_name! };
    case "provider_and_audiences":
      checkProvider(raw.provider_and_audiences!.provider_name, [...path, "provider_and_audiences", "provider_name"]);
      return { type: "provider", provider: raw.provider_and_audiences!.provider_name, audiences: raw.provider_and_audiences!.audiences };
    case "requires_any":
    case "requires_all": {
      const list = raw[kind]!.requirements.map((r, i) => requirement(r, providers, ctx, [...path, kind, "requirements", i]));
      if (list.some((r) => r === undefined)) return undefined;
      return { type: kind === "requires_any" ? "any" : "all", requirements: list as JwtRequirementConfig[] };
    }
    case "allow_missing_or_failed":
      return { type: "allowMissingOrFailed" };
    case "allow_missing":
      return { type: "allowMissing" };
    default:
      return undefined;
  }
}

export const jwtAuthnConfig: z.ZodType<JwtAuthnConfig> = lazySchema(() =>
  strictObject({
    providers: z.record(nonEmptyString, provider).default({}),
    rules: z
      .array(
        strictObject({
          // A route.v3.RouteMatch, of which Envoy's jwt_authn matcher.cc evaluates the path
          // specifier, case_sensitive, headers and query_parameters only: the fields it skips
          // are refused rather than accepted and ignored.
          match: strictObject({
            prefix: optionalString,
            path: optionalString,
            // As the route's (route_components.proto): no query or fragment, not ending in "/".
            path_separated_prefix: z.string().regex(/^[^?#]+[^?#/]$/, { message: 'must not contain "?" or "#" nor end with "/"' }).optional(),
            safe_regex: regexMatcher.optional(),
            connect_matcher: strictObject({}).optional(),
            case_sensitive: boolTrue,
            headers: z.array(headerMatcher).default([]),
            query_parameters: z.array(queryParameterMatcher).default([]),
            grpc: unsupportedField(NOT_EVALUATED),
            runtime_fraction: unsupportedField(NOT_EVALUATED),
            dynamic_metadata: unsupportedField(NOT_EVALUATED, isEmptyList),
          }),
          requires: rawRequirement.optional(),
          requirement_name: optionalNonEmptyString,
        }),
      )
      .default([]),
    requirement_map: z.record(nonEmptyString, rawRequirement).default({}),
    bypass_cors_preflight: boolFalse,
    strip_failure_response: boolFalse,
    stat_prefix: stringEmpty,
  })
  .transform((c, ctx): JwtAuthnConfig => {
    const providers = new Map(Object.entries(c.providers));
    const requirementMap = new Map<string, JwtRequirementConfig>();
    for (const [name, raw] of Object.entries(c.requirement_map)) {
      const r = requirement(raw, providers, ctx, ["requirement_map", name]);
      if (r) requirementMap.set(name, r);
    }
    const rules: JwtAuthnConfig["rules"] = [];
    c.rules.forEach((rule, i) => {
      oneOf(rule.match, ["prefix", "path", "path_separated_prefix", "safe_regex", "connect_matcher"], { addIssue: (issue: z.core.$ZodRawIssue) => ctx.addIssue({ ...issue, path: ["rules", i, "match"] }) } as z.RefinementCtx, true);
      if (rule.requires !== undefined && rule.requirement_name !== undefined) {
        ctx.addIssue({ code: "custom", message: "must set only one of requires, requirement_name", path: ["rules", i] });
      }
      if (rule.requirement_name !== undefined && !requirementMap.has(rule.requirement_name) && c.requirement_map[rule.requirement_name] === undefined) {
        ctx.addIssue({ code: "custom", message: `Wrong requirement_name: ${rule.requirement_name}. It should be one of [${Object.keys(c.requirement_map).join(",")}]`, path: ["rules", i, "requirement_name"] });
      }
      const requires = rule.requires === undefined ? undefined : requirement(rule.requires, providers, ctx, ["rules", i, "requires"]);
      const m = rule.match;
      const match: RouteMatchConfig = { caseSensitive: m.case_sensitive, headers: m.headers, queryParameters: m.query_parameters };
      if (m.prefix !== undefined) match.prefix = m.prefix;
      if (m.path !== undefined) match.path = m.path;
      if (m.path_separated_prefix !== undefined) match.pathSeparatedPrefix = m.path_separated_prefix;
      if (m.safe_regex !== undefined) match.safeRegex = m.safe_regex;
      if (m.connect_matcher !== undefined) match.connect = true;
      rules.push({ match, ...(requires && { requires }), ...(rule.requirement_name !== undefined && { requirementName: rule.requirement_name }) });
    });
    return { providers, rules, requirementMap, bypassCorsPreflight: c.bypass_cors_preflight, stripFailureResponse: c.strip_failure_response, statPrefix: c.stat_prefix };
  }));

export const jwtAuthnPerRouteConfig: z.ZodType<JwtAuthnPerRouteConfig> = lazySchema(() =>
  strictObject({ disabled: z.literal(true).optional(), requirement_name: optionalNonEmptyString })
  .transform((r, ctx): JwtAuthnPerRouteConfig => {
    const key = oneOf(r, ["disabled", "requirement_name"], ctx, true);
    return key === "requirement_name" ? { requirementName: r.requirement_name! } : { disabled: true };
  }));
