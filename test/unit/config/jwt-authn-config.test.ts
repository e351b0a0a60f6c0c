/** jwt_authn's requirements as Envoy's verifier.cc builds them. */
import { expect, test } from "vitest";
import { filterConfig } from "./http-filter-config.ts";

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";
// A P-256 public key (any valid one: nothing is verified here).
const JWKS = '{"keys":[{"kty":"EC","x":"ZXRqFOYfEB6WTTeEXVCWdp_goLJ8eYDEqz4T-6de4N0","y":"p-KuIPRm_tTJ5hYksRwa0C8aqOelajOl3xRu5sVbHok","crv":"P-256","alg":"ES256","kid":"k"}]}';
const PROVIDERS = { main: { issuer: "https://issuer.example", local_jwks: { inline_string: JWKS } } };

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
