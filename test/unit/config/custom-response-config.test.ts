/** envoy.filters.http.custom_response's config: what it takes, and each refusal naming its field. */
import { describe, expect, test } from "vitest";
import { HCM_FILTERS, filterConfig, problems } from "./http-filter-config.ts";

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.custom_response.v3.CustomResponse";
const LOCAL = "type.googleapis.com/envoy.extensions.http.custom_response.local_response_policy.v3.LocalResponsePolicy";
const REDIRECT = "type.googleapis.com/envoy.extensions.http.custom_response.redirect_policy.v3.RedirectPolicy";
const CODE = "type.googleapis.com/envoy.type.matcher.v3.HttpResponseStatusCodeMatchInput";

const filter = (matcher: Record<string, unknown>) => ({ name: "envoy.filters.http.custom_response", typed_config: { "@type": TYPE, custom_response_matcher: matcher } });
const policy = (typeUrl: string, fields: Record<string, unknown>) => ({ action: { name: "p", typed_config: { "@type": typeUrl, ...fields } } });
const list = (onMatch: Record<string, unknown>, predicateInput: Record<string, unknown> = { name: "c", typed_config: { "@type": CODE } }) =>
  filter({ matcher_list: { matchers: [{ predicate: { single_predicate: { input: predicateInput, value_match: { exact: "401" } } }, on_match: onMatch }] } });
const MATCHERS = `${HCM_FILTERS}.custom_response_matcher.matcher_list.matchers[0]`;

describe("custom_response", () => {
  test("a local response policy and a redirect policy", () => {
    expect(filterConfig(list(policy(LOCAL, { status_code: 499, body: { inline_string: "no" } })))).toEqual({
      matcher: { list: [{ predicate: { type: "single", input: { type: "status_code" }, value: { type: "exact", value: "401", ignoreCase: false } }, action: { type: "local_response", statusCode: 499, body: "no", responseHeadersToAdd: [] } }] },
    });
    expect(filterConfig(list(policy(REDIRECT, { uri: "https://a.example/x" })))).toMatchObject({ matcher: { list: [{ action: { type: "redirect", uri: "https://a.example/x", requestHeadersToAdd: [], responseHeadersToAdd: [] } }] } });
  });

  test("HttpResponseLocalReplyMatchInput (Envoy 1.38, newer than the pinned protos) is an input of no fields", () => {
    const LOCAL_REPLY = "type.googleapis.com/envoy.type.matcher.v3.HttpResponseLocalReplyMatchInput";
    expect(filterConfig(list(policy(LOCAL, {}), { name: "local_reply", typed_config: { "@type": LOCAL_REPLY } }))).toMatchObject({
      matcher: { list: [{ predicate: { type: "single", input: { type: "local_reply" } } }] },
    });
    expect(problems(list(policy(LOCAL, {}), { name: "local_reply", typed_config: { "@type": LOCAL_REPLY, header_name: "a" } }))[0]).toContain(
      `${MATCHERS}.predicate.single_predicate.input.typed_config`,
    );
  });

  test("refusals name the field: another input, a nested matcher, keep_matching, modify_request_headers_action, prefix_rewrite, a bad uri, neither uri nor redirect_action", () => {
    expect(problems(list(policy(LOCAL, {}), { name: "h", typed_config: { "@type": "type.googleapis.com/envoy.type.matcher.v3.HttpRequestHeaderMatchInput", header_name: "a" } }))[0]).toContain(
      `${MATCHERS}.predicate.single_predicate.input.typed_config.@type: `,
    );
    expect(problems(list({ matcher: {} }))[0]).toContain(`${MATCHERS}.on_match: \`matcher\` is an Envoy field that polyvoy does not support yet`);
    expect(problems(list({ ...policy(LOCAL, {}), keep_matching: true }))[0]).toContain(`${MATCHERS}.on_match: \`keep_matching\``);
    expect(problems(list(policy(REDIRECT, { uri: "https://a/", modify_request_headers_action: { name: "m" } })))[0]).toContain("`modify_request_headers_action`");
    expect(problems(list(policy(REDIRECT, { redirect_action: { prefix_rewrite: "/x" } })))[0]).toContain("`prefix_rewrite`");
    expect(problems(list(policy(REDIRECT, { uri: "/relative" })))).toEqual([`${MATCHERS}.on_match.action.typed_config.uri: invalid uri specified for redirection for custom response: "/relative"`]);
    expect(problems(list(policy(REDIRECT, {})))).toEqual([`${MATCHERS}.on_match.action.typed_config: must set one of uri, redirect_action`]);
    expect(problems(list(policy(LOCAL, { status_code: 100 })))[0]).toContain(`${MATCHERS}.on_match.action.typed_config.status_code`);
  });

  test("body_format.content_type is refused (Envoy's LocalResponsePolicy ignores it); redirect_action.response_code only as its default", () => {
    expect(problems(list(policy(LOCAL, { body_format: { text_format: "x", content_type: "text/html" } })))).toEqual([
      `${MATCHERS}.on_match.action.typed_config.body_format.content_type: is not supported in a custom_response LocalResponsePolicy: Envoy ignores it there (the reply's content-type is the local reply's own)`,
    ]);
    expect(filterConfig(list(policy(LOCAL, { body_format: { text_format: "x" } })))).toMatchObject({ matcher: { list: [{ action: { bodyFormat: { format: { type: "text" } } } }] } });
    expect(filterConfig(list(policy(REDIRECT, { redirect_action: { path_redirect: "/e", response_code: "MOVED_PERMANENTLY" } })))).toMatchObject({ matcher: { list: [{ action: { type: "redirect" } }] } });
    expect(problems(list(policy(REDIRECT, { redirect_action: { path_redirect: "/e", response_code: "FOUND" } })))[0]).toContain("`response_code`");
  });
});
