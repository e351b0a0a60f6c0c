/**
 * Every typed_config is read as Envoy's loader reads it (proto-json.ts over Envoy's own
 * messages, envoy-fields.ts), not only the Bootstrap's own messages: enum names in any case
 * (protobuf's case_insensitive_enum_parsing, which Envoy's YAML loader turns on); and a number
 * of any numeric field given as a string, as protobuf's JSON mapping reads it.
 */
import { describe, expect, test } from "vitest";
import { envoyMessage } from "../../../core/config/envoy-messages.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { problemsOf } from "./config-problems.ts";
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

describe("numbers given as strings (protobuf's JSON mapping: a number or a string for every numeric field)", () => {
  const bootstrap = (adminPort: unknown, cluster: Record<string, unknown> = {}) =>
    JSON.stringify({
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      static_resources: {
        clusters: [
          {
            name: "c",
            connect_timeout: "0.25s",
            ...cluster,
            load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: "8080" } } } }] }] },
          },
        ],
      },
    });
  const clusterOf = (cluster: Record<string, unknown>) => loadBootstrap(bootstrap(9901, cluster), "json").clusters[0] as unknown as Record<string, unknown>;

  test("uint32 ports, in the admin and an endpoint; exponents; wrapped uint32s; doubles", () => {
    const config = loadBootstrap(bootstrap("9901"), "json");
    expect(config.admin).toMatchObject({ address: { port: 9901 } });
    expect(JSON.stringify(config.clusters[0])).toContain('"port":8080');
    expect(loadBootstrap(bootstrap("9.901e3"), "json").admin).toMatchObject({ address: { port: 9901 } });
    expect(JSON.stringify(clusterOf({ circuit_breakers: { thresholds: [{ max_requests: "12" }] } }))).toContain('"maxRequests":12');
    expect(JSON.stringify(clusterOf({ common_lb_config: { healthy_panic_threshold: { value: "2.5e1" } } }))).toContain('"healthyPanicThreshold":25');
    // A typed_config's numbers too.
    const bucket = { max_tokens: "10", tokens_per_fill: "5", fill_interval: "1s" };
    expect(() => load({ name: "envoy.filters.http.local_ratelimit", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit", stat_prefix: "l", token_bucket: bucket } })).not.toThrow();
  });

  test("a string that is no number of the field's kind, or out of its range, is refused naming the field", () => {
    const PORT = "admin.address.socket_address.port_value";
    expect(problemsOf(() => loadBootstrap(bootstrap("abc"), "json"))).toEqual([`${PORT}: "abc" is not a number (a uint32, given as a number or a string of one)`]);
    expect(problemsOf(() => loadBootstrap(bootstrap("99999999999"), "json"))).toEqual([`${PORT}: "99999999999" is out of range for a uint32`]);
    expect(problemsOf(() => loadBootstrap(bootstrap("-1"), "json"))).toEqual([`${PORT}: "-1" is out of range for a uint32`]);
    expect(problemsOf(() => loadBootstrap(bootstrap("70000"), "json"))).toEqual([`${PORT}: 70000 is out of range (must be <= 65535)`]);
    expect(problemsOf(() => loadBootstrap(bootstrap("80.5"), "json"))).toEqual([`${PORT}: "80.5" is not a number (a uint32, given as a number or a string of one)`]);
    expect(problemsOf(() => loadBootstrap(bootstrap(""), "json"))).toEqual([`${PORT}: "" is not a number (a uint32, given as a number or a string of one)`]);
    expect(problemsOf(() => clusterOf({ circuit_breakers: { thresholds: [{ max_requests: "12x" }] } }))).toEqual([
      `static_resources.clusters[0].circuit_breakers.thresholds[0].max_requests: "12x" is not a number (a uint32, given as a number or a string of one)`,
    ]);
  });
});
