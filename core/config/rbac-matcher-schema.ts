/**
 * The matcher form of the RBAC HTTP filter (`matcher` / `shadow_matcher`, an
 * xds.type.matcher.v3.Matcher whose actions are envoy.config.rbac.v3.Action), as Envoy's
 * RoleBasedAccessControlMatcherEngineImpl takes it (source/extensions/filters/common/rbac/
 * engine_impl.cc): a matcher_list of predicates over HttpRequestHeaderMatchInput, each with
 * an action, and on_no_match. What polyvoy does not evaluate (matcher_tree, nested matchers,
 * keep_matching, custom_match, other inputs) is refused by name, never accepted and ignored.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { nonEmptyString, strictObject, stringEmpty } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { RbacMatchInput, RbacMatcherAction, RbacMatcherConfig, RbacMatcherPredicate, StringMatcherConfig } from "./bootstrap.ts";
import { stringMatcher } from "./matcher-schema.ts";
import { predicateTree } from "./matcher-predicate-schema.ts";
import { unsupportedField } from "./unsupported-field.ts";
import { unsupportedNameMessage } from "./refusal.ts";

const HEADER_INPUT_TYPE_URL = "type.googleapis.com/envoy.type.matcher.v3.HttpRequestHeaderMatchInput";
const ACTION_TYPE_URL = "type.googleapis.com/envoy.config.rbac.v3.Action";

/** A header name as Envoy's HttpRequestHeaderMatchInput validates it (well_known_regex HTTP_HEADER_NAME, not strict: no NUL, CR or LF). */
const headerName = lazySchema(() =>
  z.string().min(1).regex(/^[^\0\r\n]+$/, "not a valid HTTP header name"));

/** SinglePredicate.input: a TypedExtensionConfig; the "@type" decides (the name is free, as in Envoy). */
const input = lazySchema(() =>
  strictObject({ name: nonEmptyString, typed_config: z.looseObject({ "@type": z.string() }) })
    .transform((i, ctx): RbacMatchInput => {
      const { "@type": typeUrl, ...fields } = i.typed_config;
      if (typeUrl !== HEADER_INPUT_TYPE_URL) {
        ctx.addIssue({ code: "custom", message: unsupportedNameMessage("RBAC matcher input", typeUrl, [HEADER_INPUT_TYPE_URL]), path: ["typed_config", "@type"] });
        return z.NEVER;
      }
      const parsed = strictObject({ header_name: headerName }).safeParse(fields, { reportInput: true });
      if (!parsed.success) {
        for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: ["typed_config", ...issue.path] });
        return z.NEVER;
      }
      // Header maps are looked up by lower-case name (Envoy's LowerCaseString).
      return { type: "request_header", name: parsed.data.header_name.toLowerCase() };
    }));

const singlePredicate = lazySchema(() =>
  strictObject({
      input,
      value_match: stringMatcher.optional(),
      custom_match: unsupportedField("in RBAC matchers: use value_match"),
    })
    .transform((p, ctx): RbacMatcherPredicate => {
      if (p.value_match === undefined) {
        if (p.custom_match === undefined) ctx.addIssue({ code: "custom", message: "must set value_match" });
        return z.NEVER;
      }
      return { type: "single", input: p.input, value: p.value_match as StringMatcherConfig };
    }));

export const rbacMatcherPredicate: z.ZodType<RbacMatcherPredicate> = predicateTree(singlePredicate) as z.ZodType<RbacMatcherPredicate>;

const action = lazySchema(() =>
  strictObject({ name: nonEmptyString, typed_config: z.looseObject({ "@type": z.string() }) })
    .transform((a, ctx): RbacMatcherAction => {
      const { "@type": typeUrl, ...fields } = a.typed_config;
      if (typeUrl !== ACTION_TYPE_URL) {
        ctx.addIssue({ code: "custom", message: `an RBAC matcher's action must be ${ACTION_TYPE_URL}, not "${typeUrl}"`, path: ["typed_config", "@type"] });
        return z.NEVER;
      }
      const parsed = strictObject({ name: stringEmpty, action: z.enum(["ALLOW", "DENY", "LOG"]).default("ALLOW") }).safeParse(fields, { reportInput: true });
      if (!parsed.success) {
        for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: ["typed_config", ...issue.path] });
        return z.NEVER;
      }
      return parsed.data;
    }));

/** xds.type.matcher.v3.Matcher.OnMatch: an action (a nested matcher is not evaluated by polyvoy). */
const onMatch = lazySchema(() =>
  strictObject({
      action: action.optional(),
      matcher: unsupportedField("nested matchers in RBAC matchers: list the predicates in one matcher_list"),
      keep_matching: unsupportedField("in RBAC matchers", (v) => v === false),
    })
    .transform((o, ctx): RbacMatcherAction => {
      if (o.action === undefined) {
        if (o.matcher === undefined) ctx.addIssue({ code: "custom", message: "must set action" });
        return z.NEVER;
      }
      return o.action;
    }));

/** xds.type.matcher.v3.Matcher for RBAC. */
export const rbacMatcher: z.ZodType<RbacMatcherConfig> = lazySchema(() =>
  strictObject({
      matcher_list: strictObject({ matchers: z.array(strictObject({ predicate: rbacMatcherPredicate, on_match: onMatch })).min(1) }).optional(),
      matcher_tree: unsupportedField("in RBAC matchers: use matcher_list"),
      on_no_match: onMatch.optional(),
    })
    .transform((m): RbacMatcherConfig => ({
      matchers: (m.matcher_list?.matchers ?? []).map((f) => ({ predicate: f.predicate, action: f.on_match })),
      ...(m.on_no_match && { onNoMatch: m.on_no_match }),
    })));
