/**
 * envoy.extensions.filters.http.custom_response.v3.CustomResponse: the custom_response
 * HTTP filter's config and its per-route config (core/http/filters/custom-response.ts).
 * custom_response_matcher is an xds.type.matcher.v3.Matcher over the response — a
 * matcher_list of predicates, or a matcher_tree with an exact or prefix map — on the
 * status code, its class ("4xx"), a response header or whether it is a local reply; each action is a
 * LocalResponsePolicy or a RedirectPolicy (envoy.extensions.http.custom_response.*.v3).
 * What polyvoy does not evaluate (nested matchers, keep_matching, custom_match, other
 * inputs, modify_request_headers_action) is refused by name, never accepted and ignored.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, nonEmptyString, optionalBool, optionalString, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { CustomResponseConfig, CustomResponseInput, CustomResponseMatcherConfig, CustomResponsePolicyConfig, CustomResponsePredicate, LocalResponsePolicyConfig, RedirectPolicyConfig, HeaderValueOption, LocalReplyBodyFormat, RedirectAction, StringMatcherConfig } from "./bootstrap.ts";
import { stringMatcher } from "./matcher-schema.ts";
import { headerValue, oneOf } from "./proto-schema.ts";
import { predicateTree } from "./matcher-predicate-schema.ts";
import { unsupportedField } from "./unsupported-field.ts";
import { unsupportedNameMessage } from "./refusal.ts";
import { dataSource } from "./data-source-schema.ts";
import { bodyFormat } from "../access-log/access-log-schema.ts";
import { headerValueOption } from "./custom-headers-schema.ts";
import { parseAbsoluteUrl } from "../http/codec/absolute-url.ts";

export const CUSTOM_RESPONSE_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.custom_response.v3.CustomResponse";
const LOCAL_RESPONSE_POLICY_TYPE_URL = "type.googleapis.com/envoy.extensions.http.custom_response.local_response_policy.v3.LocalResponsePolicy";
const REDIRECT_POLICY_TYPE_URL = "type.googleapis.com/envoy.extensions.http.custom_response.redirect_policy.v3.RedirectPolicy";

export type { CustomResponseConfig, CustomResponseInput, CustomResponseMatcherConfig, CustomResponsePolicyConfig, CustomResponsePredicate, LocalResponsePolicyConfig, RedirectPolicyConfig } from "./bootstrap.ts";

/** Envoy's HttpResponseHeaderMatchInput.header_name (well_known_regex HTTP_HEADER_NAME, not strict). */
const headerName = lazySchema(() =>
  z.string().min(1).regex(/^[^\0\r\n]+$/, "not a valid HTTP header name"));

/** A TypedExtensionConfig's message by its "@type", its issues under typed_config. */
function typedExtension<T>(what: string, schemas: Record<string, z.ZodType<T>>) {
  return strictObject({ name: nonEmptyString, typed_config: z.looseObject({ "@type": z.string() }) })
    .transform((e, ctx): T => {
      const { "@type": typeUrl, ...fields } = e.typed_config;
      const schema = schemas[typeUrl];
      if (schema === undefined) {
        ctx.addIssue({ code: "custom", message: unsupportedNameMessage(what, typeUrl, Object.keys(schemas)), path: ["typed_config", "@type"] });
        return z.NEVER;
      }
      const parsed = schema.safeParse(fields, { reportInput: true });
      if (!parsed.success) {
        for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: ["typed_config", ...issue.path] });
        return z.NEVER;
      }
      return parsed.data;
    });
}

const noFields = (input: CustomResponseInput) => lazySchema(() => strictObject({}).transform(() => input));

const input = lazySchema(() =>
  typedExtension<CustomResponseInput>("custom response matcher input", {
    "type.googleapis.com/envoy.type.matcher.v3.HttpResponseStatusCodeMatchInput": noFields({ type: "status_code" }),
    "type.googleapis.com/envoy.type.matcher.v3.HttpResponseStatusCodeClassMatchInput": noFields({ type: "status_code_class" }),
    // Envoy 1.38's (api/envoy/type/matcher/v3/status_code_input.proto, envoyproxy/envoy#43838),
    // newer than the API polyvoy pins: an empty message, so taken here by its type URL alone.
    "type.googleapis.com/envoy.type.matcher.v3.HttpResponseLocalReplyMatchInput": noFields({ type: "local_reply" }),
    // Header maps are looked up by lower-case name (Envoy's LowerCaseString).
    "type.googleapis.com/envoy.type.matcher.v3.HttpResponseHeaderMatchInput": lazySchema(() =>
      strictObject({ header_name: headerName }).transform((h): CustomResponseInput => ({ type: "response_header", name: h.header_name.toLowerCase() }))),
  }));

const singlePredicate = lazySchema(() =>
  strictObject({
    input,
    value_match: stringMatcher.optional(),
    custom_match: unsupportedField("in custom_response matchers: use value_match"),
  })
  .transform((p, ctx): CustomResponsePredicate => {
    if (p.value_match === undefined) {
      if (p.custom_match === undefined) ctx.addIssue({ code: "custom", message: "must set value_match" });
      return z.NEVER;
    }
    return { type: "single", input: p.input, value: p.value_match as StringMatcherConfig };
  }));

const predicate: z.ZodType<CustomResponsePredicate> = predicateTree(singlePredicate) as z.ZodType<CustomResponsePredicate>;

const headersToAdd = lazySchema(() => z.array(headerValueOption).max(1000).default([]), "defaulted");

/**
 * LocalResponsePolicy.body_format: Envoy's policy takes only its format
 * (local_response_policy.cc: the reply is sent with sendLocalReply's own content-type), so a
 * content_type there would be accepted and ignored: refused by name.
 */
const policyBodyFormat = lazySchema(() =>
  z.looseObject({}).transform((raw, ctx) => {
    if (raw.content_type !== undefined && raw.content_type !== "") {
      ctx.addIssue({ code: "custom", message: "is not supported in a custom_response LocalResponsePolicy: Envoy ignores it there (the reply's content-type is the local reply's own)", path: ["content_type"] });
      return z.NEVER;
    }
    const parsed = bodyFormat.safeParse(raw, { reportInput: true });
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: [...issue.path] });
      return z.NEVER;
    }
    return parsed.data;
  }));

const localResponsePolicy = lazySchema(() =>
  strictObject({
    body: dataSource.optional(),
    body_format: policyBodyFormat.optional(),
    status_code: z.number().int().min(200).max(599).optional(),
    response_headers_to_add: headersToAdd,
  })
  .transform((p): CustomResponsePolicyConfig => {
    const policy: LocalResponsePolicyConfig = { type: "local_response", responseHeadersToAdd: p.response_headers_to_add };
    if (p.body !== undefined) policy.body = p.body;
    if (p.body_format !== undefined) policy.bodyFormat = p.body_format;
    if (p.status_code !== undefined) policy.statusCode = p.status_code;
    return policy;
  }));

/**
 * envoy.config.route.v3.RedirectAction as the redirect policy reads it (redirect_policy.cc,
 * createRedirectConfig): the new URL's scheme, host, port and path; prefix_rewrite and
 * regex_rewrite are errors in Envoy, and response_code (which it ignores: the redirect is
 * internal) is refused here in favour of the policy's status_code, unless it is the proto3
 * default MOVED_PERMANENTLY (0), which a config may spell out.
 */
const redirectAction = lazySchema(() =>
  strictObject({
    https_redirect: optionalBool,
    scheme_redirect: optionalString,
    host_redirect: headerValue.optional(),
    port_redirect: z.number().int().min(0).max(65535).optional(),
    path_redirect: headerValue.optional(),
    strip_query: boolFalse,
    prefix_rewrite: unsupportedField("for custom response (as in Envoy)"),
    regex_rewrite: unsupportedField("for custom response (as in Envoy)"),
    response_code: unsupportedField("for custom response: the redirect is internal; set the policy's status_code", (v) => v === 0 || v === "MOVED_PERMANENTLY"),
  })
  .transform((r, ctx): RedirectAction => {
    oneOf(r, ["https_redirect", "scheme_redirect"] as const, ctx, false);
    // Envoy: "#fragment is not supported for custom response".
    if (r.path_redirect?.includes("#")) {
      ctx.addIssue({ code: "custom", message: `#fragment is not supported for custom response: "${r.path_redirect}"`, path: ["path_redirect"] });
      return z.NEVER;
    }
    const action: RedirectAction = { responseCode: 302, stripQuery: r.strip_query, httpsRedirect: r.https_redirect ?? false };
    if (r.scheme_redirect) action.schemeRedirect = r.scheme_redirect;
    if (r.host_redirect) action.hostRedirect = r.host_redirect;
    if (r.port_redirect) action.portRedirect = r.port_redirect;
    if (r.path_redirect) action.pathRedirect = r.path_redirect;
    return action;
  }));

const redirectPolicy = lazySchema(() =>
  strictObject({
    uri: z.string().min(1).optional(),
    redirect_action: redirectAction.optional(),
    status_code: z.number().int().min(200).max(999).optional(),
    response_headers_to_add: headersToAdd,
    request_headers_to_add: headersToAdd,
    modify_request_headers_action: unsupportedField("polyvoy has no ModifyRequestHeadersAction extension: use request_headers_to_add"),
  })
  .transform((p, ctx): CustomResponsePolicyConfig => {
    const key = oneOf(p, ["uri", "redirect_action"] as const, ctx, true);
    if (key === undefined) return z.NEVER;
    // Envoy checks the uri when the config loads ("Invalid uri specified for redirection for custom response").
    if (key === "uri" && parseAbsoluteUrl(p.uri!) === undefined) {
      ctx.addIssue({ code: "custom", message: `invalid uri specified for redirection for custom response: "${p.uri}"`, path: ["uri"] });
      return z.NEVER;
    }
    const policy: RedirectPolicyConfig = { type: "redirect", responseHeadersToAdd: p.response_headers_to_add, requestHeadersToAdd: p.request_headers_to_add };
    if (key === "uri") policy.uri = p.uri!;
    else policy.redirectAction = p.redirect_action!;
    if (p.status_code !== undefined) policy.statusCode = p.status_code;
    return policy;
  }));

const action = lazySchema(() =>
  typedExtension<CustomResponsePolicyConfig>("custom response policy", {
    [LOCAL_RESPONSE_POLICY_TYPE_URL]: localResponsePolicy,
    [REDIRECT_POLICY_TYPE_URL]: redirectPolicy,
  }));

/** xds.type.matcher.v3.Matcher.OnMatch: an action (a nested matcher is not evaluated by polyvoy). */
const onMatch = lazySchema(() =>
  strictObject({
    action: action.optional(),
    matcher: unsupportedField("nested matchers in custom_response: give each case its own entry"),
    keep_matching: unsupportedField("in custom_response matchers", (v) => v === false),
  })
  .transform((o, ctx): CustomResponsePolicyConfig => {
    if (o.action === undefined) {
      if (o.matcher === undefined) ctx.addIssue({ code: "custom", message: "must set action" });
      return z.NEVER;
    }
    return o.action;
  }));

const matchMap = lazySchema(() =>
  strictObject({ map: z.record(z.string(), onMatch).refine((m) => Object.keys(m).length > 0, "must have at least one entry") })
  .transform((m) => new Map(Object.entries(m.map))));

const matcherTree = lazySchema(() =>
  strictObject({
    input,
    exact_match_map: matchMap.optional(),
    prefix_match_map: matchMap.optional(),
    custom_match: unsupportedField("in custom_response matchers: use exact_match_map or prefix_match_map"),
  })
  .transform((t, ctx): NonNullable<CustomResponseMatcherConfig["tree"]> => {
    const key = oneOf(t, ["exact_match_map", "prefix_match_map", "custom_match"] as const, ctx, true);
    if (key === "exact_match_map") return { input: t.input, exact: t.exact_match_map! };
    if (key === "prefix_match_map") return { input: t.input, prefix: t.prefix_match_map! };
    return z.NEVER;
  }));

/** xds.type.matcher.v3.Matcher for custom_response. */
const matcher = lazySchema(() =>
  strictObject({
    matcher_list: strictObject({ matchers: z.array(strictObject({ predicate, on_match: onMatch })).min(1) }).optional(),
    matcher_tree: matcherTree.optional(),
    on_no_match: onMatch.optional(),
  })
  .transform((m, ctx): CustomResponseMatcherConfig => {
    const key = oneOf(m, ["matcher_list", "matcher_tree"] as const, ctx, false);
    const config: CustomResponseMatcherConfig = {};
    if (key === "matcher_list") config.list = m.matcher_list!.matchers.map((f) => ({ predicate: f.predicate, action: f.on_match }));
    else if (key === "matcher_tree") config.tree = m.matcher_tree!;
    if (m.on_no_match !== undefined) config.onNoMatch = m.on_no_match;
    return config;
  }));

export const customResponseConfig: z.ZodType<CustomResponseConfig> = lazySchema(() =>
  strictObject({ custom_response_matcher: matcher.optional() })
  .transform((c): CustomResponseConfig => (c.custom_response_matcher === undefined ? {} : { matcher: c.custom_response_matcher })));
