/**
 * envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager:
 * the supported subset, with Envoy's defaults. Routes are given inline (route_config) or
 * by RDS from a file (rds); `tracing` works without a tracer (tracing-schema.ts).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, boolTrue, nonEmptyString, optionalBool, optionalString, strictObject, stringEmpty } from "./shared-schemas.ts";
import { DYNAMIC_FORWARD_PROXY_FILTER_TYPE_URL, DYNAMIC_FORWARD_PROXY_PER_ROUTE_TYPE_URL, dynamicForwardProxyFilterConfig, dynamicForwardProxyPerRouteConfig } from "./dynamic-forward-proxy-schema.ts";
import { lazySchema } from "./lazy-schema.ts";
import { enableTrailers } from "./http1-trailers-schema.ts";
import type {
  CidrRangeConfig,
  EscapedSlashesAction,
  Http1ProtocolOptionsConfig,
  Http2ProtocolOptionsConfig,
  HttpConnectionManagerConfig,
  LocalReplyConfig,
  LocalReplyMapperConfig,
  PathNormalizationConfig,
  RdsConfig,
  RouterConfig,
  ScriptHttpFilterConfig,
  UserHttpFilterConfig,
} from "./bootstrap.ts";
import { codeFilterRefusal, USER_FILTER_TYPE, userHttpFilter } from "./user-filter-schema.ts";
import { accessLogs, bodyFormat } from "../access-log/access-log-schema.ts";
import { accessLogFilter } from "../access-log/filter-schema.ts";
import { headerValueOption } from "./custom-headers-schema.ts";
import { dataSource } from "./data-source-schema.ts";
import { durationMs, headerValue, oneOf, uint32 } from "./proto-schema.ts";
import { parseIp } from "../network/cidr-range.ts";
import { hcmTracing } from "./tracing-schema.ts";
import { routeConfiguration } from "./route-config-schema.ts";
import { configSourceSchema } from "./xds/config-source-schema.ts";
import { emptyRouteConfiguration } from "../http/route/empty-route-config.ts";
import { healthCheckFilterConfig } from "./health-check-filter-schema.ts";
import { LOCAL_RATE_LIMIT_TYPE_URL, localRateLimitConfig, localRateLimitPerRouteConfig } from "./local-ratelimit-schema.ts";
import { FAULT_TYPE_URL, faultConfig } from "./fault-schema.ts";
import { CORS_POLICY_TYPE_URL, CORS_TYPE_URL, corsFilterConfig, corsPolicy } from "./cors-schema.ts";
import { CSRF_POLICY_TYPE_URL, csrfPolicy } from "./csrf-schema.ts";
import { CHECKSUM_TYPE_URL, checksumConfig } from "./checksum-schema.ts";
import { CUSTOM_RESPONSE_TYPE_URL, customResponseConfig } from "./custom-response-schema.ts";
import { HEADER_TO_METADATA_TYPE_URL, headerToMetadataConfig, headerToMetadataPerRouteConfig } from "./header-to-metadata-schema.ts";
import { HEADER_MUTATION_PER_ROUTE_TYPE_URL, HEADER_MUTATION_TYPE_URL, headerMutationConfig, headerMutationPerRouteConfig } from "./header-mutation-schema.ts";
import { BUFFER_PER_ROUTE_TYPE_URL, BUFFER_TYPE_URL, bufferConfig, bufferPerRouteConfig } from "./buffer-schema.ts";
import { COMPRESSOR_PER_ROUTE_TYPE_URL, COMPRESSOR_TYPE_URL, compressorConfig, compressorPerRouteConfig } from "./compressor-schema.ts";
import { CACHE_TYPE_URL, cacheConfig } from "./cache-schema.ts";
import { LUA_PER_ROUTE_TYPE_URL, LUA_TYPE_URL, luaConfig, luaPerRouteConfig } from "./lua-schema.ts";
import { DECOMPRESSOR_TYPE_URL, decompressorConfig } from "./decompressor-schema.ts";
import { registerPerRouteConfigSchema } from "./per-filter-config-schema.ts";
import { JWT_AUTHN_PER_ROUTE_TYPE_URL, JWT_AUTHN_TYPE_URL, jwtAuthnConfig, jwtAuthnPerRouteConfig } from "./jwt-authn-schema.ts";
import { OAUTH2_TYPE_URL, oauth2Config } from "./oauth2-schema.ts";
import { RBAC_PER_ROUTE_TYPE_URL, RBAC_TYPE_URL, rbacFilterConfig, rbacPerRouteConfig } from "./rbac-schema.ts";
import { RATE_LIMIT_PER_ROUTE_TYPE_URL, RATE_LIMIT_TYPE_URL, rateLimitConfig, rateLimitPerRouteConfig } from "./ratelimit-schema.ts";
import { EXT_AUTHZ_PER_ROUTE_TYPE_URL, EXT_AUTHZ_TYPE_URL, extAuthzConfig, extAuthzPerRouteConfig } from "./ext-authz-schema.ts";
import { EXT_PROC_PER_ROUTE_TYPE_URL, EXT_PROC_TYPE_URL, extProcConfig, extProcPerRouteConfig } from "./ext-proc-schema.ts";
import { missingExtension } from "./missing-extension.ts";
import { GRPC_JSON_TRANSCODER_TYPE_URL, grpcJsonTranscoderConfig } from "./grpc-json-transcoder-schema.ts";
import { GRPC_STATS_TYPE_URL, grpcStatsConfig } from "./grpc-stats-schema.ts";
import { upstreamHttpFilterSchemas } from "./upstream-http-filters-schema.ts";

/** Envoy's stream_idle_timeout default: 5 minutes. */
const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 300_000;
/** Envoy's common_http_protocol_options.idle_timeout default: 1 hour. */
const DEFAULT_IDLE_TIMEOUT_MS = 3_600_000;
/** Envoy's max_headers_count default. */
const DEFAULT_MAX_HEADERS_COUNT = 100;
/** Envoy's max_request_headers_kb default (and its maximum, 8192). */
const DEFAULT_MAX_REQUEST_HEADERS_KB = 60;

// ---- HTTP filters ------------------------------------------------------------------

type HttpFilterType = UserHttpFilterConfig["type"];

/**
 * Every supported HTTP filter, by canonical name. `terminal` filters end the chain
 * (Envoy checks that exactly the last filter is terminal).
 */
type HttpFilterKind<T extends HttpFilterType> = {
  typeUrl: string;
  typedConfig: z.ZodType<Extract<UserHttpFilterConfig, { type: T }>["config"]>;
  terminal: boolean;
  /** The per-route message it takes in typed_per_filter_config, if any (its "@type" and schema). */
  perRoute?: { typeUrl: string; schema: z.ZodType };
};

/**
 * The upstream HTTP filter lists (a cluster's http_filters, the router's upstream_http_filters
 * below), made over this table: they check their filters as httpFilter does.
 */
export const upstreamHttpFilterLists = upstreamHttpFilterSchemas(() => ({ typeUrls: HTTP_FILTERS, httpFilter, httpFilterType }));

export const HTTP_FILTERS: { [T in HttpFilterType]: HttpFilterKind<T> } = {
  "envoy.filters.http.router": {
    typeUrl: "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
    // suppress_envoy_headers, dynamic_stats (a BoolValue, true when unset), start_child_span and upstream_http_filters: every other field is an error.
    typedConfig: lazySchema(() =>
  strictObject({ suppress_envoy_headers: boolFalse, dynamic_stats: optionalBool, start_child_span: boolFalse, upstream_http_filters: upstreamHttpFilterLists.router.optional() }).transform(
    (c): RouterConfig => ({
      ...(c.suppress_envoy_headers && { suppressEnvoyHeaders: true as const }),
      ...(c.dynamic_stats === false && { dynamicStats: false as const }),
      ...(c.start_child_span && { startChildSpan: true as const }),
      ...(c.upstream_http_filters !== undefined && { upstreamHttpFilters: c.upstream_http_filters }),
    }),
  )),
    terminal: true,
  },
  "envoy.filters.http.health_check": {
    typeUrl: "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck",
    typedConfig: healthCheckFilterConfig,
    terminal: false,
  },
  "envoy.filters.http.local_ratelimit": {
    typeUrl: LOCAL_RATE_LIMIT_TYPE_URL,
    typedConfig: localRateLimitConfig,
    terminal: false,
    // The same message, with its token bucket required.
    perRoute: { typeUrl: LOCAL_RATE_LIMIT_TYPE_URL, schema: localRateLimitPerRouteConfig },
  },
  "envoy.filters.http.fault": {
    typeUrl: FAULT_TYPE_URL,
    typedConfig: faultConfig,
    terminal: false,
    // A route's HTTPFault replaces the filter's.
    perRoute: { typeUrl: FAULT_TYPE_URL, schema: faultConfig },
  },
  "envoy.filters.http.buffer": {
    typeUrl: BUFFER_TYPE_URL,
    typedConfig: bufferConfig,
    terminal: false,
    perRoute: { typeUrl: BUFFER_PER_ROUTE_TYPE_URL, schema: bufferPerRouteConfig },
  },
  // No per-route config: Envoy's cache filter has none (cache.proto: "once route-specific overrides are implemented").
  "envoy.filters.http.cache": {
    typeUrl: CACHE_TYPE_URL,
    typedConfig: cacheConfig,
    terminal: false,
  },
  "envoy.filters.http.lua": {
    typeUrl: LUA_TYPE_URL,
    typedConfig: luaConfig,
    terminal: false,
    perRoute: { typeUrl: LUA_PER_ROUTE_TYPE_URL, schema: luaPerRouteConfig },
  },
  "envoy.filters.http.cors": {
    typeUrl: CORS_TYPE_URL,
    typedConfig: corsFilterConfig,
    terminal: false,
    perRoute: { typeUrl: CORS_POLICY_TYPE_URL, schema: corsPolicy },
  },
  "envoy.filters.http.grpc_web": {
    typeUrl: "type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb",
    typedConfig: lazySchema(() =>
  strictObject({})),
    terminal: false,
  },
  "envoy.filters.http.grpc_http1_bridge": {
    typeUrl: "type.googleapis.com/envoy.extensions.filters.http.grpc_http1_bridge.v3.Config",
    typedConfig: lazySchema(() =>
  strictObject({ upgrade_protobuf_to_grpc: boolFalse, ignore_query_parameters: boolFalse })
      .transform((c) => ({ upgradeProtobufToGrpc: c.upgrade_protobuf_to_grpc, ignoreQueryParameters: c.ignore_query_parameters }))),
    terminal: false,
  },
  "envoy.filters.http.grpc_stats": {
    typeUrl: GRPC_STATS_TYPE_URL,
    typedConfig: grpcStatsConfig,
    terminal: false,
  },
  "envoy.filters.http.grpc_json_transcoder": {
    typeUrl: GRPC_JSON_TRANSCODER_TYPE_URL,
    typedConfig: grpcJsonTranscoderConfig,
    terminal: false,
    // The same message per route: it replaces the filter's (an empty `services` disables it there).
    perRoute: { typeUrl: GRPC_JSON_TRANSCODER_TYPE_URL, schema: grpcJsonTranscoderConfig },
  },
  "envoy.filters.http.csrf": {
    typeUrl: CSRF_POLICY_TYPE_URL,
    typedConfig: csrfPolicy,
    terminal: false,
    perRoute: { typeUrl: CSRF_POLICY_TYPE_URL, schema: csrfPolicy },
  },
  // No per-route config: Envoy's checksum filter has none.
  "envoy.filters.http.checksum": {
    typeUrl: CHECKSUM_TYPE_URL,
    typedConfig: checksumConfig,
    terminal: false,
  },
  "envoy.filters.http.custom_response": {
    typeUrl: CUSTOM_RESPONSE_TYPE_URL,
    typedConfig: customResponseConfig,
    terminal: false,
    // The same message per route: its matching policy wins over the filter's.
    perRoute: { typeUrl: CUSTOM_RESPONSE_TYPE_URL, schema: customResponseConfig },
  },
  "envoy.filters.http.header_mutation": {
    typeUrl: HEADER_MUTATION_TYPE_URL,
    typedConfig: headerMutationConfig,
    terminal: false,
    perRoute: { typeUrl: HEADER_MUTATION_PER_ROUTE_TYPE_URL, schema: headerMutationPerRouteConfig },
  },
  "envoy.filters.http.header_to_metadata": {
    typeUrl: HEADER_TO_METADATA_TYPE_URL,
    typedConfig: headerToMetadataConfig,
    terminal: false,
    // The same message per route (Envoy's per_route Config, which must have rules).
    perRoute: { typeUrl: HEADER_TO_METADATA_TYPE_URL, schema: headerToMetadataPerRouteConfig },
  },
  "envoy.filters.http.rbac": {
    typeUrl: RBAC_TYPE_URL,
    typedConfig: rbacFilterConfig,
    terminal: false,
    perRoute: { typeUrl: RBAC_PER_ROUTE_TYPE_URL, schema: rbacPerRouteConfig },
  },
  "envoy.filters.http.ext_authz": {
    typeUrl: EXT_AUTHZ_TYPE_URL,
    typedConfig: extAuthzConfig,
    terminal: false,
    perRoute: { typeUrl: EXT_AUTHZ_PER_ROUTE_TYPE_URL, schema: extAuthzPerRouteConfig },
  },
  "envoy.filters.http.ext_proc": {
    typeUrl: EXT_PROC_TYPE_URL,
    typedConfig: extProcConfig,
    terminal: false,
    perRoute: { typeUrl: EXT_PROC_PER_ROUTE_TYPE_URL, schema: extProcPerRouteConfig },
  },
  "envoy.filters.http.ratelimit": {
    typeUrl: RATE_LIMIT_TYPE_URL,
    typedConfig: rateLimitConfig,
    terminal: false,
    perRoute: { typeUrl: RATE_LIMIT_PER_ROUTE_TYPE_URL, schema: rateLimitPerRouteConfig },
  },
  "envoy.filters.http.compressor": {
    typeUrl: COMPRESSOR_TYPE_URL,
    typedConfig: compressorConfig,
    terminal: false,
    perRoute: { typeUrl: COMPRESSOR_PER_ROUTE_TYPE_URL, schema: compressorPerRouteConfig },
  },
  "envoy.filters.http.decompressor": {
    typeUrl: DECOMPRESSOR_TYPE_URL,
    typedConfig: decompressorConfig,
    terminal: false,
  },
  "envoy.filters.http.jwt_authn": {
    typeUrl: JWT_AUTHN_TYPE_URL,
    typedConfig: jwtAuthnConfig,
    terminal: false,
    perRoute: { typeUrl: JWT_AUTHN_PER_ROUTE_TYPE_URL, schema: jwtAuthnPerRouteConfig },
  },
  "envoy.filters.http.oauth2": {
    typeUrl: OAUTH2_TYPE_URL,
    typedConfig: oauth2Config,
    terminal: false,
  },
  "envoy.filters.http.dynamic_forward_proxy": {
    typeUrl: DYNAMIC_FORWARD_PROXY_FILTER_TYPE_URL,
    typedConfig: dynamicForwardProxyFilterConfig,
    terminal: false,
    perRoute: { typeUrl: DYNAMIC_FORWARD_PROXY_PER_ROUTE_TYPE_URL, schema: dynamicForwardProxyPerRouteConfig },
  },
};

for (const kind of Object.values(HTTP_FILTERS) as { perRoute?: { typeUrl: string; schema: z.ZodType } }[]) {
  if (kind.perRoute) registerPerRouteConfigSchema(kind.perRoute.typeUrl, kind.perRoute.schema);
}

const HTTP_FILTER_PREFIX = "envoy.filters.http.";

/** Like network filters (schema.ts): the typed_config's "@type" decides when there is one, else the name. */
export function httpFilterType(name: string, typeUrl: string | undefined): HttpFilterType | undefined {
  for (const [type, kind] of Object.entries(HTTP_FILTERS) as [HttpFilterType, { typeUrl: string }][]) {
    if (typeUrl !== undefined ? kind.typeUrl === typeUrl : type === name) return type;
  }
  return undefined;
}

/** envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter */
export const httpFilter = lazySchema(() =>
  strictObject({
    name: nonEmptyString,
    typed_config: z.looseObject({ "@type": optionalString }).optional(),
  })
  .transform((filter, ctx): UserHttpFilterConfig | ScriptHttpFilterConfig => {
    const { "@type": typeUrl, ...fields } = filter.typed_config ?? {};
    const type = httpFilterType(filter.name, typeUrl);
    if (type === undefined) {
      const user = userHttpFilter(filter.name, typeUrl, fields, ctx);
      if (user !== undefined) return user;
      const refusal = codeFilterRefusal(filter.name, typeUrl);
      if (refusal !== undefined) {
        ctx.addIssue({ code: "custom", message: refusal });
        return z.NEVER;
      }
      ctx.addIssue({ code: "custom", message: missingExtension("http", filter.name, typeUrl, Object.keys(HTTP_FILTERS)) });
      return z.NEVER;
    }
    const config = HTTP_FILTERS[type].typedConfig.safeParse(fields, { reportInput: true });
    if (!config.success) {
      for (const issue of config.error.issues) ctx.addIssue({ ...issue, path: ["typed_config", ...issue.path] });
      return z.NEVER;
    }
    return { name: filter.name, type, config: config.data } as UserHttpFilterConfig;
  }));

/**
 * Envoy's terminal-filter check ("Error: terminal filter named X of type Y must be the
 * last filter in a http filter chain", and the converse). Unlike Envoy, an empty list is
 * refused too: without the router no request would ever be answered.
 */
const httpFilters = lazySchema(() =>
  z.array(httpFilter).superRefine((filters, ctx) => {
  if (filters.length === 0) {
    ctx.addIssue({ code: "custom", message: "must contain envoy.filters.http.router (the filter that forwards requests)" });
    return;
  }
  filters.forEach((filter, i) => {
    // An element refused on its own (an empty name: its transform never ran) has no type;
    // its own issue says why, and no terminal check can be made of it.
    if (filter.type !== USER_FILTER_TYPE && !Object.hasOwn(HTTP_FILTERS, filter.type)) return;
    // A user filter never ends the chain.
    const terminal = filter.type !== USER_FILTER_TYPE && HTTP_FILTERS[filter.type].terminal;
    const last = i === filters.length - 1;
    if (terminal && !last) {
      const message = `terminal filter named ${filter.name} of type ${filter.type} must be the last filter in a http filter chain`;
      ctx.addIssue({ code: "custom", message, path: [i] });
    } else if (!terminal && last) {
      const message = `non-terminal filter named ${filter.name} of type ${filter.type} is the last filter in a http filter chain`;
      ctx.addIssue({ code: "custom", message, path: [i] });
    }
  });
}));

// ---- The connection manager ----------------------------------------------------------

/**
 * envoy.config.core.v3.HttpProtocolOptions: idle_timeout, max_headers_count,
 * max_requests_per_connection, max_stream_duration, max_connection_duration and
 * headers_with_underscores_action only.
 */
const commonHttpProtocolOptions = lazySchema(() =>
  strictObject({
  // "If not specified, this defaults to 1 hour." 0 disables it.
  idle_timeout: durationMs.default(DEFAULT_IDLE_TIMEOUT_MS),
  max_headers_count: uint32.min(1).default(DEFAULT_MAX_HEADERS_COUNT),
  headers_with_underscores_action: z.enum(["ALLOW", "REJECT_REQUEST", "DROP_HEADER"]).default("ALLOW"),
  // Unset or 0: no limit.
  max_requests_per_connection: uint32.default(0),
  // Unset or 0: no limit.
  max_stream_duration: durationMs.default(0),
  // Unset or 0: no limit.
  max_connection_duration: durationMs.default(0),
}));

/** commonHttpProtocolOptions.parse({}), without building it. */
const commonHttpProtocolOptionsDefaults = () => ({
  idle_timeout: DEFAULT_IDLE_TIMEOUT_MS,
  max_headers_count: DEFAULT_MAX_HEADERS_COUNT,
  headers_with_underscores_action: "ALLOW" as const,
  max_requests_per_connection: 0,
  max_stream_duration: 0,
  max_connection_duration: 0,
});

/**
 * envoy.config.core.v3.Http1ProtocolOptions: accept_http_10, default_host_for_http_10,
 * header_key_format (proper_case_words only; stateful_formatter is an extension) and
 * enable_trailers (http1-trailers-schema.ts).
 */
const http1ProtocolOptions = lazySchema(() =>
  strictObject({
    accept_http_10: boolFalse,
    default_host_for_http_10: stringEmpty,
    header_key_format: strictObject({ proper_case_words: strictObject({}).optional() }).optional(),
    enable_trailers: enableTrailers,
  })
  .transform(
    (o): Http1ProtocolOptionsConfig => ({
      acceptHttp10: o.accept_http_10,
      // The proto: "a no-op if accept_http_10 is not true".
      defaultHostForHttp10: o.default_host_for_http_10,
      properCaseHeaderKeys: o.header_key_format?.proper_case_words !== undefined,
      enableTrailers: o.enable_trailers,
    }),
  ));

/** http1ProtocolOptions.parse({}), without building it. */
const http1ProtocolOptionsDefaults = (): Http1ProtocolOptionsConfig => ({ acceptHttp10: false, defaultHostForHttp10: "", properCaseHeaderKeys: false, enableTrailers: false });

/**
 * envoy.config.core.v3.Http2ProtocolOptions, the fields the HTTP/2 codec implements
 * (core/http2/protocol-options.ts), with Envoy's ranges; unset fields keep Envoy's defaults
 * (DEFAULT_HTTP2_OPTIONS), and connection_keepalive; allow_connect: extended CONNECT (RFC 8441)
 * advertised and accepted, websockets over HTTP/2 (core/http/codec/http2-headers.ts). Others
 * (custom_settings_parameters, metadata…) are refused by name.
 */
const window = lazySchema(() =>
  z.number().int().min(65535).max(2 ** 31 - 1));
/** Envoy's KeepaliveSettings: durations of at least 1 ms; timeout required. */
const atLeastOneMs = lazySchema(() =>
  durationMs.refine((ms) => ms >= 1, { message: "must be at least 1ms" }));
/**
 * KeepaliveSettings. `connection_idle_interval` is read by Envoy's client codec alone (a PING
 * before a new stream on a connection idle that long): refused on the HCM as meaningless.
 */
const keepaliveSettingsFor = (where: "hcm" | "cluster") =>
  lazySchema(() =>
    strictObject({
        interval: atLeastOneMs.optional(),
        timeout: atLeastOneMs.optional(),
        interval_jitter: strictObject({ value: z.number().min(0).max(100).default(0) }).optional(),
        connection_idle_interval:
          where === "cluster"
            ? atLeastOneMs.optional()
            : z
                .unknown()
                .optional()
                .refine((v) => v === undefined, { message: "connection_idle_interval applies to upstream (client) connections only, not to the HTTP connection manager's" }),
      })
      .superRefine((k, ctx) => {
        if (k.timeout === undefined) ctx.addIssue({ code: "custom", path: ["timeout"], message: "missing required field" });
      })
      .transform((k) => ({
        intervalMs: k.interval ?? 0,
        timeoutMs: k.timeout ?? 0,
        intervalJitterPercent: k.interval_jitter?.value ?? 15,
        ...(typeof k.connection_idle_interval === "number" ? { connectionIdleIntervalMs: k.connection_idle_interval } : {}),
      })),
  );
const keepaliveSettings = keepaliveSettingsFor("hcm");
const clusterKeepaliveSettings = keepaliveSettingsFor("cluster");
const positive = lazySchema(() =>
  uint32.min(1));
const http2ProtocolOptionsFor = (keepalive: typeof keepaliveSettings) => strictObject({
    hpack_table_size: uint32.optional(),
    max_concurrent_streams: z.number().int().min(1).max(2 ** 31 - 1).optional(),
    initial_stream_window_size: window.optional(),
    initial_connection_window_size: window.optional(),
    allow_connect: optionalBool,
    allow_metadata: z.literal(false).optional(),
    max_outbound_frames: positive.optional(),
    max_outbound_control_frames: positive.optional(),
    max_consecutive_inbound_frames_with_empty_payload: uint32.optional(),
    max_inbound_priority_frames_per_stream: uint32.optional(),
    max_inbound_window_update_frames_per_data_frame_sent: positive.optional(),
    override_stream_error_on_invalid_http_message: optionalBool,
    // Deprecated for the override above, which wins when both are set (Envoy's parseHttp2Settings).
    stream_error_on_invalid_http_messaging: optionalBool,
    connection_keepalive: keepalive.optional(),
  })
  .transform((o): Http2ProtocolOptionsConfig => {
    const out: Http2ProtocolOptionsConfig = {};
    if (o.connection_keepalive !== undefined) out.connectionKeepalive = o.connection_keepalive;
    if (o.allow_connect === true) out.allowConnect = true;
    if (o.hpack_table_size !== undefined) out.hpackTableSize = o.hpack_table_size;
    if (o.max_concurrent_streams !== undefined) out.maxConcurrentStreams = o.max_concurrent_streams;
    if (o.initial_stream_window_size !== undefined) out.initialStreamWindowSize = o.initial_stream_window_size;
    if (o.initial_connection_window_size !== undefined) out.initialConnectionWindowSize = o.initial_connection_window_size;
    if (o.max_outbound_frames !== undefined) out.maxOutboundFrames = o.max_outbound_frames;
    if (o.max_outbound_control_frames !== undefined) out.maxOutboundControlFrames = o.max_outbound_control_frames;
    if (o.max_consecutive_inbound_frames_with_empty_payload !== undefined) out.maxConsecutiveInboundFramesWithEmptyPayload = o.max_consecutive_inbound_frames_with_empty_payload;
    if (o.max_inbound_priority_frames_per_stream !== undefined) out.maxInboundPriorityFramesPerStream = o.max_inbound_priority_frames_per_stream;
    if (o.max_inbound_window_update_frames_per_data_frame_sent !== undefined) out.maxInboundWindowUpdateFramesPerDataFrameSent = o.max_inbound_window_update_frames_per_data_frame_sent;
    const streamError = o.override_stream_error_on_invalid_http_message ?? o.stream_error_on_invalid_http_messaging;
    if (streamError !== undefined) out.streamErrorOnInvalidHttpMessage = streamError;
    return out;
  });
/** The HCM's http2_protocol_options. */
export const http2ProtocolOptions = lazySchema(() =>
  http2ProtocolOptionsFor(keepaliveSettings));
/** A cluster's: the same fields, its connection_keepalive without connection_idle_interval. */
export const clusterHttp2ProtocolOptions = lazySchema(() =>
  http2ProtocolOptionsFor(clusterKeepaliveSettings));

function isDefaultHttp1(o: Http1ProtocolOptionsConfig): boolean {
  return !o.acceptHttp10 && o.defaultHostForHttp10 === "" && !o.properCaseHeaderKeys && !o.enableTrailers;
}

/** LocalReplyConfig.ResponseMapper: filter is required; status_code in [200, 600). */
const responseMapper = lazySchema(() =>
  strictObject({
    filter: accessLogFilter,
    status_code: z.number().int().min(200).max(599).optional(),
    body: dataSource.optional(),
    body_format_override: bodyFormat.optional(),
    headers_to_add: z.array(headerValueOption).max(1000).default([]),
  })
  .transform((m): LocalReplyMapperConfig => {
    const mapper: LocalReplyMapperConfig = { filter: m.filter, headersToAdd: m.headers_to_add };
    if (m.status_code !== undefined) mapper.statusCode = m.status_code;
    if (m.body !== undefined) mapper.body = m.body;
    if (m.body_format_override !== undefined) mapper.bodyFormatOverride = m.body_format_override;
    return mapper;
  }));

/** HttpConnectionManager.local_reply_config (Envoy's LocalReplyConfig). */
const localReplyConfig = lazySchema(() =>
  strictObject({ mappers: z.array(responseMapper).default([]), body_format: bodyFormat.optional() })
  .transform((c): LocalReplyConfig => (c.body_format === undefined ? { mappers: c.mappers } : { mappers: c.mappers, bodyFormat: c.body_format })));

/** HttpConnectionManager.scheme_header_transformation (SchemeHeaderTransformation). */
const schemeHeaderTransformation = lazySchema(() =>
  strictObject({
  // Envoy: string in: ["http", "https"].
  scheme_to_overwrite: z.enum(["http", "https"]).optional(),
  match_upstream: boolFalse,
}));

/** normalize_path, merge_slashes and path_with_escaped_slashes_action, or undefined when all are Envoy's defaults (no per-request work). */
function pathNormalization(normalizePath: boolean, mergeSlashes: boolean, escaped: string): PathNormalizationConfig | undefined {
  // IMPLEMENTATION_SPECIFIC_DEFAULT: Envoy's runtime default is KEEP_UNCHANGED.
  const escapedSlashesAction = escaped === "IMPLEMENTATION_SPECIFIC_DEFAULT" ? "KEEP_UNCHANGED" : (escaped as EscapedSlashesAction);
  if (!normalizePath && !mergeSlashes && escapedSlashesAction === "KEEP_UNCHANGED") return undefined;
  return { normalizePath, mergeSlashes, escapedSlashesAction };
}

/** UpgradeConfig: the type only (no per-upgrade filters, no `enabled`). Envoy compares it case-insensitively. */
const upgradeConfig = lazySchema(() =>
  strictObject({ upgrade_type: nonEmptyString }).transform((u) => u.upgrade_type.toLowerCase()));

const upgradeConfigs = lazySchema(() =>
  z.array(upgradeConfig).superRefine((types, ctx) => {
  types.forEach((type, i) => {
    if (types.indexOf(type) !== i) {
      ctx.addIssue({ code: "custom", message: `multiple upgrade configs with the same name: "${type}"`, path: [i, "upgrade_type"] });
    }
  });
}));

/** envoy.config.core.v3.CidrRange: an IP literal and a prefix length within its version's bits. */
const cidrRange = lazySchema(() =>
  strictObject({
    address_prefix: nonEmptyString,
    prefix_len: z.union([uint32, strictObject({ value: uint32.default(0) }).transform((w) => w.value)]).default(0),
  })
  .transform((r, ctx): CidrRangeConfig => {
    const ip = parseIp(r.address_prefix);
    if (ip === undefined) ctx.addIssue({ code: "custom", message: `malformed IP address: ${r.address_prefix}`, path: ["address_prefix"] });
    else if (r.prefix_len > ip.length * 8) ctx.addIssue({ code: "custom", message: `must be at most ${ip.length * 8} for ${r.address_prefix}`, path: ["prefix_len"] });
    return { addressPrefix: r.address_prefix, prefixLen: r.prefix_len };
  }));

/**
 * InternalAddressConfig: which trusted client addresses are internal (x-envoy-internal,
 * x-envoy-* kept). cidr_ranges replace the default RFC 1918 / loopback / unique-local
 * test; empty, the default stays (http_connection_manager config.h). unix_sockets: a
 * Unix socket (pipe) peer is internal (InternalAddressConfig::isInternalAddress).
 */
const internalAddressConfig = lazySchema(() =>
  strictObject({ unix_sockets: boolFalse, cidr_ranges: z.array(cidrRange).default([]) })
  .transform((c) => ({ cidrRanges: c.cidr_ranges, unixSockets: c.unix_sockets })));

/**
 * HttpConnectionManager.SetCurrentClientCertDetails, as the list Envoy builds from it
 * (http_connection_manager/config.cc): Subject, Cert, Chain, URI, DNS, in that order.
 */
const setCurrentClientCertDetails = lazySchema(() =>
  strictObject({
    subject: z.union([z.boolean(), strictObject({ value: z.boolean() }).transform((v) => v.value)]).default(false),
    cert: boolFalse,
    chain: boolFalse,
    dns: boolFalse,
    uri: boolFalse,
  })
  .transform((d) => {
    const details: ("Subject" | "Cert" | "Chain" | "URI" | "DNS")[] = [];
    if (d.subject) details.push("Subject");
    if (d.cert) details.push("Cert");
    if (d.chain) details.push("Chain");
    if (d.uri) details.push("URI");
    if (d.dns) details.push("DNS");
    return details;
  }));

/** HttpConnectionManager.Rds: the route configuration by name, from a ConfigSource (a file). */
const rds = lazySchema(() =>
  strictObject({
    config_source: configSourceSchema("RDS", "server"),
    route_config_name: nonEmptyString,
  })
  .transform((r): RdsConfig => ({ configSource: r.config_source, routeConfigName: r.route_config_name })));

export const httpConnectionManager = lazySchema(() =>
  strictObject({
    stat_prefix: nonEmptyString,
    // AUTO sniffs HTTP/2's preface in Envoy; with HTTP/1 only, AUTO means HTTP/1.1.
    // AUTO: HTTP/2 when the first bytes are the client preface (h2c prior knowledge), else HTTP/1.1.
    codec_type: z.enum(["AUTO", "HTTP1", "HTTP2"]).default("AUTO"),
    // oneof route_specifier (required); scoped_routes is refused as an unknown field.
    route_config: routeConfiguration.optional(),
    rds: rds.optional(),
    http_filters: httpFilters.prefault([]),
    use_remote_address: boolFalse,
    xff_num_trusted_hops: uint32.default(0),
    skip_xff_append: boolFalse,
    append_x_forwarded_port: boolFalse,
    internal_address_config: internalAddressConfig.optional(),
    tracing: hcmTracing.optional(),
    generate_request_id: boolTrue,
    server_name: stringEmpty,
    server_header_transformation: z.enum(["OVERWRITE", "APPEND_IF_ABSENT", "PASS_THROUGH"]).default("OVERWRITE"),
    stream_idle_timeout: durationMs.default(DEFAULT_STREAM_IDLE_TIMEOUT_MS),
    request_timeout: durationMs.default(0),
    request_headers_timeout: durationMs.default(0),
    drain_timeout: durationMs.optional(),
    delayed_close_timeout: durationMs.optional(),
    // Absent (also http_protocol_options and http2_protocol_options): its fields' defaults,
    // what parsing {} gives (test/unit/config/hcm-absent-defaults.test.ts holds them to it);
    // a default rather than prefault({}), which built and ran the whole message's schema
    // for every HCM that leaves it out.
    common_http_protocol_options: commonHttpProtocolOptions.default(commonHttpProtocolOptionsDefaults),
    // Envoy: gt 0, lte 8192.
    max_request_headers_kb: z.number().int().min(1).max(8192).default(DEFAULT_MAX_REQUEST_HEADERS_KB),
    upgrade_configs: upgradeConfigs.default([]),
    access_log: accessLogs,
    // Envoy: "If not configured, the default is false" (runtime http_connection_manager.normalize_path).
    normalize_path: boolFalse,
    merge_slashes: boolFalse,
    path_with_escaped_slashes_action: z
      .enum(["IMPLEMENTATION_SPECIFIC_DEFAULT", "KEEP_UNCHANGED", "REJECT_REQUEST", "UNESCAPE_AND_REDIRECT", "UNESCAPE_AND_FORWARD"])
      .default("IMPLEMENTATION_SPECIFIC_DEFAULT"),
    scheme_header_transformation: schemeHeaderTransformation.optional(),
    // Envoy: well_known_regex HTTP_HEADER_VALUE, not strict.
    via: headerValue.default(""),
    forward_client_cert_details: z.enum(["SANITIZE", "FORWARD_ONLY", "APPEND_FORWARD", "SANITIZE_SET", "ALWAYS_FORWARD_ONLY"]).default("SANITIZE"),
    set_current_client_cert_details: setCurrentClientCertDetails.optional(),
    add_user_agent: boolFalse,
    preserve_external_request_id: boolFalse,
    always_set_request_id_in_response: boolFalse,
    // oneof strip_port_mode; strip_matching_host_port is a plain bool, strip_any_host_port too.
    strip_matching_host_port: boolFalse,
    strip_any_host_port: boolFalse,
    http_protocol_options: http1ProtocolOptions.default(http1ProtocolOptionsDefaults),
    http2_protocol_options: http2ProtocolOptions.default(() => ({})),
    local_reply_config: localReplyConfig.optional(),
  })
  .superRefine((c, ctx) => {
    oneOf(c, ["route_config", "rds"] as const, ctx, true);
    if (c.strip_matching_host_port && c.strip_any_host_port) {
      ctx.addIssue({ code: "custom", message: "only one of strip_matching_host_port, strip_any_host_port may be set", path: ["strip_any_host_port"] });
    }
  })
  .transform(
    (c): HttpConnectionManagerConfig => ({
      statPrefix: c.stat_prefix,
      codecType: c.codec_type,
      // Only when set: configs without it compare equal to what they were.
      ...(Object.keys(c.http2_protocol_options).length > 0 ? { http2: c.http2_protocol_options } : {}),
      routeConfig: c.route_config ?? emptyRouteConfiguration(c.rds?.routeConfigName ?? ""),
      ...optional("rds", c.rds),
      httpFilters: c.http_filters,
      useRemoteAddress: c.use_remote_address,
      xffNumTrustedHops: c.xff_num_trusted_hops,
      ...optional("skipXffAppend", c.skip_xff_append || undefined),
      ...optional("appendXForwardedPort", c.append_x_forwarded_port || undefined),
      ...(c.internal_address_config !== undefined && c.internal_address_config.cidrRanges.length > 0 && { internalCidrRanges: c.internal_address_config.cidrRanges }),
      ...(c.internal_address_config?.unixSockets === true && { internalUnixSockets: true }),
      generateRequestId: c.generate_request_id,
      // Envoy: an empty server_name means the default, "envoy".
      serverName: c.server_name === "" ? "envoy" : c.server_name,
      serverHeaderTransformation: c.server_header_transformation,
      streamIdleTimeoutMs: c.stream_idle_timeout,
      requestTimeoutMs: c.request_timeout,
      requestHeadersTimeoutMs: c.request_headers_timeout,
      ...optional("drainTimeoutMs", c.drain_timeout),
      ...optional("delayedCloseTimeoutMs", c.delayed_close_timeout),
      idleTimeoutMs: c.common_http_protocol_options.idle_timeout,
      maxHeadersCount: c.common_http_protocol_options.max_headers_count,
      maxRequestHeadersKb: c.max_request_headers_kb,
      upgradeTypes: c.upgrade_configs,
      // Only when configured: configs without access logs compare equal to what they were.
      ...(c.access_log.length > 0 ? { accessLog: c.access_log } : {}),
      // Only when not at the defaults, likewise, and so that requests pay nothing for them.
      ...optional("pathNormalization", pathNormalization(c.normalize_path, c.merge_slashes, c.path_with_escaped_slashes_action)),
      ...optional("maxConnectionDurationMs", c.common_http_protocol_options.max_connection_duration || undefined),
      ...optional("maxStreamDurationMs", c.common_http_protocol_options.max_stream_duration || undefined),
      ...optional("maxRequestsPerConnection", c.common_http_protocol_options.max_requests_per_connection || undefined),
      ...optional("schemeToOverwrite", c.scheme_header_transformation?.scheme_to_overwrite),
      ...optional("schemeMatchUpstream", c.scheme_header_transformation?.match_upstream || undefined),
      ...optional("via", c.via || undefined),
      ...optional("forwardClientCert", c.forward_client_cert_details === "SANITIZE" ? undefined : c.forward_client_cert_details),
      ...optional("clientCertDetails", c.set_current_client_cert_details?.length ? c.set_current_client_cert_details : undefined),
      // Envoy's user agent is the local node's cluster: schema.ts fills it in from the bootstrap's node.
      ...optional("addUserAgent", c.add_user_agent ? (true as const) : undefined),
      ...optional("preserveExternalRequestId", c.preserve_external_request_id || undefined),
      ...optional("alwaysSetRequestIdInResponse", c.always_set_request_id_in_response || undefined),
      ...optional("stripPortMode", c.strip_any_host_port ? ("any" as const) : c.strip_matching_host_port ? ("matching" as const) : undefined),
      ...optional("localReply", c.local_reply_config),
      ...optional("tracing", c.tracing),
      ...optional("http1", isDefaultHttp1(c.http_protocol_options) ? undefined : c.http_protocol_options),
      ...optional("headersWithUnderscoresAction", c.common_http_protocol_options.headers_with_underscores_action === "ALLOW" ? undefined : c.common_http_protocol_options.headers_with_underscores_action),
    }),
  ));

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
