/**
 * envoy.config.metrics.v3.StatsConfig: stats_tags (tag extraction for the Prometheus
 * output, core/admin/tag-extractor.ts), use_all_default_tags, and stats_matcher (which
 * stats are kept at all, core/stats/stats-matcher.ts). histogram_bucket_settings is
 * refused: every histogram has Envoy's default buckets.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, nonEmptyString, optionalBool, optionalString, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { StatsConfig, StatsMatcherConfig, TagSpecifierConfig } from "./bootstrap.ts";
import { stringMatcher } from "./matcher-schema.ts";
import { oneOf } from "./proto-schema.ts";
import { unsupportedField } from "./unsupported-field.ts";
import { DEFAULT_TAG_NAMES } from "../admin/tag-extractor.ts";

/** google.protobuf.BoolValue: a bool, or {value: bool}. */
const boolValue = lazySchema(() =>
  z.union([z.boolean(), strictObject({ value: boolFalse }).transform((w) => w.value)]));

/**
 * TagSpecifier. Envoy runs a user's regex with std::regex (ECMAScript syntax) as a search,
 * so it is compiled as a JavaScript RegExp here (stat names come from the config, never
 * from requests). Without regex or fixed_value, tag_name must name a default tag.
 */
const tagSpecifier = lazySchema(() =>
  strictObject({
    tag_name: nonEmptyString,
    regex: z.string().max(1024).optional(),
    fixed_value: optionalString,
  })
  .transform((t, ctx): TagSpecifierConfig => {
    oneOf(t, ["regex", "fixed_value"] as const, ctx, false);
    if (t.fixed_value !== undefined) return { tagName: t.tag_name, fixedValue: t.fixed_value };
    if (t.regex !== undefined && t.regex !== "") {
      try {
        new RegExp(t.regex, "d");
      } catch (err) {
        ctx.addIssue({ code: "custom", message: `invalid regex: ${err instanceof Error ? err.message : String(err)}`, path: ["regex"] });
      }
      return { tagName: t.tag_name, regex: t.regex };
    }
    if (!DEFAULT_TAG_NAMES.includes(t.tag_name)) {
      ctx.addIssue({ code: "custom", message: `No regex specified for tag specifier and no default regex for name: '${t.tag_name}'` });
    }
    return { tagName: t.tag_name };
  }));

/** envoy.type.matcher.v3.ListStringMatcher: at least one pattern. */
const listStringMatcher = lazySchema(() =>
  strictObject({ patterns: z.array(stringMatcher).min(1) }));

const statsMatcher = lazySchema(() =>
  strictObject({
    reject_all: optionalBool,
    exclusion_list: listStringMatcher.optional(),
    inclusion_list: listStringMatcher.optional(),
  })
  .transform((m, ctx): StatsMatcherConfig => {
    const key = oneOf(m, ["reject_all", "exclusion_list", "inclusion_list"] as const, ctx, true);
    // reject_all: false keeps every stat (StatsMatcherImpl), as an empty exclusion list would.
    if (key === "reject_all") return m.reject_all ? { type: "reject_all" } : { type: "exclusion_list", patterns: [] };
    if (key === "exclusion_list") return { type: "exclusion_list", patterns: m.exclusion_list!.patterns };
    return { type: "inclusion_list", patterns: m.inclusion_list?.patterns ?? [] };
  }));

export const statsConfig: z.ZodType<StatsConfig, unknown> = lazySchema(() =>
  strictObject({
    stats_tags: z.array(tagSpecifier).default([]),
    use_all_default_tags: boolValue.default(true),
    stats_matcher: statsMatcher.optional(),
    histogram_bucket_settings: unsupportedField("every histogram has Envoy's default buckets (0.5 ms to 1 h)", (v) => Array.isArray(v) && v.length === 0),
  })
  .transform((s): StatsConfig => ({
    statsTags: s.stats_tags,
    useAllDefaultTags: s.use_all_default_tags,
    ...(s.stats_matcher !== undefined && { statsMatcher: s.stats_matcher }),
  })));
