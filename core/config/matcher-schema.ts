/**
 * Route match conditions on headers and query parameters: Envoy's HeaderMatcher,
 * QueryParameterMatcher and the StringMatcher they share.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, nonEmptyString, optionalBool, optionalNonEmptyString, optionalString, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { HeaderMatcherConfig, MetadataMatcherConfig, QueryParameterMatcherConfig, ValueMatchConfig, ValueMatcherConfig } from "./bootstrap.ts";
import { headerName, oneOf, regexMatcher } from "./proto-schema.ts";

/** envoy.type.matcher.v3.StringMatcher (no `custom` extension). */
export const stringMatcher = lazySchema(() =>
  strictObject({
    exact: optionalString,
    // Envoy: prefix, suffix and contains have min_len 1.
    prefix: optionalNonEmptyString,
    suffix: optionalNonEmptyString,
    contains: optionalNonEmptyString,
    safe_regex: regexMatcher.optional(),
    // "This has no effect for the safe_regex match."
    ignore_case: boolFalse,
  })
  .transform((m, ctx): ValueMatchConfig => {
    const key = oneOf(m, ["exact", "prefix", "suffix", "contains", "safe_regex"] as const, ctx, true);
    if (key === undefined) return z.NEVER;
    if (key === "safe_regex") return { type: "regex", regex: m.safe_regex! };
    return { type: key, value: m[key]!, ignoreCase: m.ignore_case };
  }));

const HEADER_SPECIFIERS = [
  "exact_match",
  "prefix_match",
  "suffix_match",
  "contains_match",
  "safe_regex_match",
  "present_match",
  "string_match",
] as const;

/** envoy.config.route.v3.HeaderMatcher (no range_match, no treat_missing_header_as_empty). */
const headerMatcherFields = lazySchema(() =>
  strictObject({
  name: headerName,
  // The deprecated direct forms (case-sensitive), still common in configs.
  exact_match: optionalString,
  prefix_match: optionalNonEmptyString,
  suffix_match: optionalNonEmptyString,
  contains_match: optionalNonEmptyString,
  safe_regex_match: regexMatcher.optional(),
  present_match: optionalBool,
  string_match: stringMatcher.optional(),
  invert_match: boolFalse,
}));

export const headerMatcher = lazySchema(() =>
  headerMatcherFields.transform((m, ctx): HeaderMatcherConfig => {
  const key = oneOf(m, HEADER_SPECIFIERS, ctx, false);
  return { name: m.name, invertMatch: m.invert_match, kind: headerKind(m, key) };
}));

function headerKind(m: z.output<typeof headerMatcherFields>, key: (typeof HEADER_SPECIFIERS)[number] | undefined): ValueMatchConfig {
  switch (key) {
    // Envoy: an empty exact_match matches any value ("value_.empty() || value == value_").
    case "exact_match":
      return m.exact_match === "" ? { type: "present", present: true } : { type: "exact", value: m.exact_match!, ignoreCase: false };
    case "prefix_match":
      return { type: "prefix", value: m.prefix_match!, ignoreCase: false };
    case "suffix_match":
      return { type: "suffix", value: m.suffix_match!, ignoreCase: false };
    case "contains_match":
      return { type: "contains", value: m.contains_match!, ignoreCase: false };
    case "safe_regex_match":
      return { type: "regex", regex: m.safe_regex_match! };
    case "present_match":
      return { type: "present", present: m.present_match! };
    case "string_match":
      return m.string_match!;
    // No specifier: Envoy matches on presence.
    case undefined:
      return { type: "present", present: true };
  }
}

/** envoy.config.route.v3.QueryParameterMatcher */
export const queryParameterMatcher = lazySchema(() =>
  strictObject({
    name: z.string().min(1).max(1024),
    string_match: stringMatcher.optional(),
    present_match: optionalBool,
  })
  .transform((m, ctx): QueryParameterMatcherConfig => {
    oneOf(m, ["string_match", "present_match"] as const, ctx, false);
    // No specifier: a presence check, as in Envoy.
    const kind = m.string_match ?? { type: "present", present: m.present_match ?? true };
    return { name: m.name, kind };
  }));

/**
 * envoy.type.matcher.v3.ValueMatcher. list_match (a ListMatcher: its one_of) and or_match
 * (an OrMatcher: two or more value_matchers) nest ValueMatchers (Envoy's
 * ValueMatcher::create, source/common/common/matchers.cc).
 */
const valueMatcher: z.ZodType<ValueMatcherConfig> = lazySchema(() =>
  strictObject({
    null_match: strictObject({}).optional(),
    double_match: strictObject({ exact: z.number().optional(), range: strictObject({ start: z.number(), end: z.number() }).optional() }).optional(),
    string_match: stringMatcher.optional(),
    bool_match: optionalBool,
    present_match: optionalBool,
    list_match: strictObject({ one_of: valueMatcher.optional() }).optional(),
    // proto3: an absent repeated field is an empty list, so `or_match: {}` fails min_items 2 (not "expected array").
    or_match: strictObject({ value_matchers: z.array(valueMatcher).min(2).prefault([]) }).optional(),
  })
  .transform((v, ctx): ValueMatcherConfig => {
    const key = oneOf(v, ["null_match", "double_match", "string_match", "bool_match", "present_match", "list_match", "or_match"] as const, ctx, true);
    switch (key) {
      case "null_match":
        return { type: "null" };
      case "bool_match":
        return { type: "bool", value: v.bool_match! };
      case "present_match":
        return { type: "present", present: v.present_match! };
      case "string_match":
        return { type: "string", match: v.string_match! as Exclude<ValueMatchConfig, { type: "present" }> };
      case "double_match": {
        const d = v.double_match!;
        if (d.exact !== undefined && d.range === undefined) return { type: "double_exact", value: d.exact };
        if (d.range !== undefined && d.exact === undefined) return { type: "double_range", start: d.range.start, end: d.range.end };
        ctx.addIssue({ code: "custom", message: "must set one of exact, range", path: ["double_match"] });
        return z.NEVER;
      }
      case "list_match": {
        // ListMatcher's match_pattern oneof is required (Envoy: validate.required).
        const oneOfMatcher = v.list_match!.one_of;
        if (oneOfMatcher === undefined) {
          ctx.addIssue({ code: "custom", message: "must set one_of", path: ["list_match"] });
          return z.NEVER;
        }
        return { type: "list", oneOf: oneOfMatcher };
      }
      case "or_match":
        return { type: "or", matchers: v.or_match!.value_matchers };
      default:
        return z.NEVER;
    }
  }));

/** envoy.type.matcher.v3.MetadataMatcher: the value at `path` in the `filter` namespace. */
export const metadataMatcher = lazySchema(() =>
  strictObject({
    filter: nonEmptyString,
    path: z.array(strictObject({ key: nonEmptyString })).min(1),
    value: valueMatcher,
    invert: boolFalse,
  })
  .transform((m): MetadataMatcherConfig => ({ filter: m.filter, path: m.path.map((p) => p.key), value: m.value, invert: m.invert })));
