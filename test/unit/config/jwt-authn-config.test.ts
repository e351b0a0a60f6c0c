/** jwt_authn's requirements as Envoy's verifier.cc builds them. */
import { beforeAll, expect, test } from "vitest";
import { loadRegexEngine } from "../../../core/config/regex-engine.ts";
import { filterConfig, HCM_FILTERS, problems } from "./http-filter-config.ts";

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";
// A P-256 public key (any valid one: nothing is verified here).
const JWKS = '{"keys":[{"kty":"EC","x":"ZXRqFOYfEB6WTTeEXVCWdp_goLJ8eYDEqz4T-6de4N0","y":"p-KuIPRm_tTJ5hYksRwa0C8aqOelajOl3xRu5sVbHok","crv":"P-256","alg":"ES256","kid":"k"}]}';
const PROVIDERS = { main: { issuer: "https://issuer.example", local_jwks: { inline_string: JWKS } } };

beforeAll(() => loadRegexEngine());

test("an empty requirement is allow-all (REQUIRES_TYPE_NOT_SET: AllowAllVerifierImpl), in a rule, the requirement map and a list", () => {
  const config = filterConfig({
    name: "envoy.filters.http.jwt_authn",
    typed_config: {
      "@type": TYPE,
      providers: PROVIDERS,
      requirement_map: { open: {} },
      rules: [
        { match: { prefix: "/open" }, requires: {} },
        { match: { prefix: "/" }, requires: { requires_any: { requirements: [{ provider_name: "main" }, {}] } } },
      ],
    },
  }) as { rules: { requires?: unknown }[]; requirementMap: Map<string, unknown> };
  expect(config.rules.map((rule) => rule.requires)).toEqual([{ type: "allowAll" }, { type: "any", requirements: [{ type: "provider", provider: "main" }, { type: "allowAll" }] }]);
  expect(config.requirementMap.get("open")).toEqual({ type: "allowAll" });
});

test("a rule's match is a RouteMatch: headers, query_parameters, case_sensitive, safe_regex and connect_matcher kept; what Envoy's matcher.cc skips refused by name", () => {
  const config = filterConfig({
    name: "envoy.filters.http.jwt_authn",
    typed_config: {
      "@type": TYPE,
      providers: PROVIDERS,
      rules: [
        { match: { prefix: "/api/", headers: [{ name: ":method", string_match: { exact: "OPTIONS" } }], query_parameters: [{ name: "a", present_match: true }], case_sensitive: false }, requires: {} },
        { match: { safe_regex: { regex: "/v[0-9]+/.*" } } },
        { match: { connect_matcher: {} } },
      ],
    },
  }) as { rules: { match: Record<string, unknown> }[] };
  expect(config.rules[0]!.match).toMatchObject({ prefix: "/api/", caseSensitive: false, headers: [{ name: ":method", invertMatch: false, kind: { type: "exact", value: "OPTIONS" } }], queryParameters: [{ name: "a" }] });
  expect(config.rules[1]!.match).toMatchObject({ safeRegex: "/v[0-9]+/.*", caseSensitive: true });
  expect(config.rules[2]!.match).toMatchObject({ connect: true });
  for (const field of [{ grpc: {} }, { runtime_fraction: { default_value: { numerator: 1 } } }, { dynamic_metadata: [{ filter: "f", path: [{ key: "k" }], value: { present_match: true } }] }]) {
    const found = problems({ name: "envoy.filters.http.jwt_authn", typed_config: { "@type": TYPE, providers: PROVIDERS, rules: [{ match: { prefix: "/", ...field } }] } });
    expect(found).toEqual([`${HCM_FILTERS}.rules[0].match: \`${Object.keys(field)[0]}\` is an Envoy field that polyvoy does not support yet (Envoy's jwt_authn rules do not evaluate it (jwt_authn/matcher.cc))`]);
  }
  expect(problems({ name: "envoy.filters.http.jwt_authn", typed_config: { "@type": TYPE, providers: PROVIDERS, rules: [{ match: { prefix: "/", path: "/x" } }] } })[0]).toContain("rules[0].match");
});
