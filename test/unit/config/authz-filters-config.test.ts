/** The typed_config and per-route config of rbac and ext_authz: Envoy's defaults, and what is refused by name. */
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import { HCM_FILTERS, ROUTE_PER_FILTER, filterConfig, load, problems } from "./http-filter-config.ts";
import { parseRetryGrpcOn, parseRetryOn } from "../../../core/config/retry-on.ts";
import { networkRbacConfig } from "../../../core/config/rbac-schema.ts";

const RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
const EXT_AUTHZ = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz";
const EXT_AUTHZ_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute";

const rbac = (fields: Record<string, unknown>) => ({ name: "envoy.filters.http.rbac", typed_config: { "@type": RBAC, ...fields } });
const extAuthz = (fields: Record<string, unknown>) => ({ name: "envoy.filters.http.ext_authz", typed_config: { "@type": EXT_AUTHZ, ...fields } });
const SERVICE = { server_uri: { uri: "http://authz:9000", cluster: "authz", timeout: "0.25s" } };

describe("rbac", () => {
  test("policies in name order, ALLOW by default, empty prefixes", () => {
    const config = filterConfig(rbac({ rules: { policies: { b: { permissions: [{ any: true }], principals: [{ any: true }] }, a: { permissions: [{ destination_port: 80 }], principals: [{ remote_ip: { address_prefix: "10.0.0.0", prefix_len: 8 } }] } } } }));
    expect(config).toEqual({
      rules: {
        action: "ALLOW",
        policies: [
          { name: "a", permissions: [{ type: "destination_port", port: 80 }], principals: [{ type: "remote_ip", cidr: { addressPrefix: "10.0.0.0", prefixLen: 8 } }] },
          { name: "b", permissions: [{ type: "any" }], principals: [{ type: "any" }] },
        ],
      },
      rulesStatPrefix: "",
      shadowRulesStatPrefix: "",
    });
  });

  test("what needs CEL or the matcher API is refused by name", () => {
    const P = `${HCM_FILTERS}.rules.policies.p`;
    expect(problems(rbac({ rules: { policies: { p: { permissions: [{ any: true }], principals: [{ any: true }], condition: { id: 1 } } } } }))).toEqual([`${P}: \`condition\` is an Envoy field that polyvoy does not support yet (polyvoy has no CEL)`]);
    expect(problems(rbac({ matcher: { matcher_tree: {} } }))[0]).toBe(`${HCM_FILTERS}.matcher: \`matcher_tree\` is an Envoy field that polyvoy does not support yet (in RBAC matchers: use matcher_list)`);
    expect(problems(rbac({ rules: {}, matcher: {} }))).toEqual([`${HCM_FILTERS}: must set only one of rules, matcher (Envoy would ignore rules)`]);
  });

  test("sourced_metadata: DYNAMIC (the default) is metadata, ROUTE the route's metadata; metadata_matcher is required", () => {
    const P = `${HCM_FILTERS}.rules.policies.p`;
    const matcher = { filter: "acme", path: [{ key: "tier" }], value: { string_match: { exact: "gold" } } };
    expect(filterConfig(rbac({ rules: { policies: { p: { permissions: [{ sourced_metadata: { metadata_matcher: matcher, metadata_source: "ROUTE" } }], principals: [{ sourced_metadata: { metadata_matcher: matcher } }] } } } }))).toMatchObject({
      rules: { policies: [{ name: "p", permissions: [{ type: "route_metadata", matcher: { filter: "acme", path: ["tier"] } }], principals: [{ type: "metadata", matcher: { filter: "acme" } }] }] },
    });
    expect(filterConfig(rbac({ rules: { policies: { p: { permissions: [{ sourced_metadata: { metadata_matcher: matcher, metadata_source: 1 } }], principals: [{ any: true }] } } } }))).toMatchObject({ rules: { policies: [{ permissions: [{ type: "route_metadata" }] }] } });
    expect(problems(rbac({ rules: { policies: { p: { permissions: [{ any: true }], principals: [{ sourced_metadata: {} }] } } } }))[0]).toContain(`${P}.principals[0].sourced_metadata.metadata_matcher`);
    expect(problems(rbac({ rules: { policies: { p: { permissions: [{ any: true }], principals: [{ sourced_metadata: { metadata_matcher: matcher, metadata_source: "CLUSTER" } }] } } } }))[0]).toContain(`${P}.principals[0].sourced_metadata.metadata_source`);
  });

  test("metadata: a MetadataMatcher on the dynamic metadata, in permissions and principals", () => {
    const P = `${HCM_FILTERS}.rules.policies.p`;
    const matcher = { filter: "envoy.filters.http.jwt_authn", path: [{ key: "payload" }, { key: "groups" }], value: { list_match: { one_of: { string_match: { exact: "admin" } } } } };
    expect(filterConfig(rbac({ rules: { policies: { p: { permissions: [{ metadata: matcher }], principals: [{ metadata: { ...matcher, invert: true } }] } } } }))).toMatchObject({
      rules: { policies: [{ name: "p", permissions: [{ type: "metadata", matcher: { filter: "envoy.filters.http.jwt_authn", path: ["payload", "groups"], value: { type: "list", oneOf: { type: "string" } }, invert: false } }], principals: [{ type: "metadata", matcher: { invert: true } }] }] },
    });
    expect(problems(rbac({ rules: { policies: { p: { permissions: [{ any: true }], principals: [{ metadata: { filter: "f", path: [], value: { bool_match: true } } }] } } } }))[0]).toMatch(/principals\[0\]\.metadata\.path: /);
    expect(problems(rbac({ rules: { policies: { p: { permissions: [{ metadata: { filter: "f", path: [{ key: "k" }], value: {} } }], principals: [{ any: true }] } } } }))).toEqual([
      `${P}.permissions[0].metadata.value: must set one of null_match, double_match, string_match, bool_match, present_match, list_match, or_match`,
    ]);
    // proto3: `or_match: {}` is an empty value_matchers, which fails min_items 2.
    expect(problems(rbac({ rules: { policies: { p: { permissions: [{ metadata: { filter: "f", path: [{ key: "k" }], value: { or_match: {} } } }], principals: [{ any: true }] } } } }))).toEqual([
      `${P}.permissions[0].metadata.value.or_match.value_matchers: must have at least 2 items`,
    ]);
  });

  test("bad addresses, two rules in one permission, an empty policy and any: false are errors", () => {
    const P = `${HCM_FILTERS}.rules.policies.p`;
    expect(problems(rbac({ rules: { policies: { p: { permissions: [{ any: true }], principals: [{ direct_remote_ip: { address_prefix: "10.0.0.300", prefix_len: 8 } }] } } } }))).toEqual([
      `${P}.principals[0].direct_remote_ip: "10.0.0.300" is not an IP address`,
    ]);
    expect(problems(rbac({ rules: { policies: { p: { permissions: [{ any: true, destination_port: 1 }], principals: [{ any: true }] } } } }))[0]).toMatch(/permissions\[0\]: must set only one of/);
    expect(problems(rbac({ rules: { policies: { p: { permissions: [], principals: [{ any: true }] } } } }))[0]).toMatch(/^.*\.permissions: /);
    expect(problems(rbac({ rules: { policies: { p: { permissions: [{ any: false }], principals: [{ any: true }] } } } }))[0]).toMatch(/permissions\[0\]\.any: false is an Envoy value that polyvoy does not support yet \(supported: true\)/);
  });
});

describe("ext_authz", () => {
  test("Envoy's defaults: 200 ms timeout, 403 on error, fail closed, no body", () => {
    expect(filterConfig(extAuthz({ http_service: { server_uri: { uri: "http://a", cluster: "authz" } } }))).toEqual({
      cluster: "authz",
      timeoutMs: 200,
      pathPrefix: "",
      allowedHeaders: [],
      metadataContextNamespaces: [],
      headersToAdd: [],
      allowedUpstreamHeaders: [],
      allowedUpstreamHeadersToAppend: [],
      allowedClientHeaders: [],
      allowedClientHeadersOnSuccess: [],
      dynamicMetadataFromHeaders: [],
      includePeerCertificate: false,
      includeTlsSession: false,
      failureModeAllow: false,
      failureModeAllowHeaderAdd: false,
      statusOnError: 403,
      clearRouteCache: false,
      statPrefix: "",
      denyAtDisable: false,
    });
    expect((filterConfig(extAuthz({ http_service: SERVICE, status_on_error: { code: "ServiceUnavailable" } })) as { statusOnError: number }).statusOnError).toBe(503);
  });

  test("grpc_service: envoy_grpc with its timeout (default 0.2s) and metadata; both services or neither refused; what would be ignored is refused too", () => {
    const grpc = filterConfig(extAuthz({ grpc_service: { envoy_grpc: { cluster_name: "authz", authority: "auth.local" }, initial_metadata: [{ key: "X-K", value: "v" }] }, with_request_body: { max_request_bytes: 10, pack_as_bytes: true } })) as Record<string, unknown>;
    expect(grpc).toMatchObject({ cluster: "authz", timeoutMs: 200, grpc: { clusterName: "authz", authority: "auth.local", initialMetadata: [["x-k", "v"]] }, withRequestBody: { maxRequestBytes: 10, allowPartialMessage: false, packAsBytes: true } });
    expect((filterConfig(extAuthz({ grpc_service: { envoy_grpc: { cluster_name: "authz" }, timeout: "1s" } })) as { timeoutMs: number }).timeoutMs).toBe(1000);
    expect(problems(extAuthz({ grpc_service: { google_grpc: { target_uri: "x", stat_prefix: "y" }, envoy_grpc: { cluster_name: "authz" } } }))).toEqual([`${HCM_FILTERS}.grpc_service: envoy_grpc and google_grpc are one of: set one`]);
    expect(problems(extAuthz({ grpc_service: { envoy_grpc: { cluster_name: "authz", retry_policy: {} } } }))[0]).toMatch(/envoy_grpc: `retry_policy` is an Envoy field that polyvoy does not support yet/);
    expect(problems(extAuthz({ grpc_service: { envoy_grpc: { cluster_name: "authx" } } }))).toEqual([`${HCM_FILTERS}.grpc_service.envoy_grpc.cluster_name: no cluster named "authx" is defined; did you mean "authz"?`]);
    expect(problems(extAuthz({}))).toEqual([`${HCM_FILTERS}: must set one of http_service, grpc_service`]);
    expect(problems(extAuthz({ http_service: SERVICE, grpc_service: { envoy_grpc: { cluster_name: "authz" } } }))).toEqual([`${HCM_FILTERS}: must set one of http_service, grpc_service`]);
    expect(problems(extAuthz({ http_service: { server_uri: { uri: "http://a", cluster: "authx" } } }))).toEqual([`${HCM_FILTERS}.http_service.server_uri.cluster: no cluster named "authx" is defined; did you mean "authz"?`]);
    // With CDS, an http_service's cluster may come later (Envoy looks it up at each check:
    // ext_authz_http_impl.cc); so may an envoy_grpc service's (config.cc skips the cluster check).
    const cds = { dynamic_resources: { cds_config: { path_config_source: { path: "/cds.json" }, resource_api_version: "V3" } } };
    expect(load(extAuthz({ http_service: { server_uri: { uri: "http://a", cluster: "from-cds", timeout: "1s" } } }), {}, cds).listeners).toHaveLength(1);
    expect(load(extAuthz({ grpc_service: { envoy_grpc: { cluster_name: "from-cds" } } }), {}, cds).listeners).toHaveLength(1);
    // Without CDS a missing cluster could only ever fail every check: still refused (stricter than Envoy).
    expect(problems(extAuthz({ grpc_service: { envoy_grpc: { cluster_name: "from-cds" } } }))).toEqual([`${HCM_FILTERS}.grpc_service.envoy_grpc.cluster_name: no cluster named "from-cds" is defined`]);
    // Envoy's HTTP client sends the CheckRequest's headers and body only: the certificate would go nowhere.
    expect(problems(extAuthz({ http_service: SERVICE, include_peer_certificate: true }))).toEqual([`${HCM_FILTERS}: \`include_peer_certificate\` is an Envoy field that polyvoy does not support yet (with http_service: an HTTP service is sent no certificate)`]);
    expect(filterConfig(extAuthz({ grpc_service: { envoy_grpc: { cluster_name: "authz" } }, include_peer_certificate: true }))).toMatchObject({ includePeerCertificate: true });
    expect(filterConfig(extAuthz({ grpc_service: { envoy_grpc: { cluster_name: "authz" } }, include_tls_session: true }))).toMatchObject({ includeTlsSession: true });
    expect(problems(extAuthz({ http_service: SERVICE, include_tls_session: true }))[0]).toMatch(/`include_tls_session` is an Envoy field that polyvoy does not support yet \(with http_service/);
    expect(filterConfig(extAuthz({ http_service: { ...SERVICE, authorization_response: { dynamic_metadata_from_headers: { patterns: [{ prefix: "x-user" }] } } } }))).toMatchObject({ dynamicMetadataFromHeaders: [{ type: "prefix", value: "x-user", ignoreCase: false }] });
    expect(problems(extAuthz({ http_service: SERVICE, with_request_body: { max_request_bytes: 10, pack_as_bytes: true } }))[0]).toMatch(/with_request_body: `pack_as_bytes` is an Envoy field that polyvoy does not support yet \(with http_service: it applies to grpc_service only\)/);
    // http_service.retry_policy: Envoy's HTTP client retries on 5xx,gateway-error,connect-failure,reset (its retry_on would be ignored: refused).
    expect(filterConfig(extAuthz({ http_service: { ...SERVICE, retry_policy: { num_retries: 2 } } }))).toMatchObject({ httpRetryPolicy: { numRetries: 2, retryOn: parseRetryOn("5xx,gateway-error,connect-failure,reset").bits, baseIntervalMs: 1000, maxIntervalMs: 10_000 } });
    expect(problems(extAuthz({ http_service: { ...SERVICE, retry_policy: { retry_on: "5xx" } } }))[0]).toMatch(/http_service.retry_policy: `retry_on` is an Envoy field that polyvoy does not support yet \(Envoy retries on 5xx,gateway-error,connect-failure,reset here/);
    // GrpcService.retry_policy: taken for the unary Check call, with no conditions unless retry_on names some (as Envoy's gRPC async client).
    expect(filterConfig(extAuthz({ grpc_service: { envoy_grpc: { cluster_name: "authz" }, retry_policy: { retry_on: "unavailable", num_retries: 3, retry_back_off: { base_interval: "0.1s" } } } }))).toMatchObject({ grpc: { retryPolicy: { retryOn: parseRetryGrpcOn("unavailable").bits, numRetries: 3, baseIntervalMs: 100, maxIntervalMs: 1000, perTryTimeoutMs: 1000 } } });
    expect(problems(extAuthz({ grpc_service: { envoy_grpc: { cluster_name: "authz" }, retry_policy: { retry_back_off: { base_interval: "2s", max_interval: "1s" } } } }))[0]).toMatch(/retry_policy.retry_back_off.max_interval: max_interval must be greater than or equal to the base_interval/);
    expect(problems(extAuthz({ http_service: { ...SERVICE, path_prefix: "check" } }))[0]).toMatch(/path_prefix: must start with "\/"/);
  });

  test("ExtAuthzPerRoute: disabled can only be true, and one of disabled or check_settings", () => {
    const filter = extAuthz({ http_service: SERVICE });
    const perRoute = (fields: object) => ({ typed_per_filter_config: { "envoy.filters.http.ext_authz": { "@type": EXT_AUTHZ_PER_ROUTE, ...fields } } });
    expect(problems(filter, perRoute({ disabled: false }))).toEqual([`${ROUTE_PER_FILTER}.envoy.filters.http.ext_authz.disabled: false is an Envoy value that polyvoy does not support yet (supported: true)`]);
    expect(problems(filter, perRoute({}))).toEqual([`${ROUTE_PER_FILTER}.envoy.filters.http.ext_authz: must set one of disabled, check_settings`]);
    expect(() => load(filter, perRoute({ check_settings: { context_extensions: { k: "v" } } }))).not.toThrow();
  });

  test("the shape of Envoy's ext_authz sandbox (HTTP service) loads: transport_api_version V3, a bare uri, an untyped router, DNS clusters", () => {
    const yaml = `
static_resources:
  listeners:
  - address: { socket_address: { address: 127.0.0.1, port_value: 8000 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_http
          route_config:
            virtual_hosts:
            - { name: app, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: app } }] }
          http_filters:
          - name: envoy.filters.http.ext_authz
            typed_config:
              "@type": ${EXT_AUTHZ}
              transport_api_version: V3
              http_service:
                server_uri: { uri: authz, cluster: authz, timeout: 0.250s }
                authorization_response: { allowed_upstream_headers: { patterns: [{ exact: x-current-user }] } }
          - name: envoy.filters.http.router
            typed_config: {}
  clusters:
  - { name: app, type: STRICT_DNS, load_assignment: { cluster_name: app, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: localhost, port_value: 8080 } } } }] }] } }
  - { name: authz, type: STRICT_DNS, load_assignment: { cluster_name: authz, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: localhost, port_value: 9002 } } } }] }] } }
`;
    expect(() => loadBootstrap(yaml, "yaml")).not.toThrow();
  });
});

describe("network rbac delay_deny", () => {
  const delayOf = (delayDeny: unknown): unknown => {
    const result = networkRbacConfig.safeParse({ stat_prefix: "r", delay_deny: delayDeny });
    return result.success ? result.data.delayDenyMs : result.error.issues.map((issue) => issue.message);
  };

  test("a negative delay is accepted as 0, closing at once (Envoy's proto has no validation; rbac_filter.cc delays only when it is > 0)", () => {
    expect(delayOf("-1s")).toBe(0);
    expect(delayOf("-0.5s")).toBe(0);
    // The proto3 object form (both parts negative), and the binary proto's rendering ("-1.5s").
    expect(delayOf({ seconds: -1, nanos: -500000000 })).toBe(0);
    expect(delayOf({ seconds: "-2" })).toBe(0);
    expect(delayOf("-1.5s")).toBe(0);
    expect(delayOf("2.5s")).toBe(2500);
    expect(delayOf("0s")).toBe(0);
  });

  test("what is no duration is still refused", () => {
    expect(delayOf("-1")).toEqual([expect.stringContaining(`invalid duration "-1": expected seconds with an "s" suffix`)]);
    expect(delayOf({ seconds: -1, nanos: 5 })).toEqual([expect.stringContaining("seconds must be a non-negative integer")]);
    expect(delayOf(5)).toEqual([expect.stringContaining("expected a duration")]);
  });
});
