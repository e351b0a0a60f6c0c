/** The RBAC filter's matcher form (core/config/rbac-matcher-schema.ts, core/rbac/rbac-matcher-engine.ts): Envoy's RoleBasedAccessControlMatcherEngineImpl. */
import { describe, expect, test } from "vitest";
import { rbacMatcher } from "../../../core/config/rbac-matcher-schema.ts";
import { RbacMatcherEngine } from "../../../core/rbac/rbac-matcher-engine.ts";
import type { RbacInput } from "../../../core/rbac/rbac-engine.ts";
import { RequestHeaders } from "../../../core/http/message.ts";
// Checks regexes synchronously: the RE2 engine loaded up front (core/config/regex-engine.ts).
import "../../../core/config/regex-engine-static.ts";

const HEADER_INPUT = "type.googleapis.com/envoy.type.matcher.v3.HttpRequestHeaderMatchInput";
const ACTION = "type.googleapis.com/envoy.config.rbac.v3.Action";

const header = (name: string, valueMatch: object) => ({ single_predicate: { input: { name: "h", typed_config: { "@type": HEADER_INPUT, header_name: name } }, value_match: valueMatch } });
const action = (name: string, verdict: string) => ({ action: { name: "action", typed_config: { "@type": ACTION, name, action: verdict } } });

function input(headers: [string, string][]): RbacInput {
  const request = new RequestHeaders();
  request.method = "GET";
  request.path = "/";
  request.authority = "example.com";
  for (const [name, value] of headers) request.add(name, value);
  return { headers: request, directRemoteAddress: undefined, connectionRemoteAddress: undefined, remoteIp: "", localAddress: undefined, tls: undefined, requestedServerName: "", dynamicMetadata: undefined, route: undefined };
}

function engine(config: object): RbacMatcherEngine {
  return new RbacMatcherEngine(rbacMatcher.parse(config));
}

describe("RbacMatcherEngine", () => {
  // Envoy's rbac example: deny what is not referred from the docs, allow the rest.
  const referer = engine({
    matcher_list: { matchers: [{ predicate: { not_matcher: header("Referer", { safe_regex: { google_re2: {}, regex: "https?://(www.)?envoyproxy.io/docs/envoy.*" } }) }, on_match: action("illegal-referer", "DENY") }] },
    on_no_match: action("all-pass", "ALLOW"),
  });

  test("the first matching predicate's action decides, its name the effective policy; else on_no_match", () => {
    expect(referer.evaluate(input([]))).toEqual({ allowed: false, logHint: undefined, effectivePolicyId: "illegal-referer" });
    expect(referer.evaluate(input([["referer", "https://evil.example/"]]))).toEqual({ allowed: false, logHint: undefined, effectivePolicyId: "illegal-referer" });
    expect(referer.evaluate(input([["referer", "https://www.envoyproxy.io/docs/envoy/latest/"]]))).toEqual({ allowed: true, logHint: undefined, effectivePolicyId: "all-pass" });
  });

  test("no matcher matching and no on_no_match: denied, no policy; and/or predicates; a header's values joined by ','", () => {
    const e = engine({
      matcher_list: {
        matchers: [
          { predicate: { and_matcher: { predicate: [header("x-a", { exact: "1" }), header("x-b", { prefix: "y" })] } }, on_match: action("both", "ALLOW") },
          { predicate: { or_matcher: { predicate: [header("x-c", { exact: "1,2" }), header("x-d", { exact: "z" })] } }, on_match: action("either", "LOG") },
        ],
      },
    });
    expect(e.evaluate(input([["x-a", "1"]]))).toEqual({ allowed: false, logHint: undefined, effectivePolicyId: "" });
    expect(e.evaluate(input([["x-a", "1"], ["x-b", "yes"]]))).toEqual({ allowed: true, logHint: false, effectivePolicyId: "both" });
    expect(e.evaluate(input([["x-c", "1"], ["x-c", "2"]]))).toEqual({ allowed: true, logHint: true, effectivePolicyId: "either" });
    expect(e.evaluate(input([["x-d", "z"]])).effectivePolicyId).toBe("either");
  });
});

describe("rbacMatcher config", () => {
  const problems = (config: object) => {
    const result = rbacMatcher.safeParse(config);
    return result.success ? [] : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  };

  test("header names are looked up in lower case; action defaults to ALLOW", () => {
    expect(rbacMatcher.parse({ matcher_list: { matchers: [{ predicate: header("X-Up", { exact: "a" }), on_match: { action: { name: "a", typed_config: { "@type": ACTION, name: "p" } } } }] } })).toEqual({
      matchers: [{ predicate: { type: "single", input: { type: "request_header", name: "x-up" }, value: { type: "exact", value: "a", ignoreCase: false } }, action: { name: "p", action: "ALLOW" } }],
    });
  });

  test("what polyvoy does not evaluate is refused by name", () => {
    expect(problems({ matcher_tree: {} })).toEqual(["matcher_tree: is an Envoy field that polyvoy does not support yet (in RBAC matchers: use matcher_list)"]);
    expect(problems({ matcher_list: { matchers: [{ predicate: header("a", { exact: "b" }), on_match: { matcher: {} } }] } })).toEqual([
      "matcher_list.matchers.0.on_match.matcher: is an Envoy field that polyvoy does not support yet (nested matchers in RBAC matchers: list the predicates in one matcher_list)",
    ]);
    expect(problems({ matcher_list: { matchers: [{ predicate: header("a", { exact: "b" }), on_match: { ...action("p", "DENY"), keep_matching: true } }] } })).toEqual([
      "matcher_list.matchers.0.on_match.keep_matching: is an Envoy field that polyvoy does not support yet (in RBAC matchers)",
    ]);
    const sourceIp = { single_predicate: { input: { name: "ip", typed_config: { "@type": "type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.SourceIPInput" } }, value_match: { exact: "1.2.3.4" } } };
    expect(problems({ matcher_list: { matchers: [{ predicate: sourceIp, on_match: action("p", "DENY") }] } })).toEqual([
      'matcher_list.matchers.0.predicate.single_predicate.input.typed_config.@type: type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.SourceIPInput is an Envoy RBAC matcher input that polyvoy does not support yet (supported: type.googleapis.com/envoy.type.matcher.v3.HttpRequestHeaderMatchInput)',
    ]);
    expect(problems({ matcher_list: { matchers: [{ predicate: { or_matcher: { predicate: [header("a", { exact: "b" })] } }, on_match: action("p", "DENY") }] } })[0]).toMatch(/^matcher_list\.matchers\.0\.predicate\.or_matcher\.predicate: /);
    expect(problems({ matcher_list: { matchers: [{ predicate: header("a", { exact: "b" }), on_match: { action: { name: "a", typed_config: { "@type": "type.googleapis.com/google.protobuf.Empty" } } } }] } })[0]).toMatch(/action must be type\.googleapis\.com\/envoy\.config\.rbac\.v3\.Action/);
  });
});
