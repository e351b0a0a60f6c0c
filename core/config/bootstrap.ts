/**
 * The effective configuration the core runs from: Envoy's v3 bootstrap subset after
 * validation, with defaults applied and durations turned into milliseconds.
 * `load.ts` builds it from YAML/JSON; nothing else in the core reads raw config.
 */

export interface SocketAddressConfig {
  address: string;
  port: number;
}

export interface Bootstrap {
  node?: { id?: string; cluster?: string };
  admin?: { address: SocketAddressConfig };
  listeners: ListenerConfig[];
  clusters: ClusterConfig[];
}

export interface ListenerConfig {
  name: string;
  address: SocketAddressConfig;
  /** Envoy's per_connection_buffer_limit_bytes (default 1 MiB): the write-buffer high watermark. */
  perConnectionBufferLimitBytes: number;
  filterChains: FilterChainConfig[];
  /**
   * Envoy's Listener.stat_prefix: stats under `listener.<stat_prefix>.` instead of
   * `listener.<address>.`. Not read from config yet; the admin listener uses "admin".
   */
  statPrefix?: string;
}

export interface FilterChainConfig {
  filters: NetworkFilterConfig[];
}

/** A network filter: `type` is the canonical extension name, e.g. "envoy.filters.network.tcp_proxy". */
export type NetworkFilterConfig = { name: string } & (TcpProxyFilter | HttpConnectionManagerFilter | ConnectionLimitFilterConfig);

export interface ConnectionLimitFilterConfig {
  type: "envoy.filters.network.connection_limit";
  config: ConnectionLimitConfig;
}

/** envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit (runtime_enabled not supported). */
export interface ConnectionLimitConfig {
  statPrefix: string;
  maxConnections: number;
  /** How long a connection over the limit is held (its bytes dropped) before it is closed; 0: at once. */
  delayMs: number;
}

export interface TcpProxyFilter {
  type: "envoy.filters.network.tcp_proxy";
  config: TcpProxyConfig;
}

export interface TcpProxyConfig {
  statPrefix: string;
  cluster: string;
  /** 0 disables; Envoy's default is 1 hour. */
  idleTimeoutMs: number;
  /** access_log, in order; absent when none is configured. */
  accessLog?: AccessLogConfig[];
}

/** envoy.config.endpoint.v3.LbEndpoint */
export interface LbEndpointConfig {
  address: SocketAddressConfig;
  /** 1 unless set (Envoy validates 1–128 when the field is present). */
  loadBalancingWeight: number;
}

/** envoy.config.endpoint.v3.LocalityLbEndpoints */
export interface LocalityLbEndpointsConfig {
  /** 0 (the highest) unless set. */
  priority: number;
  lbEndpoints: LbEndpointConfig[];
}

export interface ClusterConfig {
  name: string;
  type: "STATIC";
  connectTimeoutMs: number;
  lbPolicy: "ROUND_ROBIN";
  perConnectionBufferLimitBytes: number;
  /** load_assignment.endpoints: the localities in config order, each with its endpoints. */
  endpoints: LocalityLbEndpointsConfig[];
  /**
   * Requests per upstream connection, from typed_extension_protocol_options'
   * HttpProtocolOptions.common_http_protocol_options or the legacy cluster field;
   * absent when unlimited (the default).
   */
  maxRequestsPerConnection?: number;
  /** circuit_breakers thresholds for priority DEFAULT (Envoy's defaults: 1024 each). */
  circuitBreakers: { maxConnections: number; maxPendingRequests: number; maxRequests: number; maxRetries: number };
  /** health_checks (core/upstream/health-checker.ts); absent when none. */
  healthChecks?: HealthCheckConfig[];
  /** outlier_detection (core/upstream/outlier-detection.ts); absent when not configured. */
  outlierDetection?: OutlierDetectionConfig;
}

// ---- HTTP (envoy.filters.network.http_connection_manager) ----------------------------

export interface HttpConnectionManagerFilter {
  type: "envoy.filters.network.http_connection_manager";
  config: HttpConnectionManagerConfig;
}

export interface HttpConnectionManagerConfig {
  statPrefix: string;
  /** AUTO and HTTP1 both mean HTTP/1.1 here (HTTP/2 is not supported). */
  codecType: "AUTO" | "HTTP1";
  routeConfig: RouteConfiguration;
  /** In order; the last one is the router. */
  httpFilters: HttpFilterConfig[];
  useRemoteAddress: boolean;
  xffNumTrustedHops: number;
  /** Default true. */
  generateRequestId: boolean;
  /** Default "envoy". */
  serverName: string;
  serverHeaderTransformation: "OVERWRITE" | "APPEND_IF_ABSENT" | "PASS_THROUGH";
  /** Default 5 min; 0 disables. */
  streamIdleTimeoutMs: number;
  /** Default 0 (disabled). */
  requestTimeoutMs: number;
  /** Default 0 (disabled). */
  requestHeadersTimeoutMs: number;
  /** common_http_protocol_options.idle_timeout: default 1 h; 0 disables. */
  idleTimeoutMs: number;
  /** common_http_protocol_options.max_headers_count: default 100. */
  maxHeadersCount: number;
  /** Default 60 (KiB); requests over it get 431. */
  maxRequestHeadersKb: number;
  /** upgrade_configs[].upgrade_type, lowercased (e.g. "websocket"). */
  upgradeTypes: string[];
  /** access_log, in order; absent when none is configured. */
  accessLog?: AccessLogConfig[];
  /** normalize_path, merge_slashes, path_with_escaped_slashes_action; absent when all are at their defaults. */
  pathNormalization?: PathNormalizationConfig;
  /** common_http_protocol_options.headers_with_underscores_action; absent for ALLOW (the default). */
  headersWithUnderscoresAction?: HeadersWithUnderscoresAction;
  /** common_http_protocol_options.max_requests_per_connection; absent when unlimited (the default). */
  maxRequestsPerConnection?: number;
  /** common_http_protocol_options.max_stream_duration in ms; absent when unlimited (the default). */
  maxStreamDurationMs?: number;
  /** common_http_protocol_options.max_connection_duration in ms; absent when unlimited (the default). */
  maxConnectionDurationMs?: number;
}

/** HttpConnectionManager.PathWithEscapedSlashesAction (IMPLEMENTATION_SPECIFIC_DEFAULT is KEEP_UNCHANGED in Envoy). */
export type EscapedSlashesAction = "KEEP_UNCHANGED" | "REJECT_REQUEST" | "UNESCAPE_AND_REDIRECT" | "UNESCAPE_AND_FORWARD";

/** The HCM's path rules (core/http/conn-manager/path-normalization.ts). */
export interface PathNormalizationConfig {
  normalizePath: boolean;
  mergeSlashes: boolean;
  escapedSlashesAction: EscapedSlashesAction;
}

/** HttpProtocolOptions.HeadersWithUnderscoresAction other than ALLOW (which needs no code). */
export type HeadersWithUnderscoresAction = "REJECT_REQUEST" | "DROP_HEADER";

/** An HTTP filter: `type` is the canonical name, e.g. "envoy.filters.http.router". */
export type HttpFilterConfig = UserHttpFilterConfig | AdminHttpFilterConfig;

/** The HTTP filters a config may name. */
export type UserHttpFilterConfig =
  | { name: string; type: "envoy.filters.http.router"; config: Record<string, never> }
  | { name: string; type: "envoy.filters.http.health_check"; config: HealthCheckFilterConfig }
  | { name: string; type: "envoy.filters.http.local_ratelimit"; config: LocalRateLimitConfig }
  | { name: string; type: "envoy.filters.http.fault"; config: FaultConfig }
  | { name: string; type: "envoy.filters.http.buffer"; config: BufferConfig }
  | { name: string; type: "envoy.filters.http.cors"; config: Record<string, never> }
  | { name: string; type: "envoy.filters.http.csrf"; config: CsrfPolicyConfig }
  | { name: string; type: "envoy.filters.http.header_mutation"; config: HeaderMutationConfig };

/** One envoy.config.common.mutation_rules.v3.HeaderMutation: remove a header, or add one (HeaderValueOption). */
export type HeaderMutationRule = { remove: string } | { append: HeaderValueOption };

/** envoy.extensions.filters.http.header_mutation.v3.Mutations (headers only). */
export interface HeaderMutationRules {
  request: HeaderMutationRule[];
  response: HeaderMutationRule[];
}

/** envoy.extensions.filters.http.header_mutation.v3.HeaderMutation (core/http/filters/header-mutation.ts). */
export interface HeaderMutationConfig {
  mutations: HeaderMutationRules;
  /** Default false: per-route mutations run route first, so the least specific level's last word wins. */
  mostSpecificHeaderMutationsWins: boolean;
}

/** envoy.extensions.filters.http.csrf.v3.CsrfPolicy (core/http/filters/csrf.ts). */
export interface CsrfPolicyConfig {
  /** Required by Envoy. */
  filterEnabled: FractionalPercent;
  /** Absent: no shadow mode. */
  shadowEnabled?: FractionalPercent;
  /** Source origins accepted besides the request's own host. */
  additionalOrigins: Exclude<ValueMatchConfig, { type: "present" }>[];
}

/**
 * A CORS policy (core/http/filters/cors.ts): envoy.extensions.filters.http.cors.v3.CorsPolicy
 * in typed_per_filter_config, or the deprecated `cors` of a route action or virtual host
 * (envoy.config.route.v3.CorsPolicy, the same fields). Unset fields fall through to the
 * next less specific policy, so "unset" is kept apart from "empty".
 */
export interface CorsPolicyConfig {
  /** allow_origin_string_match; empty: not set here. */
  allowOrigins: Exclude<ValueMatchConfig, { type: "present" }>[];
  /** Empty: not set here. */
  allowMethods: string;
  allowHeaders: string;
  exposeHeaders: string;
  maxAge: string;
  allowCredentials?: boolean;
  allowPrivateNetworkAccess?: boolean;
  forwardNotMatchingPreflights?: boolean;
  /** Absent: enabled (Envoy's default). */
  filterEnabled?: FractionalPercent;
  /** Absent: no shadow mode. */
  shadowEnabled?: FractionalPercent;
}

/** envoy.extensions.filters.http.buffer.v3.Buffer, and BufferPerRoute (core/http/filters/buffer.ts). */
export interface BufferConfig {
  /** A BufferPerRoute's `disabled: true`: this route's requests are not buffered. */
  disabled: boolean;
  /** Over this, the request is answered 413. */
  maxRequestBytes: number;
}

/** envoy.extensions.filters.http.fault.v3.HTTPFault (core/http/filters/fault.ts). */
export interface FaultConfig {
  /** abort: a fixed http_status, or header_abort (the status from x-envoy-fault-abort-request). */
  abort?: { httpStatus?: number; percentage: FractionalPercent };
  /** delay: a fixed_delay in ms, or header_delay (the delay from x-envoy-fault-delay-request). */
  delay?: { fixedDelayMs?: number; percentage: FractionalPercent };
  /** Only requests to this cluster (the route's `cluster`); "" for any. */
  upstreamCluster: string;
  /** Only requests whose x-envoy-downstream-service-node is one of these; empty for any. */
  downstreamNodes: string[];
  /** Only requests matching every one. */
  headers: HeaderMatcherConfig[];
  /** Absent: no limit. */
  maxActiveFaults?: number;
  disableDownstreamClusterStats: boolean;
}

/** envoy.type.v3.FractionalPercent: `numerator` out of `denominator` (100, 10 000 or 1 000 000). */
export interface FractionalPercent {
  numerator: number;
  denominator: number;
}

/** envoy.type.v3.TokenBucket. */
export interface TokenBucketConfig {
  maxTokens: number;
  /** Default 1. */
  tokensPerFill: number;
  /** At least 50 ms (Envoy's minimum). */
  fillIntervalMs: number;
}

/** envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit (core/http/filters/local-ratelimit.ts). */
export interface LocalRateLimitConfig {
  /** Stats are `<statPrefix>.http_local_rate_limit.*`. */
  statPrefix: string;
  /** The local reply's status: `status.code` when 400 or more, else 429. */
  status: number;
  /** Absent: no limit (allowed on the filter, where per-route configs set the buckets). */
  tokenBucket?: TokenBucketConfig;
  /** Absent: the filter is off (Envoy's default). */
  filterEnabled?: FractionalPercent;
  /** Absent: a request over the limit is counted but not refused (Envoy's default). */
  filterEnforced?: FractionalPercent;
  requestHeadersToAddWhenNotEnforced: HeaderValueOption[];
  responseHeadersToAdd: HeaderValueOption[];
  /** enable_x_ratelimit_headers: DRAFT_VERSION_03 → x-ratelimit-limit and -remaining on every response it applied to. */
  enableXRateLimitHeaders: boolean;
}

/** envoy.extensions.filters.http.health_check.v3.HealthCheck (core/http/filters/health-check.ts). */
export interface HealthCheckFilterConfig {
  passThroughMode: boolean;
  /** 0: no caching (only allowed, and only meaningful, in pass-through mode). */
  cacheTimeMs: number;
  /** Cluster name → minimum healthy percentage (0–100). */
  clusterMinHealthyPercentages: [string, number][];
  /** Every one must match for a request to be a health check. */
  headers: HeaderMatcherConfig[];
}

/**
 * The admin interface's terminal filter (Envoy's `AdminFilter`): internal, built only by
 * core/admin for the admin listener's connection manager, never from a config file.
 */
export interface AdminHttpFilterConfig {
  name: string;
  type: "polyvoy.internal.admin";
  config: { handler: AdminRequestHandler };
}

/** Answers one admin request (core/admin/admin.ts). */
export interface AdminRequestHandler {
  handle(request: { method: string; path: string }): { status: number; contentType: string; body: string };
}

export interface HeaderValueOption {
  /** Lowercased; never a pseudo-header or host (Envoy refuses those). */
  key: string;
  /** A literal (%%-escapes already resolved; %COMMAND% formatting is refused at load). */
  value: string;
  /** Envoy's append_action; `append: false` in older configs means OVERWRITE_IF_EXISTS_OR_ADD. */
  appendAction: "APPEND_IF_EXISTS_OR_ADD" | "ADD_IF_ABSENT" | "OVERWRITE_IF_EXISTS_OR_ADD" | "OVERWRITE_IF_EXISTS";
  /** Envoy skips an entry whose value is empty unless keep_empty_value is set. */
  keepEmptyValue: boolean;
}

/** Header additions and removals at one level (route_config, virtual host or route). */
export interface HeaderMutations {
  requestHeadersToAdd: HeaderValueOption[];
  /** Lowercased. */
  requestHeadersToRemove: string[];
  responseHeadersToAdd: HeaderValueOption[];
  /** Lowercased. */
  responseHeadersToRemove: string[];
}

export interface RouteConfiguration extends HeaderMutations {
  name: string;
  virtualHosts: VirtualHostConfig[];
  /** Default false: "host:port" is matched against domains as is (see route-table.ts). */
  ignorePortInHostMatching: boolean;
  /** Default false: route, then virtual host, then route_config mutations are applied, so the least specific wins. */
  mostSpecificHeaderMutationsWins: boolean;
  /**
   * typed_per_filter_config: per-route config by HTTP filter name, each already validated
   * by the schema its filter declared (per-filter-config-schema.ts). Absent when none.
   */
  typedPerFilterConfig?: ReadonlyMap<string, unknown>;
}

export interface VirtualHostConfig extends HeaderMutations {
  name: string;
  /** As written; matching lowercases. */
  domains: string[];
  routes: RouteConfig[];
  /**
   * typed_per_filter_config: per-route config by HTTP filter name, each already validated
   * by the schema its filter declared (per-filter-config-schema.ts). Absent when none.
   */
  typedPerFilterConfig?: ReadonlyMap<string, unknown>;
  /** The deprecated virtual host `cors` policy (the cors filter reads it when no typed_per_filter_config has one). */
  cors?: CorsPolicyConfig;
}

export interface RouteConfig extends HeaderMutations {
  name: string;
  match: RouteMatchConfig;
  action: RouteAction;
  /**
   * typed_per_filter_config: per-route config by HTTP filter name, each already validated
   * by the schema its filter declared (per-filter-config-schema.ts). Absent when none.
   */
  typedPerFilterConfig?: ReadonlyMap<string, unknown>;
}

export interface RouteMatchConfig {
  /** Exactly one of prefix, path, safeRegex (RE2 syntax, core/config/regex.ts). */
  prefix?: string;
  path?: string;
  safeRegex?: string;
  /** Default true. */
  caseSensitive: boolean;
  headers: HeaderMatcherConfig[];
  queryParameters: QueryParameterMatcherConfig[];
}

/**
 * How a header or query parameter value is matched: Envoy's StringMatcher (regex is a
 * full match and ignores ignore_case, as in Envoy), or presence only
 * ("present" with present: false matches when the field is absent).
 */
export type ValueMatchConfig =
  | { type: "present"; present: boolean }
  | { type: "exact"; value: string; ignoreCase: boolean }
  | { type: "prefix"; value: string; ignoreCase: boolean }
  | { type: "suffix"; value: string; ignoreCase: boolean }
  | { type: "contains"; value: string; ignoreCase: boolean }
  | { type: "regex"; regex: string };

/** Envoy's HeaderMatcher: name plus one way to match (or presence). */
export interface HeaderMatcherConfig {
  /** Lowercased; may be a pseudo-header like ":method". */
  name: string;
  invertMatch: boolean;
  /** How the value is matched; no match specifier means presence (present_match: true), as in Envoy. */
  kind: ValueMatchConfig;
}

/** Envoy's QueryParameterMatcher: the first value of `name` (case-sensitive, not URL-decoded). */
export interface QueryParameterMatcherConfig {
  name: string;
  kind: ValueMatchConfig;
}

export type RouteAction =
  | { type: "route"; route: ForwardAction }
  | { type: "redirect"; redirect: RedirectAction }
  | { type: "direct_response"; directResponse: DirectResponseAction };

export interface ForwardAction {
  /** One of cluster or weightedClusters. */
  cluster?: string;
  weightedClusters?: { name: string; weight: number }[];
  prefixRewrite?: string;
  regexRewrite?: { pattern: string; substitution: string };
  hostRewriteLiteral?: string;
  autoHostRewrite: boolean;
  /** Default 15 s; 0 disables. */
  timeoutMs: number;
  /** Per-route stream idle timeout; undefined means the HCM's stream_idle_timeout. */
  idleTimeoutMs?: number;
  /** The deprecated route `cors` policy (the cors filter reads it when no typed_per_filter_config has one). */
  cors?: CorsPolicyConfig;
}

export interface RedirectAction {
  schemeRedirect?: string;
  hostRedirect?: string;
  portRedirect?: number;
  pathRedirect?: string;
  prefixRewrite?: string;
  /** MOVED_PERMANENTLY (301, default), FOUND (302), SEE_OTHER (303), TEMPORARY_REDIRECT (307), PERMANENT_REDIRECT (308). */
  responseCode: 301 | 302 | 303 | 307 | 308;
  stripQuery: boolean;
  httpsRedirect: boolean;
}

export interface DirectResponseAction {
  status: number;
  /**
   * The body as a byte string, one char (≤ 0xff) per byte, ready for latin1Encode:
   * body.inline_string's UTF-8 bytes, or body.inline_bytes decoded. filename is not supported.
   */
  body?: string;
}

// ---- Access logs (access_log on the HTTP connection manager and tcp_proxy) ----------

/**
 * One access log (envoy.config.accesslog.v3.AccessLog). The stdout and stderr loggers
 * are files too: "/dev/stdout" and "/dev/stderr" (the port writes the process's own fds).
 */
export interface AccessLogConfig {
  name: string;
  /** The canonical extension name. */
  type: "envoy.access_loggers.file" | "envoy.access_loggers.stdout" | "envoy.access_loggers.stderr";
  path: string;
  format: AccessLogFormatConfig;
}

/**
 * A validated format (core/access-log/format.ts compiles it). Every string in it is a
 * byte string, one char (≤ 0xff) per byte: the config's UTF-8, as log lines are bytes.
 * No format configured means Envoy's default text format.
 */
export type AccessLogFormatConfig =
  | {
      type: "text";
      /** Command operators (%REQ(:PATH)%, …) and literals; "%%" is a literal "%". */
      format: string;
      /** Unset values print "" instead of "-". */
      omitEmptyValues: boolean;
    }
  | {
      type: "json";
      /** Keys map to format strings, numbers, nested objects or lists. */
      json: { [key: string]: AccessLogJsonValue };
      /** true: a value that is exactly one operator keeps its type (numbers, null); false (the deprecated FileAccessLog.json_format): every value is a string. */
      typed: boolean;
      /** Keys whose value is unset are left out (lists drop such items). */
      omitEmptyValues: boolean;
      /** json_format_options.sort_properties: keys sorted; otherwise in config order. */
      sortProperties: boolean;
    };

export type AccessLogJsonValue = string | number | AccessLogJsonValue[] | { [key: string]: AccessLogJsonValue };

// ---- Health checking and outlier detection (config/health-check-schema.ts) ----------

/** A half-open range [start, end) of HTTP status codes (envoy.type.v3.Int64Range). */
export interface StatusRange {
  start: number;
  end: number;
}

export interface HttpHealthCheckConfig {
  kind: "http";
  /** `host`; empty: the cluster's name is sent as Host, as Envoy does. */
  host: string;
  path: string;
  method: string;
  /** Ranges a response status must fall in to pass (default [200, 201)). */
  expectedStatuses: StatusRange[];
  /** Failing statuses that only count toward unhealthy_threshold instead of failing at once. */
  retriableStatuses: StatusRange[];
  requestHeadersToAdd: HeaderValueOption[];
  requestHeadersToRemove: string[];
  /** `receive` payloads as lowercase hex; empty: the body is not checked. */
  receive: string[];
  /** response_buffer_size: how much of the body `receive` looks at (default 1024). */
  responseBufferSize: number;
}

export interface TcpHealthCheckConfig {
  kind: "tcp";
  /** Lowercase hex; empty: connect only. */
  send: string;
  /** Lowercase hex payloads, all expected in order in what the host answers. */
  receive: string[];
}

export interface HealthCheckConfig {
  timeoutMs: number;
  intervalMs: number;
  initialJitterMs: number;
  intervalJitterMs: number;
  intervalJitterPercent: number;
  unhealthyThreshold: number;
  healthyThreshold: number;
  reuseConnection: boolean;
  noTrafficIntervalMs: number;
  /** Defaults to no_traffic_interval. */
  noTrafficHealthyIntervalMs: number;
  /** Default: interval. */
  unhealthyIntervalMs: number;
  unhealthyEdgeIntervalMs: number;
  healthyEdgeIntervalMs: number;
  alwaysLogHealthCheckFailures: boolean;
  alwaysLogHealthCheckSuccess: boolean;
  checker: HttpHealthCheckConfig | TcpHealthCheckConfig;
}

export interface OutlierDetectionConfig {
  consecutive5xx: number;
  intervalMs: number;
  baseEjectionTimeMs: number;
  maxEjectionPercent: number;
  enforcingConsecutive5xx: number;
  enforcingSuccessRate: number;
  successRateMinimumHosts: number;
  successRateRequestVolume: number;
  /** Divided by 1000 when applied (1900 → 1.9 standard deviations). */
  successRateStdevFactor: number;
  consecutiveGatewayFailure: number;
  enforcingConsecutiveGatewayFailure: number;
  splitExternalLocalOriginErrors: boolean;
  consecutiveLocalOriginFailure: number;
  enforcingConsecutiveLocalOriginFailure: number;
  enforcingLocalOriginSuccessRate: number;
  failurePercentageThreshold: number;
  enforcingFailurePercentage: number;
  enforcingFailurePercentageLocalOrigin: number;
  failurePercentageMinimumHosts: number;
  failurePercentageRequestVolume: number;
  maxEjectionTimeMs: number;
  maxEjectionTimeJitterMs: number;
  successfulActiveHealthCheckUnejectHost: boolean;
  alwaysEjectOneHost: boolean;
}
