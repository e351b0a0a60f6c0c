/**
 * envoy.extensions.filters.http.header_to_metadata.v3.Config: the header_to_metadata HTTP
 * filter's config (core/http/filters/header-to-metadata.ts), on the filter and per route,
 * with Envoy's checks (source/extensions/filters/http/header_to_metadata/
 * header_to_metadata_filter.cc, Rule::Rule and Config::Config).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, strictObject, stringEmpty } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { HeaderToMetadataConfig, HeaderToMetadataKeyValue, HeaderToMetadataRule } from "./bootstrap.ts";
import { headerName, replaceAllRegex } from "./proto-schema.ts";
import { REFUSED_VALUE } from "./unsupported-field.ts";
import { unsupportedValueMessage } from "./refusal.ts";

export const HEADER_TO_METADATA_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config";

/** Config.KeyValuePair */
const keyValuePair = lazySchema(() =>
  strictObject({
    metadata_namespace: stringEmpty,
    key: z.string().min(1),
    value: stringEmpty,
    regex_value_rewrite: strictObject({
      pattern: strictObject({ regex: replaceAllRegex, google_re2: strictObject({}).optional() }),
      substitution: z.string(),
    }).optional(),
    type: z.enum(["STRING", "NUMBER", "PROTOBUF_VALUE"]).default("STRING"),
    encode: z.enum(["NONE", "BASE64"]).default("NONE"),
  })
  .superRefine((p, ctx) => {
    if (p.type === "PROTOBUF_VALUE") {
      const detail = "supported: STRING, NUMBER (a serialized google.protobuf.Value is not decoded yet)";
      ctx.addIssue({ code: "custom", message: unsupportedValueMessage("PROTOBUF_VALUE", detail), params: { [REFUSED_VALUE]: detail }, path: ["type"] });
    }
  })
  .transform((p): HeaderToMetadataKeyValue => ({
    namespace: p.metadata_namespace,
    key: p.key,
    value: p.value,
    ...(p.regex_value_rewrite !== undefined && { regexRewrite: { pattern: p.regex_value_rewrite.pattern.regex, substitution: p.regex_value_rewrite.substitution } }),
    type: p.type === "NUMBER" ? "NUMBER" : "STRING",
    base64: p.encode === "BASE64",
  })));

/** Config.Rule */
const rule = lazySchema(() =>
  strictObject({
    header: headerName.optional(),
    cookie: headerName.optional(),
    on_header_present: keyValuePair.optional(),
    on_header_missing: keyValuePair.optional(),
    remove: boolFalse,
  })
  .superRefine((r, ctx) => {
    const header = r.header ?? "";
    const cookie = r.cookie ?? "";
    // Envoy's Rule::Rule, its exceptions' words.
    if (header !== "" && cookie !== "") ctx.addIssue({ code: "custom", message: "Cannot specify both header and cookie" });
    else if (header === "" && cookie === "") ctx.addIssue({ code: "custom", message: "One of Cookie or Header option needs to be specified" });
    else if (r.on_header_present === undefined && r.on_header_missing === undefined) {
      ctx.addIssue({ code: "custom", message: `header to metadata filter: rule for ${header !== "" ? `header '${header}'` : `cookie '${cookie}'`} has neither \`on_header_present\` nor \`on_header_missing\` set` });
    }
    if (r.on_header_present !== undefined && r.on_header_present.value !== "" && r.on_header_present.regexRewrite !== undefined) ctx.addIssue({ code: "custom", message: "Cannot specify both value and regex_value_rewrite", path: ["on_header_present"] });
    if (cookie !== "" && r.remove) ctx.addIssue({ code: "custom", message: "Cannot specify remove for cookie", path: ["remove"] });
    if (r.on_header_missing !== undefined && r.on_header_missing.value === "") ctx.addIssue({ code: "custom", message: "Cannot specify on_header_missing rule with an empty value", path: ["on_header_missing"] });
  })
  .transform((r): HeaderToMetadataRule => ({
    ...(r.header ? { header: r.header.toLowerCase() } : { cookie: r.cookie! }),
    ...(r.on_header_present !== undefined && { onPresent: r.on_header_present }),
    ...(r.on_header_missing !== undefined && { onMissing: r.on_header_missing }),
    remove: r.remove,
  })));

function config(perRoute: boolean) {
  return strictObject({
    request_rules: z.array(rule).default([]),
    response_rules: z.array(rule).default([]),
  })
  .superRefine((c, ctx) => {
    // Envoy's Config::Config: a per-route config without rules makes no sense.
    if (perRoute && c.request_rules.length === 0 && c.response_rules.length === 0) {
      ctx.addIssue({ code: "custom", message: "header_to_metadata_filter: Per filter configs must at least specify either request or response rules" });
    }
  })
  .transform((c): HeaderToMetadataConfig => ({ requestRules: c.request_rules, responseRules: c.response_rules }));
}

export const headerToMetadataConfig: z.ZodType<HeaderToMetadataConfig> = lazySchema(() => config(false));
export const headerToMetadataPerRouteConfig: z.ZodType<HeaderToMetadataConfig> = lazySchema(() => config(true));
