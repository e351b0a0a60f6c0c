/**
 * envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication and PerRouteConfig: the
 * jwt_authn filter's config (core/http/filters/jwt-authn/). Keys come from local_jwks only:
 * remote_jwks needs fetching through a cluster, which is not built yet, and is refused.
 * Each JWKS is parsed here, so a bad key is a config error (Envoy refuses a local JWKS that
 * does not parse, source/extensions/filters/http/jwt_authn/jwks_cache.cc).
 */
// Namespace import: under one runtime, vitest's module loader drops zod's `z` named export.
import * as z from "zod";
import type { JwtAuthnConfig, JwtAuthnPerRouteConfig, JwtJwk, JwtProviderConfig, JwtRequirementConfig } from "./bootstrap.ts";
import { dataSource } from "./data-source-schema.ts";
import { headerName, oneOf, uint32 } from "./proto-schema.ts";

export const JWT_AUTHN_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";
export const JWT_AUTHN_PER_ROUTE_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig";

/** Envoy's JwtProvider.clock_skew_seconds default. */
const DEFAULT_CLOCK_SKEW_SECONDS = 60;

/** A JWKS document's keys: the public fields of each (kty RSA, EC or OKP). */
function parseJwks(text: string, ctx: z.RefinementCtx): JwtJwk[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    ctx.addIssue({ code: "custom", message: "Jwks is an invalid JSON", path: ["local_jwks"] });
    return [];
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (keys === undefined) ctx.addIssue({ code: "custom", message: "Jwks does not have [keys] field", path: ["local_jwks"] });
  else if (!Array.isArray(keys)) ctx.addIssue({ code: "custom", message: "[keys] in Jwks is not an array", path: ["local_jwks"] });
  if (!Array.isArray(keys)) return [];
  const jwks: JwtJwk[] = [];
  for (const key of keys as Record<string, unknown>[]) {
    const str = (name: string): string | undefined => (typeof key?.[name] === "string" ? (key[name] as string) : undefined);
    const kty = str("kty");
    const ok = (kty === "RSA" && str("n") && str("e")) || (kty === "EC" && str("crv") && str("x") && str("y")) || (kty === "OKP" && str("crv") === "Ed25519" && str("x"));
    // Envoy skips keys it cannot use; a JWKS with none is an error.
    if (!ok) continue;
    const jwk: JwtJwk = { kty: kty! };
    for (const field of ["kid", "alg", "n", "e", "crv", "x", "y"] as const) {
      const value = str(field);
      if (value !== undefined) jwk[field] = value;
    }
    jwks.push(jwk);
  }
  if (jwks.length === 0) ctx.addIssue({ code: "custom", message: "Jwks doesn't have any valid public key", path: ["local_jwks"] });
  return jwks;
}

const provider = z
  .strictObject({
    issuer: z.string().default(""),
    audiences: z.array(z.string()).default([]),
    require_expiration: z.boolean().default(false),
    local_jwks: dataSource.optional(),
    remote_jwks: z.unknown().optional(),
    forward: z.boolean().default(false),
    from_headers: z.array(z.strictObject({ name: headerName, value_prefix: z.string().default("") })).default([]),
    from_params: z.array(z.string().min(1)).default([]),
    forward_payload_header: z.string().default(""),
    pad_forward_payload_header: z.boolean().default(false),
    clock_skew_seconds: uint32.default(DEFAULT_CLOCK_SKEW_SECONDS),
  })
  .transform((p, ctx): JwtProviderConfig => {
    if (p.remote_jwks !== undefined) {
      ctx.addIssue({ code: "custom", message: "remote_jwks is not supported yet (no async HTTP client to fetch it through a cluster): give the keys in local_jwks", path: ["remote_jwks"] });
      return z.NEVER;
    }
    if (p.local_jwks === undefined) {
      ctx.addIssue({ code: "custom", message: "must set one of remote_jwks, local_jwks (only local_jwks is supported)" });
      return z.NEVER;
    }
    return {
      issuer: p.issuer,
      audiences: p.audiences,
      requireExpiration: p.require_expiration,
      jwks: parseJwks(p.local_jwks, ctx),
      forward: p.forward,
      fromHeaders: p.from_headers.map((h) => ({ name: h.name.toLowerCase(), valuePrefix: h.value_prefix })),
      fromParams: p.from_params,
      forwardPayloadHeader: p.forward_payload_header.toLowerCase(),
      padForwardPayloadHeader: p.pad_forward_payload_header,
      clockSkewSeconds: p.clock_skew_seconds,
    };
  });

const REQUIREMENT_KINDS = ["provider_name", "provider_and_audiences", "requires_any", "requires_all", "allow_missing_or_failed", "allow_missing"] as const;

type RawRequirement = {
  provider_name?: string;
  provider_and_audiences?: { provider_name: string; audiences: string[] };
  requires_any?: { requirements: RawRequirement[] };
  requires_all?: { requirements: RawRequirement[] };
  allow_missing_or_failed?: Record<string, never>;
  allow_missing?: Record<string, never>;
};

const rawRequirement: z.ZodType<RawRequirement> = z.lazy(() =>
  z.strictObject({
    provider_name: z.string().min(1).optional(),
    provider_and_audiences: z.strictObject({ provider_name: z.string().min(1), audiences: z.array(z.string()).default([]) }).optional(),
    // Envoy: a list needs at least two requirements.
    requires_any: z.strictObject({ requirements: z.array(rawRequirement).min(2) }).optional(),
    requires_all: z.strictObject({ requirements: z.array(rawRequirement).min(2) }).optional(),
    allow_missing_or_failed: z.strictObject({}).optional(),
    allow_missing: z.strictObject({}).optional(),
  }),
);

function requirement(raw: RawRequirement, providers: ReadonlyMap<string, unknown>, ctx: z.RefinementCtx, path: PropertyKey[]): JwtRequirementConfig | undefined {
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

export const jwtAuthnConfig: z.ZodType<JwtAuthnConfig> = z
  .strictObject({
    providers: z.record(z.string().min(1), provider).default({}),
    rules: z
      .array(
        z.strictObject({
          match: z.strictObject({ prefix: z.string().optional(), path: z.string().optional() }),
          requires: rawRequirement.optional(),
          requirement_name: z.string().min(1).optional(),
        }),
      )
      .default([]),
    requirement_map: z.record(z.string().min(1), rawRequirement).default({}),
    bypass_cors_preflight: z.boolean().default(false),
    strip_failure_response: z.boolean().default(false),
    stat_prefix: z.string().default(""),
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
      oneOf(rule.match, ["prefix", "path"], { addIssue: (issue: z.core.$ZodRawIssue) => ctx.addIssue({ ...issue, path: ["rules", i, "match"] }) } as z.RefinementCtx, true);
      if (rule.requires !== undefined && rule.requirement_name !== undefined) {
        ctx.addIssue({ code: "custom", message: "must set only one of requires, requirement_name", path: ["rules", i] });
      }
      if (rule.requirement_name !== undefined && !requirementMap.has(rule.requirement_name) && c.requirement_map[rule.requirement_name] === undefined) {
        ctx.addIssue({ code: "custom", message: `Wrong requirement_name: ${rule.requirement_name}. It should be one of [${Object.keys(c.requirement_map).join(",")}]`, path: ["rules", i, "requirement_name"] });
      }
      const requires = rule.requires === undefined ? undefined : requirement(rule.requires, providers, ctx, ["rules", i, "requires"]);
      rules.push({ match: { ...(rule.match.prefix !== undefined && { prefix: rule.match.prefix }), ...(rule.match.path !== undefined && { path: rule.match.path }) }, ...(requires && { requires }), ...(rule.requirement_name !== undefined && { requirementName: rule.requirement_name }) });
    });
    return { providers, rules, requirementMap, bypassCorsPreflight: c.bypass_cors_preflight, stripFailureResponse: c.strip_failure_response, statPrefix: c.stat_prefix };
  });

export const jwtAuthnPerRouteConfig: z.ZodType<JwtAuthnPerRouteConfig> = z
  .strictObject({ disabled: z.literal(true).optional(), requirement_name: z.string().min(1).optional() })
  .transform((r, ctx): JwtAuthnPerRouteConfig => {
    const key = oneOf(r, ["disabled", "requirement_name"], ctx, true);
    return key === "requirement_name" ? { requirementName: r.requirement_name! } : { disabled: true };
  });
