/**
 * One line per problem: what only follows from a problem already reported is not reported
 * on top of it (docs/configuration.md, "How a config is read").
 */
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import { problemsOf } from "./config-problems.ts";
import { HCM_FILTERS, ROUTE_PER_FILTER, problems } from "./http-filter-config.ts";

const EXT_AUTHZ = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz";
const LOCAL_RATELIMIT = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
const BUCKET = { max_tokens: 10, tokens_per_fill: 10, fill_interval: "1s" };

describe("follow-on lines", () => {
  test("a YAML syntax error is one line, not one per token the parser then stumbles on", () => {
    const text = "admin:\n  address:\n    socket_address: {address: ${IP_BIND}, port_value: 9901, ipv4_compat: true}\nlayered_runtime:\n  layers:\n  - name: a\n    static_layer: {}\n";
    const lines = problemsOf(() => loadBootstrap(text, "yaml"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^config: YAML syntax error at line 3, column \d+: /);
  });

  test("a google_grpc field refused: one line, none asking for envoy_grpc", () => {
    expect(problems({ name: "envoy.filters.http.ext_authz", typed_config: { "@type": EXT_AUTHZ, grpc_service: { google_grpc: { target_uri: "authz:9000", stat_prefix: "a", channel_credentials: { google_default: {} } } } } })).toEqual([
      `${HCM_FILTERS}.grpc_service.google_grpc.channel_credentials: \`google_default\` is an Envoy field that polyvoy does not support yet (Google's default credentials (GCE metadata, ADC))`,
    ]);
    // Neither given: still said.
    expect(problems({ name: "envoy.filters.http.ext_authz", typed_config: { "@type": EXT_AUTHZ, grpc_service: {} } })).toEqual([`${HCM_FILTERS}.grpc_service: must set envoy_grpc or google_grpc`]);
  });

  test("a typo beside a missing oneof member: both said (the typo is no refused alternative)", () => {
    const JWT = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";
    const lines = problems({ name: "envoy.filters.http.jwt_authn", typed_config: { "@type": JWT, providers: { p: { issuer: "i", isuer: "x" } } } });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/`isuer` is not a field/);
    expect(lines[1]).toMatch(/must set exactly one of/);
  });

  test("two dynamic local rate limit descriptors alike (an empty value is an absent one, proto3): one duplicate line", () => {
    const filter = { name: "envoy.filters.http.local_ratelimit", typed_config: { "@type": LOCAL_RATELIMIT, stat_prefix: "l" } };
    const AT = `${ROUTE_PER_FILTER}.envoy.filters.http.local_ratelimit`;
    const twoEmpty = {
      typed_per_filter_config: {
        "envoy.filters.http.local_ratelimit": {
          "@type": LOCAL_RATELIMIT, stat_prefix: "l", token_bucket: BUCKET, max_dynamic_descriptors: 10,
          descriptors: [{ entries: [{ key: "user", value: "" }], token_bucket: BUCKET }, { entries: [{ key: "user" }], token_bucket: BUCKET }],
        },
      },
    };
    // Envoy's DynamicDescriptorMap::addDescriptor.
    expect(problems(filter, twoEmpty)).toEqual([`${AT}.descriptors[1]: duplicate descriptor in the local rate descriptor: user=`]);
  });
});
