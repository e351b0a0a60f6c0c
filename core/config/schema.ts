/**
 * Zod schemas for the supported subset of Envoy's v3 bootstrap, read after keys are
 * normalized to snake_case. Every object is strict: a field Envoy has but we do not
 * implement is an error, never silently ignored, so a config cannot mean more to the
 * user than it does to the proxy. Each schema's output is already the `Bootstrap`
 * shape, with Envoy's defaults applied next to the field they belong to.
 * Cross-object checks (names, references) are in `load.ts`.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import { utf8Encode } from "../util/utf8.ts";
import * as z from "./schema-kit/index.ts";
import { boolFalse, boolTrue, nonEmptyString, optionalBool, optionalNonEmptyString, optionalString, strictObject, stringEmpty } from "./shared-schemas.ts";
import { upstreamConnectionOptions } from "./upstream-connection-options-schema.ts";
import { lazySchema } from "./lazy-schema.ts";
import { clusterMatchCriteria, metadataMatch, metadataSchema } from "./metadata-schema.ts";
import { lbSubsetConfig } from "./lb-subset-schema.ts";
import { networkRbacConfig } from "./rbac-schema.ts";
import { mysqlProxyConfig } from "./mysql-proxy-schema.ts";
import { kafkaBrokerConfig } from "./kafka-broker-schema.ts";
import { redisProxyConfig } from "./redis-proxy-schema.ts";
import { postgresProxyConfig } from "./postgres-proxy-schema.ts";
import type { Bootstrap, CidrRangeConfig, ClusterConfig, DnsCacheSettings, DownstreamTlsConfig, DynamicForwardProxyFilterConfig, EdsClusterConfig, Http2ProtocolOptionsConfig, UpstreamTlsConfig, ConnectionLimitConfig, FilterChainConfig, FilterChainMatchConfig, HttpFilterConfig, LbEndpointConfig, ListenerFilterConfig, LoadBalancingConfig, LocalityLbEndpointsConfig, ListenerConfig, NetworkFilterConfig, ProxyProtocolConfig, RedisUpstreamAuth, RetryBudgetConfig, SocketAddressConfig, TcpProxyConfig, TcpTunnelingConfig, TlsInspectorConfig, XdsConfigSource } from "./bootstrap.ts";
import { dataSource } from "./data-source-schema.ts";
import { NETWORK_SCRIPT_TYPE_URL, networkScriptConfig } from "./user-filter-schema.ts";
import { parseIp } from "../network/cidr-range.ts";
import { FilterChainConfigError, FilterChainManager } from "../network/filter-chain-manager.ts";
import { DEFAULT_LISTENER_FILTERS_TIMEOUT_MS } from "../network/listener-filters/listener-filter.ts";
import { codeFilterRefusal } from "./user-filter-schema.ts";
import { parseDurationMs } from "./duration.ts";
import { clusterHttp2ProtocolOptions, httpConnectionManager, upstreamHttpFilterLists } from "./http-connection-manager-schema.ts";
import { accessLogs, defaultFileAccessLog } from "../access-log/access-log-schema.ts";
import { healthChecks, outlierDetection } from "./health-check-schema.ts";
import { overloadManager } from "./overload-schema.ts";
import { formatAddress } from "../network/address.ts";
import { checkDnsFields, dnsClusterConfig, dnsClusterFields } from "./dns-cluster-schema.ts";
import { lbPolicyFields, loadBalancingConfig } from "./lb-policy-schema.ts";
import { layeredRuntime } from "./runtime-schema.ts";
import { applicationLogConfig } from "./application-log-config-schema.ts";
import { statsConfig } from "./stats-config-schema.ts";
import { bootstrapTracing } from "./tracing-schema.ts";
import { statsSink } from "./stats-sinks-schema.ts";
import { downstreamTransportSocket, secretSchema, upstreamTransportSocket } from "../tls/tls-context-schema.ts";
import { checkStaticSecrets } from "../tls/static-secrets-check.ts";
import { isEmptyList, isFalse, unsupportedField } from "./unsupported-field.ts";
import { headerValueOption } from "./custom-headers-schema.ts";
import { FormatError, parseFormat } from "../access-log/format.ts";
import { resolveEnvironmentCommands } from "../access-log/environment-command.ts";
import { enableTrailers } from "./http1-trailers-schema.ts";
import { apiConfigSource, configSourceSchema } from "./xds/config-source-schema.ts";
import { missingExtension } from "./missing-extension.ts";
import { AGGREGATE_IGNORED_FIELDS, clusterProvidedMismatch, customClusterType } from "./aggregate-cluster-schema.ts";
import { SNI_DYNAMIC_FORWARD_PROXY_TYPE_URL, sniDynamicForwardProxyConfig } from "./dynamic-forward-proxy-schema.ts";
import { checkOriginalDstCluster, originalDstConfig, originalDstLbConfig } from "./original-dst-cluster-schema.ts";
import { DEFAULT_UDP_MAX_DATAGRAM_SIZE, UDP_PROXY_NAME, isUdpProxyFilter, udpListenerConfig, udpProxyConfig, type UdpProxyConfig } from "./udp-proxy-schema.ts";
import { setGoogleGrpcClusterParser } from "./google-grpc-target.ts";
import { PIPE_KEEPALIVE_REFUSAL } from "../upstream/tcp-keepalive.ts";

/** Envoy's default per_connection_buffer_limit_bytes for listeners and clusters: 1 MiB. */
const DEFAULT_BUFFER_LIMIT_BYTES = 1024 * 1024;
/** Envoy's tcp_proxy idle_timeout default: 1 hour. */
const DEFAULT_TCP_IDLE_TIMEOUT_MS = 3_600_000;
/** Envoy's cluster connect_timeout default: 5 s. */
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/** A google.protobuf.Duration, output in milliseconds. */
const duration = lazySchema(() =>
  z.unknown().transform((value, ctx) => {
  const result = parseDurationMs(value);
  if (result.ok) return result.ms;
  ctx.addIssue({ code: "custom", message: result.error });
  return z.NEVER;
}));

/** A google.protobuf.UInt32Value buffer limit. */
const bufferLimitBytes = lazySchema(() =>
  z.number().int().min(1).max(0xffff_ffff));

const isIpLiteral = lazySchema(() =>
  z.union([z.ipv4(), z.ipv6()]));

/**
 * Envoy parses listener, admin and STATIC endpoint addresses as IP literals
 * ("malformed IP address"); host names need a DNS cluster type.
 */
const ipAddress = lazySchema(() =>
  z.string().superRefine((text, ctx) => {
  if (!isIpLiteral.safeParse(text).success) ctx.addIssue({ code: "custom", message: notAnIpAddress(text) });
}));

function notAnIpAddress(text: string): string {
  return `"${text}" is not an IP address (Envoy needs an IPv4 or IPv6 literal here, not a host name)`;
}

/**
 * socket_address.ipv4_compat: true is what every runtime's socket on :: does (IPV6_V6ONLY off:
 * IPv4 clients too, as ::ffff:a.b.c.d). false — Envoy's default — makes a socket on :: IPv6
 * only (Ipv6Instance's v6only, source/common/network/address_impl.cc), which no runtime can
 * do: refused there. Elsewhere false changes nothing (Envoy ignores the field on an IPv4
 * address; a specific IPv6 address takes IPv6 clients only either way): accepted.
 */
function ipv4CompatOnAny(s: { address: string; ipv4_compat?: boolean | undefined }, ctx: z.RefinementCtx): void {
  if (s.ipv4_compat !== false) return;
  const bytes = parseIp(s.address);
  if (bytes === undefined || bytes.length !== 16 || bytes.some((b) => b !== 0)) return;
  ctx.addIssue({ code: "custom", path: ["ipv4_compat"], message: "only true on ::: a socket on :: takes IPv4 clients too (dual-stack) on every runtime; an IPv6-only socket (Envoy's false) is not supported" });
}

/**
 * envoy.config.core.v3.SocketAddress: port_value only (no named_port), TCP only. The
 * admin's address (its one use): ipv4_compat as a listener's, since the admin listens
 * as a listener does (Envoy resolves both with Network::Address::resolveProtoAddress).
 */
const socketAddress = lazySchema(() =>
  strictObject({
    address: ipAddress,
    port_value: z.number().int().min(0).max(65535),
    protocol: z.enum(["TCP"]).optional(),
    ipv4_compat: z.boolean().optional(),
  })
  .superRefine(ipv4CompatOnAny)
  .transform((s): SocketAddressConfig => ({ address: s.address, port: s.port_value })));

/** A listener's address: TCP, or UDP for a listener whose one listener filter is the UDP proxy. */
const listenerAddress = lazySchema(() =>
  strictObject({
    pipe: pipeAddress.optional(),
    socket_address: strictObject({
      address: ipAddress,
      port_value: z.number().int().min(0).max(65535),
      protocol: z.enum(["TCP", "UDP"]).default("TCP"),
      ipv4_compat: z.boolean().optional(),
    }).superRefine(ipv4CompatOnAny).optional(),
  })
  .superRefine(oneAddress)
  // A pipe is a stream socket: a listener on one is a TCP listener (Envoy's UDP listener needs an IP address).
  .transform((a) => (a.pipe !== undefined ? { address: a.pipe, protocol: "TCP" as const } : { address: { address: a.socket_address!.address, port: a.socket_address!.port_value } as SocketAddressConfig, protocol: a.socket_address!.protocol })));

/**
 * envoy.config.core.v3.Pipe: a Unix domain socket. Envoy's PipeInstance checks
 * (source/common/network/address_impl.cc): the path fits sun_path (108 bytes on Linux,
 * its terminating NUL included); `@name` is Linux's abstract namespace, which has no file
 * and so no mode; a filesystem path has no NUL in it. mode: `lte: 511` (address.proto).
 */
const pipeAddress = lazySchema(() =>
  strictObject({
    path: nonEmptyString,
    mode: z.number().int().min(0).max(0o777).default(0),
  })
  .superRefine((p, ctx) => {
    if (utf8Encode(p.path).length >= 108) ctx.addIssue({ code: "custom", path: ["path"], message: `Path "${p.path}" exceeds maximum UNIX domain socket path size of 108.` });
    if (p.path.startsWith("@")) {
      if (p.mode !== 0) ctx.addIssue({ code: "custom", path: ["mode"], message: "Cannot set mode for Abstract AF_UNIX sockets" });
    } else if (p.path.includes("\0")) {
      ctx.addIssue({ code: "custom", path: ["path"], message: `UNIX domain socket pathname contains embedded null characters: a NUL is only the abstract namespace's first byte ("@" in the config)` });
    }
  })
  .transform((p): SocketAddressConfig => ({ address: p.path, port: 0, pipe: { mode: p.mode } })));

/** Address's oneof: exactly one of its variants. */
function oneAddress(a: { socket_address?: unknown; pipe?: unknown }, ctx: z.RefinementCtx): void {
  const set = (a.socket_address !== undefined ? 1 : 0) + (a.pipe !== undefined ? 1 : 0);
  if (set !== 1) ctx.addIssue({ code: "custom", message: set === 0 ? "an address needs socket_address or pipe" : "socket_address and pipe are one oneof (address): set one" });
}

/** envoy.config.core.v3.Address: socket_address or pipe (no envoy_internal_address). */
const address = lazySchema(() =>
  strictObject({ socket_address: socketAddress.optional(), pipe: pipeAddress.optional() })
  .superRefine(oneAddress)
  .transform((a) => (a.socket_address ?? a.pipe)!));

/**
 * An endpoint's address: an IP literal, or for STRICT_DNS and LOGICAL_DNS clusters a
 * name to resolve. The cluster checks which (it knows its type).
 */
const endpointAddress = lazySchema(() =>
  strictObject({
    socket_address: strictObject({
      address: nonEmptyString,
      port_value: z.number().int().min(0).max(65535),
      protocol: z.enum(["TCP"]).optional(),
    }).optional(),
    pipe: pipeAddress.optional(),
  })
  .superRefine(oneAddress)
  .transform((a): SocketAddressConfig => a.pipe ?? { address: a.socket_address!.address, port: a.socket_address!.port_value }));


// ---- Network filters ---------------------------------------------------------------

/** TcpProxy.WeightedCluster: each cluster's weight is at least 1 (tcp_proxy.proto). */
const tcpWeightedClusters = lazySchema(() =>
  strictObject({
    clusters: z.array(strictObject({ name: nonEmptyString, weight: z.number().int().min(1).max(0xffff_ffff), metadata_match: metadataMatch.optional() })).min(1),
  })
  .superRefine((w, ctx) => {
    if (w.clusters.reduce((sum, c) => sum + c.weight, 0) > 0xffff_ffff) ctx.addIssue({ code: "custom", message: "the sum of weights must not exceed 4294967295", path: ["clusters"] });
  }));

/** A request-target or authority byte no HTTP/1.1 request line or HTTP/2 field may carry. */
const UNSAFE_TARGET = /[\0\r\n \t]/;
/** An authority's bytes are visible ASCII (RFC 3986 §3.2): a control byte may split a lenient upstream's request line. */
const NOT_AUTHORITY = /[^\x21-\x7e]/;
/**
 * Fields that frame or route the tunnel's request itself: added by hand they would cut the
 * tunnel's bytes short (content-length) or contradict the codec's framing.
 */
const TUNNEL_FRAMING_HEADERS = new Set(["content-length", "transfer-encoding", "connection", "upgrade", "te", "keep-alive", "proxy-connection"]);

/**
 * TcpProxy.TunnelingConfig: hostname (min_len 1, a substitution format, as Envoy's
 * TunnelingConfigHelperImpl compiles it), use_post / post_path, headers_to_add. The
 * propagate_* fields save the response's headers or trailers as filter state, which no
 * polyvoy filter reads: refused.
 */
const tcpTunnelingConfig = lazySchema(() =>
  strictObject({
    hostname: nonEmptyString,
    use_post: boolFalse,
    headers_to_add: z.array(headerValueOption).max(1000).default([]),
    propagate_response_headers: unsupportedField("polyvoy keeps no filter state for a network filter to read the response headers from", isFalse),
    post_path: optionalString,
    propagate_response_trailers: unsupportedField("polyvoy keeps no filter state for a network filter to read the response trailers from", isFalse),
    // Generates a request ID for the tunnel's request and stores it as dynamic metadata: not built.
    request_id_extension: unsupportedField("no request ID extension is built for tunnels"),
  })
  .transform((t, ctx): TcpTunnelingConfig => {
    let hostnameFormatted = false;
    // A hostname without commands is its literal text, `%%` read as "%" (as formattedHeaderValue).
    let hostname = t.hostname;
    try {
      hostname = resolveEnvironmentCommands(t.hostname);
      const parts = parseFormat(hostname);
      hostnameFormatted = parts.some((part) => typeof part !== "string");
      if (!hostnameFormatted) hostname = parts.join("");
    } catch (err) {
      if (!(err instanceof FormatError)) throw err;
      ctx.addIssue({ code: "custom", message: err.message, path: ["hostname"] });
    }
    if (UNSAFE_TARGET.test(hostname)) ctx.addIssue({ code: "custom", message: "must not contain whitespace, CR, LF or NUL", path: ["hostname"] });
    else if (!hostnameFormatted && NOT_AUTHORITY.test(hostname)) ctx.addIssue({ code: "custom", message: "must be visible ASCII (an authority: host:port)", path: ["hostname"] });
    t.headers_to_add.forEach((h, i) => {
      if (TUNNEL_FRAMING_HEADERS.has(h.key.toLowerCase())) ctx.addIssue({ code: "custom", message: `${h.key} frames the tunnel's request and may not be added`, path: ["headers_to_add", i, "header", "key"] });
    });
    // Envoy's TunnelingConfigHelperImpl: "Can't set a post path when POST method isn't used".
    if (t.post_path !== undefined && t.post_path !== "" && !t.use_post) ctx.addIssue({ code: "custom", message: "Can't set a post path when POST method isn't used", path: ["post_path"] });
    else if (t.post_path !== undefined && (!t.post_path.startsWith("/") || UNSAFE_TARGET.test(t.post_path))) {
      ctx.addIssue({ code: "custom", message: "must be a path starting with '/', without whitespace, CR, LF or NUL", path: ["post_path"] });
    }
    return {
      hostname,
      ...(hostnameFormatted ? { hostnameFormatted: true as const } : {}),
      usePost: t.use_post,
      postPath: t.post_path || "/",
      headersToAdd: t.headers_to_add,
    };
  }));

/** envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy. */
const tcpProxy = lazySchema(() =>
  strictObject({
    stat_prefix: nonEmptyString,
    cluster: optionalString,
    weighted_clusters: tcpWeightedClusters.optional(),
    // The subset load balancer's criteria (a weighted cluster's merged over them).
    metadata_match: metadataMatch.optional(),
    // "If not set, defaults to 1 hour. If set to 0s, the timeout will be disabled."
    idle_timeout: duration.default(DEFAULT_TCP_IDLE_TIMEOUT_MS),
    // google.protobuf.UInt32Value, gte 1; Envoy's default is 1.
    max_connect_attempts: z.number().int().min(1).max(0xffff_ffff).optional(),
    access_log: accessLogs,
    // TcpAccessLogOptions: flush_access_log_on_connected (Envoy's Filter::onUpstreamConnection
    // logs once more, as TcpUpstreamConnected); periodic flushes are not written yet, nor the
    // log at the connection's start (newer than the pinned protos: SharedConfig::flushAccessLogOnStart).
    access_log_options: strictObject({
      flush_access_log_on_connected: z.boolean().default(false),
      access_log_flush_interval: unsupportedField("periodic tcp_proxy access logs (TcpPeriodic) are not written yet"),
      flush_access_log_on_start: unsupportedField("no access log is written at the connection's start", isFalse),
    }).optional(),
    // Deprecated for access_log_options.flush_access_log_on_connected, which it means when
    // that is unset (tcp_proxy.cc SharedConfig: both set is an error, refined below).
    flush_access_log_on_connected: z.boolean().default(false),
    // envoy.type.v3.HashPolicy, at most one: source_ip only (filter_state needs a hashable filter state object, which nothing stores).
    hash_policy: z.array(strictObject({ source_ip: strictObject({}) })).max(1).optional(),
    tunneling_config: tcpTunnelingConfig.optional(),
  })
  .superRefine((c, ctx) => {
    // the cluster_specifier oneof: exactly one of them
    if ((c.cluster === undefined) === (c.weighted_clusters === undefined)) {
      ctx.addIssue({ code: "custom", message: "set exactly one of cluster and weighted_clusters", path: [c.cluster === undefined ? "cluster" : "weighted_clusters"] });
    }
    // Envoy's words (tcp_proxy.cc, Config::SharedConfig).
    if (c.access_log_options !== undefined && c.flush_access_log_on_connected) {
      ctx.addIssue({ code: "custom", message: "Only one of flush_access_log_on_connected or access_log_options can be specified.", path: ["flush_access_log_on_connected"] });
    }
  })
  .transform(
    (c): TcpProxyConfig => ({
      statPrefix: c.stat_prefix,
      clusters: (c.weighted_clusters?.clusters ?? [{ name: c.cluster ?? "", weight: 1, metadata_match: undefined }]).map((w) => {
        const criteria = clusterMatchCriteria(c.metadata_match, w.metadata_match);
        return { name: w.name, weight: w.weight, ...(criteria !== undefined ? { metadataMatch: criteria } : {}) };
      }),
      idleTimeoutMs: c.idle_timeout,
      ...(c.max_connect_attempts !== undefined && c.max_connect_attempts !== 1 ? { maxConnectAttempts: c.max_connect_attempts } : {}),
      ...(c.hash_policy !== undefined && c.hash_policy.length > 0 ? { hashSourceIp: true } : {}),
      // Only when configured: configs without access logs compare equal to what they were.
      ...(c.access_log.length > 0 ? { accessLog: c.access_log } : {}),
      ...((c.access_log_options?.flush_access_log_on_connected ?? c.flush_access_log_on_connected) ? { flushAccessLogOnConnected: true as const } : {}),
      ...(c.tunneling_config !== undefined ? { tunneling: c.tunneling_config } : {}),
    }),
  ));

/** envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit */
const connectionLimit = lazySchema(() =>
  strictObject({
    stat_prefix: nonEmptyString,
    // Envoy: required, gte 1 (a UInt64Value; JSON gives it as a number or a string).
    max_connections: z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]).pipe(z.number().int().min(1)),
    delay: duration.optional(),
  })
  .transform((c): ConnectionLimitConfig => ({ statPrefix: c.stat_prefix, maxConnections: c.max_connections, delayMs: c.delay ?? 0 })));

type NetworkFilterType = NetworkFilterConfig["type"];
type ConfigOf<T extends NetworkFilterType> = Extract<NetworkFilterConfig, { type: T }>["config"];

/**
 * Every supported network filter, by canonical name, with the type URL of its
 * typed_config and the schema that validates it and builds its config. To add a filter,
 * add its variant to `NetworkFilterConfig` in bootstrap.ts and an entry here (the
 * compiler asks for it).
 */
export const NETWORK_FILTERS: { [T in NetworkFilterType]: { typeUrl: string; typedConfig: z.ZodType<ConfigOf<T>> } } = {
  "envoy.filters.network.tcp_proxy": {
    typeUrl: "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
    typedConfig: tcpProxy,
  },
  "envoy.filters.network.http_connection_manager": {
    typeUrl: "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    typedConfig: httpConnectionManager,
  },
  "envoy.filters.network.connection_limit": {
    typeUrl: "type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit",
    typedConfig: connectionLimit,
  },
  "envoy.filters.network.rbac": {
    typeUrl: "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC",
    typedConfig: networkRbacConfig,
  },
  "envoy.filters.network.postgres_proxy": {
    typeUrl: "type.googleapis.com/envoy.extensions.filters.network.postgres_proxy.v3alpha.PostgresProxy",
    typedConfig: postgresProxyConfig,
  },
  "envoy.filters.network.mysql_proxy": {
    typeUrl: "type.googleapis.com/envoy.extensions.filters.network.mysql_proxy.v3.MySQLProxy",
    typedConfig: mysqlProxyConfig,
  },
  "envoy.filters.network.kafka_broker": {
    typeUrl: "type.googleapis.com/envoy.extensions.filters.network.kafka_broker.v3.KafkaBroker",
    typedConfig: kafkaBrokerConfig,
  },
  "envoy.filters.network.redis_proxy": {
    typeUrl: "type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy",
    typedConfig: redisProxyConfig,
  },
  "polyvoy.filters.network.script": {
    typeUrl: NETWORK_SCRIPT_TYPE_URL,
    typedConfig: networkScriptConfig,
  },
  "envoy.filters.network.sni_dynamic_forward_proxy": {
    typeUrl: SNI_DYNAMIC_FORWARD_PROXY_TYPE_URL,
    typedConfig: sniDynamicForwardProxyConfig,
  },
};

/**
 * The filter kind a config names. Like Envoy, the typed_config's "@type" decides
 * when there is one (the name is then only a label); otherwise the name does.
 */
export function networkFilterType(name: string, typeUrl: string | undefined): NetworkFilterType | undefined {
  for (const [type, kind] of Object.entries(NETWORK_FILTERS) as [NetworkFilterType, { typeUrl: string }][]) {
    if (typeUrl !== undefined ? kind.typeUrl === typeUrl : type === name) return type;
  }
  return undefined;
}

/** envoy.config.listener.v3.Filter */
const networkFilter = lazySchema(() =>
  strictObject({
    name: nonEmptyString,
    // A google.protobuf.Any in JSON: "@type" plus the message's own fields. "@type" is
    // optional here: without it the filter name says what the fields are.
    typed_config: z.looseObject({ "@type": optionalString }).optional(),
  })
  .transform((filter, ctx): NetworkFilterConfig => {
    const { "@type": typeUrl, ...fields } = filter.typed_config ?? {};
    const type = networkFilterType(filter.name, typeUrl);
    if (type === undefined) {
      const refusal = codeFilterRefusal(filter.name, typeUrl);
      ctx.addIssue({ code: "custom", message: refusal ?? missingExtension("network", filter.name, typeUrl, Object.keys(NETWORK_FILTERS)) });
      return z.NEVER;
    }
    // Parsed on its own (the schema depends on "@type"); its issues are re-rooted here.
    const config = NETWORK_FILTERS[type].typedConfig.safeParse(fields, { reportInput: true });
    if (!config.success) {
      for (const issue of config.error.issues) ctx.addIssue({ ...issue, path: ["typed_config", ...issue.path] });
      return z.NEVER;
    }
    // A network Script is named by its chain entry (its stats, its log lines).
    if (type === "polyvoy.filters.network.script") (config.data as { filterName: string }).filterName = filter.name;
    return { name: filter.name, type, config: config.data } as NetworkFilterConfig;
  }));

// ---- Listeners -------------------------------------------------------------------

/** A google.protobuf.UInt32Value: a number, or `{ value }`. */
const uint32Value = lazySchema(() =>
  z.union([z.number(), strictObject({ value: z.number() }).transform((w) => w.value)]));
/** A google.protobuf.BoolValue: a bool, or `{ value }`. */
const boolValue = lazySchema(() =>
  z.union([z.boolean(), strictObject({ value: z.boolean() }).transform((w) => w.value)]));
const portNumber = lazySchema(() =>
  z.number().int().min(1).max(65535));

/** envoy.config.core.v3.CidrRange, checked as Envoy's CidrRange::create checks it. */
const cidrRange = lazySchema(() =>
  strictObject({
    address_prefix: nonEmptyString,
    prefix_len: uint32Value.pipe(z.number().int().min(0).max(128)).default(0),
  })
  .superRefine((c, ctx) => {
    const ip = parseIp(c.address_prefix);
    if (ip === undefined) ctx.addIssue({ code: "custom", path: ["address_prefix"], message: `malformed IP address: ${c.address_prefix}` });
    else if (c.prefix_len > ip.length * 8) ctx.addIssue({ code: "custom", path: ["prefix_len"], message: `${c.prefix_len} is longer than an IPv${ip.length === 4 ? 4 : 6} address (${ip.length * 8} bits)` });
  })
  .transform((c): CidrRangeConfig => ({ addressPrefix: c.address_prefix, prefixLen: c.prefix_len })));

/**
 * envoy.config.listener.v3.FilterChainMatch: every field Envoy evaluates. address_suffix
 * and suffix_len, which Envoy itself refuses ("contains unimplemented fields"), are not accepted.
 */
const filterChainMatch = lazySchema(() =>
  strictObject({
    destination_port: uint32Value.pipe(portNumber).optional(),
    prefix_ranges: z.array(cidrRange).default([]),
    direct_source_prefix_ranges: z.array(cidrRange).default([]),
    source_type: z.enum(["ANY", "SAME_IP_OR_LOOPBACK", "EXTERNAL"]).default("ANY"),
    source_prefix_ranges: z.array(cidrRange).default([]),
    source_ports: z.array(portNumber).default([]),
    server_names: z.array(
      z.string().superRefine((name, ctx) => {
        // Envoy matches "*.example.com" and exact names only.
        if (name.includes("*") && !name.startsWith("*.")) ctx.addIssue({ code: "custom", message: 'partial wildcards are not supported in "server_names"' });
      }),
    ).default([]),
    transport_protocol: stringEmpty,
    application_protocols: z.array(z.string()).default([]),
  })
  .transform(
    (m): FilterChainMatchConfig => ({
      destinationPort: m.destination_port ?? 0,
      prefixRanges: m.prefix_ranges,
      directSourcePrefixRanges: m.direct_source_prefix_ranges,
      sourceType: m.source_type,
      sourcePrefixRanges: m.source_prefix_ranges,
      sourcePorts: m.source_ports,
      // As written: the duplicate check compares them so (FilterChainManager lower-cases them for matching).
      serverNames: m.server_names,
      transportProtocol: m.transport_protocol,
      applicationProtocols: m.application_protocols,
    }),
  ));

/** The network filters of a chain, with Envoy's terminal-filter check. */
const networkFilters = lazySchema(() =>
  z
  .array(networkFilter)
  .min(1)
  .superRefine((filters, ctx) => {
    // Envoy's terminal-filter check: tcp_proxy and the HCM end a chain, nothing else may.
    filters.forEach((filter, i) => {
      const terminal = filter.type !== "envoy.filters.network.connection_limit" && filter.type !== "envoy.filters.network.rbac" && filter.type !== "envoy.filters.network.postgres_proxy" && filter.type !== "envoy.filters.network.mysql_proxy" && filter.type !== "envoy.filters.network.kafka_broker" && filter.type !== "polyvoy.filters.network.script" && filter.type !== "envoy.filters.network.sni_dynamic_forward_proxy";
      const last = i === filters.length - 1;
      if (terminal && !last) {
        const message = `terminal filter named ${filter.name} of type ${filter.type} must be the last filter in a network filter chain`;
        ctx.addIssue({ code: "custom", message, path: [i] });
      } else if (!terminal && last) {
        const message = `non-terminal filter named ${filter.name} of type ${filter.type} is the last filter in a network filter chain`;
        ctx.addIssue({ code: "custom", message, path: [i] });
      }
    });
  }));

/**
 * envoy.config.listener.v3.FilterChain: its name, filter_chain_match, transport socket
 * (TLS termination, core/tls; raw_buffer or absent: plaintext) and network filters.
 */
const filterChain = lazySchema(() =>
  strictObject({
    name: optionalString,
    filter_chain_match: filterChainMatch.optional(),
    transport_socket: downstreamTransportSocket.optional(),
    // Envoy's default is 0: no timeout (listener_impl.cc's FilterChainImpl).
    transport_socket_connect_timeout: duration.optional(),
    filters: networkFilters,
  })
  .transform(
    (c): FilterChainConfig => ({
      ...(c.name ? { name: c.name } : {}),
      ...(c.filter_chain_match ? { match: c.filter_chain_match } : {}),
      ...(c.transport_socket ? { transportSocket: c.transport_socket } : {}),
      ...(c.transport_socket_connect_timeout ? { transportSocketConnectTimeoutMs: c.transport_socket_connect_timeout } : {}),
      filters: c.filters,
    }),
  ));


/** envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector */
const tlsInspector = lazySchema(() =>
  strictObject({
    // JA3: the connection's %TLS_JA3_FINGERPRINT% (listener-filters/client-hello-parser.ts). JA4 is not written yet.
    enable_ja3_fingerprinting: boolValue.optional(),
    enable_ja4_fingerprinting: boolValue.pipe(z.literal(false, { message: "not supported: JA4 fingerprinting (polyvoy has no JA4 fingerprint to log)" })).optional(),
    // Envoy: gt 255, lt 65537. A read-size hint there; here reads are what the socket gives.
    initial_read_buffer_size: uint32Value.pipe(z.number().int().min(256).max(65536)).optional(),
    // Envoy: gt 255, lte 16384 (SSL3_RT_MAX_PLAIN_LENGTH, its default).
    max_client_hello_size: uint32Value.pipe(z.number().int().min(256).max(16384)).optional(),
    close_connection_on_client_hello_parsing_errors: boolFalse,
  })
  .transform((c): TlsInspectorConfig => ({
    ...(c.initial_read_buffer_size !== undefined ? { initialReadBufferSize: c.initial_read_buffer_size } : {}),
    ...(c.max_client_hello_size !== undefined ? { maxClientHelloSize: c.max_client_hello_size } : {}),
    ...(c.close_connection_on_client_hello_parsing_errors ? { closeOnParsingErrors: true as const } : {}),
    ...(c.enable_ja3_fingerprinting === true ? { enableJa3Fingerprinting: true as const } : {}),
  })));

/** envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol (rules and pass_through_tlvs are not accepted: they feed dynamic metadata and filter state, which polyvoy does not have). */
const proxyProtocol = lazySchema(() =>
  strictObject({
    allow_requests_without_proxy_protocol: boolFalse,
    disallowed_versions: z.array(z.enum(["V1", "V2"])).default([]),
    stat_prefix: optionalString,
  })
  .transform(
    (c): ProxyProtocolConfig => ({
      allowRequestsWithoutProxyProtocol: c.allow_requests_without_proxy_protocol,
      disallowedVersions: c.disallowed_versions,
      ...(c.stat_prefix ? { statPrefix: c.stat_prefix } : {}),
    }),
  ));

type ListenerFilterType = ListenerFilterConfig["type"];

/** Every supported listener filter, by canonical name: its typed_config's type URL, deprecated names, and schema. */
export const LISTENER_FILTERS: { [T in ListenerFilterType]: { typeUrl: string; aliases: string[]; typedConfig: z.ZodType<Extract<ListenerFilterConfig, { type: T }>["config"]> } } = {
  "envoy.filters.listener.tls_inspector": {
    typeUrl: "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
    aliases: ["envoy.listener.tls_inspector"],
    typedConfig: tlsInspector,
  },
  "envoy.filters.listener.http_inspector": {
    typeUrl: "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector",
    aliases: ["envoy.listener.http_inspector"],
    typedConfig: lazySchema(() =>
  strictObject({}).transform((): Record<string, never> => ({}))),
  },
  "envoy.filters.listener.proxy_protocol": {
    typeUrl: "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol",
    aliases: ["envoy.listener.proxy_protocol"],
    typedConfig: proxyProtocol,
  },
};

/** Listener filters Envoy has that cannot work here, and why. */
const REFUSED_LISTENER_FILTERS: Record<string, string> = {
  "envoy.filters.listener.original_dst":
    "envoy.filters.listener.original_dst (it reads a redirected connection's original destination, SO_ORIGINAL_DST) is an Envoy listener filter that polyvoy does not have: the runtimes' socket APIs do not give it",
  "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst": "",
  "envoy.listener.original_dst": "",
};

/** envoy.config.listener.v3.ListenerFilter (filter_disabled and config_discovery are not accepted). */
const listenerFilter = lazySchema(() =>
  strictObject({
    name: nonEmptyString,
    typed_config: z.looseObject({ "@type": optionalString }).optional(),
  })
  .transform((filter, ctx): ListenerFilterConfig | UdpProxyEntry => {
    const { "@type": typeUrl, ...fields } = filter.typed_config ?? {};
    if (isUdpProxyFilter(filter.name, typeUrl)) {
      const config = udpProxyConfig.safeParse(fields, { reportInput: true });
      if (!config.success) {
        for (const issue of config.error.issues) ctx.addIssue({ ...issue, path: ["typed_config", ...issue.path] });
        return z.NEVER;
      }
      return { name: filter.name, udpProxy: config.data };
    }
    const key = typeUrl ?? filter.name;
    if (key in REFUSED_LISTENER_FILTERS) {
      ctx.addIssue({ code: "custom", message: REFUSED_LISTENER_FILTERS["envoy.filters.listener.original_dst"]! });
      return z.NEVER;
    }
    const type = (Object.keys(LISTENER_FILTERS) as ListenerFilterType[]).find((each) =>
      typeUrl !== undefined ? LISTENER_FILTERS[each].typeUrl === typeUrl : each === filter.name || LISTENER_FILTERS[each].aliases.includes(filter.name),
    );
    if (type === undefined) {
      const udp = filter.name.startsWith("envoy.filters.udp_listener.") || (typeUrl?.includes(".filters.udp.") ?? false);
      ctx.addIssue({ code: "custom", message: missingExtension(udp ? "udp_listener" : "listener", filter.name, typeUrl, Object.keys(LISTENER_FILTERS)) });
      return z.NEVER;
    }
    const config = (LISTENER_FILTERS[type].typedConfig as z.ZodType).safeParse(fields, { reportInput: true });
    if (!config.success) {
      for (const issue of config.error.issues) ctx.addIssue({ ...issue, path: ["typed_config", ...issue.path] });
      return z.NEVER;
    }
    return { name: filter.name, type, config: config.data } as ListenerFilterConfig;
  }));

/** envoy.config.listener.v3.Listener */
export const listenerSchema = lazySchema(() =>
  strictObject({
    name: optionalNonEmptyString,
    address: listenerAddress,
    stat_prefix: optionalString,
    udp_listener_config: udpListenerConfig.optional(),
    filter_chains: z.array(filterChain).default([]),
    default_filter_chain: filterChain.optional(),
    listener_filters: z.array(listenerFilter).default([]),
    listener_filters_timeout: duration.optional(),
    continue_on_listener_filters_timeout: boolFalse,
    // Envoy's HCM tracing reads it (its operation name: egress for OUTBOUND, else ingress).
    traffic_direction: z.enum(["UNSPECIFIED", "INBOUND", "OUTBOUND"]).default("UNSPECIFIED"),
    access_log: accessLogs,
    per_connection_buffer_limit_bytes: bufferLimitBytes.default(DEFAULT_BUFFER_LIMIT_BYTES),
    ignore_global_conn_limit: boolFalse,
    // Envoy balances a listener's connections across one process's worker threads; a polyvoy
    // process has one event loop (one worker), so each connection already goes to the one
    // worker there is. Across `--concurrency` processes, the kernel (reuse_port) or
    // node:cluster spreads them (docs/configuration.md, Listener).
    connection_balance_config: strictObject({ exact_balance: strictObject({}).optional(), extend_balance: unsupportedField("a connection balancer extension") })
      .optional(),
    // How the workers (--concurrency) share the listener: a socket each, bound with
    // SO_REUSEPORT (true, Envoy's default on Linux), or one socket they all accept from
    // (false). Envoy's ListenerImpl::getReusePortOrDefault: enable_reuse_port when set, else
    // the deprecated reuse_port when true, else the server's default (true).
    enable_reuse_port: optionalBool,
    reuse_port: boolFalse,
  })
  .transform((parsed, ctx): ListenerConfig => {
    const { address: { address: listenAt, protocol }, listener_filters: filters, ...rest } = parsed;
    const l = { ...rest, address: listenAt, listener_filters: filters.filter((f): f is ListenerFilterConfig => !("udpProxy" in f)) };
    const at = formatAddress(l.address);
    if (protocol === "UDP") return udpListener(parsed, listenAt, filters, ctx);
    if (l.udp_listener_config !== undefined) ctx.addIssue({ code: "custom", path: ["udp_listener_config"], message: `listener '${at}' is a TCP listener: udp_listener_config is for a socket_address with protocol UDP` });
    filters.forEach((f, i) => {
      if ("udpProxy" in f) ctx.addIssue({ code: "custom", path: ["listener_filters", i], message: `${f.name} is a UDP listener filter: its listener's socket_address needs protocol: UDP` });
    });
    // Checked here, on valid parts only (Envoy's listener_impl.cc and FilterChainManagerImpl::addFilterChains).
    if (l.filter_chains.length === 0 && l.default_filter_chain === undefined) {
      ctx.addIssue({ code: "custom", path: ["filter_chains"], message: `error adding listener '${at}': no filter chains specified` });
    }
    try {
      new FilterChainManager(at, l.filter_chains.map((chain) => ({ name: chain.name ?? "", match: chain.match, chain })), undefined);
    } catch (err) {
      if (!(err instanceof FilterChainConfigError)) throw err;
      ctx.addIssue({ code: "custom", path: ["filter_chains"], message: err.message });
    }
    if (l.traffic_direction === "OUTBOUND") {
      for (const chain of [...l.filter_chains, ...(l.default_filter_chain ? [l.default_filter_chain] : [])]) {
        for (const filter of chain.filters) {
          if (filter.type === "envoy.filters.network.http_connection_manager" && filter.config.tracing) filter.config.tracing = { ...filter.config.tracing, operationName: "egress" };
        }
      }
    }
    return {
      name: l.name ?? formatAddress(l.address),
      address: l.address,
      perConnectionBufferLimitBytes: l.per_connection_buffer_limit_bytes,
      filterChains: l.filter_chains,
      ...(l.default_filter_chain ? { defaultFilterChain: l.default_filter_chain } : {}),
      ...(l.listener_filters.length > 0 ? { listenerFilters: l.listener_filters } : {}),
      ...(l.listener_filters_timeout !== undefined && l.listener_filters_timeout !== DEFAULT_LISTENER_FILTERS_TIMEOUT_MS ? { listenerFiltersTimeoutMs: l.listener_filters_timeout } : {}),
      ...(l.continue_on_listener_filters_timeout ? { continueOnListenerFiltersTimeout: true } : {}),
      ...(l.stat_prefix ? { statPrefix: l.stat_prefix } : {}),
      ...(l.traffic_direction !== "UNSPECIFIED" ? { trafficDirection: l.traffic_direction } : {}),
      ...(l.access_log.length > 0 ? { accessLog: l.access_log } : {}),
      ...(l.ignore_global_conn_limit ? { ignoreGlobalConnLimit: true } : {}),
      ...(l.enable_reuse_port === false ? { reusePort: false as const } : {}),
      ...(l.enable_reuse_port !== undefined && l.reuse_port ? { reusePortBothSet: true as const } : {}),
    };
  }));

/** The UDP proxy as listener_filters parses it, before the listener takes it out. */
interface UdpProxyEntry {
  name: string;
  udpProxy: UdpProxyConfig;
}

/**
 * A listener with protocol UDP: exactly one listener filter, the UDP proxy, and no filter
 * chains (Envoy's ListenerImpl: "Only 1 UDP listener filter per listener supported",
 * "… filter chain(s) specified for connection-less UDP listener"). What only a TCP listener
 * has (listener filters' timeouts, access_log for connections) is refused.
 */
interface ParsedListenerFields {
  name?: string | undefined;
  stat_prefix?: string | undefined;
  filter_chains: readonly unknown[];
  default_filter_chain?: unknown;
  listener_filters_timeout?: number | undefined;
  access_log: readonly unknown[];
  connection_balance_config?: unknown;
  ignore_global_conn_limit: boolean;
  per_connection_buffer_limit_bytes: number;
  enable_reuse_port?: boolean | undefined;
  reuse_port: boolean;
  udp_listener_config?: { maxRxDatagramSize: number } | undefined;
}

function udpListener(l: ParsedListenerFields, address: SocketAddressConfig, filters: readonly (ListenerFilterConfig | UdpProxyEntry)[], ctx: z.RefinementCtx): ListenerConfig {
  const at = formatAddress(address);
  const chains = l.filter_chains.length + (l.default_filter_chain !== undefined ? 1 : 0);
  if (chains > 0) ctx.addIssue({ code: "custom", path: ["filter_chains"], message: `error adding listener '${at}': ${chains} filter chain(s) specified for connection-less UDP listener.` });
  if (filters.length !== 1) ctx.addIssue({ code: "custom", path: ["listener_filters"], message: filters.length === 0 ? `error adding listener '${at}': a UDP listener needs a UDP listener filter (${UDP_PROXY_NAME})` : "Only 1 UDP listener filter per listener supported" });
  filters.forEach((f, i) => {
    if (!("udpProxy" in f)) ctx.addIssue({ code: "custom", path: ["listener_filters", i], message: `${f.name} is a TCP listener filter: a UDP listener takes one UDP listener filter (${UDP_PROXY_NAME})` });
  });
  if (l.listener_filters_timeout !== undefined) ctx.addIssue({ code: "custom", path: ["listener_filters_timeout"], message: "a UDP listener has no listener filter timeout (it is for TCP listener filters)" });
  if (l.access_log.length > 0) ctx.addIssue({ code: "custom", path: ["access_log"], message: "is an Envoy field that polyvoy does not support yet (access logs of a UDP listener)" });
  if (l.connection_balance_config !== undefined) ctx.addIssue({ code: "custom", path: ["connection_balance_config"], message: "a UDP listener has no connections to balance" });
  if (l.ignore_global_conn_limit) ctx.addIssue({ code: "custom", path: ["ignore_global_conn_limit"], message: "a UDP listener has no connections: the global connection limit does not count its sessions" });
  if (l.per_connection_buffer_limit_bytes !== DEFAULT_BUFFER_LIMIT_BYTES) ctx.addIssue({ code: "custom", path: ["per_connection_buffer_limit_bytes"], message: "a UDP listener buffers no connection (a session's datagrams are bounded by max_rx_datagram_size and the send queue)" });
  const proxy = filters.find((f): f is UdpProxyEntry => "udpProxy" in f);
  return {
    name: l.name ?? at,
    address,
    perConnectionBufferLimitBytes: l.per_connection_buffer_limit_bytes,
    filterChains: [],
    ...(l.stat_prefix ? { statPrefix: l.stat_prefix } : {}),
    ...(l.enable_reuse_port === false ? { reusePort: false as const } : {}),
    ...(l.enable_reuse_port !== undefined && l.reuse_port ? { reusePortBothSet: true as const } : {}),
    udp: {
      filterName: proxy?.name ?? UDP_PROXY_NAME,
      proxy: proxy?.udpProxy ?? { statPrefix: "", cluster: "", idleTimeoutMs: 0, upstreamMaxRxDatagramSize: 0 },
      maxRxDatagramSize: l.udp_listener_config?.maxRxDatagramSize ?? DEFAULT_UDP_MAX_DATAGRAM_SIZE,
    },
  };
}

// ---- Clusters --------------------------------------------------------------------

/** envoy.config.endpoint.v3.LbEndpoint: the endpoint's address and hostname, health_status, metadata and weight. */
const lbEndpoint = lazySchema(() =>
  strictObject({
    endpoint: strictObject({
      address: endpointAddress,
      hostname: optionalString,
      // envoy.config.endpoint.v3.Endpoint.HealthCheckConfig
      health_check_config: strictObject({
          port_value: z.number().int().min(0).max(65535).default(0),
          hostname: stringEmpty,
          address: unsupportedField("a health check address of its own"),
          disable_active_health_check: unsupportedField(undefined, isFalse),
        })
        .optional(),
    }),
    health_status: z.enum(["UNKNOWN", "HEALTHY", "UNHEALTHY", "DRAINING", "TIMEOUT", "DEGRADED"]).optional(),
    metadata: metadataSchema.optional(),
    // UInt32Value, gte 1.
    load_balancing_weight: z.union([z.number(), strictObject({ value: z.number() }).transform((w) => w.value)]).pipe(z.number().int().min(1).max(0xffff_ffff)).optional(),
  })
  .transform((e): LbEndpointConfig => {
    const endpoint: LbEndpointConfig = { address: e.endpoint.address, loadBalancingWeight: e.load_balancing_weight ?? 1 };
    if (e.endpoint.hostname) endpoint.hostname = e.endpoint.hostname;
    const healthCheck = e.endpoint.health_check_config;
    if (healthCheck && (healthCheck.port_value !== 0 || healthCheck.hostname !== "")) endpoint.healthCheck = { port: healthCheck.port_value, hostname: healthCheck.hostname };
    if (e.health_status !== undefined && e.health_status !== "UNKNOWN" && e.health_status !== "HEALTHY") endpoint.healthStatus = e.health_status;
    if (e.metadata !== undefined && Object.keys(e.metadata).length > 0) endpoint.metadata = e.metadata;
    return endpoint;
  }));

/** envoy.config.core.v3.Locality */
const locality = lazySchema(() =>
  strictObject({ region: optionalString, zone: optionalString, sub_zone: optionalString })
  .transform((l) => ({ region: l.region ?? "", zone: l.zone ?? "", subZone: l.sub_zone ?? "" })));

/**
 * envoy.config.endpoint.v3.LocalityLbEndpoints: locality, its weight, priority and
 * metadata (no proximity). Envoy reads a locality's metadata only in
 * transport_socket_matches and the HTTP/1.1 proxy transport socket, neither of which
 * polyvoy accepts: it is kept on the hosts (Host.localityMetadata) for them.
 */
const localityLbEndpoints = lazySchema(() =>
  strictObject({
    locality: locality.optional(),
    metadata: metadataSchema.optional(),
    lb_endpoints: z.array(lbEndpoint).default([]),
    // UInt32Value, gte 1.
    load_balancing_weight: z.union([z.number(), strictObject({ value: z.number() }).transform((w) => w.value)]).pipe(z.number().int().min(1).max(0xffff_ffff)).optional(),
    // Envoy: lte 128.
    priority: z.number().int().min(0).max(128).default(0),
  })
  .superRefine((l, ctx) => {
    // Envoy's validateEndpoints: a locality's endpoint weights must add up within uint32.
    const sum = l.lb_endpoints.reduce((total, e) => total + e.loadBalancingWeight, 0);
    if (sum > 0xffff_ffff) ctx.addIssue({ code: "custom", path: ["lb_endpoints"], message: `the sum of the endpoints' load_balancing_weight (${sum}) exceeds 4294967295` });
  })
  .transform((l): LocalityLbEndpointsConfig => {
    const endpoints: LocalityLbEndpointsConfig = { priority: l.priority, lbEndpoints: l.lb_endpoints };
    if (l.locality !== undefined && (l.locality.region || l.locality.zone || l.locality.subZone)) endpoints.locality = l.locality;
    if (l.load_balancing_weight !== undefined) endpoints.loadBalancingWeight = l.load_balancing_weight;
    if (l.metadata !== undefined && Object.keys(l.metadata).length > 0) endpoints.metadata = l.metadata;
    return endpoints;
  }));

/** envoy.config.endpoint.v3.ClusterLoadAssignment.Policy: overprovisioning_factor (percent, default 140) and weighted_priority_health. */
const loadAssignmentPolicy = lazySchema(() =>
  strictObject({
  overprovisioning_factor: z.union([z.number(), strictObject({ value: z.number() }).transform((w) => w.value)]).pipe(z.number().int().min(1).max(0xffff_ffff)).optional(),
}));

/** Cluster.EdsClusterConfig: the ConfigSource of the endpoints, and the name asked for (default: the cluster's). */
const edsClusterConfig = lazySchema(() =>
  strictObject({
    eds_config: configSourceSchema("EDS", "server"),
    service_name: optionalString,
  })
  .transform((e): EdsClusterConfig => ({ configSource: e.eds_config, ...(e.service_name ? { serviceName: e.service_name } : {}) })));

/** envoy.config.endpoint.v3.ClusterLoadAssignment */
const loadAssignment = lazySchema(() =>
  strictObject({
    cluster_name: nonEmptyString, // required by Envoy's proto validation
    endpoints: z.array(localityLbEndpoints).default([]),
    policy: loadAssignmentPolicy.optional(),
  })
  .superRefine((a, ctx) => {
    // Envoy's validateEndpoints: the locality weights of one priority add up within uint32.
    const sums = new Map<number, number>();
    for (const l of a.endpoints) sums.set(l.priority, (sums.get(l.priority) ?? 0) + (l.loadBalancingWeight ?? 0));
    for (const [priority, sum] of sums) {
      if (sum > 0xffff_ffff) ctx.addIssue({ code: "custom", path: ["endpoints"], message: `the sum of the locality weights of priority ${priority} (${sum}) exceeds 4294967295` });
    }
  }));

/** Envoy's circuit breaker defaults (envoy.config.cluster.v3.CircuitBreakers.Thresholds). */
const DEFAULT_THRESHOLD = 1024;
const DEFAULT_MAX_RETRIES = 3;

const threshold = lazySchema(() =>
  z.number().int().min(0).max(0xffff_ffff));

/**
 * Thresholds.RetryBudget: retries may be at most budget_percent (default 20 %) of the
 * active and pending requests, but never fewer than min_retry_concurrency (default 3).
 * Either field set, it replaces max_retries (resource_manager_impl.h, RetryBudgetImpl).
 * Each field is kept only when set: Envoy's upstream_impl.cc passes them as optionals, so
 * an empty `retry_budget: {}` leaves max_retries in charge (useRetryBudget is false).
 */
const retryBudget = lazySchema(() =>
  strictObject({
    budget_percent: strictObject({ value: z.number().min(0).max(100).default(0) }).optional(),
    min_retry_concurrency: threshold.optional(),
  })
  .transform((b): RetryBudgetConfig | undefined => {
    if (b.budget_percent === undefined && b.min_retry_concurrency === undefined) return undefined;
    return {
      ...(b.budget_percent !== undefined ? { budgetPercent: b.budget_percent.value } : {}),
      ...(b.min_retry_concurrency !== undefined ? { minRetryConcurrency: b.min_retry_concurrency } : {}),
    };
  }));

/**
 * envoy.config.cluster.v3.CircuitBreakers: per-priority thresholds. Only routes of
 * priority DEFAULT exist here, so HIGH thresholds are accepted and never reached —
 * exactly what Envoy does for a config without high-priority routes.
 */
const circuitBreakers = lazySchema(() =>
  strictObject({
  thresholds: z
    .array(
      strictObject({
        priority: z.enum(["DEFAULT", "HIGH"]).default("DEFAULT"),
        max_connections: threshold.optional(),
        max_pending_requests: threshold.optional(),
        max_requests: threshold.optional(),
        max_retries: threshold.optional(),
        retry_budget: retryBudget.optional(),
        // The remaining_{cx,pending,rq,retries} gauges (Envoy's ResourceManagerImpl).
        track_remaining: boolFalse,
        // Envoy's limit on a cluster's connection pools (and its remaining_cx_pools gauge).
        max_connection_pools: unsupportedField("polyvoy does not count a cluster's connection pools (one per host, protocol and SNI), so it cannot limit them"),
      }),
    )
    .default([]),
}));

/** The HIGH thresholds, when the config sets them (for /clusters; see ClusterConfig.circuitBreakersHigh). */
function highThresholds(breakers: z.infer<typeof circuitBreakers> | undefined): Pick<ClusterConfig, "circuitBreakersHigh"> {
  const t = breakers?.thresholds.find((each) => each.priority === "HIGH");
  if (t === undefined) return {};
  return {
    circuitBreakersHigh: {
      maxConnections: t.max_connections ?? DEFAULT_THRESHOLD,
      maxPendingRequests: t.max_pending_requests ?? DEFAULT_THRESHOLD,
      maxRequests: t.max_requests ?? DEFAULT_THRESHOLD,
      maxRetries: t.max_retries ?? DEFAULT_MAX_RETRIES,
      ...(t.retry_budget ? { retryBudget: t.retry_budget } : {}),
      ...(t.track_remaining ? { trackRemaining: true as const } : {}),
    },
  };
}

function defaultThresholds(breakers: z.infer<typeof circuitBreakers> | undefined): ClusterConfig["circuitBreakers"] {
  const t = breakers?.thresholds.find((each) => each.priority === "DEFAULT");
  const limits: ClusterConfig["circuitBreakers"] = {
    maxConnections: t?.max_connections ?? DEFAULT_THRESHOLD,
    maxPendingRequests: t?.max_pending_requests ?? DEFAULT_THRESHOLD,
    maxRequests: t?.max_requests ?? DEFAULT_THRESHOLD,
    maxRetries: t?.max_retries ?? DEFAULT_MAX_RETRIES,
  };
  if (t?.retry_budget) limits.retryBudget = t.retry_budget;
  if (t?.track_remaining) limits.trackRemaining = true;
  return limits;
}

const HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const REDIS_PROTOCOL_OPTIONS = "envoy.extensions.filters.network.redis_proxy.v3.RedisProtocolOptions";

/** envoy.config.core.v3.UpstreamHttpProtocolOptions: the SNI of a TLS cluster's connections from the request's host. */
const upstreamHttpProtocolOptionsSni = lazySchema(() =>
  strictObject({
  auto_sni: boolFalse,
  auto_san_validation: boolFalse,
  override_auto_sni_header: unsupportedField(),
}));


/**
 * envoy.config.core.v3.HttpProtocolOptions as a cluster's upstream options: the fields an
 * upstream connection uses (max_connection_duration: 0 or unset is no limit).
 */
const upstreamCommonHttpProtocolOptions = lazySchema(() =>
  strictObject({
  // "If not specified, this defaults to 1 hour"; 0 disables it.
  idle_timeout: duration.optional(),
  max_requests_per_connection: z.number().int().min(0).max(0xffff_ffff).optional(),
  max_connection_duration: duration.optional(),
}));

/** Upstream Http1ProtocolOptions: enable_trailers (http1-trailers-schema.ts); its other fields are refused by name. */
const upstreamHttp1ProtocolOptions = lazySchema(() =>
  strictObject({ enable_trailers: enableTrailers }));
const http3Refused = unsupportedField("no HTTP/3 upstreams");

/**
 * The HTTP versions one of HttpProtocolOptions' upstream_protocol_options allows: HTTP/1.1
 * (http_protocol_options) and HTTP/2 (http2_protocol_options, the codec's fields as the
 * HCM takes them, core/http2/protocol-options.ts).
 */
/** The HCM's http2_protocol_options on a cluster: the same codec fields, connection_keepalive's PINGs on upstream connections. */
const upstreamHttp2ProtocolOptions = clusterHttp2ProtocolOptions;

const upstreamProtocolVersions = lazySchema(() =>
  strictObject({
  http_protocol_options: upstreamHttp1ProtocolOptions.optional(),
  http2_protocol_options: upstreamHttp2ProtocolOptions.optional(),
  http3_protocol_options: http3Refused,
}));

/** HttpProtocolOptions.AutoHttpConfig: HTTP/1.1 and HTTP/2 options for the connections of each protocol; no HTTP/3. */
const autoHttpConfig = lazySchema(() =>
  strictObject({
  http_protocol_options: upstreamHttp1ProtocolOptions.optional(),
  http2_protocol_options: upstreamHttp2ProtocolOptions.optional(),
  http3_protocol_options: http3Refused,
  alternate_protocols_cache_options: unsupportedField("no HTTP/3 upstreams"),
}));

/**
 * envoy.extensions.upstreams.http.v3.HttpProtocolOptions, the one
 * typed_extension_protocol_options entry: exactly one of explicit_http_config (one
 * version), use_downstream_protocol_config (the downstream's version: HTTP/2 for an HTTP/2
 * request, else HTTP/1.1) and auto_config (by ALPN per TLS connection), as Envoy requires one; and
 * common_http_protocol_options.
 */
const upstreamHttpProtocolOptions = lazySchema(() =>
  strictObject({
    "@type": z.literal(`type.googleapis.com/${HTTP_PROTOCOL_OPTIONS}`),
    common_http_protocol_options: upstreamCommonHttpProtocolOptions.optional(),
    // Its place since v3 (the cluster's field is deprecated): the same auto_sni and auto_san_validation.
    upstream_http_protocol_options: upstreamHttpProtocolOptionsSni.optional(),
    explicit_http_config: upstreamProtocolVersions.optional(),
    use_downstream_protocol_config: upstreamProtocolVersions.optional(),
    // Envoy's mixed pool: each TLS connection speaks h2 or http/1.1 as ALPN agreed (core/upstream/mixed-conn-pool.ts).
    auto_config: autoHttpConfig.optional(),
    // Run per attempt between the router and the connection (core/http/filters/upstream-filter-manager.ts).
    http_filters: upstreamHttpFilterLists.cluster.optional(),
    header_validation_config: unsupportedField(),
  })
  .superRefine((o, ctx) => {
    const set = [o.explicit_http_config, o.use_downstream_protocol_config, o.auto_config].filter((v) => v !== undefined).length;
    if (set !== 1) {
      const message = set === 0 ? "must set one of explicit_http_config, use_downstream_protocol_config, auto_config" : "only one of explicit_http_config, use_downstream_protocol_config, auto_config may be set";
      ctx.addIssue({ code: "custom", message });
    }
    const explicit = o.explicit_http_config;
    if (explicit !== undefined) {
      const versions = [explicit.http_protocol_options, explicit.http2_protocol_options, explicit.http3_protocol_options].filter((v) => v !== undefined).length;
      if (versions !== 1) ctx.addIssue({ code: "custom", message: "must set exactly one of http_protocol_options, http2_protocol_options, http3_protocol_options", path: ["explicit_http_config"] });
    }
  }));

/**
 * envoy.extensions.filters.network.redis_proxy.v3.RedisProtocolOptions: the password (and
 * the Redis 6 ACL username) redis_proxy sends first on each connection to the cluster's hosts.
 */
const redisProtocolOptions = lazySchema(() =>
  strictObject({
    "@type": z.literal(`type.googleapis.com/${REDIS_PROTOCOL_OPTIONS}`).optional(),
    auth_password: dataSource.optional(),
    auth_username: dataSource.optional(),
  })
  .transform((o): RedisUpstreamAuth => ({ password: o.auth_password ?? "", username: o.auth_username ?? "" })));

/** Keyed by the extension's name or by the options' type name, as Envoy looks them up (ProtocolOptionsFactory). */
const typedExtensionProtocolOptions = lazySchema(() =>
  strictObject({
    [HTTP_PROTOCOL_OPTIONS]: upstreamHttpProtocolOptions.optional(),
    "envoy.filters.network.redis_proxy": redisProtocolOptions.optional(),
    [REDIS_PROTOCOL_OPTIONS]: redisProtocolOptions.optional(),
  }));

type UpstreamHttpProtocolOptions = z.infer<typeof upstreamHttpProtocolOptions>;

/**
 * The protocol a cluster's HTTP upstream connections speak, and their HTTP/2 codec options
 * (Envoy's ClusterInfoImpl::upstreamHttpProtocol): the typed HttpProtocolOptions, else the
 * deprecated cluster fields (http2_protocol_options, protocol_selection), else HTTP/1.1.
 */
function upstreamProtocol(
  typed: UpstreamHttpProtocolOptions | undefined,
  legacyHttp2: Http2ProtocolOptionsConfig | undefined,
  protocolSelection: "USE_CONFIGURED_PROTOCOL" | "USE_DOWNSTREAM_PROTOCOL",
  legacyHttp1: { enable_trailers: boolean } | undefined,
): Pick<ClusterConfig, "useDownstreamProtocol" | "http2" | "autoHttp" | "http1EnableTrailers"> {
  const http1 = typed ? (typed.auto_config ?? typed.explicit_http_config ?? typed.use_downstream_protocol_config)?.http_protocol_options : legacyHttp1;
  const trailers = http1?.enable_trailers === true ? { http1EnableTrailers: true as const } : {};
  if (typed?.auto_config !== undefined) {
    const http2 = typed.auto_config.http2_protocol_options;
    return { autoHttp: true, ...(http2 !== undefined ? { http2 } : {}), ...trailers };
  }
  const http2 = typed ? (typed.explicit_http_config ?? typed.use_downstream_protocol_config)?.http2_protocol_options : legacyHttp2;
  const downstream = typed ? typed.use_downstream_protocol_config !== undefined : protocolSelection === "USE_DOWNSTREAM_PROTOCOL";
  return { ...(downstream ? { useDownstreamProtocol: true as const } : {}), ...(http2 !== undefined ? { http2 } : {}), ...trailers };
}

/** The cluster's upstream HTTP filters before the codec; absent when it has no list (empty when only the codec). */
function upstreamFilters(filters: readonly HttpFilterConfig[] | undefined): Pick<ClusterConfig, "upstreamHttpFilters"> {
  return filters !== undefined ? { upstreamHttpFilters: filters } : {};
}

/**
 * Cluster.PreconnectPolicy: per_upstream_preconnect_ratio opens connections ahead of
 * streams in each host's pool (Envoy's ConnPoolImplBase::shouldCreateNewConnection;
 * core/upstream/conn-pool-base.ts). predictive_preconnect_ratio needs the load balancer
 * to pick the next host ahead of time (Envoy's peekAnotherHost), which polyvoy's cannot.
 */
const preconnectPolicy = lazySchema(() =>
  strictObject({
    // A DoubleValue (a bare number in JSON and YAML), which Envoy validates as {gte: 1.0, lte: 3.0}.
    per_upstream_preconnect_ratio: z.number().min(1).max(3).optional(),
    predictive_preconnect_ratio: unsupportedField("polyvoy's load balancers cannot choose the next request's host ahead of it (Envoy's peekAnotherHost), which predictive preconnecting needs"),
  }));

/** The ratio when it opens connections ahead of streams (above 1). */
function preconnectRatio(policy: z.infer<typeof preconnectPolicy> | undefined): Pick<ClusterConfig, "perUpstreamPreconnectRatio"> {
  const value = policy?.per_upstream_preconnect_ratio;
  return value !== undefined && value > 1 ? { perUpstreamPreconnectRatio: value } : {};
}

/** envoy.config.cluster.v3.Cluster */
const clusterMessage = lazySchema(() =>
  strictObject({
    name: nonEmptyString,
    // Envoy's default discovery type is STATIC; ORIGINAL_DST: core/upstream/original-dst-cluster.ts.
    type: z.enum(["STATIC", "STRICT_DNS", "LOGICAL_DNS", "EDS", "ORIGINAL_DST"]).optional(),
    original_dst_lb_config: originalDstLbConfig.optional(),
    // cluster.proto: `gt: {}`; how long an ORIGINAL_DST host stays unused.
    cleanup_interval: duration.refine((ms) => ms > 0, { message: "must be greater than 0s" }).optional(),
    // The other member of type's oneof: envoy.clusters.aggregate (core/upstream/aggregate-cluster.ts).
    cluster_type: customClusterType.optional(),
    // EDS: where the ClusterLoadAssignment comes from (core/upstream/eds-cluster.ts).
    eds_cluster_config: edsClusterConfig.optional(),
    ...dnsClusterFields,
    // Whether start-up (and a CDS cluster's warming) waits for a DNS cluster's first
    // resolution or an EDS cluster's first update; a STATIC cluster has nothing to wait for.
    wait_for_warm_on_init: boolTrue,
    preconnect_policy: preconnectPolicy.optional(),
    // Envoy validates connect_timeout as `gt: {}`: zero is refused.
    connect_timeout: duration
      .refine((ms) => ms > 0, { message: "must be greater than 0s" })
      .default(DEFAULT_CONNECT_TIMEOUT_MS),
    ...lbPolicyFields,
    per_connection_buffer_limit_bytes: bufferLimitBytes.default(DEFAULT_BUFFER_LIMIT_BYTES),
    load_assignment: loadAssignment.optional(),
    circuit_breakers: circuitBreakers.optional(),
    typed_extension_protocol_options: typedExtensionProtocolOptions.optional(),
    // Deprecated in v3 for the typed option above: HTTP/2 upstream connections with these options.
    http2_protocol_options: upstreamHttp2ProtocolOptions.optional(),
    // Deprecated likewise: HTTP/1.1 upstream connections (the default), with no option of its own
    // implemented (each refused by name), as Envoy's grpc-bridge example writes `{}`.
    http_protocol_options: upstreamHttp1ProtocolOptions.optional(),
    protocol_selection: z.enum(["USE_CONFIGURED_PROTOCOL", "USE_DOWNSTREAM_PROTOCOL"]).default("USE_CONFIGURED_PROTOCOL"),
    // Deprecated in v3 for the typed option above, which Envoy refuses it beside.
    max_requests_per_connection: z.number().int().min(0).max(0xffff_ffff).optional(),
    health_checks: healthChecks.optional(),
    outlier_detection: outlierDetection.optional(),
    // Deprecated in v3 for the typed option's common_http_protocol_options, likewise.
    common_http_protocol_options: upstreamCommonHttpProtocolOptions.optional(),
    ignore_health_on_host_removal: boolFalse,
    // TLS origination (core/tls); raw_buffer or absent: plaintext.
    transport_socket: upstreamTransportSocket.optional(),
    transport_socket_matches: unsupportedField("use transport_socket", isEmptyList),
    lb_subset_config: lbSubsetConfig.optional(),
    upstream_http_protocol_options: upstreamHttpProtocolOptionsSni.optional(),
    upstream_connection_options: upstreamConnectionOptions.optional(),
  })
  .superRefine((c, ctx) => {
    // One refinement for all of these: each .superRefine is one more schema to build at start-up (schema-count.test.ts).
    checkAggregateCluster({ ...c, cluster_type: c.cluster_type?.kind === "aggregate" ? c.cluster_type.clusters : undefined, dynamicForwardProxy: c.cluster_type?.kind === "dynamic_forward_proxy" }, ctx);
    if (c.cluster_type?.kind === "dynamic_forward_proxy") checkDynamicForwardProxyCluster(c, c.cluster_type.allowInsecure, sniOptions(c), ctx);
    checkOriginalDstCluster(c, ctx);
    checkDiscoveryEndpoints(c.type ?? "STATIC", c.load_assignment?.endpoints, ctx);
    checkDnsFields(c, ctx);
    // cds.proto: eds_cluster_config is "Configuration to use for EDS updates for the Cluster"; without EDS it would do nothing.
    if (c.type === "EDS" && c.eds_cluster_config === undefined) ctx.addIssue({ code: "custom", message: "an EDS cluster needs eds_cluster_config (its eds_config names the file of its endpoints)", path: ["eds_cluster_config"] });
    if (c.type !== "EDS" && c.eds_cluster_config !== undefined) ctx.addIssue({ code: "custom", message: "applies to type: EDS clusters only", path: ["eds_cluster_config"] });
    // TCP's keepalive timers on a pipe endpoint (an EDS update's: eds-cluster.ts).
    const keepalive = c.upstream_connection_options?.tcp_keepalive;
    if (keepalive !== undefined && Object.keys(keepalive).length > 0 && c.load_assignment?.endpoints.some((l) => l.lbEndpoints.some((e) => e.address.pipe !== undefined))) {
      ctx.addIssue({ code: "custom", message: PIPE_KEEPALIVE_REFUSAL, path: ["upstream_connection_options", "tcp_keepalive"] });
    }
    // Envoy ignores an EDS cluster's load_assignment (eds.cc reads its endpoints from EDS only): refused rather than ignored.
    if (c.type === "EDS" && c.load_assignment !== undefined) ctx.addIssue({ code: "custom", message: "an EDS cluster's endpoints come from eds_cluster_config; load_assignment would be ignored", path: ["load_assignment"] });
    const typed = c.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS]?.common_http_protocol_options?.max_requests_per_connection;
    if (typed !== undefined && c.max_requests_per_connection !== undefined) {
      const message = "Only one of max_requests_per_connection from Cluster or HttpProtocolOptions can be specified";
      ctx.addIssue({ code: "custom", message, path: ["max_requests_per_connection"] });
    }
    // Envoy (upstream_impl.cc, createOptions): the legacy field and the typed options exclude each other.
    if (c.common_http_protocol_options !== undefined && c.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS] !== undefined) {
      const message = "cannot be set with typed_extension_protocol_options' HttpProtocolOptions: set its common_http_protocol_options instead";
      ctx.addIssue({ code: "custom", message, path: ["common_http_protocol_options"] });
    }
    // Envoy's ClusterInfoImpl: the two deprecated protocol fields name one protocol each.
    if (c.http_protocol_options !== undefined && c.http2_protocol_options !== undefined) {
      ctx.addIssue({ code: "custom", message: "cannot be set with http2_protocol_options: a cluster's connections speak one of HTTP/1.1 and HTTP/2", path: ["http_protocol_options"] });
    }
    if (c.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS] !== undefined) {
      for (const legacy of ["http2_protocol_options", "http_protocol_options", "protocol_selection"] as const) {
        if (legacy === "protocol_selection" ? c.protocol_selection === "USE_CONFIGURED_PROTOCOL" : c[legacy] === undefined) continue;
        const message = "cannot be set with typed_extension_protocol_options' HttpProtocolOptions: set its explicit_http_config or use_downstream_protocol_config instead";
        ctx.addIssue({ code: "custom", message, path: [legacy] });
      }
      // Envoy (upstream_impl.cc): "ALPN configured for cluster … which has a non-ALPN transport socket".
      if (c.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].auto_config !== undefined && c.transport_socket === undefined) {
        const message = `auto_config chooses the protocol by ALPN, which cluster '${c.name}' cannot offer: it has no TLS transport_socket (Envoy refuses it too)`;
        ctx.addIssue({ code: "custom", message, path: ["typed_extension_protocol_options", HTTP_PROTOCOL_OPTIONS, "auto_config"] });
      }
      if (c.upstream_http_protocol_options !== undefined && c.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].upstream_http_protocol_options !== undefined) {
        const message = "cannot be set with typed_extension_protocol_options' HttpProtocolOptions.upstream_http_protocol_options: set that one only";
        ctx.addIssue({ code: "custom", message, path: ["upstream_http_protocol_options"] });
      }
    }
  })
  .transform(
    (c, ctx): ClusterConfig => ({
      name: c.name,
      type: c.type ?? "STATIC",
      ...(c.cluster_type?.kind === "aggregate" ? { aggregateClusters: c.cluster_type.clusters } : {}),
      ...(c.cluster_type?.kind === "dynamic_forward_proxy" ? { dynamicForwardProxy: c.cluster_type.config } : {}),
      ...(c.type === "ORIGINAL_DST" ? { originalDst: originalDstConfig(c.original_dst_lb_config, c.cleanup_interval) } : {}),
      ...(c.type === "STRICT_DNS" || c.type === "LOGICAL_DNS" ? { dns: dnsClusterConfig(c) } : {}),
      ...(c.eds_cluster_config ? { eds: c.eds_cluster_config } : {}),
      ...(c.wait_for_warm_on_init ? {} : { waitForWarmOnInit: false as const }),
      ...preconnectRatio(c.preconnect_policy),
      connectTimeoutMs: c.connect_timeout,
      lbPolicy: c.lb_policy,
      ...withLoadBalancing(loadBalancingConfig(c, ctx)),
      ...withOverprovisioningFactor(c.load_assignment?.policy?.overprovisioning_factor),
      perConnectionBufferLimitBytes: c.per_connection_buffer_limit_bytes,
      endpoints: c.load_assignment?.endpoints ?? [],
      // SubsetInfoImpl::isEnabled: subset load balancing is on when there are selectors.
      ...(c.lb_subset_config !== undefined && c.lb_subset_config.selectors.length > 0 ? { lbSubset: c.lb_subset_config } : {}),
      circuitBreakers: defaultThresholds(c.circuit_breakers),
      ...highThresholds(c.circuit_breakers),
      // 0 or unset: no limit. Present only when set, so other configs compare as before.
      ...maxRequestsPerConnection(
        c.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS]?.common_http_protocol_options?.max_requests_per_connection ??
          c.common_http_protocol_options?.max_requests_per_connection ??
          c.max_requests_per_connection,
      ),
      ...maxConnectionDuration(
        c.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS]?.common_http_protocol_options?.max_connection_duration ??
          c.common_http_protocol_options?.max_connection_duration,
      ),
      ...redisAuth(c.typed_extension_protocol_options?.["envoy.filters.network.redis_proxy"] ?? c.typed_extension_protocol_options?.[REDIS_PROTOCOL_OPTIONS]),
      ...(c.health_checks?.length ? { healthChecks: c.health_checks } : {}),
      ...(c.outlier_detection ? { outlierDetection: c.outlier_detection } : {}),
      ...(c.ignore_health_on_host_removal ? { ignoreHealthOnHostRemoval: true as const } : {}),
      ...(c.upstream_connection_options?.tcp_keepalive !== undefined && { tcpKeepalive: c.upstream_connection_options.tcp_keepalive }),
      // ClusterInfoImpl's warm_hosts_: only with a health checker to do the first check.
      ...(c.common_lb_config?.ignore_new_hosts_until_first_hc && c.health_checks?.length ? { ignoreNewHostsUntilFirstHc: true as const } : {}),
      ...upstreamTransport(c.transport_socket, c.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS], c.http2_protocol_options),
      // A dynamic forward proxy cluster without upstream_http_protocol_options has both on (Envoy's ClusterFactory::createClusterWithConfig).
      ...((sniOptions(c)?.auto_sni ?? dfpSniDefault(c)) ? { autoSni: true } : {}),
      ...((sniOptions(c)?.auto_san_validation ?? dfpSniDefault(c)) ? { autoSanValidation: true } : {}),
      ...upstreamIdleTimeout(c.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS]?.common_http_protocol_options?.idle_timeout ?? c.common_http_protocol_options?.idle_timeout),
      ...upstreamProtocol(c.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS], c.http2_protocol_options, c.protocol_selection, c.http_protocol_options),
      ...upstreamFilters(c.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS]?.http_filters),
    }),
  ));

/**
 * An aggregate cluster (cluster_type envoy.clusters.aggregate): lb_policy CLUSTER_PROVIDED,
 * and none of the fields about hosts of its own; CLUSTER_PROVIDED on any other cluster but
 * an ORIGINAL_DST one is refused, as Envoy's ClusterManagerImpl::loadCluster does.
 */
function checkAggregateCluster(c: { name: string; type?: string | undefined; cluster_type?: string[] | undefined; dynamicForwardProxy: boolean; lb_policy?: string; load_balancing_policy?: unknown; common_lb_config?: Record<string, unknown> | undefined } & Record<string, unknown>, ctx: z.RefinementCtx): void {
  const aggregate = c.cluster_type !== undefined;
  if ((aggregate || c.dynamicForwardProxy) && c.type !== undefined) ctx.addIssue({ code: "custom", path: ["cluster_type"], message: "only one of type, cluster_type may be set (cluster_discovery_type is a oneof)" });
  if (!aggregate) {
    // An ORIGINAL_DST or dynamic forward proxy cluster provides its balancer too (their checks follow).
    if (c.lb_policy === "CLUSTER_PROVIDED" && c.type !== "ORIGINAL_DST" && !c.dynamicForwardProxy) ctx.addIssue({ code: "custom", path: ["lb_policy"], message: clusterProvidedMismatch(c.name, false) });
    return;
  }
  if (c.lb_policy !== "CLUSTER_PROVIDED" || c.load_balancing_policy !== undefined) ctx.addIssue({ code: "custom", path: [c.load_balancing_policy !== undefined ? "load_balancing_policy" : "lb_policy"], message: clusterProvidedMismatch(c.name, true) });
  if (c.cluster_type!.includes(c.name)) ctx.addIssue({ code: "custom", path: ["cluster_type", "typed_config", "clusters", c.cluster_type!.indexOf(c.name)], message: `aggregate cluster '${c.name}' cannot name itself` });
  for (const field of AGGREGATE_IGNORED_FIELDS) {
    if (c[field] === undefined) continue;
    // Envoy's router reads auto_sni / auto_san_validation from the route's cluster, the
    // aggregate; polyvoy takes them, as the rest, from the cluster serving the host.
    const envoyReadsIt = field === "typed_extension_protocol_options" || field === "upstream_http_protocol_options";
    const why = envoyReadsIt ? "set it on its clusters (polyvoy takes auto_sni and auto_san_validation from the cluster serving the host, where Envoy reads them from the aggregate)" : "(Envoy ignores it here)";
    ctx.addIssue({ code: "custom", path: [field], message: `an aggregate cluster has no hosts or connections of its own: its clusters' ${field} applies ${why}` });
  }
  // Its connections and requests are counted by its clusters' pools: limits here would limit nothing.
  if (c.protocol_selection !== undefined && c.protocol_selection !== "USE_CONFIGURED_PROTOCOL") ctx.addIssue({ code: "custom", path: ["protocol_selection"], message: "an aggregate cluster has no connections of its own: set it on its clusters" });
  ((c.circuit_breakers as { thresholds?: Record<string, unknown>[] } | undefined)?.thresholds ?? []).forEach((t, i) => {
    for (const field of ["max_connections", "max_pending_requests", "max_requests"]) {
      if (t[field] !== undefined) ctx.addIssue({ code: "custom", path: ["circuit_breakers", "thresholds", i, field], message: "an aggregate cluster's requests and connections are counted by its clusters' pools: set it on its clusters" });
    }
  });
  // The aggregate only splits the load between priority levels (Envoy's LoadBalancerBase): the
  // locality and hashing settings are its clusters' balancers' business.
  for (const field of ["zone_aware_lb_config", "locality_weighted_lb_config", "consistent_hashing_lb_config"]) {
    if (c.common_lb_config?.[field] !== undefined) ctx.addIssue({ code: "custom", path: ["common_lb_config", field], message: "an aggregate cluster picks a priority level only: set it on its clusters (Envoy ignores it here)" });
  }
}

/**
 * A dynamic forward proxy cluster (cluster_type envoy.clusters.dynamic_forward_proxy):
 * lb_policy CLUSTER_PROVIDED (Envoy's loadCluster), auto_sni and auto_san_validation on
 * unless allow_insecure_cluster_options (Envoy's ClusterFactory, its message), and none of
 * the fields about hosts from the config or DNS settings outside its dns_cache_config.
 */
function checkDynamicForwardProxyCluster(c: { name: string; lb_policy?: string; load_balancing_policy?: unknown } & Record<string, unknown>, allowInsecure: boolean, sni: { auto_sni: boolean; auto_san_validation: boolean } | undefined, ctx: z.RefinementCtx): void {
  if (c.lb_policy !== "CLUSTER_PROVIDED" || c.load_balancing_policy !== undefined) ctx.addIssue({ code: "custom", path: [c.load_balancing_policy !== undefined ? "load_balancing_policy" : "lb_policy"], message: clusterProvidedMismatch(c.name, true) });
  // Typed HttpProtocolOptions without upstream_http_protocol_options leave both off (Envoy refuses that too).
  const typed = (c.typed_extension_protocol_options as Record<string, unknown> | undefined)?.[HTTP_PROTOCOL_OPTIONS] !== undefined;
  if (!allowInsecure && (sni !== undefined ? !sni.auto_sni || !sni.auto_san_validation : typed)) {
    const path = c.upstream_http_protocol_options !== undefined ? ["upstream_http_protocol_options"] : typed && sni === undefined ? ["typed_extension_protocol_options", HTTP_PROTOCOL_OPTIONS] : ["typed_extension_protocol_options", HTTP_PROTOCOL_OPTIONS, "upstream_http_protocol_options"];
    ctx.addIssue({ code: "custom", path, message: "dynamic_forward_proxy cluster must have auto_sni and auto_san_validation true unless allow_insecure_cluster_options is set." });
  }
  const own: Readonly<Record<string, string>> = {
    load_assignment: "its hosts come from its DNS cache's answers",
    health_checks: "its hosts come and go with its DNS cache's answers, which health checks do not follow here",
    lb_subset_config: "it picks the request's own host, never a subset",
    outlier_detection: "it picks the request's own host whatever its health: ejections would change nothing",
    common_lb_config: "it picks the request's own host: no panic threshold, locality or hashing applies",
    dns_lookup_family: "set it in the cluster's dns_cache_config",
    dns_refresh_rate: "set it in the cluster's dns_cache_config",
    dns_failure_refresh_rate: "set it in the cluster's dns_cache_config",
    respect_dns_ttl: "set dns_min_refresh_rate in the cluster's dns_cache_config",
    dns_jitter: "its DNS cache refreshes each host on its own schedule",
    typed_dns_resolver_config: "set it in the cluster's dns_cache_config",
    dns_resolution_config: "set it in the cluster's dns_cache_config",
  };
  for (const [field, why] of Object.entries(own)) {
    if (c[field] !== undefined) ctx.addIssue({ code: "custom", path: [field], message: `a dynamic_forward_proxy cluster does not use it: ${why}` });
  }
}

/** envoy.config.cluster.v3.Cluster (CDS resources too: core/config/xds/lds-cds-api.ts). */
export const cluster = clusterMessage;
setGoogleGrpcClusterParser((raw) => clusterMessage.safeParse(raw));

/**
 * A ClusterLoadAssignment delivered by EDS (core/upstream/eds-cluster.ts): its addresses
 * are IP literals, as a STATIC cluster's (Envoy resolves EDS addresses as IPs).
 */
export const edsLoadAssignment = lazySchema(() =>
  loadAssignment.superRefine((a, ctx) => {
  a.endpoints.forEach((locality, l) =>
    (Array.isArray(locality.lbEndpoints) ? locality.lbEndpoints : []).forEach((endpoint, e) => {
      if (typeof endpoint.address?.address !== "string" || endpoint.address.pipe || isIpLiteral.safeParse(endpoint.address.address).success) return;
      ctx.addIssue({ code: "custom", message: notAnIpAddress(endpoint.address.address), path: ["endpoints", l, "lb_endpoints", e, "endpoint", "address", "socket_address", "address"] });
    }),
  );
}));

/**
 * What each discovery type makes of its endpoints' addresses: STATIC needs IP literals;
 * LOGICAL_DNS exactly one endpoint (logical_dns_cluster.cc, Envoy's messages).
 */
function checkDiscoveryEndpoints(type: ClusterConfig["type"], endpoints: LocalityLbEndpointsConfig[] | undefined, ctx: z.RefinementCtx): void {
  if (type === "STATIC") {
    endpoints?.forEach((locality, l) =>
      // An endpoint that failed its own checks arrives unparsed (its issues already say why).
      (Array.isArray(locality.lbEndpoints) ? locality.lbEndpoints : []).forEach((endpoint, e) => {
        if (typeof endpoint.address?.address !== "string" || endpoint.address.pipe || isIpLiteral.safeParse(endpoint.address.address).success) return;
        const path = ["load_assignment", "endpoints", l, "lb_endpoints", e, "endpoint", "address", "socket_address", "address"];
        ctx.addIssue({ code: "custom", message: notAnIpAddress(endpoint.address.address), path });
      }),
    );
    return;
  }
  if (type === "STRICT_DNS" || type === "LOGICAL_DNS") {
    // A DNS cluster resolves its endpoints' socket_address names; a pipe has none (Envoy's
    // DNS clusters read endpoint().address().socket_address() whatever the oneof holds, so a
    // pipe there is an empty name to resolve, never a Unix socket): refused here by name.
    endpoints?.forEach((locality, l) =>
      (Array.isArray(locality.lbEndpoints) ? locality.lbEndpoints : []).forEach((endpoint, e) => {
        if (!endpoint.address?.pipe) return;
        ctx.addIssue({ code: "custom", message: `a ${type} cluster resolves socket_address names: a pipe endpoint needs a STATIC (or EDS) cluster`, path: ["load_assignment", "endpoints", l, "lb_endpoints", e, "endpoint", "address", "pipe"] });
      }),
    );
  }
  if (type === "LOGICAL_DNS" && (endpoints?.length !== 1 || endpoints[0]!.lbEndpoints.length !== 1)) {
    const message = endpoints ? "LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint" : "LOGICAL_DNS clusters must have a single host";
    ctx.addIssue({ code: "custom", message, path: endpoints ? ["load_assignment"] : [] });
  }
}

function withLoadBalancing(loadBalancing: LoadBalancingConfig | undefined): { loadBalancing?: LoadBalancingConfig } {
  return loadBalancing ? { loadBalancing } : {};
}

function withOverprovisioningFactor(factor: number | undefined): { overprovisioningFactor?: number } {
  return factor !== undefined ? { overprovisioningFactor: factor } : {};
}

/** The cluster's UpstreamHttpProtocolOptions: inside the typed HttpProtocolOptions, else the deprecated cluster field. */
/**
 * A dynamic forward proxy cluster turns auto_sni and auto_san_validation on only when it
 * has no upstream_http_protocol_options and no typed HttpProtocolOptions (Envoy's
 * ClusterFactory sets them on the cluster's legacy field, which typed options replace).
 */
function dfpSniDefault(c: { cluster_type?: { kind: string }; typed_extension_protocol_options?: z.infer<typeof typedExtensionProtocolOptions> }): boolean {
  return c.cluster_type?.kind === "dynamic_forward_proxy" && c.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS] === undefined;
}

function sniOptions(c: { typed_extension_protocol_options?: z.infer<typeof typedExtensionProtocolOptions>; upstream_http_protocol_options?: z.infer<typeof upstreamHttpProtocolOptionsSni> }) {
  return c.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS]?.upstream_http_protocol_options ?? c.upstream_http_protocol_options;
}

/**
 * The cluster's TLS. A TLS context that offers no ALPN offers the cluster's protocols, as
 * Envoy's pools give the TLS socket an ALPN fallback: "h2" for an HTTP/2-only cluster (TLS
 * servers, gRPC ones among them, speak HTTP/2 only when ALPN agreed on it), "h2,http/1.1"
 * for auto_config. Alpn_protocols set in the context are offered as they are.
 */
function upstreamTransport(
  tls: UpstreamTlsConfig | undefined,
  typed: UpstreamHttpProtocolOptions | undefined,
  legacyHttp2: Http2ProtocolOptionsConfig | undefined,
): { transportSocket?: UpstreamTlsConfig } {
  if (!tls) return {};
  const http2Only = typed ? typed.explicit_http_config?.http2_protocol_options !== undefined : legacyHttp2 !== undefined;
  const fallback = typed?.auto_config !== undefined ? ["h2", "http/1.1"] : http2Only ? ["h2"] : [];
  if (fallback.length === 0 || tls.common.alpnProtocols.length > 0) return { transportSocket: tls };
  return { transportSocket: { ...tls, common: { ...tls.common, alpnProtocols: fallback } } };
}

/** common_http_protocol_options.idle_timeout of upstream connections (ms; 0: none); absent: Envoy's 1 hour. */
function upstreamIdleTimeout(ms: number | undefined): { idleTimeoutMs?: number } {
  return ms !== undefined ? { idleTimeoutMs: ms } : {};
}

/** Present only with a password: Envoy's redis client sends AUTH only then (client_impl.cc). */
function redisAuth(auth: RedisUpstreamAuth | undefined): { redisAuth?: RedisUpstreamAuth } {
  return auth !== undefined && auth.password !== "" ? { redisAuth: auth } : {};
}

function maxRequestsPerConnection(max: number | undefined): { maxRequestsPerConnection?: number } {
  return max ? { maxRequestsPerConnection: max } : {};
}

function maxConnectionDuration(ms: number | undefined): { maxConnectionDurationMs?: number } {
  return ms ? { maxConnectionDurationMs: ms } : {};
}

// ---- Bootstrap -------------------------------------------------------------------

/** envoy.config.core.v3.Node: carried for logs and the admin's /server_info only. */
const node = lazySchema(() =>
  strictObject({
  id: optionalString,
  cluster: optionalString,
  metadata: z.record(z.string(), z.unknown()).optional(),
  locality: strictObject({ region: optionalString, zone: optionalString, sub_zone: optionalString }).optional(),
}));

/**
 * envoy.config.bootstrap.v3.Admin. Without an address there is no admin listener, as in
 * Envoy. access_log_path (deprecated, "" for none) is a file logger in Envoy's default
 * format, logged before those of access_log.
 */
const admin = lazySchema(() =>
  strictObject({
  address: address.optional(),
  access_log_path: stringEmpty,
  access_log: accessLogs,
  profile_path: optionalString,
}));

/** Envoy validates stats_flush_interval as `lt: 300s, gte: 1ms`; the default is 5 s. */
const statsFlushInterval = lazySchema(() =>
  duration.refine((ms) => ms >= 1 && ms < 300_000, { message: "must be at least 1ms and less than 300s" }));

const staticResources = lazySchema(() =>
  strictObject({
  listeners: z.array(listenerSchema).default([]),
  clusters: z.array(cluster).default([]),
  secrets: z.array(secretSchema).default([]),
}));

/** Bootstrap.DynamicResources: LDS and CDS from files or a management server, and the ADS stream's server. */
const dynamicResources = lazySchema(() =>
  strictObject({
  lds_config: configSourceSchema("LDS", "server").optional(),
  cds_config: configSourceSchema("CDS", "server").optional(),
  // ADS is one gRPC stream (Envoy's cluster_manager_impl.cc takes GRPC or DELTA_GRPC only).
  ads_config: apiConfigSource.refine((a) => a.kind === "grpc", { message: "api_type REST cannot aggregate: ads_config needs GRPC or DELTA_GRPC", path: ["api_type"] }).optional(),
  lds_resources_locator: unsupportedField("xdstp:// names need a management server"),
  cds_resources_locator: unsupportedField("xdstp:// names need a management server"),
}));

/**
 * Bootstrap.ClusterManager: local_cluster_name, and load_stats_config — the load reporting
 * service's stream (core/upstream/load-stats-reporter.ts). Envoy's ClusterManagerImpl reads
 * load_stats_config's grpc_services only (factoryForGrpcApiConfigSource: GRPC or
 * DELTA_GRPC, one service, transport V3); the reporter always sends the node
 * (LoadStatsReporter's request template), so set_node_on_first_message_only, which it
 * would not honour, is refused.
 */
const clusterManagerConfig = lazySchema(() =>
  strictObject({
    local_cluster_name: optionalString,
    load_stats_config: apiConfigSource
      .superRefine((a, ctx) => {
        if (a.kind !== "grpc") ctx.addIssue({ code: "custom", path: ["api_type"], message: "load_stats_config type must be gRPC: GRPC or DELTA_GRPC (the load reports go on a gRPC stream)" });
        else if (a.nodeOnFirstMessageOnly) ctx.addIssue({ code: "custom", path: ["set_node_on_first_message_only"], message: "every load report carries the node (Envoy's LoadStatsReporter does not read set_node_on_first_message_only)" });
      })
      .optional(),
  }));

/** envoy.config.bootstrap.v3.Bootstrap */
export const bootstrapSchema: z.ZodType<Bootstrap> = lazySchema(() =>
  strictObject({
    node: node.optional(),
    dynamic_resources: dynamicResources.optional(),
    admin: admin.optional(),
    // A function: each parse gets arrays of its own (a value would be shared by every config without static_resources).
    static_resources: staticResources.default(() => ({ listeners: [], clusters: [], secrets: [] })),
    stats_flush_interval: statsFlushInterval.optional(),
    // Envoy's validate rule: `const: true` (leave it out for the flush timer).
    stats_flush_on_admin: z.literal(true).optional(),
    stats_sinks: z.array(statsSink).optional(),
    overload_manager: overloadManager.optional(),
    layered_runtime: layeredRuntime.optional(),
    stats_config: statsConfig.optional(),
    tracing: bootstrapTracing.optional(),
    cluster_manager: clusterManagerConfig.optional(),
    application_log_config: applicationLogConfig.optional(),
  })
  .superRefine((b, ctx) => checkStaticSecrets(b.static_resources, ctx))
  .superRefine((b, ctx) => {
    // bootstrap.proto: stats_flush_interval and stats_flush_on_admin are one oneof (stats_flush).
    if (b.stats_flush_on_admin === true && b.stats_flush_interval !== undefined) {
      ctx.addIssue({ code: "custom", path: ["stats_flush_on_admin"], message: "only one of stats_flush_interval and stats_flush_on_admin can be set" });
    }
    // TcpStatsdSink: Config::Utility::checkCluster("tcp statsd", …): a static (non-CDS) cluster.
    (b.stats_sinks ?? []).forEach((sink, i) => {
      // The metrics service's and OpenTelemetry sink's cluster: Envoy's getOrCreateRawAsyncClient
      // (skip_cluster_check false) checks it is a static cluster (ClusterManagerImpl::checkActiveStaticCluster).
      if ((sink?.kind === "metrics_service" || sink?.kind === "open_telemetry") && sink.target.google === undefined && !b.static_resources.clusters.some((c) => c?.name === sink.target.clusterName)) {
        ctx.addIssue({ code: "custom", path: ["stats_sinks", i, "typed_config", "grpc_service", "envoy_grpc", "cluster_name"], message: `Unknown gRPC client cluster '${sink.target.clusterName}'` });
      }
      if (sink?.kind !== "statsd_tcp") return;
      if (!b.static_resources.clusters.some((c) => c?.name === sink.clusterName)) {
        ctx.addIssue({ code: "custom", path: ["stats_sinks", i, "typed_config", "tcp_cluster_name"], message: `tcp statsd: unknown cluster '${sink.clusterName}' (it must be one of static_resources.clusters)` });
      }
    });
  })
  .superRefine((b, ctx) => checkAdsSources(b.dynamic_resources?.ads_config !== undefined, b.dynamic_resources, b.static_resources, ctx))
  .superRefine((b, ctx) => {
    // An rtds_layer over ADS needs ads_config too (Envoy refuses it at start, as above).
    if (b.dynamic_resources?.ads_config !== undefined) return;
    for (const [i, layer] of (b.layered_runtime?.layers ?? []).entries()) {
      const source = layer?.kind === "rtds" ? layer.source : undefined;
      if (source !== undefined && "kind" in source && source.kind === "ads") ctx.addIssue({ code: "custom", path: ["layered_runtime", "layers", i, "rtds_layer", "rtds_config", "ads"], message: "ADS must be configured to support an ADS config source (dynamic_resources.ads_config)" });
    }
  })
  .superRefine((b, ctx) => {
    // cluster_manager_impl.cc: the local cluster must be defined, with priority 0 endpoints only.
    const local = b.cluster_manager?.local_cluster_name;
    if (!local) return;
    const found = b.static_resources.clusters.find((c) => c.name === local);
    if (!found) ctx.addIssue({ code: "custom", path: ["cluster_manager", "local_cluster_name"], message: `local cluster '${local}' must be defined` });
    else if (found.endpoints.some((e) => e.priority > 0)) ctx.addIssue({ code: "custom", path: ["cluster_manager", "local_cluster_name"], message: `Unexpected non-zero priority for local cluster '${local}'.` });
  })
  .superRefine((b, ctx) => {
    checkAggregateReferences(b.static_resources.clusters, b.dynamic_resources?.cds_config !== undefined, ctx);
    checkDnsCacheNames(b.static_resources, ctx);
    // The LRS stream's cluster: Envoy's AsyncClientFactoryImpl checks it with
    // ClusterManagerImpl::checkActiveStaticCluster ("Unknown gRPC client cluster '…'").
    const lrs = b.cluster_manager?.load_stats_config;
    if (lrs?.kind !== "grpc" || lrs.target.google !== undefined) return;
    const name = lrs.target.clusterName;
    if (!b.static_resources.clusters.some((c) => c?.name === name)) {
      ctx.addIssue({ code: "custom", path: ["cluster_manager", "load_stats_config", "grpc_services", 0, "envoy_grpc", "cluster_name"], message: `Unknown gRPC client cluster '${name}'` });
    }
  })
  .transform((b): Bootstrap => {
    const bootstrap: Bootstrap = { listeners: b.static_resources.listeners, clusters: b.static_resources.clusters };
    if (b.static_resources.secrets.length > 0) bootstrap.secrets = b.static_resources.secrets;
    if (b.node !== undefined) bootstrap.node = b.node;
    const dynamic = b.dynamic_resources;
    if (dynamic?.lds_config || dynamic?.cds_config || dynamic?.ads_config) {
      bootstrap.dynamicResources = {
        ...(dynamic.lds_config ? { lds: dynamic.lds_config } : {}),
        ...(dynamic.cds_config ? { cds: dynamic.cds_config } : {}),
        ...(dynamic.ads_config?.kind === "grpc" ? { ads: { ...dynamic.ads_config, initialFetchTimeoutMs: 0 } } : {}),
      };
    }
    if (b.admin?.address !== undefined) {
      const accessLog = [...(b.admin.access_log_path === "" ? [] : [defaultFileAccessLog(b.admin.access_log_path)]), ...b.admin.access_log];
      bootstrap.admin = { address: b.admin.address };
      // Only when configured: configs without them compare equal to what they were.
      if (accessLog.length > 0) bootstrap.admin.accessLog = accessLog;
      if (b.admin.profile_path !== undefined) bootstrap.admin.profilePath = b.admin.profile_path;
    }
    if (b.stats_flush_interval !== undefined) bootstrap.statsFlushIntervalMs = b.stats_flush_interval;
    if (b.stats_flush_on_admin === true) bootstrap.statsFlushOnAdmin = true;
    if (b.stats_sinks !== undefined && b.stats_sinks.length > 0) bootstrap.statsSinks = b.stats_sinks;
    if (b.overload_manager !== undefined) bootstrap.overloadManager = b.overload_manager;
    if (b.layered_runtime !== undefined) bootstrap.layeredRuntime = b.layered_runtime;
    if (b.stats_config !== undefined) bootstrap.statsConfig = b.stats_config;
    if (b.cluster_manager?.local_cluster_name) bootstrap.localClusterName = b.cluster_manager.local_cluster_name;
    if (b.application_log_config !== undefined) bootstrap.applicationLogFormat = b.application_log_config;
    const lrs = b.cluster_manager?.load_stats_config;
    if (lrs?.kind === "grpc") bootstrap.loadStatsConfig = { target: lrs.target };
    return bootstrap;
  }));

/**
 * What an aggregate cluster names: a cluster that can have hosts. Envoy skips a name it does
 * not find (CDS may add it later) and an aggregate among them (an aggregate's own priority
 * set is empty, so it adds nothing — a cycle included); without CDS a missing name can never
 * come, and an aggregate never has hosts: both refused rather than ignored.
 */
/**
 * The dynamic forward proxy's DNS caches are shared by name: every config of one name must
 * have the same settings (dns_cache.proto, `name`; Envoy's DnsCacheManagerImpl::getCache
 * refuses another with this message). The static clusters' and listeners' HTTP filters'.
 */
function checkDnsCacheNames(statics: { listeners: readonly ListenerConfig[]; clusters: readonly ClusterConfig[] }, ctx: z.RefinementCtx): void {
  const seen = new Map<string, string>();
  const check = (settings: DnsCacheSettings | undefined, path: PropertyKey[]): void => {
    if (settings === undefined) return;
    const text = JSON.stringify(settings);
    const first = seen.get(settings.name);
    if (first === undefined) seen.set(settings.name, text);
    else if (first !== text) ctx.addIssue({ code: "custom", path, message: `config specified DNS cache '${settings.name}' with different settings` });
  };
  for (const [i, cluster] of statics.clusters.entries()) check(cluster?.dynamicForwardProxy?.dnsCache, ["static_resources", "clusters", i, "cluster_type", "typed_config", "dns_cache_config"]);
  for (const [i, listener] of statics.listeners.entries()) {
    for (const [c, chain] of (listener?.filterChains ?? []).entries()) {
      for (const [f, filter] of (chain?.filters ?? []).entries()) {
        if (filter?.type === "envoy.filters.network.sni_dynamic_forward_proxy") check(filter.config.dnsCache, ["static_resources", "listeners", i, "filter_chains", c, "filters", f, "typed_config", "dns_cache_config"]);
        const httpFilters = (filter?.config as { httpFilters?: { type?: string; config?: unknown }[] } | undefined)?.httpFilters;
        for (const [h, http] of (httpFilters ?? []).entries()) {
          if (http?.type !== "envoy.filters.http.dynamic_forward_proxy") continue;
          check((http.config as DynamicForwardProxyFilterConfig).dnsCache, ["static_resources", "listeners", i, "filter_chains", c, "filters", f, "typed_config", "http_filters", h, "typed_config", "dns_cache_config"]);
        }
      }
    }
  }
}

function checkAggregateReferences(clusters: readonly ClusterConfig[], hasCds: boolean, ctx: z.RefinementCtx): void {
  // Refinements run even over parts that failed: every step is guarded.
  const byName = new Map<string, ClusterConfig>();
  for (const cluster of clusters ?? []) if (typeof cluster?.name === "string") byName.set(cluster.name, cluster);
  for (const [i, cluster] of (clusters ?? []).entries()) {
    const names = cluster?.aggregateClusters;
    if (!Array.isArray(names)) continue;
    names.forEach((name, n) => {
      const path = ["static_resources", "clusters", i, "cluster_type", "typed_config", "clusters", n];
      const target = byName.get(name);
      if (target === undefined && !hasCds) ctx.addIssue({ code: "custom", path, message: `no cluster named '${name}': it is not in static_resources.clusters and there is no cds_config to add it` });
      else if (target?.aggregateClusters !== undefined && name !== cluster.name) ctx.addIssue({ code: "custom", path, message: `cluster '${name}' is an aggregate cluster: an aggregate's clusters give it their hosts, and an aggregate has none (Envoy skips it)` });
    });
  }
}

/**
 * A ConfigSource `ads: {}` needs dynamic_resources.ads_config (Envoy refuses it at start:
 * "ADS must be configured to support an ADS config source"). Checked where the bootstrap
 * names them: LDS, CDS, static EDS clusters, static listeners' RDS, and the SDS secrets
 * of static listeners' and clusters' TLS and of their oauth2 filters' credentials.
 */
function checkAdsSources(
  hasAds: boolean,
  dynamic: { lds_config?: XdsConfigSource | undefined; cds_config?: XdsConfigSource | undefined } | undefined,
  statics: { listeners: readonly ListenerConfig[]; clusters: readonly ClusterConfig[] },
  ctx: z.RefinementCtx,
): void {
  if (hasAds) return;
  // Refinements run even over parts that failed (their values may be missing): every step is guarded.
  const isAds = (source: XdsConfigSource | undefined) => typeof source === "object" && source !== null && "kind" in source && source.kind === "ads";
  const refuse = (path: (string | number)[]) => ctx.addIssue({ code: "custom", path, message: "ADS must be configured to support an ADS config source (dynamic_resources.ads_config)" });
  if (isAds(dynamic?.lds_config)) refuse(["dynamic_resources", "lds_config", "ads"]);
  if (isAds(dynamic?.cds_config)) refuse(["dynamic_resources", "cds_config", "ads"]);
  // A TLS context's SDS secrets: the certificates' and the validation context's.
  const sdsSources = (tls: DownstreamTlsConfig | UpstreamTlsConfig | undefined, at: (string | number)[]) => {
    const common = tls?.common;
    for (const [k, ref] of (common?.tlsCertificateSds ?? []).entries()) if (isAds(ref?.sdsConfig)) refuse([...at, "common_tls_context", "tls_certificate_sds_secret_configs", k, "sds_config", "ads"]);
    if (isAds(common?.validationContextSds?.sdsConfig)) refuse([...at, "common_tls_context", "validation_context_sds_secret_config", "sds_config", "ads"]);
  };
  for (const [i, cluster] of (statics?.clusters ?? []).entries()) {
    if (isAds(cluster?.eds?.configSource)) refuse(["static_resources", "clusters", i, "eds_cluster_config", "eds_config", "ads"]);
    sdsSources(cluster?.transportSocket, ["static_resources", "clusters", i, "transport_socket", "typed_config"]);
  }
  for (const [i, listener] of (statics?.listeners ?? []).entries()) {
    for (const [c, chain] of (listener?.filterChains ?? []).entries()) {
      sdsSources(chain?.transportSocket, ["static_resources", "listeners", i, "filter_chains", c, "transport_socket", "typed_config"]);
      for (const [f, filter] of (chain?.filters ?? []).entries()) {
        const rds = (filter?.config as { rds?: { configSource?: XdsConfigSource } } | undefined)?.rds;
        if (isAds(rds?.configSource)) refuse(["static_resources", "listeners", i, "filter_chains", c, "filters", f, "typed_config", "rds", "config_source", "ads"]);
        // An oauth2 filter's token_secret and hmac_secret.
        const httpFilters = (filter?.config as { httpFilters?: readonly HttpFilterConfig[] } | undefined)?.httpFilters;
        for (const [h, http] of (Array.isArray(httpFilters) ? httpFilters : []).entries()) {
          if (http?.type !== "envoy.filters.http.oauth2") continue;
          const credentials = http.config?.config;
          const at = ["static_resources", "listeners", i, "filter_chains", c, "filters", f, "typed_config", "http_filters", h, "typed_config", "config", "credentials"];
          if (isAds(credentials?.tokenSecret?.sdsConfig)) refuse([...at, "token_secret", "sds_config", "ads"]);
          if (isAds(credentials?.hmacSecret?.sdsConfig)) refuse([...at, "hmac_secret", "sds_config", "ads"]);
        }
      }
    }
    sdsSources(listener?.defaultFilterChain?.transportSocket, ["static_resources", "listeners", i, "default_filter_chain", "transport_socket", "typed_config"]);
  }
}
