/**
 * envoy.config.rbac.v3.RBAC (rules: action and named policies of permissions and
 * principals), and the RBAC filters' configs around it:
 * envoy.extensions.filters.http.rbac.v3.RBAC / RBACPerRoute (core/http/filters/rbac.ts).
 * What needs CEL (condition), filter state or the generic matcher API inside rules is
 * refused by name, never accepted and ignored; the
 * HTTP filter's matcher form is rbac-matcher-schema.ts (the network filter refuses it).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { nonEmptyString, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { CidrRangeConfig, NetworkRbacConfig, RbacConfig, RbacPermission, RbacPrincipal, RbacRulesConfig, StringMatcherConfig } from "./bootstrap.ts";
import { headerMatcher, metadataMatcher, stringMatcher } from "./matcher-schema.ts";
import { rbacMatcher } from "./rbac-matcher-schema.ts";
import { oneOf, signedDurationMs, uint32 } from "./proto-schema.ts";
import { unsupportedField } from "./unsupported-field.ts";
import { parseIp } from "../network/cidr-range.ts";

export const RBAC_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
export const RBAC_PER_ROUTE_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute";

const cidrRange = lazySchema(() =>
  strictObject({ address_prefix: nonEmptyString, prefix_len: uint32.default(0) })
    .transform((c, ctx): CidrRangeConfig => {
      const ip = parseIp(c.address_prefix);
      if (ip === undefined) ctx.addIssue({ code: "custom", message: `"${c.address_prefix}" is not an IP address` });
      else if (c.prefix_len > ip.length * 8) ctx.addIssue({ code: "custom", message: `prefix_len ${c.prefix_len} is longer than the address (${ip.length * 8} bits)` });
      return { addressPrefix: c.address_prefix, prefixLen: c.prefix_len };
    }));

/** envoy.type.matcher.v3.PathMatcher: `path`, a StringMatcher on the path without query and fragment. */
const pathMatcher = lazySchema(() =>
  strictObject({ path: stringMatcher }).transform((p) => p.path as StringMatcherConfig));

/** `any` must be true (Envoy: const true). */
const anyTrue = lazySchema(() =>
  z.literal(true));

/**
 * envoy.config.rbac.v3.SourcedMetadata (Envoy 1.33, envoyproxy/envoy#36957; newer than the
 * pinned protos, so taken here by name): a MetadataMatcher and where its metadata comes from,
 * DYNAMIC (what `metadata` reads) or ROUTE (the matched route's `metadata`). Envoy's
 * Matcher::create (filters/common/rbac/matchers.cc) takes it in both RBAC filters; the
 * network filter has no route, so ROUTE never matches there.
 */
const sourcedMetadata = lazySchema(() =>
  strictObject({
    metadata_matcher: metadataMatcher,
    // proto3 JSON: the enum's name, or its number.
    metadata_source: z.union([z.enum(["DYNAMIC", "ROUTE"]), z.literal(0), z.literal(1)]).default("DYNAMIC"),
  })
  .transform((m): RbacPermission & RbacPrincipal => (m.metadata_source === "ROUTE" || m.metadata_source === 1 ? { type: "route_metadata", matcher: m.metadata_matcher } : { type: "metadata", matcher: m.metadata_matcher })));
const NO_EXTENSIONS = "matcher extensions";

const PERMISSION_RULES = [
  "and_rules",
  "or_rules",
  "any",
  "header",
  "url_path",
  "destination_ip",
  "destination_port",
  "destination_port_range",
  "not_rule",
  "requested_server_name",
  "metadata",
  "sourced_metadata",
] as const;

export const rbacPermission: z.ZodType<RbacPermission> = lazySchema(() =>
  strictObject({
      and_rules: strictObject({ rules: z.array(rbacPermission).min(1) }).optional(),
      or_rules: strictObject({ rules: z.array(rbacPermission).min(1) }).optional(),
      any: anyTrue.optional(),
      header: headerMatcher.optional(),
      url_path: pathMatcher.optional(),
      destination_ip: cidrRange.optional(),
      destination_port: uint32.max(65535).optional(),
      // envoy.type.v3.Int32Range: [start, end).
      destination_port_range: strictObject({ start: z.number().int().default(0), end: z.number().int().default(0) }).optional(),
      not_rule: rbacPermission.optional(),
      // The SNI: tls_inspector's, else the TLS handshake's (Envoy's connection.requestedServerName()).
      requested_server_name: stringMatcher.optional(),
      // Envoy's MetadataMatcher (filters/common/rbac/matchers.cc): the stream's dynamic metadata.
      metadata: metadataMatcher.optional(),
      sourced_metadata: sourcedMetadata.optional(),
      matcher: unsupportedField(NO_EXTENSIONS),
      uri_template: unsupportedField(NO_EXTENSIONS),
    })
    .transform((p, ctx): RbacPermission => {
      const key = oneOf(p, PERMISSION_RULES, ctx, !hasRefused(p, ["matcher", "uri_template"]));
      switch (key) {
        case "and_rules":
          return { type: "and", rules: p.and_rules!.rules };
        case "or_rules":
          return { type: "or", rules: p.or_rules!.rules };
        case "not_rule":
          return { type: "not", rule: p.not_rule! };
        case "header":
          return { type: "header", header: p.header! };
        case "url_path":
          return { type: "url_path", path: p.url_path! };
        case "destination_ip":
          return { type: "destination_ip", cidr: p.destination_ip! };
        case "destination_port":
          return { type: "destination_port", port: p.destination_port! };
        case "destination_port_range":
          return { type: "destination_port_range", start: p.destination_port_range!.start, end: p.destination_port_range!.end };
        case "requested_server_name":
          return { type: "requested_server_name", name: p.requested_server_name as StringMatcherConfig };
        case "metadata":
          return { type: "metadata", matcher: p.metadata! };
        case "sourced_metadata":
          return p.sourced_metadata!;
        case "any":
        case undefined:
          return { type: "any" };
      }
    }),
);

const PRINCIPAL_IDS = ["and_ids", "or_ids", "any", "header", "url_path", "direct_remote_ip", "remote_ip", "source_ip", "not_id", "authenticated", "metadata", "sourced_metadata"] as const;

export const rbacPrincipal: z.ZodType<RbacPrincipal> = lazySchema(() =>
  strictObject({
      and_ids: strictObject({ ids: z.array(rbacPrincipal).min(1) }).optional(),
      or_ids: strictObject({ ids: z.array(rbacPrincipal).min(1) }).optional(),
      any: anyTrue.optional(),
      header: headerMatcher.optional(),
      url_path: pathMatcher.optional(),
      direct_remote_ip: cidrRange.optional(),
      remote_ip: cidrRange.optional(),
      // Deprecated in Envoy for direct_remote_ip / remote_ip; it is the connection's peer.
      source_ip: cidrRange.optional(),
      not_id: rbacPrincipal.optional(),
      // envoy.config.rbac.v3.Principal.Authenticated: principal_name unset matches any TLS peer.
      authenticated: strictObject({ principal_name: stringMatcher.optional() }).optional(),
      // Envoy's MetadataMatcher (filters/common/rbac/matchers.cc): the stream's dynamic metadata.
      metadata: metadataMatcher.optional(),
      sourced_metadata: sourcedMetadata.optional(),
      filter_state: unsupportedField("no polyvoy filter stores filter state"),
      custom: unsupportedField(NO_EXTENSIONS),
    })
    .transform((p, ctx): RbacPrincipal => {
      const key = oneOf(p, PRINCIPAL_IDS, ctx, !hasRefused(p, ["filter_state", "custom"]));
      switch (key) {
        case "and_ids":
          return { type: "and", rules: p.and_ids!.ids };
        case "or_ids":
          return { type: "or", rules: p.or_ids!.ids };
        case "not_id":
          return { type: "not", rule: p.not_id! };
        case "header":
          return { type: "header", header: p.header! };
        case "url_path":
          return { type: "url_path", path: p.url_path! };
        case "direct_remote_ip":
        case "remote_ip":
        case "source_ip":
          return { type: key, cidr: p[key]! };
        case "authenticated":
          return { type: "authenticated", principalName: p.authenticated!.principal_name as StringMatcherConfig | undefined };
        case "metadata":
          return { type: "metadata", matcher: p.metadata! };
        case "sourced_metadata":
          return p.sourced_metadata!;
        case "any":
        case undefined:
          return { type: "any" };
      }
    }),
);

/** A refused field is set: its own error says why; "must set one of" would only add noise. */
function hasRefused(object: Record<string, unknown>, keys: readonly string[]): boolean {
  return keys.some((key) => object[key] !== undefined);
}

const rbacPolicy = lazySchema(() =>
  strictObject({
  permissions: z.array(rbacPermission).min(1),
  principals: z.array(rbacPrincipal).min(1),
  condition: unsupportedField("polyvoy has no CEL"),
  checked_condition: unsupportedField("polyvoy has no CEL"),
}));

/** envoy.config.rbac.v3.RBAC */
export const rbacRules = lazySchema(() =>
  strictObject({
    action: z.enum(["ALLOW", "DENY", "LOG"]).default("ALLOW"),
    policies: z.record(z.string(), rbacPolicy).default({}),
    audit_logging_options: unsupportedField("polyvoy has no RBAC audit loggers"),
  })
  .transform(
    (r): RbacRulesConfig => ({
      action: r.action,
      // Envoy's engine keeps policies in a std::map: evaluated, and reported, in name order.
      policies: Object.keys(r.policies)
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
        .map((name) => ({ name, permissions: r.policies[name]!.permissions, principals: r.policies[name]!.principals })),
    }),
  ));

/** The fields both RBAC filters take, besides the network filter's stat_prefix and enforcement_type. */
const rbacFields = {
  rules: rbacRules.optional(),
  rules_stat_prefix: lazySchema(() =>
  z.string()).default(""),
  matcher: unsupportedField("the matcher form of the network RBAC filter (xds.type.matcher.v3.Matcher): use rules"),
  shadow_rules: rbacRules.optional(),
  shadow_rules_stat_prefix: lazySchema(() =>
  z.string()).default(""),
  shadow_matcher: unsupportedField("the matcher form of the network RBAC filter (xds.type.matcher.v3.Matcher): use shadow_rules"),
  track_per_rule_stats: unsupportedField("no per-policy stats", (v) => v === false),
};

function rbacConfigOf(c: { rules?: RbacRulesConfig | undefined; rules_stat_prefix: string; shadow_rules?: RbacRulesConfig | undefined; shadow_rules_stat_prefix: string }): RbacConfig {
  return {
    ...(c.rules && { rules: c.rules }),
    rulesStatPrefix: c.rules_stat_prefix,
    ...(c.shadow_rules && { shadowRules: c.shadow_rules }),
    shadowRulesStatPrefix: c.shadow_rules_stat_prefix,
  };
}

/**
 * envoy.extensions.filters.http.rbac.v3.RBAC: `rules` or `matcher` (its matcher form,
 * rbac-matcher-schema.ts), and `shadow_rules` or `shadow_matcher`.
 */
export const rbacFilterConfig: z.ZodType<RbacConfig> = lazySchema(() =>
  strictObject({ ...rbacFields, matcher: rbacMatcher.optional(), shadow_matcher: rbacMatcher.optional() })
    .superRefine((c, ctx) => {
      // Envoy's createEngine / createShadowEngine use the matcher and ignore the rules with a
      // warning ("RBAC rules are ignored when matcher is configured"); polyvoy never ignores a field.
      if (c.rules && c.matcher) ctx.addIssue({ code: "custom", message: "must set only one of rules, matcher (Envoy would ignore rules)" });
      if (c.shadow_rules && c.shadow_matcher) ctx.addIssue({ code: "custom", message: "must set only one of shadow_rules, shadow_matcher (Envoy would ignore shadow_rules)" });
    })
    .transform((c): RbacConfig => ({ ...rbacConfigOf(c), ...(c.matcher && { matcher: c.matcher }), ...(c.shadow_matcher && { shadowMatcher: c.shadow_matcher }) })));

/**
 * envoy.extensions.filters.http.rbac.v3.RBACPerRoute: `rbac` replaces the filter's config
 * on the route; without it (or without its rules) the route is not enforced.
 */
export const rbacPerRouteConfig: z.ZodType<RbacConfig> = lazySchema(() =>
  strictObject({ rbac: rbacFilterConfig.optional() })
    .transform((c): RbacConfig => c.rbac ?? { rulesStatPrefix: "", shadowRulesStatPrefix: "" }));

/** envoy.extensions.filters.network.rbac.v3.RBAC */
export const networkRbacConfig: z.ZodType<NetworkRbacConfig> = lazySchema(() =>
  strictObject({
      ...rbacFields,
      stat_prefix: nonEmptyString,
      // ONE_TIME_ON_FIRST_BYTE (the default) decides on the first read; CONTINUOUS decides again on
      // every read, so a rule on metadata an earlier filter sets later (postgres_proxy's, mysql_proxy's
      // per query) still applies (rbac_filter.cc onData).
      enforcement_type: z.enum(["ONE_TIME_ON_FIRST_BYTE", "CONTINUOUS"]).default("ONE_TIME_ON_FIRST_BYTE"),
      // Envoy 1.31's (envoyproxy/envoy#33875), newer than the pinned protos: the wire tables
      // take it as field 8 (scripts/gen-envoy-wire.mjs NEWER_FIELDS).
      // No validation in Envoy's proto, and rbac_filter.cc delays only a positive duration: a
      // negative one closes at once, as 0 does.
      delay_deny: signedDurationMs.transform((ms) => Math.max(0, ms)).optional(),
    })
    .transform((c): NetworkRbacConfig => ({ ...rbacConfigOf(c), statPrefix: c.stat_prefix, continuous: c.enforcement_type === "CONTINUOUS", delayDenyMs: c.delay_deny ?? 0 })));
