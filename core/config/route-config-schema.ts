/**
 * envoy.config.route.v3.RouteConfiguration, given inline in the HTTP connection manager:
 * virtual hosts, routes, their match conditions and actions. Cluster names are checked
 * against the bootstrap's clusters in load.ts.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, boolTrue, nonEmptyString, optionalBool, optionalNonEmptyString, optionalString, strictObject, stringEmpty } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import { clusterMatchCriteria, metadataMatch, metadataSchema } from "./metadata-schema.ts";
import type {
  DirectResponseAction,
  ForwardAction,
  RedirectAction,
  RouteAction,
  RouteConfig,
  RouteConfiguration,
  RouteMatchConfig,
  RouteMaxStreamDuration,
  VirtualHostConfig,
} from "./bootstrap.ts";
import { dataSource } from "./data-source-schema.ts";
import { hashPolicy } from "./hash-policy-schema.ts";
import { headerMutationFields, headerMutations } from "./custom-headers-schema.ts";
import { rateLimitPolicy } from "./ratelimit-schema.ts";
import { headerMatcher, metadataMatcher, queryParameterMatcher } from "./matcher-schema.ts";
import { typedPerFilterConfig } from "./per-filter-config-schema.ts";
import { durationMs, headerName, headerValue, oneOf, regexMatcher, replaceAllRegex, uint32 } from "./proto-schema.ts";
import { perRequestBufferLimitBytes, requestMirrorPolicy, retryPolicy } from "./retry-policy-schema.ts";
import { hedgePolicy } from "./hedge-policy-schema.ts";
import { corsPolicy } from "./cors-schema.ts";
import { withRuntimeKey } from "./fractional-percent-schema.ts";
import { isFalse, unsupportedField } from "./unsupported-field.ts";
import { clusterSpecifierPlugin, type NamedClusterSpecifierPlugin } from "./cluster-specifier-plugin-schema.ts";
import { internalRedirectAction, internalRedirectPolicy, legacyInternalRedirectPolicy, maxInternalRedirects } from "./internal-redirect-schema.ts";

/** Envoy's RouteAction.timeout default: 15 s ("0s" disables it). */
const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;
/** Envoy's RouteConfiguration.max_direct_response_body_size_bytes default. */
const DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES = 4096;

// ---- Match -----------------------------------------------------------------------

const FRACTION_DENOMINATORS = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 } as const;

/**
 * envoy.config.core.v3.RuntimeFractionalPercent: default_value is the fraction, which a
 * runtime layer's value for runtime_key overrides (RouteEntryImplBase::matchRoute).
 */
const runtimeFraction = lazySchema(() =>
  strictObject({
    default_value: strictObject({
      numerator: uint32.default(0),
      denominator: z.enum(Object.keys(FRACTION_DENOMINATORS) as [keyof typeof FRACTION_DENOMINATORS]).default("HUNDRED"),
    }),
    runtime_key: optionalString,
  })
  .transform((r) => withRuntimeKey({ numerator: r.default_value.numerator, denominator: FRACTION_DENOMINATORS[r.default_value.denominator] }, r.runtime_key)));

/** envoy.config.route.v3.RouteMatch: prefix, path, path_separated_prefix, safe_regex or connect_matcher (no path templates, filter_state). */
const routeMatch = lazySchema(() =>
  strictObject({
    prefix: optionalString,
    path: optionalString,
    // Envoy's validation (route_components.proto): no query or fragment, not ending in "/".
    path_separated_prefix: z.string().regex(/^[^?#]+[^?#/]$/, { message: 'must not contain "?" or "#" nor end with "/"' }).optional(),
    safe_regex: regexMatcher.optional(),
    // RouteMatch.ConnectMatcher has no fields.
    connect_matcher: strictObject({}).optional(),
    // "Indicates that prefix/path matching should be case sensitive. The default is true.
    // Ignored for safe_regex matching."
    case_sensitive: boolTrue,
    headers: z.array(headerMatcher).default([]),
    query_parameters: z.array(queryParameterMatcher).default([]),
    // RouteMatch.GrpcRouteMatchOptions has no fields.
    grpc: strictObject({}).optional(),
    runtime_fraction: runtimeFraction.optional(),
    dynamic_metadata: z.array(metadataMatcher).default([]),
  })
  .transform((m, ctx): RouteMatchConfig => {
    oneOf(m, ["prefix", "path", "safe_regex", "connect_matcher", "path_separated_prefix"] as const, ctx, true);
    const match: RouteMatchConfig = { caseSensitive: m.case_sensitive, headers: m.headers, queryParameters: m.query_parameters };
    if (m.prefix !== undefined) match.prefix = m.prefix;
    if (m.path !== undefined) match.path = m.path;
    if (m.path_separated_prefix !== undefined) match.pathSeparatedPrefix = m.path_separated_prefix;
    if (m.safe_regex !== undefined) match.safeRegex = m.safe_regex;
    if (m.connect_matcher !== undefined) match.connect = true;
    if (m.grpc !== undefined) match.grpc = true;
    if (m.runtime_fraction !== undefined) match.runtimeFraction = m.runtime_fraction;
    if (m.dynamic_metadata.length > 0) match.dynamicMetadata = m.dynamic_metadata;
    return match;
  }));

// ---- Actions ---------------------------------------------------------------------

/** envoy.config.route.v3.WeightedCluster: name, weight and metadata_match per cluster. */
const weightedClusters = lazySchema(() =>
  strictObject({
    clusters: z.array(strictObject({ name: nonEmptyString, weight: uint32.default(0), metadata_match: metadataMatch.optional() })).min(1),
  })
  .superRefine((w, ctx) => {
    const total = w.clusters.reduce((sum, c) => sum + c.weight, 0);
    // Envoy: "Sum of weights in the weighted_cluster must be greater than 0." (and fit a uint32).
    if (total === 0) ctx.addIssue({ code: "custom", message: "the sum of weights must be greater than 0", path: ["clusters"] });
    if (total > 0xffff_ffff) ctx.addIssue({ code: "custom", message: "the sum of weights must not exceed 4294967295", path: ["clusters"] });
  })
  .transform((w) => w.clusters.map((c) => ({ name: c.name, weight: c.weight, ...(c.metadata_match !== undefined ? { metadataMatch: c.metadata_match } : {}) }))));

/** envoy.type.matcher.v3.RegexMatchAndSubstitute; `substitution` keeps RE2's \1 group syntax. */
const regexRewrite = lazySchema(() =>
  strictObject({
    pattern: strictObject({ regex: replaceAllRegex, google_re2: strictObject({}).optional() }),
    substitution: z.string(),
  })
  .transform((r) => ({ pattern: r.pattern.regex, substitution: r.substitution })));

/** envoy.config.route.v3.RouteAction.MaxStreamDuration: each field absent when unset. */
const maxStreamDuration = lazySchema(() =>
  strictObject({
    max_stream_duration: durationMs.optional(),
    grpc_timeout_header_max: durationMs.optional(),
    grpc_timeout_header_offset: durationMs.optional(),
  })
  .transform((d): RouteMaxStreamDuration => {
    const out: RouteMaxStreamDuration = {};
    if (d.max_stream_duration !== undefined) out.maxStreamDurationMs = d.max_stream_duration;
    if (d.grpc_timeout_header_max !== undefined) out.grpcTimeoutHeaderMaxMs = d.grpc_timeout_header_max;
    if (d.grpc_timeout_header_offset !== undefined) out.grpcTimeoutHeaderOffsetMs = d.grpc_timeout_header_offset;
    return out;
  }));

const CLUSTER_NOT_FOUND_CODES = { SERVICE_UNAVAILABLE: 503, NOT_FOUND: 404, INTERNAL_SERVER_ERROR: 500 } as const;

/**
 * RouteAction.UpgradeConfig: an upgrade type (compared case-insensitively, as Envoy does)
 * and whether it is enabled on this route (default true). connect_config, on a CONNECT
 * entry only, makes the router terminate CONNECT (a TCP tunnel to the upstream).
 */
const routeUpgradeConfig = lazySchema(() =>
  strictObject({
    upgrade_type: nonEmptyString,
    enabled: z.union([z.boolean(), strictObject({ value: z.boolean() }).transform((w) => w.value)]).default(true),
    connect_config: strictObject({
        proxy_protocol_config: unsupportedField("a PROXY protocol header on the tunnel's upstream connection"),
        allow_post: unsupportedField("POST payloads tunnelled as raw TCP", isFalse),
      })
      .optional(),
  })
  .transform((u, ctx) => {
    const type = u.upgrade_type.toLowerCase();
    // Envoy (config_impl.cc), word for word.
    if (u.connect_config !== undefined && type !== "connect") ctx.addIssue({ code: "custom", message: `Non-CONNECT upgrade type ${u.upgrade_type} has ConnectConfig`, path: ["connect_config"] });
    return { type, enabled: u.enabled, terminate: u.connect_config !== undefined };
  }));

/**
 * The cluster_specifier_plugin a route action names, until the route configuration holding
 * it resolves the name (resolveClusterSpecifierPlugins).
 */
const PLUGIN_NAMES = new WeakMap<ForwardAction, string>();

/** envoy.config.route.v3.RouteAction (forwarding to a cluster). */
const forwardAction = lazySchema(() =>
  strictObject({
    cluster: optionalNonEmptyString,
    // Envoy: min_len 1, an HTTP header name (not a pseudo-header: it is looked up among the fields).
    cluster_header: headerName.optional(),
    weighted_clusters: weightedClusters.optional(),
    // A name of the route configuration's cluster_specifier_plugins (resolved there, below).
    cluster_specifier_plugin: z.string().optional(),
    inline_cluster_specifier_plugin: clusterSpecifierPlugin.optional(),
    metadata_match: metadataMatch.optional(),
    cluster_not_found_response_code: z.enum(Object.keys(CLUSTER_NOT_FOUND_CODES) as [keyof typeof CLUSTER_NOT_FOUND_CODES]).default("SERVICE_UNAVAILABLE"),
    prefix_rewrite: headerValue.optional(),
    regex_rewrite: regexRewrite.optional(),
    host_rewrite_literal: headerValue.optional(),
    auto_host_rewrite: optionalBool,
    host_rewrite_header: headerName.optional(),
    host_rewrite_path_regex: regexRewrite.optional(),
    append_x_forwarded_host: boolFalse,
    timeout: durationMs.default(DEFAULT_ROUTE_TIMEOUT_MS),
    max_grpc_timeout: durationMs.optional(),
    grpc_timeout_offset: durationMs.optional(),
    idle_timeout: durationMs.optional(),
    max_stream_duration: maxStreamDuration.optional(),
    hash_policy: hashPolicy.optional(),
    retry_policy: retryPolicy.optional(),
    hedge_policy: hedgePolicy.optional(),
    request_mirror_policies: z.array(requestMirrorPolicy).optional(),
    // Deprecated in Envoy for typed_per_filter_config, still read by its cors filter.
    cors: corsPolicy.optional(),
    upgrade_configs: z.array(routeUpgradeConfig).optional(),
    rate_limits: z.array(rateLimitPolicy).optional(),
    include_vh_rate_limits: boolFalse,
    internal_redirect_policy: internalRedirectPolicy.optional(),
    // Deprecated: read only without internal_redirect_policy (buildInternalRedirectPolicy).
    internal_redirect_action: internalRedirectAction.optional(),
    max_internal_redirects: maxInternalRedirects.optional(),
  })
  .transform((a, ctx): ForwardAction => {
    oneOf(a, ["cluster", "cluster_header", "weighted_clusters", "cluster_specifier_plugin", "inline_cluster_specifier_plugin"] as const, ctx, true);
    // Envoy tests these proto3 strings with `.empty()`: "" (what a control plane emitting
    // unset fields sends) is unset, and counts for no rewrite here.
    const prefixRewrite = a.prefix_rewrite || undefined;
    // Envoy: "Specify only one of prefix_rewrite, regex_rewrite or path_rewrite_policy".
    oneOf({ prefix_rewrite: prefixRewrite, regex_rewrite: a.regex_rewrite }, ["prefix_rewrite", "regex_rewrite"] as const, ctx, false);
    oneOf(a, ["host_rewrite_literal", "auto_host_rewrite", "host_rewrite_header", "host_rewrite_path_regex"] as const, ctx, false);
    // A route with max_stream_duration uses Envoy's "new timeouts" (RouteEntry::usingNewTimeouts):
    // the router then sets no overall timeout of its own, whatever `timeout` says
    // (FilterUtility::finalTimeout in source/common/router/router.cc); the stream's duration governs.
    const action: ForwardAction = { autoHostRewrite: a.auto_host_rewrite ?? false, timeoutMs: a.max_stream_duration !== undefined ? 0 : a.timeout };
    if (a.max_stream_duration !== undefined) action.maxStreamDuration = a.max_stream_duration;
    const notFound = CLUSTER_NOT_FOUND_CODES[a.cluster_not_found_response_code];
    if (notFound !== 503) action.clusterNotFoundResponseCode = notFound;
    if (a.cluster !== undefined) action.cluster = a.cluster;
    if (a.cluster_header !== undefined) action.clusterHeader = a.cluster_header.toLowerCase();
    if (a.host_rewrite_header !== undefined) action.hostRewriteHeader = a.host_rewrite_header.toLowerCase();
    if (a.host_rewrite_path_regex !== undefined) action.hostRewritePathRegex = a.host_rewrite_path_regex;
    if (a.metadata_match !== undefined) action.metadataMatch = a.metadata_match;
    if (a.inline_cluster_specifier_plugin !== undefined) action.clusterSpecifierPlugin = a.inline_cluster_specifier_plugin.plugin;
    if (a.cluster_specifier_plugin !== undefined) PLUGIN_NAMES.set(action, a.cluster_specifier_plugin);
    if (a.weighted_clusters !== undefined) {
      action.weightedClusters = a.weighted_clusters.map((c) => {
        const { metadataMatch: own, ...rest } = c;
        const merged = clusterMatchCriteria(a.metadata_match, own);
        return merged !== undefined ? { ...rest, metadataMatch: merged } : rest;
      });
    }
    if (prefixRewrite !== undefined) action.prefixRewrite = prefixRewrite;
    if (a.regex_rewrite !== undefined) action.regexRewrite = a.regex_rewrite;
    if (a.host_rewrite_literal) action.hostRewriteLiteral = a.host_rewrite_literal;
    if (a.append_x_forwarded_host) action.appendXForwardedHost = true;
    if (a.idle_timeout !== undefined) action.idleTimeoutMs = a.idle_timeout;
    if (a.max_grpc_timeout !== undefined) action.maxGrpcTimeoutMs = a.max_grpc_timeout;
    if (a.grpc_timeout_offset !== undefined) action.grpcTimeoutOffsetMs = a.grpc_timeout_offset;
    if (a.hash_policy !== undefined && a.hash_policy.length > 0) action.hashPolicy = a.hash_policy;
    if (a.retry_policy !== undefined) action.retryPolicy = a.retry_policy;
    if (a.hedge_policy !== undefined) action.hedgePolicy = a.hedge_policy;
    if (a.request_mirror_policies !== undefined) action.requestMirrorPolicies = a.request_mirror_policies;
    if (a.cors !== undefined) action.cors = a.cors;
    if (a.rate_limits !== undefined && a.rate_limits.length > 0) action.rateLimits = a.rate_limits;
    if (a.include_vh_rate_limits) action.includeVhRateLimits = true;
    const redirectPolicy = a.internal_redirect_policy ?? legacyInternalRedirectPolicy(a.internal_redirect_action, a.max_internal_redirects);
    if (redirectPolicy !== undefined) action.internalRedirectPolicy = redirectPolicy;
    if (a.upgrade_configs !== undefined && a.upgrade_configs.length > 0) {
      const upgrades = new Map<string, boolean>();
      for (const [i, u] of a.upgrade_configs.entries()) {
        // Envoy (config_impl.cc): "Duplicate upgrade <type>".
        if (upgrades.has(u.type)) ctx.addIssue({ code: "custom", message: `Duplicate upgrade ${u.type}`, path: ["upgrade_configs", i, "upgrade_type"] });
        upgrades.set(u.type, u.enabled);
        if (u.terminate && u.enabled) action.terminateConnect = true;
      }
      action.upgrades = upgrades;
    }
    return action;
  }));

const REDIRECT_CODES = { MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308 } as const;

/** envoy.config.route.v3.RedirectAction (no regex_rewrite). */
const redirectAction = lazySchema(() =>
  strictObject({
    https_redirect: optionalBool,
    scheme_redirect: optionalString,
    host_redirect: headerValue.optional(),
    // proto3's default 0 means "keep the port".
    port_redirect: z.number().int().min(0).max(65535).optional(),
    path_redirect: headerValue.optional(),
    prefix_rewrite: headerValue.optional(),
    response_code: z.enum(Object.keys(REDIRECT_CODES) as [keyof typeof REDIRECT_CODES]).default("MOVED_PERMANENTLY"),
    strip_query: boolFalse,
  })
  .transform((r, ctx): RedirectAction => {
    oneOf(r, ["https_redirect", "scheme_redirect"] as const, ctx, false);
    oneOf(r, ["path_redirect", "prefix_rewrite"] as const, ctx, false);
    const action: RedirectAction = {
      responseCode: REDIRECT_CODES[r.response_code],
      stripQuery: r.strip_query,
      httpsRedirect: r.https_redirect ?? false,
    };
    // "" is unset for each, as Envoy's `.empty()` tests (RouteEntryImplBase::newUri in
    // source/common/router/config_impl.cc: `if (!scheme_redirect_.empty())`).
    if (r.scheme_redirect) action.schemeRedirect = r.scheme_redirect;
    if (r.host_redirect) action.hostRedirect = r.host_redirect;
    if (r.port_redirect) action.portRedirect = r.port_redirect;
    if (r.path_redirect) action.pathRedirect = r.path_redirect;
    if (r.prefix_rewrite) action.prefixRewrite = r.prefix_rewrite;
    return action;
  }));

/** envoy.config.route.v3.DirectResponseAction */
const directResponseAction = lazySchema(() =>
  strictObject({ status: z.number().int().min(100).max(599), body: dataSource.optional() })
  .transform((d): DirectResponseAction => (d.body === undefined ? { status: d.status } : { status: d.status, body: d.body })));

// ---- Routes and virtual hosts ------------------------------------------------------

const metadata = metadataSchema;

/**
 * envoy.config.route.v3.Decorator: names the route's tracing span. Without a tracer what
 * remains is Envoy's x-envoy-decorator-operation response header, sent when the HCM has
 * `tracing` and propagate is true (the default); without `tracing` it changes nothing.
 */
const decorator = lazySchema(() =>
  strictObject({ operation: nonEmptyString, propagate: optionalBool }));

/** envoy.config.route.v3.Route */
const route = lazySchema(() =>
  strictObject({
    name: stringEmpty,
    match: routeMatch,
    decorator: decorator.optional(),
    metadata: metadata.optional(),
    route: forwardAction.optional(),
    redirect: redirectAction.optional(),
    direct_response: directResponseAction.optional(),
    ...headerMutationFields,
    typed_per_filter_config: typedPerFilterConfig,
    per_request_buffer_limit_bytes: perRequestBufferLimitBytes.optional(),
  })
  .transform((r, ctx): RouteConfig => {
    const key = oneOf(r, ["route", "redirect", "direct_response"] as const, ctx, true);
    let action: RouteAction;
    if (key === "route") action = { type: "route", route: r.route! };
    else if (key === "redirect") action = { type: "redirect", redirect: r.redirect! };
    else if (key === "direct_response") action = { type: "direct_response", directResponse: r.direct_response! };
    else return z.NEVER;
    const route: RouteConfig = { name: r.name, match: r.match, action, ...headerMutations(r) };
    if (r.typed_per_filter_config !== undefined) Object.assign(route, r.typed_per_filter_config);
    if (r.metadata !== undefined && Object.keys(r.metadata).length > 0) route.metadata = r.metadata;
    if (r.decorator !== undefined && r.decorator.propagate !== false) route.decoratorOperation = r.decorator.operation;
    if (r.per_request_buffer_limit_bytes !== undefined) route.perRequestBufferLimitBytes = r.per_request_buffer_limit_bytes;
    return route;
  }));

/** envoy.config.route.v3.VirtualHost */
const virtualHost = lazySchema(() =>
  strictObject({
    name: nonEmptyString,
    domains: z.array(headerValue).min(1),
    routes: z.array(route).default([]),
    ...headerMutationFields,
    typed_per_filter_config: typedPerFilterConfig,
    retry_policy: retryPolicy.optional(),
    hedge_policy: hedgePolicy.optional(),
    request_mirror_policies: z.array(requestMirrorPolicy).optional(),
    per_request_buffer_limit_bytes: perRequestBufferLimitBytes.optional(),
    include_request_attempt_count: boolFalse,
    include_attempt_count_in_response: boolFalse,
    include_is_timeout_retry_header: boolFalse,
    // Deprecated in Envoy for typed_per_filter_config, still read by its cors filter.
    cors: corsPolicy.optional(),
    rate_limits: z.array(rateLimitPolicy).optional(),
  })
  .transform((v): VirtualHostConfig => {
    const vhost: VirtualHostConfig = {
      name: v.name,
      domains: v.domains,
      routes: v.routes,
      ...headerMutations(v),
    };
    // Set only when true, so configs without them compare as before.
    if (v.include_request_attempt_count) vhost.includeRequestAttemptCount = true;
    if (v.include_attempt_count_in_response) vhost.includeAttemptCountInResponse = true;
    if (v.include_is_timeout_retry_header) vhost.includeIsTimeoutRetryHeader = true;
    if (v.typed_per_filter_config !== undefined) Object.assign(vhost, v.typed_per_filter_config);
    if (v.retry_policy !== undefined) vhost.retryPolicy = v.retry_policy;
    if (v.hedge_policy !== undefined) vhost.hedgePolicy = v.hedge_policy;
    if (v.request_mirror_policies !== undefined) vhost.requestMirrorPolicies = v.request_mirror_policies;
    if (v.per_request_buffer_limit_bytes !== undefined) vhost.perRequestBufferLimitBytes = v.per_request_buffer_limit_bytes;
    if (v.cors !== undefined) vhost.cors = v.cors;
    if (v.rate_limits !== undefined && v.rate_limits.length > 0) vhost.rateLimits = v.rate_limits;
    return vhost;
  }));

/** envoy.config.route.v3.RouteConfiguration (no vhds, no cluster validation switch). */
export const routeConfiguration = lazySchema(() =>
  strictObject({
    name: stringEmpty,
    virtual_hosts: z.array(virtualHost).default([]),
    ...headerMutationFields,
    ignore_port_in_host_matching: boolFalse,
    most_specific_header_mutations_wins: boolFalse,
    max_direct_response_body_size_bytes: uint32.default(DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES),
    typed_per_filter_config: typedPerFilterConfig,
    cluster_specifier_plugins: z.array(clusterSpecifierPlugin).default([]),
  })
  .transform((c, ctx): RouteConfiguration => {
    checkUniqueDomains(c.virtual_hosts, ctx);
    resolveClusterSpecifierPlugins(c.virtual_hosts, c.cluster_specifier_plugins, ctx);
    checkDirectResponseBodies(c.virtual_hosts, c.max_direct_response_body_size_bytes, ctx);
    const config: RouteConfiguration = {
      name: c.name,
      virtualHosts: c.virtual_hosts,
      ...headerMutations(c),
      ignorePortInHostMatching: c.ignore_port_in_host_matching,
      mostSpecificHeaderMutationsWins: c.most_specific_header_mutations_wins,
    };
    if (c.typed_per_filter_config !== undefined) Object.assign(config, c.typed_per_filter_config);
    if (c.cluster_specifier_plugins.length > 0) config.clusterSpecifierPlugins = c.cluster_specifier_plugins.map(({ name, plugin }) => ({ name, plugin }));
    return config;
  }));

/**
 * Each route action's cluster_specifier_plugin becomes the plugin of that name (Envoy's
 * CommonConfigImpl::clusterSpecifierPlugin: "Unknown cluster specifier plugin name: X is
 * used in the route"). The API asks that the names be unique, but Envoy's ConfigImpl puts
 * them in a flat_hash_map with emplace (source/common/router/config_impl.cc): the first of a
 * name wins, the later ones are still built (and may fail the config) but serve no route.
 * polyvoy does the same, and warns when it builds them (cluster-specifier-plugin.ts).
 */
function resolveClusterSpecifierPlugins(virtualHosts: VirtualHostConfig[], plugins: NamedClusterSpecifierPlugin[], ctx: z.RefinementCtx): void {
  const byName = new Map<string, NamedClusterSpecifierPlugin["plugin"]>();
  for (const { name, plugin } of plugins) if (!byName.has(name)) byName.set(name, plugin);
  virtualHosts.forEach((vhost, v) => {
    vhost.routes.forEach((route, r) => {
      if (route.action.type !== "route") return;
      const action = route.action.route;
      const name = PLUGIN_NAMES.get(action);
      if (name === undefined) return;
      PLUGIN_NAMES.delete(action);
      const plugin = byName.get(name);
      if (plugin !== undefined) action.clusterSpecifierPlugin = plugin;
      else ctx.addIssue({ code: "custom", message: `Unknown cluster specifier plugin name: ${name} is used in the route`, path: ["virtual_hosts", v, "routes", r, "route", "cluster_specifier_plugin"] });
    });
  });
}

/**
 * Envoy refuses a domain listed twice in one route configuration (compared lowercased,
 * across all virtual hosts), and more than one "*".
 */
function checkUniqueDomains(virtualHosts: VirtualHostConfig[], ctx: z.RefinementCtx): void {
  const owner = new Map<string, string>();
  virtualHosts.forEach((vhost, v) => {
    vhost.domains.forEach((domain, d) => {
      const key = domain.toLowerCase();
      const earlier = owner.get(key);
      if (earlier === undefined) {
        owner.set(key, vhost.name);
        return;
      }
      const message =
        key === "*"
          ? `only a single wildcard domain "*" is permitted (already in virtual host "${earlier}")`
          : `only unique values for domains are permitted: duplicate entry of domain "${domain}" (already in virtual host "${earlier}")`;
      ctx.addIssue({ code: "custom", message, path: ["virtual_hosts", v, "domains", d] });
    });
  });
}

/** Envoy: "response body size is N bytes; maximum is M" (max_direct_response_body_size_bytes). */
function checkDirectResponseBodies(virtualHosts: VirtualHostConfig[], maxBytes: number, ctx: z.RefinementCtx): void {
  virtualHosts.forEach((vhost, v) => {
    vhost.routes.forEach((r, i) => {
      const size = r.action.type === "direct_response" ? (r.action.directResponse.body?.length ?? 0) : 0;
      if (size <= maxBytes) return;
      const path = ["virtual_hosts", v, "routes", i, "direct_response", "body"];
      const message = `response body size is ${size} bytes; maximum is ${maxBytes} (max_direct_response_body_size_bytes)`;
      ctx.addIssue({ code: "custom", message, path });
    });
  });
}
