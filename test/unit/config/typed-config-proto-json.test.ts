/**
 * Every typed_config is read as Envoy's loader reads it (proto-json.ts over Envoy's own
 * messages, envoy-fields.ts), not only the Bootstrap's own messages: enum names in any case
 * (protobuf's case_insensitive_enum_parsing, which Envoy's YAML loader turns on).
 */
import { describe, expect, test } from "vitest";
import { envoyMessage } from "../../../core/config/envoy-messages.ts";
import { filterConfig, load } from "./http-filter-config.ts";

const EXT_AUTHZ = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz";
const RATELIMIT = "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit";
const GRPC = { envoy_grpc: { cluster_name: "authz" } };

describe("enum names in a filter's typed_config", () => {
  test("ext_authz and ratelimit take transport_api_version: v3 as V3, as Envoy does", () => {
    expect(() => load({ name: "envoy.filters.http.ext_authz", typed_config: { "@type": EXT_AUTHZ, transport_api_version: "v3", grpc_service: GRPC } })).not.toThrow();
    expect(() => load({ name: "envoy.filters.http.ratelimit", typed_config: { "@type": RATELIMIT, domain: "d", rate_limit_service: { transport_api_version: "v3", grpc_service: GRPC } } })).not.toThrow();
  });

  test("the messages of the typed_configs polyvoy takes are known, as the Bootstrap's are", () => {
    for (const name of [
      "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
      "envoy.extensions.filters.http.ratelimit.v3.RateLimit",
      "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
      "envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor",
      "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
      "envoy.extensions.filters.http.compressor.v3.Compressor",
      "envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig",
      "envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash",
    ]) expect(envoyMessage(name), name).toBeDefined();
  });
});
