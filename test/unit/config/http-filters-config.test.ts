/** The typed_config and per-route config of local_ratelimit, fault, buffer and cors: Envoy's defaults and refusals. */
import { beforeAll, describe, expect, test } from "vitest";
import { loadRegexEngine } from "../../../core/config/regex-engine.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { httpProxyConfig } from "../../support/configs.ts";
import { HCM_FILTERS, ROUTE_PER_FILTER, filterConfig, load, problems } from "./http-filter-config.ts";

describe("local_ratelimit", () => {
  const TYPE = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
  const filter = (fields: Record<string, unknown>) => ({ name: "envoy.filters.http.local_ratelimit", typed_config: { "@type": TYPE, stat_prefix: "rl", ...fields } });

  test("Envoy's defaults: 429, off unless filter_enabled, tokens_per_fill 1", () => {
    expect(filterConfig(filter({ token_bucket: { max_tokens: 5, fill_interval: "1s" } }))).toEqual({
      statPrefix: "rl",
      status: 429,
      tokenBucket: { maxTokens: 5, tokensPerFill: 1, fillIntervalMs: 1000 },
      requestHeadersToAddWhenNotEnforced: [],
      responseHeadersToAdd: [],
      enableXRateLimitHeaders: false,
      rateLimitedAsResourceExhausted: false,
    });
    expect((filterConfig(filter({ status: { code: 302 } })) as { status: number }).status).toBe(429);
  });

  test("descriptors with their buckets, stage, vh_rate_limits and always_consume_default_token_bucket (default true); a duplicate descriptor refused", () => {
    const descriptor = { entries: [{ key: "k", value: "v" }], token_bucket: { max_tokens: 1, fill_interval: "1s" } };
    expect(filterConfig(filter({ descriptors: [descriptor], stage: 2, vh_rate_limits: "INCLUDE" }))).toMatchObject({
      descriptors: [{ entries: [["k", "v"]], tokenBucket: { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 1000 } }],
      stage: 2,
      vhRateLimits: "INCLUDE",
      alwaysConsumeDefaultTokenBucket: true,
    });
    expect(problems(filter({ descriptors: [descriptor, descriptor] }))).toEqual([`${HCM_FILTERS}.descriptors[1]: duplicate descriptor in the local rate descriptor: k=v`]);
  });

  test("the filter's own rate_limits (no stage: every one applies) and dynamic descriptors (an entry without a value; max_dynamic_descriptors, default 20)", () => {
    const dynamic = { entries: [{ key: "remote_address" }], token_bucket: { max_tokens: 1, fill_interval: "1s" } };
    const limits = [{ actions: [{ remote_address: {} }] }];
    expect(filterConfig(filter({ descriptors: [dynamic], rate_limits: limits }))).toMatchObject({
      descriptors: [{ entries: [["remote_address", ""]] }],
      maxDynamicDescriptors: 20,
      rateLimits: [{ stage: -1, actions: [{ type: "remote_address" }] }],
    });
    expect(filterConfig(filter({ descriptors: [dynamic], max_dynamic_descriptors: 20000 }))).toMatchObject({ maxDynamicDescriptors: 20000 });
    expect(problems(filter({ descriptors: [dynamic, dynamic] }))).toEqual([`${HCM_FILTERS}.descriptors[1]: duplicate descriptor in the local rate descriptor: remote_address=`]);
    expect(problems(filter({ rate_limits: [{ stage: 1, actions: limits[0]!.actions }] }))[0]).toContain("rate_limits[0].stage: stage is not supported in the filter's rate_limits");
  });

  test("refusals name the field: a fill_interval under 50 ms, a per-route config without token_bucket, stat_prefix", () => {
    expect(problems(filter({ token_bucket: { max_tokens: 1, fill_interval: "0.01s" } }))).toEqual([
      `${HCM_FILTERS}.token_bucket.fill_interval: local rate limit token bucket fill timer must be >= 50ms`,
    ]);
    // Per-connection buckets are supported; sharing the limit across the local cluster is not.
    expect(filterConfig(filter({ local_rate_limit_per_downstream_connection: true }))).toMatchObject({ perDownstreamConnection: true });
    expect(problems(filter({ local_cluster_rate_limit: {} }))[0]).toContain("typed_config: `local_cluster_rate_limit` is an Envoy field that polyvoy does not support yet");
    expect(problems({ name: "envoy.filters.http.local_ratelimit", typed_config: { "@type": TYPE } })).toEqual([`${HCM_FILTERS}.stat_prefix: missing required field`]);
    expect(problems(filter({}), { typed_per_filter_config: { "envoy.filters.http.local_ratelimit": { "@type": TYPE, stat_prefix: "r" } } })).toEqual([
      `${ROUTE_PER_FILTER}.envoy.filters.http.local_ratelimit.token_bucket: local rate limit token bucket must be set for per filter configs`,
    ]);
  });
});

describe("fault", () => {
  const TYPE = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";
  const filter = (fields: Record<string, unknown>) => ({ name: "envoy.filters.http.fault", typed_config: { "@type": TYPE, ...fields } });

  test("Envoy's defaults: percentages 0 %, no limit on active faults", () => {
    expect(filterConfig(filter({ abort: { http_status: 503 }, delay: { header_delay: {} } }))).toEqual({
      abort: { httpStatus: 503, percentage: { numerator: 0, denominator: 100 } },
      delay: { percentage: { numerator: 0, denominator: 100 } },
      upstreamCluster: "",
      downstreamNodes: [],
      headers: [],
      disableDownstreamClusterStats: false,
      runtimeKeys: {
        delayPercent: "fault.http.delay.fixed_delay_percent",
        abortPercent: "fault.http.abort.abort_percent",
        delayDuration: "fault.http.delay.fixed_duration_ms",
        abortHttpStatus: "fault.http.abort.http_status",
        abortGrpcStatus: "fault.http.abort.grpc_status",
        maxActiveFaults: "fault.http.max_active_faults",
      },
    });
  });

  test("refusals name the field: response_rate_limit, two error types, a status out of [200, 600); grpc_status is accepted", () => {
    expect(() => load(filter({ abort: { grpc_status: 14, percentage: { numerator: 100 } } }))).not.toThrow();
    expect(problems(filter({ abort: { grpc_status: 14, http_status: 503 } }))).toEqual([
      `${HCM_FILTERS}.abort: must set only one of http_status, grpc_status, header_abort (got http_status, grpc_status)`,
    ]);
    expect(problems(filter({ response_rate_limit: { fixed_limit: { limit_kbps: 1 } } }))[0]).toContain("typed_config: `response_rate_limit` is an Envoy field that polyvoy does not support yet (no response bandwidth limit)");
    expect(problems(filter({ abort: { http_status: 503, header_abort: {} } }))).toEqual([
      `${HCM_FILTERS}.abort: must set only one of http_status, grpc_status, header_abort (got http_status, header_abort)`,
    ]);
    expect(problems(filter({ abort: { http_status: 600 } }))).toEqual([`${HCM_FILTERS}.abort.http_status: 600 is out of range (must be <= 599)`]);
    expect(problems(filter({ delay: { fixed_delay: "0s" } }))).toEqual([`${HCM_FILTERS}.delay.fixed_delay: must be > 0`]);
  });
});

describe("buffer", () => {
  const TYPE = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer";
  const PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute";
  const filter = (fields: Record<string, unknown>) => ({ name: "envoy.filters.http.buffer", typed_config: { "@type": TYPE, ...fields } });

  test("max_request_bytes is required and > 0", () => {
    expect(filterConfig(filter({ max_request_bytes: 1024 }))).toEqual({ disabled: false, maxRequestBytes: 1024 });
    expect(problems(filter({}))).toEqual([`${HCM_FILTERS}.max_request_bytes: missing required field`]);
    expect(problems(filter({ max_request_bytes: 0 }))).toEqual([`${HCM_FILTERS}.max_request_bytes: 0 is out of range (must be >= 1)`]);
    expect(problems(filter({ max_request_bytes: 1, max_request_time: "1s" }))).toEqual([`${HCM_FILTERS}: \`max_request_time\` is not a field of envoy.extensions.filters.http.buffer.v3.Buffer`]);
  });

  test("BufferPerRoute: one of disabled (true) or buffer", () => {
    const perRoute = (fields: Record<string, unknown>) => problems(filter({ max_request_bytes: 1 }), { typed_per_filter_config: { "envoy.filters.http.buffer": { "@type": PER_ROUTE, ...fields } } });
    expect(perRoute({})).toEqual([`${ROUTE_PER_FILTER}.envoy.filters.http.buffer: must set one of disabled, buffer`]);
    expect(perRoute({ disabled: false })[0]).toContain("buffer.disabled: false is an Envoy value that polyvoy does not support yet (supported: true)");
  });
});

describe("cors", () => {
  const CORS = { name: "envoy.filters.http.cors", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" } };
  const POLICY = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy";

  test("the filter takes no fields; a policy's unknown field is an error naming it", () => {
    expect(problems({ ...CORS, typed_config: { ...CORS.typed_config, allow_methods: "GET" } })).toEqual([`${HCM_FILTERS}: \`allow_methods\` is not a field of envoy.extensions.filters.http.cors.v3.Cors`]);
    expect(problems(CORS, { typed_per_filter_config: { "envoy.filters.http.cors": { "@type": POLICY, allow_origin: ["*"] } } })).toEqual([
      `${ROUTE_PER_FILTER}.envoy.filters.http.cors: \`allow_origin\` is not a field of envoy.extensions.filters.http.cors.v3.CorsPolicy`,
    ]);
  });

  test("a route action's deprecated cors is read into the route", () => {
    const route = load(CORS, { route: { cluster: "backend", cors: { allow_methods: "GET", allow_credentials: false } } });
    const listener = route.listeners[0] as unknown as { filterChains: { filters: { config: { routeConfig: { virtualHosts: { routes: { action: { route: { cors: unknown } } }[] }[] } } }[] }[] };
    expect(listener.filterChains[0]!.filters[0]!.config.routeConfig.virtualHosts[0]!.routes[0]!.action.route.cors).toEqual({
      allowOrigins: [],
      allowMethods: "GET",
      allowHeaders: "",
      exposeHeaders: "",
      maxAge: "",
      allowCredentials: false,
    });
  });
});

describe("csrf", () => {
  const TYPE = "type.googleapis.com/envoy.extensions.filters.http.csrf.v3.CsrfPolicy";
  test("filter_enabled is required, as in Envoy", () => {
    expect(problems({ name: "envoy.filters.http.csrf", typed_config: { "@type": TYPE } })).toEqual([`${HCM_FILTERS}.filter_enabled: missing required field`]);
  });
});

describe("header_mutation", () => {
  const TYPE = "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation";
  const filter = (fields: Record<string, unknown>) => ({ name: "envoy.filters.http.header_mutation", typed_config: { "@type": TYPE, ...fields } });

  test("refusals name the field: query parameter and trailer mutations, remove_on_match, a rule with neither remove nor append", () => {
    expect(problems(filter({ mutations: { query_parameter_mutations: [{ remove: "q" }] } }))[0]).toContain("mutations: `query_parameter_mutations` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)");
    expect(problems(filter({ mutations: { response_trailers_mutations: [{ remove: "t" }] } }))[0]).toContain("mutations: `response_trailers_mutations` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)");
    expect(problems(filter({ mutations: { request_mutations: [{ remove_on_match: {} }] } }))).toEqual([
      `${HCM_FILTERS}.mutations.request_mutations[0]: \`remove_on_match\` is an Envoy field that polyvoy does not support yet (use remove)`,
    ]);
    expect(problems(filter({ mutations: { request_mutations: [{}] } }))).toEqual([`${HCM_FILTERS}.mutations.request_mutations[0]: must set one of remove, append`]);
  });
});

describe("lua", () => {
  const TYPE = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua";
  const PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute";
  const filter = (fields: Record<string, unknown>) => ({ name: "envoy.filters.http.lua", typed_config: { "@type": TYPE, ...fields } });

  test("inline_code or default_source_code is the default code; source_codes by name; Envoy's defaults", () => {
    expect(filterConfig(filter({ inline_code: "x = 1" }))).toEqual({ defaultSource: { code: "x = 1", name: "inline_code" }, sourceCodes: new Map(), statPrefix: "", clearRouteCache: true });
    expect(filterConfig(filter({ default_source_code: { filename: "/a.lua" }, source_codes: { b: { inline_string: "y = 2" } }, stat_prefix: "s", clear_route_cache: false }))).toEqual({
      defaultSource: { filename: "/a.lua" },
      sourceCodes: new Map([["b", { code: "y = 2", name: "inline_string" }]]),
      statPrefix: "s",
      clearRouteCache: false,
    });
  });

  test("refusals name the field: both default codes, an unknown field; a DataSource from the environment or a route's own code from a file needs validateConfig's reads", () => {
    expect(problems(filter({ inline_code: "a", default_source_code: { inline_string: "b" } }))).toEqual([`${HCM_FILTERS}: only one of inline_code and default_source_code may be set`]);
    expect(problems(filter({ inline_code: "a", code: "b" }))[0]).toContain("code");
    expect(problems(filter({ default_source_code: { environment_variable: "X" } }))[0]).toContain("environment_variable");
    const route = (config: Record<string, unknown>) => ({ typed_per_filter_config: { "envoy.filters.http.lua": { "@type": PER_ROUTE, ...config } } });
    const perRoute = (config: Record<string, unknown>) => problems(filter({ inline_code: "a" }), route(config));
    expect(() => load(filter({ inline_code: "a" }), route({ disabled: true }))).not.toThrow();
    expect(() => load(filter({ inline_code: "a" }), route({ name: "b" }))).not.toThrow();
    expect(() => load(filter({ inline_code: "a" }), route({ source_code: { inline_string: "z = 1" } }))).not.toThrow();
    expect(perRoute({ source_code: { filename: "/r.lua" } })).toEqual([
      `${ROUTE_PER_FILTER}.envoy.filters.http.lua.source_code.filename: file /r.lua is not read: the synchronous loadBootstrap reads no files (validateConfig does)`,
    ]);
    expect(perRoute({})).toEqual([`${ROUTE_PER_FILTER}.envoy.filters.http.lua: must set one of disabled, name, source_code`]);
  });
});

describe("Envoy's Wasm filters", () => {
  const SCRIPT = "type.googleapis.com/polyvoy.filters.http.script.v1.Script";
  const HTTP_FILTER = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0]";

  test.each([
    ["wasm by @type", { name: "w", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm" } }, "envoy.filters.http.wasm", "Wasm"],
  ])("%s: refused, pointing to TypeScript filters", (_what, filter, name, what) => {
    expect(problems(filter)).toEqual([
      `${HTTP_FILTER}: ${name}: polyvoy does not run ${what} filters; write the filter in TypeScript or JavaScript ("@type": "${SCRIPT}", module: ./filter.ts)`,
    ]);
  });

  test("envoy.filters.network.wasm: refused, pointing to TypeScript filters", () => {
    const config = httpProxyConfig({ listenPort: 10000, clusters: { backend: [8080] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }) as {
      static_resources: { listeners: { filter_chains: { filters: object[] }[] }[] };
    };
    config.static_resources.listeners[0]!.filter_chains[0]!.filters.unshift({ name: "wasm", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm" } });
    expect(() => loadBootstrap(JSON.stringify(config), "json")).toThrow(
      `static_resources.listeners[0].filter_chains[0].filters[0]: envoy.filters.network.wasm: polyvoy does not run Wasm filters; write HTTP filters in TypeScript ("@type": "${SCRIPT}", module: ./filter.ts)`,
    );
  });

  test("a Script needs its module; unknown fields are errors", () => {
    expect(problems({ name: "s", typed_config: { "@type": SCRIPT } })).toEqual([`${HTTP_FILTER}.typed_config.module: missing required field`]);
    expect(problems({ name: "s", typed_config: { "@type": SCRIPT, module: "./f.ts", modul: 1 } })[0]).toMatch(/^static_resources.*http_filters\[0\]\.typed_config.*modul/);
  });

  test("a Script is not terminal: as the last filter it is refused like any non-router", () => {
    const config = httpProxyConfig({ listenPort: 10000, clusters: { backend: [8080] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], hcm: { http_filters: [{ name: "s", typed_config: { "@type": SCRIPT, module: "./f.ts" } }] } });
    expect(() => loadBootstrap(JSON.stringify(config), "json")).toThrow(/non-terminal filter named s of type polyvoy\.filters\.http\.user is the last filter in a http filter chain/);
  });
});

describe("envoy.config.route.v3.FilterConfig in typed_per_filter_config", () => {
  const FAULT = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";
  const WRAPPER = "type.googleapis.com/envoy.config.route.v3.FilterConfig";
  const filter = { name: "envoy.filters.http.fault", typed_config: { "@type": FAULT } };
  const routeOf = (b: ReturnType<typeof load>) =>
    (b.listeners[0] as unknown as { filterChains: { filters: { config: { routeConfig: { virtualHosts: { routes: { typedPerFilterConfig?: Map<string, unknown>; filterDisabled?: Map<string, boolean> }[] }[] } } }[] }[] }).filterChains[0]!.filters[0]!.config.routeConfig.virtualHosts[0]!.routes[0]!;
  const perRoute = (entry: Record<string, unknown>) => ({ typed_per_filter_config: { "envoy.filters.http.fault": { "@type": WRAPPER, ...entry } } });

  test("disabled, and a wrapped config given to the filter as its own", () => {
    expect(routeOf(load(filter, perRoute({ disabled: true }))).filterDisabled?.get("envoy.filters.http.fault")).toBe(true);
    const wrapped = routeOf(load(filter, perRoute({ config: { "@type": FAULT, abort: { http_status: 503 } } })));
    expect(wrapped.filterDisabled?.get("envoy.filters.http.fault")).toBe(false);
    expect(wrapped.typedPerFilterConfig?.get("envoy.filters.http.fault")).toMatchObject({ abort: { httpStatus: 503 } });
  });

  test("refused: is_optional, an unknown field, a wrapped config of an unknown type", () => {
    expect(problems(filter, perRoute({ is_optional: true })).join("\n")).toContain("`is_optional` is an Envoy field that polyvoy does not support yet (only false: a per-route config polyvoy does not know is refused, never ignored)");
    expect(problems(filter, perRoute({ bogus: 1 })).join("\n")).toContain(`${ROUTE_PER_FILTER}.envoy.filters.http.fault`);
    expect(problems(filter, perRoute({ config: { "@type": "type.googleapis.com/x.Y" } })).join("\n")).toContain('no supported HTTP filter takes per-route config of type "type.googleapis.com/x.Y"');
  });
});

describe("header_to_metadata", () => {
  beforeAll(() => loadRegexEngine());
  const TYPE = "type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config";
  const filter = (fields: Record<string, unknown>) => ({ name: "envoy.filters.http.header_to_metadata", typed_config: { "@type": TYPE, ...fields } });

  test("rules with Envoy's defaults (STRING, NONE, the filter's namespace)", () => {
    expect(filterConfig(filter({ request_rules: [{ header: "X-Version", on_header_present: { key: "version" }, remove: true }], response_rules: [{ cookie: "s", on_header_missing: { key: "k", value: "v", type: "NUMBER" } }] }))).toEqual({
      requestRules: [{ header: "x-version", onPresent: { namespace: "", key: "version", value: "", type: "STRING", base64: false }, remove: true }],
      responseRules: [{ cookie: "s", onMissing: { namespace: "", key: "k", value: "v", type: "NUMBER", base64: false }, remove: false }],
    });
    // The filter itself may have no rules (per-route configs then do).
    expect(filterConfig(filter({}))).toEqual({ requestRules: [], responseRules: [] });
  });

  test("Envoy's Rule and Config checks, in its words; PROTOBUF_VALUE refused by name", () => {
    const at = `${HCM_FILTERS}.request_rules[0]`;
    const one = (rule: object) => problems(filter({ request_rules: [rule] }));
    expect(one({ header: "a", cookie: "b", on_header_present: { key: "k" } })).toEqual([`${at}: Cannot specify both header and cookie`]);
    expect(one({ on_header_present: { key: "k" } })).toEqual([`${at}: One of Cookie or Header option needs to be specified`]);
    expect(one({ header: "a" })).toEqual([`${at}: header to metadata filter: rule for header 'a' has neither \`on_header_present\` nor \`on_header_missing\` set`]);
    expect(one({ header: "a", on_header_present: { key: "k", value: "v", regex_value_rewrite: { pattern: { regex: "x" }, substitution: "y" } } })).toEqual([`${at}.on_header_present: Cannot specify both value and regex_value_rewrite`]);
    expect(one({ cookie: "c", remove: true, on_header_present: { key: "k" } })).toEqual([`${at}.remove: Cannot specify remove for cookie`]);
    expect(one({ header: "a", on_header_missing: { key: "k" } })).toEqual([`${at}.on_header_missing: Cannot specify on_header_missing rule with an empty value`]);
    expect(one({ header: "a", on_header_present: { key: "k", type: "PROTOBUF_VALUE" } })[0]).toContain(`${at}.on_header_present.type: PROTOBUF_VALUE is an Envoy value that polyvoy does not support yet`);
    const perRoute = { typed_per_filter_config: { "envoy.filters.http.header_to_metadata": { "@type": TYPE } } };
    expect(problems(filter({}), perRoute)).toEqual([`${ROUTE_PER_FILTER}.envoy.filters.http.header_to_metadata: header_to_metadata_filter: Per filter configs must at least specify either request or response rules`]);
  });

  test("stat_prefix (recent Envoy's, not in the pinned v3 Config) is refused by name, not accepted without its stats", () => {
    expect(problems(filter({ stat_prefix: "h2m", request_rules: [{ header: "a", on_header_present: { key: "k" } }] }))).toEqual([`${HCM_FILTERS}: \`stat_prefix\` is not a field of envoy.extensions.filters.http.header_to_metadata.v3.Config`]);
  });
});
