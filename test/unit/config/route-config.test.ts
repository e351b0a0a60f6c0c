import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import type { HttpConnectionManagerConfig, NetworkFilterConfig, RouteConfig } from "../../../core/config/bootstrap.ts";
import { ConfigError } from "../../../core/config/errors.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
// Checks regexes synchronously: the RE2 engine loaded up front (core/config/regex-engine.ts).
import "../../../core/config/regex-engine-static.ts";

const HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": ROUTER_TYPE } };

const HCM = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";
const VHOST = `${HCM}.route_config.virtual_hosts[0]`;
const ROUTE = `${VHOST}.routes[0]`;

type Json = Record<string, unknown>;

/** A bootstrap whose one listener runs an HCM with `hcm` fields over a small valid base. */
function bootstrapWith(hcm: Json): string {
  return JSON.stringify({
    static_resources: {
      listeners: [
        {
          name: "http",
          address: { socket_address: { address: "127.0.0.1", port_value: 8000 } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: { "@type": HCM_TYPE, stat_prefix: "ingress_http", http_filters: [ROUTER], ...hcm },
                },
              ],
            },
          ],
        },
      ],
      clusters: [{ name: "a" }, { name: "b" }],
    },
  });
}

/** An HCM whose route_config has one virtual host ("*") with `routes`. */
function withRoutes(routes: Json[], vhost: Json = {}): string {
  return bootstrapWith({ route_config: { virtual_hosts: [{ name: "vh", domains: ["*"], routes, ...vhost }] } });
}

/** A route to cluster "a" for "/", with `fields` merged in. */
function route(fields: Json = {}): Json {
  return { match: { prefix: "/" }, route: { cluster: "a" }, ...fields };
}

function hcmOf(text: string, format: "json" | "yaml" = "json"): HttpConnectionManagerConfig {
  const filter = loadBootstrap(text, format).listeners[0]!.filterChains[0]!.filters[0]!;
  expect(filter.type).toBe("envoy.filters.network.http_connection_manager");
  return (filter as Extract<NetworkFilterConfig, { type: "envoy.filters.network.http_connection_manager" }>).config;
}

function firstRoute(text: string): RouteConfig {
  return hcmOf(text).routeConfig.virtualHosts[0]!.routes[0]!;
}

/** The problems a config is rejected with (fails the test if it loads). */
function problems(text: string, format: "json" | "yaml" = "json"): string[] {
  try {
    loadBootstrap(text, format);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("config loaded but should have been rejected");
}

const NO_MUTATIONS = { requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [] };

describe("HTTP connection manager: defaults and values", () => {
  test("a minimal HCM gets Envoy's defaults", () => {
    expect(hcmOf(withRoutes([route()]))).toEqual({
      statPrefix: "ingress_http",
      codecType: "AUTO",
      routeConfig: {
        name: "",
        virtualHosts: [
          {
            name: "vh",
            domains: ["*"],
            routes: [
              {
                name: "",
                match: { prefix: "/", caseSensitive: true, headers: [], queryParameters: [] },
                action: { type: "route", route: { cluster: "a", autoHostRewrite: false, timeoutMs: 15_000 } },
                ...NO_MUTATIONS,
              },
            ],
            ...NO_MUTATIONS,
          },
        ],
        ...NO_MUTATIONS,
        ignorePortInHostMatching: false,
        mostSpecificHeaderMutationsWins: false,
      },
      httpFilters: [{ name: "envoy.filters.http.router", type: "envoy.filters.http.router", config: {} }],
      useRemoteAddress: false,
      xffNumTrustedHops: 0,
      generateRequestId: true,
      serverName: "envoy",
      serverHeaderTransformation: "OVERWRITE",
      streamIdleTimeoutMs: 300_000,
      requestTimeoutMs: 0,
      requestHeadersTimeoutMs: 0,
      idleTimeoutMs: 3_600_000,
      maxHeadersCount: 100,
      maxRequestHeadersKb: 60,
      upgradeTypes: [],
    });
  });

  test("explicit values override the defaults", () => {
    const config = hcmOf(
      bootstrapWith({
        route_config: { name: "r", virtual_hosts: [], ignore_port_in_host_matching: true, most_specific_header_mutations_wins: true },
        codec_type: "HTTP1",
        use_remote_address: true,
        xff_num_trusted_hops: 2,
        generate_request_id: false,
        server_name: "polyvoy",
        server_header_transformation: "PASS_THROUGH",
        stream_idle_timeout: "0s",
        request_timeout: "30s",
        request_headers_timeout: "0.5s",
        common_http_protocol_options: { idle_timeout: "60s", max_headers_count: 50 },
        max_request_headers_kb: 96,
        upgrade_configs: [{ upgrade_type: "WebSocket" }, { upgrade_type: "CONNECT" }],
      }),
    );
    expect(config).toMatchObject({
      codecType: "HTTP1",
      routeConfig: { name: "r", virtualHosts: [], ignorePortInHostMatching: true, mostSpecificHeaderMutationsWins: true },
      useRemoteAddress: true,
      xffNumTrustedHops: 2,
      generateRequestId: false,
      serverName: "polyvoy",
      serverHeaderTransformation: "PASS_THROUGH",
      streamIdleTimeoutMs: 0,
      requestTimeoutMs: 30_000,
      requestHeadersTimeoutMs: 500,
      idleTimeoutMs: 60_000,
      maxHeadersCount: 50,
      maxRequestHeadersKb: 96,
      upgradeTypes: ["websocket", "connect"],
    });
  });

  test("an empty server_name means Envoy's default; a partial common_http_protocol_options keeps the other default", () => {
    const config = hcmOf(bootstrapWith({ route_config: {}, server_name: "", common_http_protocol_options: { max_headers_count: 7 } }));
    expect(config.serverName).toBe("envoy");
    expect(config.idleTimeoutMs).toBe(3_600_000);
    expect(config.maxHeadersCount).toBe(7);
  });

  test("camelCase keys (proto3 JSON names) are accepted throughout", () => {
    const text = bootstrapWith({
      routeConfig: {
        virtualHosts: [
          {
            name: "vh",
            domains: ["*"],
            routes: [{ match: { safeRegex: { regex: "/x.*" }, caseSensitive: false }, directResponse: { status: 204 } }],
            responseHeadersToAdd: [{ header: { key: "X-A", value: "1" }, appendAction: "ADD_IF_ABSENT" }],
          },
        ],
      },
      maxRequestHeadersKb: 10,
    });
    const config = hcmOf(text);
    expect(config.maxRequestHeadersKb).toBe(10);
    const vhost = config.routeConfig.virtualHosts[0]!;
    expect(vhost.routes[0]!.match).toMatchObject({ safeRegex: "/x.*", caseSensitive: false });
    expect(vhost.routes[0]!.action).toEqual({ type: "direct_response", directResponse: { status: 204 } });
    expect(vhost.responseHeadersToAdd).toEqual([{ key: "x-a", value: "1", appendAction: "ADD_IF_ABSENT", keepEmptyValue: false }]);
  });

  test("the router may be named without typed_config, as in Envoy's quick-start", () => {
    const config = hcmOf(bootstrapWith({ route_config: {}, http_filters: [{ name: "envoy.filters.http.router" }] }));
    expect(config.httpFilters).toEqual([{ name: "envoy.filters.http.router", type: "envoy.filters.http.router", config: {} }]);
  });

  test("a filter is identified by @type, its name is only a label", () => {
    const config = hcmOf(bootstrapWith({ route_config: {}, http_filters: [{ name: "my-router", typed_config: { "@type": ROUTER_TYPE } }] }));
    expect(config.httpFilters[0]).toEqual({ name: "my-router", type: "envoy.filters.http.router", config: {} });
  });
});

describe("routes: matches and actions", () => {
  test("path specifiers and case sensitivity", () => {
    const routes = hcmOf(
      withRoutes([
        route({ match: { path: "/exact", case_sensitive: false } }),
        route({ match: { safe_regex: { google_re2: {}, regex: "/users/[0-9]+" } } }),
        route({ match: { prefix: "" } }),
      ]),
    ).routeConfig.virtualHosts[0]!.routes;
    expect(routes.map((r) => r.match)).toEqual([
      { path: "/exact", caseSensitive: false, headers: [], queryParameters: [] },
      { safeRegex: "/users/[0-9]+", caseSensitive: true, headers: [], queryParameters: [] },
      { prefix: "", caseSensitive: true, headers: [], queryParameters: [] },
    ]);
  });

  test("header matchers: every form, names lowercased", () => {
    const headers = [
      { name: "X-Exact", exact_match: "a" },
      { name: "x-empty-exact", exact_match: "" },
      { name: "x-prefix", prefix_match: "p" },
      { name: "x-suffix", suffix_match: "s" },
      { name: "x-contains", contains_match: "c" },
      { name: "x-regex", safe_regex_match: { regex: "[0-9]+" } },
      { name: "x-present", present_match: false },
      { name: "x-bare" },
      { name: ":method", string_match: { exact: "GET", ignore_case: true }, invert_match: true },
      { name: "x-sm-prefix", string_match: { prefix: "v1" } },
      { name: "x-sm-regex", string_match: { safe_regex: { regex: "a|b" }, ignore_case: true } },
    ];
    expect(firstRoute(withRoutes([route({ match: { prefix: "/", headers } })])).match.headers).toEqual([
      { name: "x-exact", invertMatch: false, kind: { type: "exact", value: "a", ignoreCase: false } },
      // Envoy: an empty exact_match matches any value.
      { name: "x-empty-exact", invertMatch: false, kind: { type: "present", present: true } },
      { name: "x-prefix", invertMatch: false, kind: { type: "prefix", value: "p", ignoreCase: false } },
      { name: "x-suffix", invertMatch: false, kind: { type: "suffix", value: "s", ignoreCase: false } },
      { name: "x-contains", invertMatch: false, kind: { type: "contains", value: "c", ignoreCase: false } },
      { name: "x-regex", invertMatch: false, kind: { type: "regex", regex: "[0-9]+" } },
      { name: "x-present", invertMatch: false, kind: { type: "present", present: false } },
      { name: "x-bare", invertMatch: false, kind: { type: "present", present: true } },
      { name: ":method", invertMatch: true, kind: { type: "exact", value: "GET", ignoreCase: true } },
      { name: "x-sm-prefix", invertMatch: false, kind: { type: "prefix", value: "v1", ignoreCase: false } },
      { name: "x-sm-regex", invertMatch: false, kind: { type: "regex", regex: "a|b" } },
    ]);
  });

  test("query parameter matchers", () => {
    const query_parameters = [
      { name: "Debug", string_match: { exact: "1" } },
      { name: "flag", present_match: true },
      { name: "off", present_match: false },
      { name: "bare" },
    ];
    expect(firstRoute(withRoutes([route({ match: { prefix: "/", query_parameters } })])).match.queryParameters).toEqual([
      { name: "Debug", kind: { type: "exact", value: "1", ignoreCase: false } },
      { name: "flag", kind: { type: "present", present: true } },
      { name: "off", kind: { type: "present", present: false } },
      { name: "bare", kind: { type: "present", present: true } },
    ]);
  });

  test("forwarding: weighted clusters, rewrites, timeouts", () => {
    const routes = hcmOf(
      withRoutes([
        route({ route: { weighted_clusters: { clusters: [{ name: "a", weight: 3 }, { name: "b", weight: 1 }] }, timeout: "0s", idle_timeout: "5s" } }),
        route({ route: { cluster: "a", prefix_rewrite: "/v2/", host_rewrite_literal: "example.com" } }),
        route({ route: { cluster: "a", regex_rewrite: { pattern: { regex: "^/(.*)/x$" }, substitution: "/\\1" }, auto_host_rewrite: true } }),
      ]),
    ).routeConfig.virtualHosts[0]!.routes;
    expect(routes.map((r) => r.action)).toEqual([
      {
        type: "route",
        route: { weightedClusters: [{ name: "a", weight: 3 }, { name: "b", weight: 1 }], autoHostRewrite: false, timeoutMs: 0, idleTimeoutMs: 5000 },
      },
      { type: "route", route: { cluster: "a", prefixRewrite: "/v2/", hostRewriteLiteral: "example.com", autoHostRewrite: false, timeoutMs: 15_000 } },
      { type: "route", route: { cluster: "a", regexRewrite: { pattern: "^/(.*)/x$", substitution: "/\\1" }, autoHostRewrite: true, timeoutMs: 15_000 } },
    ]);
  });

  test("an empty prefix_rewrite, host_rewrite_literal, scheme_redirect, host_redirect or path_redirect is unset, as Envoy's .empty() tests (a control plane emitting unset fields sends them)", () => {
    const routes = hcmOf(
      withRoutes([
        route({ route: { cluster: "a", prefix_rewrite: "", host_rewrite_literal: "" } }),
        route({ route: { cluster: "a", prefix_rewrite: "", regex_rewrite: { pattern: { regex: "x" }, substitution: "y" } } }),
        { match: { prefix: "/r" }, redirect: { host_redirect: "", path_redirect: "", response_code: "FOUND" } },
        { match: { prefix: "/s" }, redirect: { host_redirect: "", prefix_rewrite: "" } },
        { match: { prefix: "/t" }, redirect: { scheme_redirect: "", response_code: "SEE_OTHER" } },
      ]),
    ).routeConfig.virtualHosts[0]!.routes;
    expect(routes.map((r) => r.action)).toEqual([
      { type: "route", route: { cluster: "a", autoHostRewrite: false, timeoutMs: 15_000 } },
      { type: "route", route: { cluster: "a", regexRewrite: { pattern: "x", substitution: "y" }, autoHostRewrite: false, timeoutMs: 15_000 } },
      { type: "redirect", redirect: { responseCode: 302, stripQuery: false, httpsRedirect: false } },
      { type: "redirect", redirect: { responseCode: 301, stripQuery: false, httpsRedirect: false } },
      { type: "redirect", redirect: { responseCode: 303, stripQuery: false, httpsRedirect: false } },
    ]);
  });

  test("redirects: response code names map to statuses, MOVED_PERMANENTLY by default", () => {
    const routes = hcmOf(
      withRoutes([
        { match: { prefix: "/a" }, redirect: { https_redirect: true } },
        { match: { prefix: "/b" }, redirect: { scheme_redirect: "https", host_redirect: "x.com", port_redirect: 8443, path_redirect: "/p", response_code: "FOUND", strip_query: true } },
        { match: { prefix: "/c" }, redirect: { prefix_rewrite: "/new", response_code: "PERMANENT_REDIRECT" } },
        { match: { prefix: "/d" }, redirect: { port_redirect: 0, response_code: "SEE_OTHER" } },
        { match: { prefix: "/e" }, redirect: { response_code: "TEMPORARY_REDIRECT" } },
      ]),
    ).routeConfig.virtualHosts[0]!.routes;
    expect(routes.map((r) => r.action)).toEqual([
      { type: "redirect", redirect: { responseCode: 301, stripQuery: false, httpsRedirect: true } },
      {
        type: "redirect",
        redirect: { schemeRedirect: "https", hostRedirect: "x.com", portRedirect: 8443, pathRedirect: "/p", responseCode: 302, stripQuery: true, httpsRedirect: false },
      },
      { type: "redirect", redirect: { prefixRewrite: "/new", responseCode: 308, stripQuery: false, httpsRedirect: false } },
      { type: "redirect", redirect: { responseCode: 303, stripQuery: false, httpsRedirect: false } },
      { type: "redirect", redirect: { responseCode: 307, stripQuery: false, httpsRedirect: false } },
    ]);
  });

  test("internal redirects: the policy with Envoy's defaults and ranges; the deprecated action becomes one", () => {
    const policy = (fields: Json) => (firstRoute(withRoutes([route({ route: { cluster: "a", ...fields } })])).action as { route: { internalRedirectPolicy?: unknown } }).route.internalRedirectPolicy;
    expect(policy({ internal_redirect_policy: {} })).toEqual({ maxInternalRedirects: 1, redirectResponseCodes: new Set([302]), allowCrossSchemeRedirect: false, predicates: [], responseHeadersToCopy: [] });
    // Codes other than 301, 302, 303, 307 and 308 (Envoy ignores them) are refused.
    expect(problems(withRoutes([route({ route: { cluster: "a", internal_redirect_policy: { redirect_response_codes: [301, 200] } } })]))).toEqual([
      expect.stringMatching(/internal_redirect_policy\.redirect_response_codes\[1\]: 200 is not a redirect code Envoy follows \(301, 302, 303, 307, 308\): it would be ignored$/),
    ]);
    expect(policy({ internal_redirect_policy: { max_internal_redirects: 3, redirect_response_codes: [301, 307], allow_cross_scheme_redirect: true } })).toMatchObject({
      maxInternalRedirects: 3,
      redirectResponseCodes: new Set([301, 307]),
      allowCrossSchemeRedirect: true,
    });
    expect(policy({ internal_redirect_action: "HANDLE_INTERNAL_REDIRECT", max_internal_redirects: 4 })).toMatchObject({ maxInternalRedirects: 4, redirectResponseCodes: new Set([302]) });
    expect(policy({ internal_redirect_action: "PASS_THROUGH_INTERNAL_REDIRECT" })).toBeUndefined();
    expect(policy({})).toBeUndefined();
  });

  test("direct responses: bodies become byte strings (inline_string as UTF-8, inline_bytes decoded)", () => {
    const routes = hcmOf(
      withRoutes([
        { match: { prefix: "/s" }, direct_response: { status: 200, body: { inline_string: "héllo\n" } } },
        { match: { prefix: "/b" }, direct_response: { status: 503, body: { inline_bytes: "AP8K" } } },
        { match: { prefix: "/u" }, direct_response: { status: 200, body: { inline_bytes: "_-8" } } },
        { match: { prefix: "/n" }, direct_response: { status: 404 } },
      ]),
    ).routeConfig.virtualHosts[0]!.routes;
    expect(routes.map((r) => r.action)).toEqual([
      { type: "direct_response", directResponse: { status: 200, body: "h\u00c3\u00a9llo\n" } },
      { type: "direct_response", directResponse: { status: 503, body: "\u0000\u00ff\n" } },
      { type: "direct_response", directResponse: { status: 200, body: "\u00ff\u00ef" } },
      { type: "direct_response", directResponse: { status: 404 } },
    ]);
  });

  test("header mutations at all three levels; append, %% and keep_empty_value", () => {
    const add = (key: string, extra: Json = {}) => ({ header: { key, value: `${key}-v` }, ...extra });
    const config = hcmOf(
      bootstrapWith({
        route_config: {
          request_headers_to_add: [add("X-Global")],
          response_headers_to_remove: ["Server"],
          virtual_hosts: [
            {
              name: "vh",
              domains: ["*"],
              request_headers_to_remove: ["X-Drop"],
              response_headers_to_add: [add("x-vh", { append: false })],
              routes: [
                route({
                  request_headers_to_add: [
                    add("x-appended", { append: true }),
                    { header: { key: "x-percent", value: "100%% sure" }, append_action: "OVERWRITE_IF_EXISTS" },
                    { header: { key: "x-empty" }, keep_empty_value: true },
                  ],
                }),
              ],
            },
          ],
        },
      }),
    );
    const routeConfig = config.routeConfig;
    const vhost = routeConfig.virtualHosts[0]!;
    expect(routeConfig.requestHeadersToAdd).toEqual([{ key: "x-global", value: "X-Global-v", appendAction: "APPEND_IF_EXISTS_OR_ADD", keepEmptyValue: false }]);
    expect(routeConfig.responseHeadersToRemove).toEqual(["server"]);
    expect(vhost.requestHeadersToRemove).toEqual(["x-drop"]);
    expect(vhost.responseHeadersToAdd).toEqual([{ key: "x-vh", value: "x-vh-v", appendAction: "OVERWRITE_IF_EXISTS_OR_ADD", keepEmptyValue: false }]);
    expect(vhost.routes[0]!.requestHeadersToAdd).toEqual([
      { key: "x-appended", value: "x-appended-v", appendAction: "APPEND_IF_EXISTS_OR_ADD", keepEmptyValue: false },
      { key: "x-percent", value: "100% sure", appendAction: "OVERWRITE_IF_EXISTS", keepEmptyValue: false },
      { key: "x-empty", value: "", appendAction: "APPEND_IF_EXISTS_OR_ADD", keepEmptyValue: true },
    ]);
  });
});

describe("hedge_policy (route_components.proto HedgePolicy)", () => {
  const NOT_IMPLEMENTED = "Envoy reads it but does not implement it (route_components.proto: not-implemented); only hedge_on_per_try_timeout hedges";

  test("on a route and on a virtual host; the not-implemented fields at their defaults are accepted", () => {
    const hedged = { hedge_on_per_try_timeout: true, initial_requests: 1, additional_request_chance: { numerator: 0 } };
    const vhost = hcmOf(withRoutes([route({ route: { cluster: "a", hedge_policy: hedged } })], { hedge_policy: {} })).routeConfig.virtualHosts[0]!;
    expect(vhost.hedgePolicy).toEqual({ hedgeOnPerTryTimeout: false });
    const action = vhost.routes[0]!.action;
    expect(action.type === "route" && action.route.hedgePolicy).toEqual({ hedgeOnPerTryTimeout: true });
  });

  test("initial_requests and additional_request_chance that would change something are refused by name; initial_requests 0 is invalid", () => {
    expect(problems(withRoutes([route({ route: { cluster: "a", hedge_policy: { initial_requests: 2 } } })]))).toEqual([
      `${ROUTE}.route.hedge_policy: \`initial_requests\` is an Envoy field that polyvoy does not support yet (${NOT_IMPLEMENTED})`,
    ]);
    expect(problems(withRoutes([route()], { hedge_policy: { additional_request_chance: { numerator: 5, denominator: "TEN_THOUSAND" } } }))).toEqual([
      `${VHOST}.hedge_policy: \`additional_request_chance\` is an Envoy field that polyvoy does not support yet (${NOT_IMPLEMENTED})`,
    ]);
    expect(problems(withRoutes([route({ route: { cluster: "a", hedge_policy: { initial_requests: 0 } } })]))).toHaveLength(1);
  });
});

describe("bad HCM configs give one-line problems", () => {
  test.each<[string, Json, string[]]>([
    ["HTTP/3 codec", { route_config: {}, codec_type: "HTTP3" }, [`${HCM}.codec_type: HTTP3 is an Envoy value that polyvoy does not support yet (supported: AUTO, HTTP1, HTTP2)`]],
    [
      "an HTTP/2 option the codec does not have",
      { route_config: {}, http2_protocol_options: { custom_settings_parameters: [] } },
      [`${HCM}.http2_protocol_options: \`custom_settings_parameters\` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)`],
    ],
    [
      "connection_keepalive without its timeout",
      { route_config: {}, http2_protocol_options: { connection_keepalive: { interval: "1s" } } },
      [`${HCM}.http2_protocol_options.connection_keepalive.timeout: missing required field`],
    ],
    [
      "connection_keepalive.connection_idle_interval on the HCM (Envoy's client codec alone reads it)",
      { route_config: {}, http2_protocol_options: { connection_keepalive: { timeout: "1s", connection_idle_interval: "5s" } } },
      [`${HCM}.http2_protocol_options.connection_keepalive.connection_idle_interval: connection_idle_interval applies to upstream (client) connections only, not to the HTTP connection manager's`],
    ],
    ["METADATA frames over HTTP/2", { route_config: {}, http2_protocol_options: { allow_metadata: true } }, [`${HCM}.http2_protocol_options.allow_metadata: true is an Envoy value that polyvoy does not support yet (supported: false)`]],
    ["an HTTP/2 window below 65535", { route_config: {}, http2_protocol_options: { initial_stream_window_size: 1000 } }, [`${HCM}.http2_protocol_options.initial_stream_window_size: 1000 is out of range (must be >= 65535)`]],
    [
      "RDS without its config source",
      { rds: { route_config_name: "r" } },
      [`${HCM}.rds.config_source: missing required field`],
    ],
    ["missing stat_prefix", { route_config: {}, stat_prefix: undefined }, [`${HCM}.stat_prefix: missing required field`]],
    ["no router", { route_config: {}, http_filters: [] }, [`${HCM}.http_filters: must contain envoy.filters.http.router (the filter that forwards requests)`]],
    [
      "no http_filters at all",
      { route_config: {}, http_filters: undefined },
      [`${HCM}.http_filters: must contain envoy.filters.http.router (the filter that forwards requests)`],
    ],
    [
      "router not last",
      { route_config: {}, http_filters: [{ name: "first", typed_config: { "@type": ROUTER_TYPE } }, ROUTER] },
      [`${HCM}.http_filters[0]: terminal filter named first of type envoy.filters.http.router must be the last filter in a http filter chain`],
    ],
    [
      "unsupported HTTP filter by name",
      { route_config: {}, http_filters: [{ name: "envoy.filters.http.tap" }, ROUTER] },
      [`${HCM}.http_filters[0]: envoy.filters.http.tap (the tap filter) is an Envoy HTTP filter that polyvoy does not have (polyvoy's: docs/configuration.md)`],
    ],
    [
      "unsupported HTTP filter by @type",
      { route_config: {}, http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.tap.v3.Tap" } }] },
      [`${HCM}.http_filters[0]: envoy.filters.http.tap (the tap filter) is an Envoy HTTP filter that polyvoy does not have (polyvoy's: docs/configuration.md)`],
    ],
    [
      "a Router option",
      { route_config: {}, http_filters: [{ ...ROUTER, typed_config: { "@type": ROUTER_TYPE, respect_expected_rq_timeout: true } }] },
      [`${HCM}.http_filters[0].typed_config: \`respect_expected_rq_timeout\` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)`],
    ],
    ["max_request_headers_kb too big", { route_config: {}, max_request_headers_kb: 8193 }, [`${HCM}.max_request_headers_kb: 8193 is out of range (must be <= 8192)`]],
    ["max_request_headers_kb zero", { route_config: {}, max_request_headers_kb: 0 }, [`${HCM}.max_request_headers_kb: 0 is out of range (must be >= 1)`]],
    ["max_headers_count zero", { route_config: {}, common_http_protocol_options: { max_headers_count: 0 } }, [`${HCM}.common_http_protocol_options.max_headers_count: 0 is out of range (must be >= 1)`]],
    [
      "the same upgrade twice",
      { route_config: {}, upgrade_configs: [{ upgrade_type: "websocket" }, { upgrade_type: "WEBSOCKET" }] },
      [`${HCM}.upgrade_configs[1].upgrade_type: multiple upgrade configs with the same name: "websocket"`],
    ],
    ["a bad timeout", { route_config: {}, stream_idle_timeout: "5m" }, [`${HCM}.stream_idle_timeout: invalid duration "5m": expected seconds with an "s" suffix and at most 9 fractional digits, e.g. "5s" or "0.25s"`]],
  ])("%s", (_, hcm, expected) => {
    expect(problems(bootstrapWith(hcm))).toEqual(expected);
  });

  test("the HCM is no longer an unsupported network filter", () => {
    expect(problems(bootstrapWith({ route_config: {}, codec_type: "HTTP3" }))).toEqual([
      `${HCM}.codec_type: HTTP3 is an Envoy value that polyvoy does not support yet (supported: AUTO, HTTP1, HTTP2)`,
    ]);
  });
});

describe("bad route configs give one-line problems", () => {
  test.each<[string, Json[], string[]]>([
    ["no action", [{ match: { prefix: "/" } }], [`${ROUTE}: must set one of route, redirect, direct_response`]],
    [
      "two actions",
      [{ match: { prefix: "/" }, route: { cluster: "a" }, direct_response: { status: 200 } }],
      [`${ROUTE}: must set only one of route, redirect, direct_response (got route, direct_response)`],
    ],
    ["no match", [{ route: { cluster: "a" } }], [`${ROUTE}.match: missing required field`]],
    ["no path specifier", [route({ match: { case_sensitive: false } })], [`${ROUTE}.match: must set one of prefix, path, safe_regex, connect_matcher, path_separated_prefix`]],
    ["two path specifiers", [route({ match: { prefix: "/", path: "/x" } })], [`${ROUTE}.match: must set only one of prefix, path, safe_regex, connect_matcher, path_separated_prefix (got prefix, path)`]],
    ["an unsupported path specifier", [route({ match: { path_match_policy: { name: "x" } } })], [`${ROUTE}.match: \`path_match_policy\` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)`]],
    [
      "connect_config on an upgrade other than CONNECT",
      [route({ route: { cluster: "a", upgrade_configs: [{ upgrade_type: "websocket", connect_config: {} }] } })],
      [`${ROUTE}.route.upgrade_configs[0].connect_config: Non-CONNECT upgrade type websocket has ConnectConfig`],
    ],
    [
      "connect_config.allow_post",
      [route({ route: { cluster: "a", upgrade_configs: [{ upgrade_type: "CONNECT", connect_config: { allow_post: true } }] } })],
      [`${ROUTE}.route.upgrade_configs[0].connect_config: \`allow_post\` is an Envoy field that polyvoy does not support yet (POST payloads tunnelled as raw TCP)`],
    ],
    [
      "an internal redirect predicate polyvoy does not know",
      [route({ route: { cluster: "a", internal_redirect_policy: { predicates: [{ name: "x", typed_config: { "@type": "type.googleapis.com/acme.Predicate" } }] } } })],
      [`${ROUTE}.route.internal_redirect_policy.predicates[0].typed_config.@type: "type.googleapis.com/acme.Predicate" is not an Envoy internal redirect predicate (supported: envoy.internal_redirect_predicates.{allow_listed_routes,previous_routes,safe_cross_scheme})`],
    ],
    [
      "Host in response_headers_to_copy",
      [route({ route: { cluster: "a", internal_redirect_policy: { response_headers_to_copy: ["Host"] } } })],
      [`${ROUTE}.route.internal_redirect_policy.response_headers_to_copy[0]: :-prefixed headers or Hosts may not be specified here.`],
    ],
    [
      "a regex with lookahead (not RE2)",
      [route({ match: { safe_regex: { regex: "/(?!admin).*" } } })],
      [`${ROUTE}.match.safe_regex.regex: invalid regex "/(?!admin).*": invalid perl operator: (?! (RE2 has no lookahead or lookbehind)`],
    ],
    [
      "a header regex with a backreference (not RE2)",
      [route({ match: { headers: [{ name: "x", safe_regex_match: { regex: "(a)\\1" } }], prefix: "/" } })],
      [`${ROUTE}.match.headers[0].safe_regex_match.regex: invalid regex "(a)\\\\1": invalid escape sequence: \\1 (RE2 has no backreferences)`],
    ],
    [
      "a query parameter regex with a possessive quantifier (not RE2)",
      [route({ match: { prefix: "/", query_parameters: [{ name: "q", string_match: { safe_regex: { regex: "a++" } } }] } })],
      [`${ROUTE}.match.query_parameters[0].string_match.safe_regex.regex: invalid regex "a++": bad repetition operator: ++ (RE2 has no atomic groups or possessive quantifiers)`],
    ],
    [
      "a regex_rewrite pattern with lookbehind (not RE2)",
      [route({ route: { cluster: "a", regex_rewrite: { pattern: { regex: "(?<=/)x" }, substitution: "y" } } })],
      [`${ROUTE}.route.regex_rewrite.pattern.regex: invalid regex "(?<=/)x": invalid perl operator: (?<= (RE2 has no lookahead or lookbehind)`],
    ],
    [
      "a repetition RE2 refuses",
      [route({ match: { safe_regex: { regex: "/a{1001}" } } })],
      [`${ROUTE}.match.safe_regex.regex: invalid regex "/a{1001}": invalid repetition size: {1001}`],
    ],
    ["an empty regex", [route({ match: { safe_regex: { regex: "" } } })], [`${ROUTE}.match.safe_regex.regex: must not be empty`]],
    ["no cluster", [route({ route: { timeout: "1s" } })], [`${ROUTE}.route: must set one of cluster, cluster_header, weighted_clusters, cluster_specifier_plugin, inline_cluster_specifier_plugin`]],
    [
      "cluster and weighted_clusters",
      [route({ route: { cluster: "a", weighted_clusters: { clusters: [{ name: "a", weight: 1 }] } } })],
      [`${ROUTE}.route: must set only one of cluster, cluster_header, weighted_clusters, cluster_specifier_plugin, inline_cluster_specifier_plugin (got cluster, weighted_clusters)`],
    ],
    ["weights summing to 0", [route({ route: { weighted_clusters: { clusters: [{ name: "a" }, { name: "b", weight: 0 }] } } })], [`${ROUTE}.route.weighted_clusters.clusters: the sum of weights must be greater than 0`]],
    [
      "two path rewrites",
      [route({ route: { cluster: "a", prefix_rewrite: "/", regex_rewrite: { pattern: { regex: "x" }, substitution: "y" } } })],
      [`${ROUTE}.route: must set only one of prefix_rewrite, regex_rewrite (got prefix_rewrite, regex_rewrite)`],
    ],
    ["a route option outside the subset", [route({ route: { cluster: "a", early_data_policy: {} } })], [`${ROUTE}.route: \`early_data_policy\` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)`]],
    ["cluster and cluster_header", [route({ route: { cluster: "b", cluster_header: "x-cluster" } })], [`${ROUTE}.route: must set only one of cluster, cluster_header, weighted_clusters, cluster_specifier_plugin, inline_cluster_specifier_plugin (got cluster, cluster_header)`]],
    [
      "two host rewrites",
      [route({ route: { cluster: "b", host_rewrite_literal: "a", host_rewrite_header: "x-host" } })],
      [`${ROUTE}.route: must set only one of host_rewrite_literal, auto_host_rewrite, host_rewrite_header, host_rewrite_path_regex (got host_rewrite_literal, host_rewrite_header)`],
    ],
    ["an unknown cluster_not_found_response_code", [route({ route: { cluster: "b", cluster_not_found_response_code: "BAD_GATEWAY" } })], [`${ROUTE}.route.cluster_not_found_response_code: "BAD_GATEWAY" is not a value of envoy.config.route.v3.RouteAction.ClusterNotFoundResponseCode (supported: SERVICE_UNAVAILABLE, NOT_FOUND, INTERNAL_SERVER_ERROR)`]],
    ["a decorator without operation", [route({ decorator: {} })], [`${ROUTE}.decorator.operation: missing required field`]],
    ["a runtime_fraction without default_value", [route({ match: { prefix: "/", runtime_fraction: { runtime_key: "k" } } })], [`${ROUTE}.match.runtime_fraction.default_value: missing required field`]],
    ["a status out of range", [{ match: { prefix: "/" }, direct_response: { status: 600 } }], [`${ROUTE}.direct_response.status: 600 is out of range (must be <= 599)`]],
    ["a body from a file", [{ match: { prefix: "/" }, direct_response: { status: 200, body: { filename: "/etc/motd" } } }], [`${ROUTE}.direct_response.body.filename: file /etc/motd is not read: the synchronous loadBootstrap reads no files (validateConfig does)`]],
    ["bad base64", [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_bytes: "a*b" } } }], [`${ROUTE}.direct_response.body.inline_bytes: invalid base64`]],
    [
      "a body over Envoy's 4 KiB limit",
      [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "x".repeat(4097) } } }],
      [`${ROUTE}.direct_response.body: response body size is 4097 bytes; maximum is 4096 (max_direct_response_body_size_bytes)`],
    ],
    ["an unknown redirect code", [{ match: { prefix: "/" }, redirect: { response_code: "MULTIPLE_CHOICES" } }], [`${ROUTE}.redirect.response_code: "MULTIPLE_CHOICES" is not a value of envoy.config.route.v3.RedirectAction.RedirectResponseCode (supported: MOVED_PERMANENTLY, FOUND, SEE_OTHER, TEMPORARY_REDIRECT, PERMANENT_REDIRECT)`]],
    [
      "https_redirect and scheme_redirect",
      [{ match: { prefix: "/" }, redirect: { https_redirect: true, scheme_redirect: "http" } }],
      [`${ROUTE}.redirect: must set only one of https_redirect, scheme_redirect (got https_redirect, scheme_redirect)`],
    ],
    [
      "a header matcher with two specifiers",
      [route({ match: { prefix: "/", headers: [{ name: "x", exact_match: "a", prefix_match: "b" }] } })],
      [`${ROUTE}.match.headers[0]: must set only one of exact_match, prefix_match, suffix_match, contains_match, safe_regex_match, present_match, string_match (got exact_match, prefix_match)`],
    ],
    ["range_match", [route({ match: { prefix: "/", headers: [{ name: "x", range_match: { start: 1, end: 2 } }] } })], [`${ROUTE}.match.headers[0]: \`range_match\` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)`]],
    ["an empty string_match", [route({ match: { prefix: "/", headers: [{ name: "x", string_match: {} }] } })], [`${ROUTE}.match.headers[0].string_match: must set one of exact, prefix, suffix, contains, safe_regex`]],
    ["an empty prefix_match", [route({ match: { prefix: "/", headers: [{ name: "x", prefix_match: "" }] } })], [`${ROUTE}.match.headers[0].prefix_match: must not be empty`]],
    ["a query parameter without a name", [route({ match: { prefix: "/", query_parameters: [{ present_match: true }] } })], [`${ROUTE}.match.query_parameters[0].name: missing required field`]],
    [
      "an unknown formatting command",
      [route({ request_headers_to_add: [{ header: { key: "x-client", value: "%UPSTREAM_PEER_ISSUER%" } }] })],
      [`${ROUTE}.request_headers_to_add[0].header.value: unknown command operator %UPSTREAM_PEER_ISSUER% at position 0`],
    ],
    [
      "a formatting command without its parameters",
      [route({ response_headers_to_add: [{ header: { key: "x-id", value: "id=%REQ%" } }] })],
      [`${ROUTE}.response_headers_to_add[0].header.value: REQ requires parameters, e.g. %REQ(X-HEADER)% (in %REQ%)`],
    ],
    [
      "a lone percent sign",
      [route({ request_headers_to_add: [{ header: { key: "x-ratio", value: "50%" } }] })],
      [`${ROUTE}.request_headers_to_add[0].header.value: no valid command operator at position 2 ("%…"); write "%%" for a literal "%"`],
    ],
    [
      "append and append_action together",
      [route({ request_headers_to_add: [{ header: { key: "x", value: "1" }, append: false, append_action: "ADD_IF_ABSENT" }] })],
      [`${ROUTE}.request_headers_to_add[0]: both append and append_action are set: use append_action only (append is deprecated)`],
    ],
    ["modifying host", [route({ request_headers_to_add: [{ header: { key: "Host", value: "x" } }] })], [`${ROUTE}.request_headers_to_add[0].header.key: :-prefixed or host headers may not be modified`]],
    ["modifying a pseudo-header", [route({ request_headers_to_add: [{ header: { key: ":path", value: "/x" } }] })], [`${ROUTE}.request_headers_to_add[0].header.key: :-prefixed or host headers may not be modified`]],
    ["removing a pseudo-header", [route({ response_headers_to_remove: [":status"] })], [`${ROUTE}.response_headers_to_remove[0]: :-prefixed or host headers may not be removed`]],
    ["a newline in a value", [route({ request_headers_to_add: [{ header: { key: "x", value: "a\r\nb: c" } }] })], [`${ROUTE}.request_headers_to_add[0].header.value: must not contain NUL, CR or LF`]],
    ["raw_value", [route({ request_headers_to_add: [{ header: { key: "x", raw_value: "YQ==" } }] })], [`${ROUTE}.request_headers_to_add[0].header: \`raw_value\` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)`]],
  ])("%s", (_, routes, expected) => {
    expect(problems(withRoutes(routes))).toEqual(expected);
  });

  test("a regex that JavaScript cannot compile names its path", () => {
    const [problem, ...rest] = problems(withRoutes([route({ match: { prefix: "/", headers: [{ name: "x", safe_regex_match: { regex: "(" } }] } })]));
    expect(rest).toEqual([]);
    expect(problem).toMatch(new RegExp(`^${ROUTE.replace(/[.[\]]/g, "\\$&")}\\.match\\.headers\\[0\\]\\.safe_regex_match\\.regex: invalid regex "\\(": \\S`));
  });

  test("virtual hosts: name and domains are required", () => {
    const text = bootstrapWith({ route_config: { virtual_hosts: [{ domains: ["*"] }, { name: "b", domains: [] }, { name: "c" }] } });
    expect(problems(text)).toEqual([
      `${HCM}.route_config.virtual_hosts[0].name: missing required field`,
      `${HCM}.route_config.virtual_hosts[1].domains: must have at least 1 item`,
      `${HCM}.route_config.virtual_hosts[2].domains: missing required field`,
    ]);
  });

  test("a domain may appear only once in a route configuration (case-insensitively), and * only once", () => {
    const text = bootstrapWith({
      route_config: {
        virtual_hosts: [
          { name: "one", domains: ["example.com", "*"] },
          { name: "two", domains: ["EXAMPLE.com", "*.example.com"] },
          { name: "three", domains: ["*.example.com", "*"] },
        ],
      },
    });
    expect(problems(text)).toEqual([
      `${HCM}.route_config.virtual_hosts[1].domains[0]: only unique values for domains are permitted: duplicate entry of domain "EXAMPLE.com" (already in virtual host "one")`,
      `${HCM}.route_config.virtual_hosts[2].domains[0]: only unique values for domains are permitted: duplicate entry of domain "*.example.com" (already in virtual host "two")`,
      `${HCM}.route_config.virtual_hosts[2].domains[1]: only a single wildcard domain "*" is permitted (already in virtual host "one")`,
    ]);
  });

  test("max_direct_response_body_size_bytes sets the body limit, counted in bytes", () => {
    const text = bootstrapWith({
      route_config: {
        max_direct_response_body_size_bytes: 5,
        virtual_hosts: [{ name: "vh", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "é1234" } } }] }],
      },
    });
    // "é" is two bytes in UTF-8.
    expect(problems(text)).toEqual([`${ROUTE}.direct_response.body: response body size is 6 bytes; maximum is 5 (max_direct_response_body_size_bytes)`]);
  });

  test("routes to clusters that are not defined", () => {
    const text = withRoutes([
      route({ route: { cluster: "missing" } }),
      route({ route: { weighted_clusters: { clusters: [{ name: "a", weight: 1 }, { name: "gone", weight: 1 }] } } }),
      { match: { prefix: "/" }, redirect: { host_redirect: "missing" } },
    ]);
    expect(problems(text)).toEqual([
      `${VHOST}.routes[0].route.cluster: no cluster named "missing" is defined`,
      `${VHOST}.routes[1].route.weighted_clusters.clusters[1].name: no cluster named "gone" is defined`,
    ]);
  });
});

describe("example configs", () => {
  test("examples/front-proxy.yaml loads", () => {
    const text = readFileSync(new URL("../../../examples/front-proxy.yaml", import.meta.url), "utf8");
    const bootstrap = loadBootstrap(text, "yaml");
    expect(bootstrap.listeners.map((l) => l.address)).toEqual([{ address: "127.0.0.1", port: 8000 }]);
    expect(bootstrap.clusters.map((c) => [c.name, c.endpoints.flatMap((l) => l.lbEndpoints.map((e) => e.address))])).toEqual([
      ["service1", [{ address: "127.0.0.1", port: 8081 }]],
      ["service2", [{ address: "127.0.0.1", port: 8082 }]],
    ]);
    const hcm = hcmOf(text, "yaml");
    expect(hcm).toMatchObject({ statPrefix: "ingress_http", codecType: "AUTO" });
    expect(hcm.routeConfig.name).toBe("local_route");
    const vhost = hcm.routeConfig.virtualHosts[0]!;
    expect([vhost.name, vhost.domains]).toEqual(["backend", ["*"]]);
    expect(vhost.routes.map((r) => [r.match.prefix, r.action])).toEqual([
      ["/service/1", { type: "route", route: { cluster: "service1", autoHostRewrite: false, timeoutMs: 15_000 } }],
      ["/service/2", { type: "route", route: { cluster: "service2", autoHostRewrite: false, timeoutMs: 15_000 } }],
      ["/", { type: "direct_response", directResponse: { status: 200, body: "polyvoy is running\n" } }],
    ]);
  });

  // The HTTP listener of Envoy's examples/front-proxy/envoy.yaml, verbatim, with STATIC clusters.
  const ENVOY_FRONT_PROXY = `
static_resources:
  listeners:
  - address:
      socket_address:
        address: 0.0.0.0
        port_value: 8080
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          codec_type: AUTO
          stat_prefix: ingress_http
          route_config:
            name: local_route
            virtual_hosts:
            - name: backend
              domains:
              - "*"
              routes:
              - match:
                  prefix: "/service/1"
                route:
                  cluster: service1
              - match:
                  prefix: "/service/2"
                route:
                  cluster: service2
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: service1
  - name: service2
`;

  test("Envoy's front-proxy example listener loads", () => {
    const hcm = hcmOf(ENVOY_FRONT_PROXY, "yaml");
    expect(hcm.routeConfig.virtualHosts[0]!.routes.map((r) => [r.match.prefix, r.action.type === "route" && r.action.route.cluster])).toEqual([
      ["/service/1", "service1"],
      ["/service/2", "service2"],
    ]);
  });

  // Envoy's quick-start config (docs/root/start/quick-start/_include/envoy-demo.yaml), verbatim.
  const ENVOY_DEMO = `
static_resources:

  listeners:
  - name: listener_0
    address:
      socket_address:
        address: 0.0.0.0
        port_value: 10000
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_http
          access_log:
          - name: envoy.access_loggers.stdout
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog
          http_filters:
          - name: envoy.filters.http.router
          route_config:
            name: local_route
            virtual_hosts:
            - name: local_service
              domains: ["*"]
              routes:
              - match:
                  prefix: "/"
                route:
                  host_rewrite_literal: www.envoyproxy.io
                  cluster: service_envoyproxy_io

  clusters:
  - name: service_envoyproxy_io
    connect_timeout: 30s
    type: LOGICAL_DNS
    # Comment out the following line to test on v6 networks
    dns_lookup_family: V4_ONLY
    load_assignment:
      cluster_name: service_envoyproxy_io
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address:
                address: www.envoyproxy.io
                port_value: 443
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        sni: www.envoyproxy.io
`;

  test("Envoy's quick-start config loads whole: its cluster speaks TLS to www.envoyproxy.io", () => {
    const bootstrap = loadBootstrap(ENVOY_DEMO, "yaml");
    expect(bootstrap.clusters[0]!.transportSocket).toMatchObject({ side: "upstream", sni: "www.envoyproxy.io" });
    // Without those, the rest of it is understood.
    const trimmed = ENVOY_DEMO.replace(/ {10}access_log:\n(.*\n){3}/, "").replace(/\n {2}clusters:[\s\S]*$/, "\n  clusters:\n  - name: service_envoyproxy_io\n");
    const hcm = hcmOf(trimmed, "yaml");
    expect(hcm.routeConfig.virtualHosts[0]!.routes[0]!.action).toEqual({
      type: "route",
      route: { cluster: "service_envoyproxy_io", hostRewriteLiteral: "www.envoyproxy.io", autoHostRewrite: false, timeoutMs: 15_000 },
    });
  });
});

describe("http2_protocol_options on the HCM", () => {
  test("allow_connect: true reaches the codec; false or unset leaves extended CONNECT off", () => {
    expect(hcmOf(bootstrapWith({ route_config: {}, http2_protocol_options: { allow_connect: true } })).http2?.allowConnect).toBe(true);
    expect(hcmOf(bootstrapWith({ route_config: {}, http2_protocol_options: { allow_connect: false } })).http2?.allowConnect).toBeUndefined();
    expect(hcmOf(bootstrapWith({ route_config: {} })).http2?.allowConnect).toBeUndefined();
  });

  test("the deprecated stream_error_on_invalid_http_messaging applies unless override_stream_error_on_invalid_http_message says otherwise", () => {
    const streamError = (options: Json) => hcmOf(bootstrapWith({ route_config: {}, http2_protocol_options: options })).http2?.streamErrorOnInvalidHttpMessage;
    expect(streamError({ stream_error_on_invalid_http_messaging: true })).toBe(true);
    expect(streamError({ stream_error_on_invalid_http_messaging: true, override_stream_error_on_invalid_http_message: false })).toBe(false);
    expect(streamError({})).toBeUndefined();
  });
});
