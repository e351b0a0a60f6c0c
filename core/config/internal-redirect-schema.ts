/**
 * envoy.config.route.v3.InternalRedirectPolicy, and the deprecated RouteAction fields
 * internal_redirect_action / max_internal_redirects it replaced (Envoy's
 * RouteEntryImplBase::buildInternalRedirectPolicy turns those into a policy).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, nonEmptyString, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { InternalRedirectPolicyConfig, InternalRedirectPredicateConfig } from "./bootstrap.ts";
import { headerName, uint32 } from "./proto-schema.ts";
import { unsupportedNameMessage } from "./refusal.ts";

/** The only codes Envoy follows; "Any other codes will be ignored" (InternalRedirectPolicy.redirect_response_codes). */
const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);

const PREDICATE_TYPES = {
  "envoy.internal_redirect_predicates.allow_listed_routes": "type.googleapis.com/envoy.extensions.internal_redirect.allow_listed_routes.v3.AllowListedRoutesConfig",
  "envoy.internal_redirect_predicates.previous_routes": "type.googleapis.com/envoy.extensions.internal_redirect.previous_routes.v3.PreviousRoutesConfig",
  "envoy.internal_redirect_predicates.safe_cross_scheme": "type.googleapis.com/envoy.extensions.internal_redirect.safe_cross_scheme.v3.SafeCrossSchemeConfig",
} as const;
type PredicateName = keyof typeof PREDICATE_TYPES;

/** Envoy's copy of a response header onto the redirected request refuses these (InternalRedirectPolicyImpl). */
function isForbiddenCopy(name: string): boolean {
  return name.startsWith(":") || name === "host";
}

/** A TypedExtensionConfig naming one of Envoy's three internal redirect predicates. */
const predicate = lazySchema(() =>
  strictObject({ name: nonEmptyString, typed_config: z.looseObject({ "@type": z.string() }) })
  .transform((p, ctx): InternalRedirectPredicateConfig => {
    const type = p.typed_config["@type"];
    const name = (Object.keys(PREDICATE_TYPES) as PredicateName[]).find((n) => PREDICATE_TYPES[n] === type);
    if (name === undefined) {
      const shown = `envoy.internal_redirect_predicates.{${Object.keys(PREDICATE_TYPES).map((n) => n.replace("envoy.internal_redirect_predicates.", "")).join(",")}}`;
      ctx.addIssue({ code: "custom", message: unsupportedNameMessage("internal redirect predicate", type, Object.values(PREDICATE_TYPES), undefined, shown), path: ["typed_config", "@type"] });
      return z.NEVER;
    }
    if (name !== "envoy.internal_redirect_predicates.allow_listed_routes") {
      const extra = Object.keys(p.typed_config).filter((k) => k !== "@type");
      if (extra.length > 0) ctx.addIssue({ code: "custom", message: `${extra[0]} is not a field of ${type.replace("type.googleapis.com/", "")}`, path: ["typed_config", extra[0]!] });
      return name === "envoy.internal_redirect_predicates.previous_routes" ? { type: "previous_routes" } : { type: "safe_cross_scheme" };
    }
    const allowListed = strictObject({ "@type": z.string(), allowed_route_names: z.array(nonEmptyString).min(1) }).safeParse(p.typed_config);
    if (!allowListed.success) {
      for (const issue of allowListed.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: ["typed_config", ...issue.path.map(String)] });
      return z.NEVER;
    }
    return { type: "allow_listed_routes", allowedRouteNames: new Set(allowListed.data.allowed_route_names) };
  }));

export const internalRedirectPolicy = lazySchema(() =>
  strictObject({
    // google.protobuf.UInt32Value: unset means 1.
    max_internal_redirects: z.union([uint32, strictObject({ value: uint32 }).transform((w) => w.value)]).default(1),
    redirect_response_codes: z.array(uint32).default([]),
    predicates: z.array(predicate).default([]),
    allow_cross_scheme_redirect: boolFalse,
    response_headers_to_copy: z.array(headerName).default([]),
  })
  .transform((p, ctx): InternalRedirectPolicyConfig => {
    p.response_headers_to_copy.forEach((name, i) => {
      // Envoy's InternalRedirectPolicyImpl (config_impl.cc), word for word.
      if (isForbiddenCopy(name.toLowerCase())) ctx.addIssue({ code: "custom", message: ":-prefixed headers or Hosts may not be specified here.", path: ["response_headers_to_copy", i] });
    });
    // Envoy ignores other codes; polyvoy refuses them, as every value it would not act on.
    p.redirect_response_codes.forEach((c, i) => {
      if (!REDIRECT_CODES.has(c)) ctx.addIssue({ code: "custom", message: `${c} is not a redirect code Envoy follows (301, 302, 303, 307, 308): it would be ignored`, path: ["redirect_response_codes", i] });
    });
    // Empty: 302 only (the proto's default).
    const codes = p.redirect_response_codes.length === 0 ? [302] : p.redirect_response_codes;
    return {
      maxInternalRedirects: p.max_internal_redirects,
      redirectResponseCodes: new Set(codes),
      allowCrossSchemeRedirect: p.allow_cross_scheme_redirect,
      predicates: p.predicates,
      responseHeadersToCopy: p.response_headers_to_copy.map((n) => n.toLowerCase()),
    };
  }));

/** RouteAction.internal_redirect_action (deprecated): HANDLE_INTERNAL_REDIRECT turns on a default policy. */
export const internalRedirectAction = lazySchema(() =>
  z.enum(["PASS_THROUGH_INTERNAL_REDIRECT", "HANDLE_INTERNAL_REDIRECT"]));

/** The deprecated action with RouteAction.max_internal_redirects, as buildInternalRedirectPolicy reads them. */
export function legacyInternalRedirectPolicy(action: "PASS_THROUGH_INTERNAL_REDIRECT" | "HANDLE_INTERNAL_REDIRECT" | undefined, maxInternalRedirects: number | undefined): InternalRedirectPolicyConfig | undefined {
  if (action !== "HANDLE_INTERNAL_REDIRECT") return undefined;
  return { maxInternalRedirects: maxInternalRedirects ?? 1, redirectResponseCodes: new Set([302]), allowCrossSchemeRedirect: false, predicates: [], responseHeadersToCopy: [] };
}

export const maxInternalRedirects = lazySchema(() =>
  z.union([uint32, strictObject({ value: uint32 }).transform((w) => w.value)]));
