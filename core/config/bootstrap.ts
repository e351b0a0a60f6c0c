import type { UdpProxyConfig } from "./udp-proxy-schema.ts";
/**
 * The effective configuration the core runs from: Envoy's v3 bootstrap subset after
 * validation, with defaults applied and durations turned into milliseconds.
 * `load.ts` builds it from YAML/JSON; nothing else in the core reads raw config.
 */

import type { OverloadManagerConfig } from "./overload-schema.ts";
import type { Http2Options } from "../http2/protocol-options.ts";
import type { Http2KeepaliveSettings } from "../http2/keepalive.ts";
import type { CompressorOptions, DecompressorOptions } from "../port-compression.ts";
import type { TcpKeepaliveOptions } from "../port.ts";

/** envoy.config.core.v3.Metadata's filter_metadata: a Struct (as JSON) per filter namespace. */
export type FilterMetadata = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

export interface SocketAddressConfig {
  /** An IP literal (a DNS cluster's name to resolve); with `pipe` the Unix socket's path (`@name`: abstract). */
  address: string;
  /** 0 with `pipe`. */
  port: number;
  /** envoy.config.core.v3.Pipe: a Unix domain socket, its file mode (0: left as bound). */
  pipe?: { mode: number };
}

export interface Bootstrap {
  node?: NodeConfig;
  /** dynamic_resources: listeners (LDS) and clusters (CDS) from files (core/config/xds/lds-cds-api.ts). */
  dynamicResources?: { readonly lds?: XdsConfigSource; readonly cds?: XdsConfigSource; readonly ads?: ApiConfigSource };
  admin?: AdminConfig;
  /** stats_flush_interval in ms; absent for Envoy's default (5 s). */
  statsFlushIntervalMs?: number;
  /** stats_flush_on_admin: no flush timer; the admin's /stats and /stats/prometheus flush (core/stats/stats-flusher.ts). */
  statsFlushOnAdmin?: boolean;
  /** stats_sinks (core/stats/statsd-sink.ts); absent when none. */
  statsSinks?: StatsSinkConfig[];
  listeners: ListenerConfig[];
  clusters: ClusterConfig[];
  /** overload_manager (core/overload/); absent when not configured. */
  overloadManager?: OverloadManagerConfig;
  /** layered_runtime (core/runtime/); absent when not configured (no layers, as in Envoy). */
  layeredRuntime?: LayeredRuntimeConfig;
  /** stats_config; absent when not configured (Envoy's default tags, every stat kept). */
  statsConfig?: StatsConfig;
  /** cluster_manager.local_cluster_name: the cluster of this proxy's own fleet (zone aware routing); absent without. */
  localClusterName?: string;
  /** cluster_manager.load_stats_config: where load reports go (core/upstream/load-stats-reporter.ts); absent without. */
  loadStatsConfig?: LoadStatsConfig;
  /** static_resources.secrets (core/tls/secret-manager.ts); absent when none. */
  secrets?: SecretConfig[];
  /** application_log_config.log_format as a `--log-format` string (config/application-log-config-schema.ts); absent without. */
  applicationLogFormat?: string;
}

/**
 * A stats_sinks entry (core/config/stats-sinks-schema.ts): Envoy's statsd sink over UDP
 * (`statsd`) or TCP to a static cluster (`statsd_tcp`), its DogStatsD sink, or its gRPC
 * metrics service sink (`metrics_service`), or its OpenTelemetry (OTLP) sink (`open_telemetry`).
 */
export type StatsSinkConfig =
  | { readonly kind: "statsd"; readonly address: { readonly address: string; readonly port: number }; readonly prefix: string }
  | { readonly kind: "statsd_tcp"; readonly clusterName: string; readonly prefix: string }
  /** maxBytesPerDatagram 0: every metric a datagram of its own (Envoy's buffer_size unset). */
  | { readonly kind: "dog_statsd"; readonly address: { readonly address: string; readonly port: number }; readonly prefix: string; readonly maxBytesPerDatagram: number }
  | MetricsServiceSinkConfig
  | OpenTelemetrySinkConfig;

/** envoy.config.metrics.v3.MetricsServiceConfig (core/stats/metrics-service-sink.ts). */
export interface MetricsServiceSinkConfig {
  readonly kind: "metrics_service";
  /** grpc_service: where StreamMetrics goes. */
  readonly target: GrpcServiceTarget;
  /** report_counters_as_deltas (default false): a counter's gain since the last flush, not its value. */
  readonly reportCountersAsDeltas: boolean;
  /** emit_tags_as_labels (default false): tag-extracted names, the tags as labels. */
  readonly emitTagsAsLabels: boolean;
  /** histogram_emit_mode (default SUMMARY_AND_HISTOGRAM). */
  readonly histogramEmitMode: "SUMMARY_AND_HISTOGRAM" | "SUMMARY" | "HISTOGRAM";
}

/** envoy.extensions.stat_sinks.open_telemetry.v3.SinkConfig (core/stats/open-telemetry-sink.ts). */
export interface OpenTelemetrySinkConfig {
  readonly kind: "open_telemetry";
  /** grpc_service: where MetricsService/Export goes. */
  readonly target: GrpcServiceTarget;
  /** grpc_service.timeout in ms: each Export's deadline; undefined when not set. */
  readonly timeoutMs: number | undefined;
  /** report_counters_as_deltas (default false): Sum points of DELTA temporality, else CUMULATIVE. */
  readonly reportCountersAsDeltas: boolean;
  /** report_histograms_as_deltas (default false): Histogram points over the flush interval (DELTA), else since start (CUMULATIVE). */
  readonly reportHistogramsAsDeltas: boolean;
  /** emit_tags_as_attributes (default true): the stat's tags as each data point's attributes. */
  readonly emitTagsAsAttributes: boolean;
  /** use_tag_extracted_name (default true): the metric named by the tag-extracted name, else the full name. */
  readonly useTagExtractedName: boolean;
  /** prefix, with its "." (Envoy's stat_prefix_), or "" when not set. */
  readonly prefix: string;
}

/** cluster_manager.load_stats_config (an ApiConfigSource of api_type GRPC or DELTA_GRPC): the LRS server's cluster. */
export interface LoadStatsConfig {
  readonly target: GrpcServiceTarget;
}

/** envoy.config.metrics.v3.StatsConfig (core/stats/stats-matcher.ts, core/admin/tag-extractor.ts). */
export interface StatsConfig {
  /** stats_tags, in order, after Envoy's default tags when useAllDefaultTags. */
  statsTags: TagSpecifierConfig[];
  /** use_all_default_tags: default true. */
  useAllDefaultTags: boolean;
  /** stats_matcher: which stats are kept; absent: all. */
  statsMatcher?: StatsMatcherConfig;
}

/** envoy.config.metrics.v3.TagSpecifier: a regex (its first group cut from the name, its second the value), a fixed value, or a default tag by name. */
export type TagSpecifierConfig =
  | { tagName: string; regex: string }
  | { tagName: string; fixedValue: string }
  /** No regex: Envoy's default extractor of that name. */
  | { tagName: string };

export type StatsMatcherConfig =
  | { type: "reject_all" }
  /** Kept: stats no pattern matches (exclusion_list) or some pattern matches (inclusion_list). */
  | { type: "exclusion_list" | "inclusion_list"; patterns: ValueMatchConfig[] };

/** envoy.config.bootstrap.v3.LayeredRuntime: static layers flattened to dotted keys, and at most one admin layer. */
export interface LayeredRuntimeConfig {
  layers: RuntimeLayerConfig[];
}

export type RuntimeLayerConfig =
  /** static_layer: each key's raw value as Envoy keeps it ("5", "true", "{numerator: 5, denominator: MILLION}"). */
  | { kind: "static"; name: string; values: [string, string][] }
  /** admin_layer: set by POST /runtime_modify. */
  | { kind: "admin"; name: string }
  /**
   * disk_layer: the files under symlink_root/subdirectory (and /<service cluster> with
   * append_service_cluster), read once at start-up (core/runtime/disk-layer.ts).
   */
  | { kind: "disk"; name: string; symlinkRoot: string; subdirectory: string; appendServiceCluster: boolean }
  /** rtds_layer: the Runtime resource `resourceName` from the file or management server of rtds_config (core/runtime/rtds-subscription.ts). */
  | { kind: "rtds"; name: string; resourceName: string; source: XdsConfigSource };

/** envoy.config.core.v3.Node: who this proxy is, for logs and the admin's /server_info. */
export interface NodeConfig {
  id?: string;
  cluster?: string;
  /** google.protobuf.Struct: the user's own JSON object. */
  metadata?: Record<string, unknown>;
  locality?: { region?: string; zone?: string; sub_zone?: string };
}

/** envoy.config.bootstrap.v3.Admin, with an address (without one there is no admin, as in Envoy). */
export interface AdminConfig {
  address: SocketAddressConfig;
  /** access_log_path (a file logger in the default format) and then access_log; absent when none. */
  accessLog?: AccessLogConfig[];
  /** profile_path: accepted, unused (polyvoy has no profiler). */
  profilePath?: string;
  /**
   * Never from a config: set by core/main.ts on a worker's internal admin made only for its
   * supervisor's stats flush (stats_sinks and no admin configured); it answers nothing else.
   */
  supervisorOnly?: true;
}

export interface ListenerConfig {
  name: string;
  address: SocketAddressConfig;
  /** Envoy's per_connection_buffer_limit_bytes (default 1 MiB): the write-buffer high watermark. */
  perConnectionBufferLimitBytes: number;
  /** filter_chains, in config order; a connection runs the one its filter_chain_match selects. */
  filterChains: FilterChainConfig[];
  /** default_filter_chain: the chain for a connection no filter_chain_match selects; absent: such a connection is closed. */
  defaultFilterChain?: FilterChainConfig;
  /** listener_filters, in order; absent when none. */
  listenerFilters?: ListenerFilterConfig[];
  /** listener_filters_timeout in ms (0: none); absent for Envoy's default, 15 s. */
  listenerFiltersTimeoutMs?: number;
  /** continue_on_listener_filters_timeout: at the timeout, pick a filter chain with what the filters found so far instead of closing. */
  continueOnListenerFiltersTimeout?: true;
  /**
   * Envoy's Listener.stat_prefix: stats under `listener.<stat_prefix>.` instead of
   * `listener.<address>.` (the admin listener uses "admin").
   */
  statPrefix?: string;
  /** access_log: a line for each connection when it ends, and for each socket that never became one; absent when none. */
  accessLog?: AccessLogConfig[];
  /** traffic_direction: OUTBOUND makes its HCMs' tracing egress (TracingConfig.operationName). */
  trafficDirection?: "INBOUND" | "OUTBOUND";
  /** Envoy's Listener.ignore_global_conn_limit: not counted or limited by the overload manager's global connection limit (the admin's is). */
  ignoreGlobalConnLimit?: boolean;
  /**
   * enable_reuse_port: false (absent: true, Envoy's default, or the deprecated reuse_port):
   * with --concurrency N, the workers accept from one socket instead of one each bound with
   * SO_REUSEPORT. One process has one socket either way (ActiveListener.start).
   */
  reusePort?: false;
  /** Both enable_reuse_port and the deprecated reuse_port were set: Envoy warns and prefers enable_reuse_port. */
  reusePortBothSet?: true;
  /** A UDP listener (socket_address.protocol UDP): its one listener filter, the UDP proxy (core/udp/); it has no filter chains. */
  udp?: UdpListenerConfig;
}

/** A UDP listener's settings. */
export interface UdpListenerConfig {
  /** The listener filter's name as configured. */
  filterName: string;
  proxy: UdpProxyConfig;
  /** udp_listener_config.downstream_socket_config.max_rx_datagram_size (default 1500): a longer datagram is dropped. */
  maxRxDatagramSize: number;
}

export interface FilterChainConfig {
  /** FilterChain.name, as Envoy's messages name chains; absent when unset. */
  name?: string;
  /** filter_chain_match; absent when unset (it matches every connection). */
  match?: FilterChainMatchConfig;
  filters: NetworkFilterConfig[];
  /** envoy.transport_sockets.tls: TLS is terminated before the filters see the bytes. */
  transportSocket?: DownstreamTlsConfig;
  /**
   * transport_socket_connect_timeout: a TLS handshake not done this long after the
   * connection is accepted closes it; absent (0, Envoy's default): no limit.
   */
  transportSocketConnectTimeoutMs?: number;
}

/** An address_prefix and prefix_len (envoy.config.core.v3.CidrRange), validated. */
export interface CidrRangeConfig {
  addressPrefix: string;
  prefixLen: number;
}

/**
 * envoy.config.listener.v3.FilterChainMatch, every field Envoy evaluates (address_suffix
 * and suffix_len, which Envoy refuses as unimplemented, are refused). Empty lists and
 * "" mean "any", as in Envoy.
 */
export interface FilterChainMatchConfig {
  /** 0: any. */
  destinationPort: number;
  prefixRanges: CidrRangeConfig[];
  directSourcePrefixRanges: CidrRangeConfig[];
  sourceType: "ANY" | "SAME_IP_OR_LOOPBACK" | "EXTERNAL";
  sourcePrefixRanges: CidrRangeConfig[];
  sourcePorts: number[];
  /** As written (the filter chain manager lower-cases them, as Envoy); `*.example.com` wildcards. */
  serverNames: string[];
  transportProtocol: string;
  applicationProtocols: string[];
}

/** A listener filter (envoy.config.listener.v3.ListenerFilter): `type` is the canonical extension name. */
export type ListenerFilterConfig = { name: string } & (
  | { type: "envoy.filters.listener.tls_inspector"; config: TlsInspectorConfig }
  | { type: "envoy.filters.listener.http_inspector"; config: Record<string, never> }
  | { type: "envoy.filters.listener.proxy_protocol"; config: ProxyProtocolConfig }
);

/** envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector */
export interface TlsInspectorConfig {
  /** initial_read_buffer_size: a read-size hint in Envoy; reads here are what the socket gives. */
  initialReadBufferSize?: number;
  /** max_client_hello_size (256 < n ≤ 16384; absent: 16384): a ClientHello unfinished after this many bytes closes the connection. */
  maxClientHelloSize?: number;
  /** close_connection_on_client_hello_parsing_errors: what is not a valid ClientHello is closed instead of going on as raw_buffer. */
  closeOnParsingErrors?: true;
  /** enable_ja3_fingerprinting: the hello's JA3 hash becomes the connection's %TLS_JA3_FINGERPRINT%. */
  enableJa3Fingerprinting?: true;
}

/** envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol */
export interface ProxyProtocolConfig {
  allowRequestsWithoutProxyProtocol: boolean;
  /** disallowed_versions: a header of these versions closes the connection. */
  disallowedVersions: ("V1" | "V2")[];
  /** stat_prefix: stats under `proxy_proto.<stat_prefix>.`. */
  statPrefix?: string;
}

/** A network filter: `type` is the canonical extension name, e.g. "envoy.filters.network.tcp_proxy". */
export type NetworkFilterConfig = { name: string } & (TcpProxyFilter | HttpConnectionManagerFilter | ConnectionLimitFilterConfig | NetworkRbacFilterConfig | NetworkScriptFilterConfig | PostgresProxyFilterConfig | MySQLProxyFilterConfig | KafkaBrokerFilterConfig | RedisProxyFilterConfig | SniDynamicForwardProxyFilterConfig);

/** envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3.FilterConfig (core/network/sni-dynamic-forward-proxy.ts). */
export interface SniDynamicForwardProxyFilterConfig {
  type: "envoy.filters.network.sni_dynamic_forward_proxy";
  config: { dnsCache: DnsCacheSettings; portValue: number };
}

/** polyvoy.filters.network.script.v1.Script: a network filter written in TypeScript (core/network/user-filter/). */
export interface NetworkScriptFilterConfig {
  type: "polyvoy.filters.network.script";
  config: NetworkScriptConfig;
}

export interface NetworkScriptConfig {
  /** The filter's name in the chain (its stats and log lines are named by it). */
  filterName: string;
  /** The module to load (its default export, or `filter`, is the definition). */
  module: string;
  /** `config` as written: given to the definition's parser at start-up. */
  rawConfig: unknown;
}

export interface PostgresProxyFilterConfig {
  type: "envoy.filters.network.postgres_proxy";
  config: PostgresProxyConfig;
}

/** envoy.extensions.filters.network.postgres_proxy.v3alpha.PostgresProxy (terminate_ssl and upstream_ssl only at their defaults). */
export interface PostgresProxyConfig {
  statPrefix: string;
  /** Envoy's default: true. Query and Parse messages' SQL feeds the connection's dynamic metadata. */
  enableSqlParsing: boolean;
}

export interface MySQLProxyFilterConfig {
  type: "envoy.filters.network.mysql_proxy";
  config: MySQLProxyConfig;
}

/** envoy.extensions.filters.network.mysql_proxy.v3.MySQLProxy (access_log only empty, downstream_ssl only DISABLE). */
export interface MySQLProxyConfig {
  statPrefix: string;
}

export interface KafkaBrokerFilterConfig {
  type: "envoy.filters.network.kafka_broker";
  config: KafkaBrokerConfig;
}

/** envoy.extensions.filters.network.kafka_broker.v3.KafkaBroker (force_response_rewrite, the address rewrite and api_keys_* only at their defaults). */
export interface KafkaBrokerConfig {
  statPrefix: string;
}

export interface RedisProxyFilterConfig {
  type: "envoy.filters.network.redis_proxy";
  config: RedisProxyConfig;
}

/** A prefix_routes route (envoy.extensions.filters.network.redis_proxy.v3.RedisProxy.PrefixRoutes.Route); prefix as a byte string. */
export interface RedisRouteConfig {
  prefix: string;
  removePrefix: boolean;
  cluster: string;
}

/** envoy.extensions.filters.network.redis_proxy.v3.RedisProxy (what core/config/redis-proxy-schema.ts accepts). */
export interface RedisProxyConfig {
  statPrefix: string;
  opTimeoutMs: number;
  enableHashtagging: boolean;
  /** 0: each request is written upstream at once. */
  maxBufferSizeBeforeFlush: number;
  bufferFlushTimeoutMs: number;
  latencyInMicros: boolean;
  routes: RedisRouteConfig[];
  catchAllRoute?: RedisRouteConfig;
  caseInsensitive: boolean;
  /** downstream_auth_password and downstream_auth_passwords, the empty ones left out. */
  downstreamAuthPasswords: string[];
  downstreamAuthUsername: string;
}

export interface NetworkRbacFilterConfig {
  type: "envoy.filters.network.rbac";
  config: NetworkRbacConfig;
}

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
  /** `cluster` (one, weight 1) or `weighted_clusters`: each connection picks one by weight. */
  clusters: { name: string; weight: number; metadataMatch?: MetadataMatchCriteria }[];
  /** 0 disables; Envoy's default is 1 hour. */
  idleTimeoutMs: number;
  /** max_connect_attempts when above Envoy's default of 1: the connect is tried on another pick of host. */
  maxConnectAttempts?: number;
  /** hash_policy source_ip: hash the downstream's IP for RING_HASH and MAGLEV clusters. */
  hashSourceIp?: true;
  /** access_log, in order; absent when none is configured. */
  accessLog?: AccessLogConfig[];
  /** access_log_options.flush_access_log_on_connected: the logs also write a TcpUpstreamConnected line once the upstream (or tunnel) is up. */
  flushAccessLogOnConnected?: true;
  /** tunneling_config: the bytes go in an HTTP request to the cluster (CONNECT, or POST). */
  tunneling?: TcpTunnelingConfig;
}

/** TcpProxy.TunnelingConfig (Envoy's TunnelingConfigHelperImpl, source/common/tcp_proxy/tcp_proxy.cc). */
export interface TcpTunnelingConfig {
  /** `hostname`: the CONNECT's authority (the POST's host); a substitution format when `hostnameFormatted`. */
  hostname: string;
  hostnameFormatted?: true;
  /** `use_post`: POST `postPath` instead of CONNECT. */
  usePost: boolean;
  /** `post_path`, "/" unless set (only with use_post). */
  postPath: string;
  /** `headers_to_add`, evaluated per connection (formatters as the access log's). */
  headersToAdd: HeaderValueOption[];
}

/** envoy.config.endpoint.v3.LbEndpoint */
export interface LbEndpointConfig {
  /** An IP literal, or for a DNS cluster the name to resolve. */
  address: SocketAddressConfig;
  /** Endpoint.hostname, when set: /clusters shows it instead of a DNS cluster's resolved name. */
  hostname?: string;
  /** 1 unless set (Envoy validates it as ≥ 1 when present). */
  loadBalancingWeight: number;
  /** health_status; absent when UNKNOWN/HEALTHY (no flag). */
  healthStatus?: "UNHEALTHY" | "DRAINING" | "TIMEOUT" | "DEGRADED";
  /** Endpoint.health_check_config: another port to check (0: the serving port), the Host header of HTTP checks. */
  healthCheck?: { port: number; hostname: string };
  /** LbEndpoint.metadata's filter_metadata (subset load balancing reads `envoy.lb`); absent when unset. */
  metadata?: FilterMetadata;
}

/** envoy.config.endpoint.v3.LocalityLbEndpoints */
export interface LocalityLbEndpointsConfig {
  /** 0 (the highest) unless set. */
  priority: number;
  lbEndpoints: LbEndpointConfig[];
  /** locality; absent when unset (every field empty). */
  locality?: { region: string; zone: string; subZone: string };
  /** load_balancing_weight of the locality (1–128); absent when unset (weight 0: no load under locality weighted balancing). */
  loadBalancingWeight?: number;
  /** LocalityLbEndpoints.metadata's filter_metadata; absent when unset. */
  metadata?: FilterMetadata;
}

/** Cluster.LbSubsetConfig.LbSubsetSelector: keys sorted and unique. */
export interface LbSubsetSelectorConfig {
  readonly keys: readonly string[];
  readonly fallbackPolicy: "NOT_DEFINED" | "NO_FALLBACK" | "ANY_ENDPOINT" | "DEFAULT_SUBSET" | "KEYS_SUBSET";
  /** KEYS_SUBSET: the keys to try again with, sorted. */
  readonly fallbackKeysSubset?: readonly string[];
}

/** envoy.config.cluster.v3.Cluster.LbSubsetConfig (core/upstream/subset-load-balancer.ts). */
export interface LbSubsetConfig {
  readonly fallbackPolicy: "NO_FALLBACK" | "ANY_ENDPOINT" | "DEFAULT_SUBSET";
  /** default_subset's fields: the `envoy.lb` labels of the default subset's hosts. */
  readonly defaultSubset: readonly (readonly [string, unknown])[];
  readonly selectors: readonly LbSubsetSelectorConfig[];
  readonly localityWeightAware: boolean;
  readonly scaleLocalityWeight: boolean;
  readonly panicModeAny: boolean;
  readonly listAsAny: boolean;
  readonly allowRedundantKeys: boolean;
}

/** Route metadata_match's `envoy.lb` fields as (name, value) pairs sorted by name (Envoy's MetadataMatchCriteria). */
export type MetadataMatchCriteria = readonly (readonly [string, unknown])[];

export type LbPolicyName = "ROUND_ROBIN" | "LEAST_REQUEST" | "RANDOM" | "RING_HASH" | "MAGLEV";

/**
 * The load balancer of a cluster, from lb_policy and its *_lb_config, common_lb_config,
 * or load_balancing_policy (core/config/lb-policy-schema.ts has the defaults).
 */
export interface LoadBalancingConfig {
  policy: LbPolicyName;
  /** common_lb_config.healthy_panic_threshold in whole percent (default 50; 0 disables panic). */
  healthyPanicThreshold: number;
  /** locality_weighted_lb_config is set. */
  localityWeighted: boolean;
  /** zone_aware_lb_config.fail_traffic_on_panic. */
  failTrafficOnPanic: boolean;
  /** LEAST_REQUEST: choice_count (default 2). */
  choiceCount: number;
  /** LEAST_REQUEST: active_request_bias (default 1.0). */
  activeRequestBias: number;
  /** active_request_bias was configured (Envoy then always uses the weighted schedule). */
  activeRequestBiasSet: boolean;
  /** active_request_bias's runtime_key: the runtime's value replaces the bias when the hosts change. */
  activeRequestBiasRuntimeKey?: string;
  /** RING_HASH: minimum_ring_size (1024), maximum_ring_size (8M), hash_function (XX_HASH). */
  minimumRingSize: number;
  maximumRingSize: number;
  hashFunction: "XX_HASH" | "MURMUR_HASH_2";
  /** MAGLEV: table_size (65537, prime). */
  tableSize: number;
  /** consistent_hashing_lb_config.use_hostname_for_hashing. */
  useHostnameForHashing: boolean;
  /** zone_aware_lb_config.routing_enabled: percent of picks that try zone aware routing (default 100). */
  zoneRoutingEnabled: number;
  /** zone_aware_lb_config.min_cluster_size: fewer healthy hosts than this, no zone aware routing (default 6). */
  zoneMinClusterSize: number;
  /**
   * consistent_hashing_lb_config.hash_balance_factor (RING_HASH, MAGLEV): bounded loads,
   * a host takes at most this percent of the average active requests; 0: unbounded.
   */
  hashBalanceFactor: number;
  /** ROUND_ROBIN, LEAST_REQUEST: slow_start_config; absent (or a zero window) without. */
  slowStart?: SlowStartConfig;
}

/** envoy.extensions.load_balancing_policies.common.v3.SlowStartConfig, defaults applied. */
export interface SlowStartConfig {
  /** slow_start_window in ms: how long a newly healthy host's weight ramps up. */
  windowMs: number;
  /** aggression (default 1.0: linear): the weight grows as (time / window) ^ (1 / aggression). */
  aggression: number;
  /** aggression's runtime_key, read at each pick as Envoy's aggression_runtime_. */
  aggressionRuntimeKey?: string;
  /** min_weight_percent (default 10): the ramp starts at this fraction of the weight. */
  minWeightPercent: number;
}

/** Cluster.DnsLookupFamily (AUTO: IPv6 addresses when there are any, else IPv4). */
export type DnsLookupFamily = "AUTO" | "V4_ONLY" | "V6_ONLY" | "V4_PREFERRED" | "ALL";

/** How a STRICT_DNS or LOGICAL_DNS cluster resolves its names (the Cluster's dns_* fields). */
export interface DnsClusterConfig {
  /** dns_refresh_rate (default 5 s). */
  refreshRateMs: number;
  /** dns_failure_refresh_rate: jittered exponential backoff after failures; absent: the refresh rate. */
  failureRefreshRate?: { baseIntervalMs: number; maxIntervalMs: number };
  /** respect_dns_ttl: refresh after the answer's TTL instead, where the runtime gives TTLs. */
  respectDnsTtl: boolean;
  lookupFamily: DnsLookupFamily;
  /** dns_jitter: up to this much (random) added to each refresh after a success; 0 by default. */
  jitterMs: number;
}

/**
 * envoy.extensions.common.dynamic_forward_proxy.v3.DnsCacheConfig, Envoy's defaults
 * applied (core/upstream/dns-cache.ts).
 */
export interface DnsCacheSettings {
  name: string;
  lookupFamily: DnsLookupFamily;
  /** dns_refresh_rate (default 60 s): the refresh after an answer without addresses (and after failures without failureRefreshRate). */
  refreshRateMs: number;
  /** dns_min_refresh_rate (default 5 s): an answer with addresses refreshes after its first address's TTL, at least this. */
  minRefreshRateMs: number;
  /** host_ttl (default 5 min): a host unused that long is removed at its next refresh. */
  hostTtlMs: number;
  /** max_hosts (default 1024). */
  maxHosts: number;
  /** dns_failure_refresh_rate: jittered exponential backoff after failures; absent: the refresh rate. */
  failureRefreshRate?: { baseIntervalMs: number; maxIntervalMs: number };
  /** dns_cache_circuit_breaker.max_pending_requests (default 1024): requests waiting for answers at once. */
  maxPendingRequests: number;
  /** dns_query_timeout (default 5 s). */
  queryTimeoutMs: number;
  /** preresolve_hostnames: hosts loaded when the cache is made, before any request names them. */
  preresolveHostnames?: { address: string; port: number }[];
}

/** A cluster of cluster_type envoy.clusters.dynamic_forward_proxy (core/upstream/dynamic-forward-proxy-cluster.ts). */
export interface DynamicForwardProxyClusterConfig {
  dnsCache: DnsCacheSettings;
}

/** envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig (core/http/filters/dynamic-forward-proxy.ts). */
export interface DynamicForwardProxyFilterConfig {
  dnsCache: DnsCacheSettings;
  /** save_upstream_address: the resolved address goes in the filter state `envoy.stream.upstream_address`. */
  saveUpstreamAddress: boolean;
}

/** envoy.extensions.filters.http.dynamic_forward_proxy.v3.PerRouteConfig: at most one of the two. */
export interface DynamicForwardProxyPerRouteConfig {
  hostRewriteLiteral?: string;
  hostRewriteHeader?: string;
}

/** CircuitBreakers.Thresholds.RetryBudget as configured: a field is present only when set (Envoy keeps each as an absl::optional). */
export interface RetryBudgetConfig {
  budgetPercent?: number;
  minRetryConcurrency?: number;
}

/**
 * An ORIGINAL_DST cluster's original_dst_lb_config and cleanup_interval
 * (core/upstream/original-dst-cluster.ts).
 */
export interface OriginalDstConfig {
  /** use_http_header: the header (lower case) whose `ip:port` is the destination; absent: not read. */
  httpHeaderName?: string;
  /** metadata_key: the dynamic metadata (namespace, then path) whose string `ip:port` is the destination. */
  metadataKey?: { namespace: string; path: string[] };
  /** upstream_port_override: the destination's port, whatever it came with. */
  portOverride?: number;
  /** cleanup_interval (default 5 s): a host not picked in that time, with no connection or request, is removed. */
  cleanupIntervalMs: number;
}

/** RedisProtocolOptions: what redis_proxy sends first on each connection to the cluster's hosts. */
export interface RedisUpstreamAuth {
  password: string;
  /** Empty: `AUTH <password>`; else `AUTH <username> <password>`. */
  username: string;
}

export interface ClusterConfig {
  name: string;
  /** typed_extension_protocol_options' RedisProtocolOptions, with a password. */
  redisAuth?: RedisUpstreamAuth;
  /** envoy.transport_sockets.tls: upstream connections speak TLS. */
  transportSocket?: UpstreamTlsConfig;
  /** upstream_http_protocol_options.auto_sni: the SNI is the request's host. */
  autoSni?: boolean;
  /** upstream_http_protocol_options.auto_san_validation: the upstream's certificate must name that SNI. */
  autoSanValidation?: boolean;
  type: "STATIC" | "STRICT_DNS" | "LOGICAL_DNS" | "EDS" | "ORIGINAL_DST";
  /** Present for ORIGINAL_DST clusters: where a request's destination comes from, and how long unused hosts stay. */
  originalDst?: OriginalDstConfig;
  /** cluster_type envoy.clusters.dynamic_forward_proxy: hosts made from its DNS cache's answers. */
  dynamicForwardProxy?: DynamicForwardProxyClusterConfig;
  /** Present for STRICT_DNS and LOGICAL_DNS clusters. */
  dns?: DnsClusterConfig;
  /** preconnect_policy.per_upstream_preconnect_ratio (1–3); absent: 1, no connection opened ahead of streams. */
  perUpstreamPreconnectRatio?: number;
  /** wait_for_warm_on_init: false (DNS and EDS clusters): start-up and CDS warming do not wait for the first resolution or update. */
  waitForWarmOnInit?: false;
  /** Present for EDS clusters: where their endpoints come from. */
  eds?: EdsClusterConfig;
  connectTimeoutMs: number;
  lbPolicy: LbPolicyName | "LOAD_BALANCING_POLICY_CONFIG" | "CLUSTER_PROVIDED";
  /**
   * cluster_type envoy.clusters.aggregate: the clusters whose priority levels, in this order,
   * are this cluster's (core/upstream/aggregate-cluster.ts); `type` is then STATIC, with no endpoints.
   */
  aggregateClusters?: string[];
  /** The load balancer's settings; absent when all are Envoy's defaults (ROUND_ROBIN). */
  loadBalancing?: LoadBalancingConfig;
  /** load_assignment.policy.overprovisioning_factor (percent; absent: Envoy's 140). */
  overprovisioningFactor?: number;
  perConnectionBufferLimitBytes: number;
  /** load_assignment.endpoints: the localities in config order, each with its endpoints. */
  endpoints: LocalityLbEndpointsConfig[];
  /** lb_subset_config with at least one subset selector (Envoy's subset load balancer is on); absent otherwise. */
  lbSubset?: LbSubsetConfig;
  /**
   * Requests per upstream connection, from typed_extension_protocol_options'
   * HttpProtocolOptions.common_http_protocol_options or the legacy cluster field;
   * absent when unlimited (the default).
   */
  maxRequestsPerConnection?: number;
  /**
   * common_http_protocol_options.max_connection_duration (typed HttpProtocolOptions or the
   * legacy cluster field) in ms: a connection older drains. Absent when unlimited (the default).
   */
  maxConnectionDurationMs?: number;
  /**
   * HTTP/2 is the protocol of the cluster's HTTP upstream connections, with these codec
   * options (the fields set; Envoy's defaults otherwise): typed_extension_protocol_options'
   * HttpProtocolOptions (explicit_http_config or use_downstream_protocol_config with
   * http2_protocol_options) or the deprecated cluster field. Absent: HTTP/1.1.
   */
  http2?: Http2ProtocolOptionsConfig;
  /** common_http_protocol_options.idle_timeout of its HTTP upstream connections in ms (0: none); absent: Envoy's 1 hour. */
  idleTimeoutMs?: number;
  /**
   * use_downstream_protocol_config (or protocol_selection USE_DOWNSTREAM_PROTOCOL): a
   * request's upstream speaks its downstream's version (HTTP/2 for HTTP/2, else HTTP/1.1);
   * a request with no downstream (the async client, mirrors) the configured one.
   */
  useDownstreamProtocol?: true;
  /**
   * Its HTTP/1 http_protocol_options.enable_trailers (typed HttpProtocolOptions or the
   * deprecated cluster field): request trailers written and response trailers passed on
   * on its HTTP/1 connections. Absent: both dropped, as Envoy's default.
   */
  http1EnableTrailers?: true;
  /**
   * auto_config: each connection speaks HTTP/2 when its TLS handshake agreed on ALPN `h2`,
   * else HTTP/1.1 (core/upstream/mixed-conn-pool.ts); `http2` then holds its
   * http2_protocol_options. Only with TLS (Envoy refuses it on a transport without ALPN).
   */
  autoHttp?: true;
  /**
   * HttpProtocolOptions.http_filters before the terminal upstream_codec: the filters each
   * HTTP attempt runs between the router and the connection (Envoy's upstream filter
   * manager). Absent when the list is unset or empty; empty when it is only the codec — a
   * list of the cluster's own, which wins over the router's upstream_http_filters.
   */
  upstreamHttpFilters?: readonly HttpFilterConfig[];
  /** circuit_breakers thresholds for priority DEFAULT (Envoy's defaults: 1024 each). */
  circuitBreakers: {
    maxConnections: number;
    maxPendingRequests: number;
    maxRequests: number;
    maxRetries: number;
    /**
     * retry_budget's fields, each only when the config sets it (percent of active requests, floor of
     * concurrent retries). Absent, or neither set (`retry_budget: {}`): max_retries alone limits
     * retries unless a runtime key turns the budget on (upstream_impl.cc, RetryBudgetImpl::useRetryBudget).
     */
    retryBudget?: RetryBudgetConfig;
    /** track_remaining: the circuit_breakers.default.remaining_* gauges. */
    trackRemaining?: true;
  };
  /**
   * circuit_breakers thresholds for priority HIGH (Envoy's defaults as DEFAULT's), shown by
   * the admin's /clusters: no route is of priority HIGH (route `priority` is refused), so they
   * are never reached, as in Envoy for a config without high-priority routes. Absent: the defaults.
   */
  circuitBreakersHigh?: {
    maxConnections: number;
    maxPendingRequests: number;
    maxRequests: number;
    maxRetries: number;
    retryBudget?: RetryBudgetConfig;
    trackRemaining?: true;
  };
  /** health_checks (core/upstream/health-checker.ts); absent when none. */
  healthChecks?: HealthCheckConfig[];
  /** outlier_detection (core/upstream/outlier-detection.ts); absent when not configured. */
  outlierDetection?: OutlierDetectionConfig;
  /**
   * ignore_health_on_host_removal: a host that discovery drops is removed at once, even
   * while active health checking passes it (otherwise it stays, /pending_dynamic_removal,
   * until a check fails). Present only when true.
   */
  ignoreHealthOnHostRemoval?: true;
  /** upstream_connection_options.tcp_keepalive: SO_KEEPALIVE on its TCP connections (core/upstream/tcp-keepalive.ts); absent when not set. */
  tcpKeepalive?: TcpKeepaliveOptions;
  /**
   * common_lb_config.ignore_new_hosts_until_first_hc with health_checks: a host discovery
   * adds is excluded (/pending_active_hc) until its first check. Present only when it applies.
   */
  ignoreNewHostsUntilFirstHc?: true;
}

// ---- HTTP (envoy.filters.network.http_connection_manager) ----------------------------

export interface HttpConnectionManagerFilter {
  type: "envoy.filters.network.http_connection_manager";
  config: HttpConnectionManagerConfig;
}

export interface HttpConnectionManagerConfig {
  statPrefix: string;
  /** AUTO: HTTP/2 for a client preface (h2c prior knowledge), else HTTP/1.1. */
  codecType: "AUTO" | "HTTP1" | "HTTP2";
  /** http2_protocol_options, the fields set (the HTTP/2 codec's defaults are Envoy's); absent when none is. */
  http2?: Http2ProtocolOptionsConfig;
  /**
   * route_config; with `rds`, an empty one (Envoy's NullConfigImpl: every request 404 NR)
   * until the RDS file gives the route configuration.
   */
  routeConfig: RouteConfiguration;
  /** rds: the route configuration comes from an RDS file (core/http/route/rds-route-config-provider.ts). */
  rds?: RdsConfig;
  /** In order; the last one is the router. */
  httpFilters: HttpFilterConfig[];
  useRemoteAddress: boolean;
  xffNumTrustedHops: number;
  /** skip_xff_append: with use_remote_address, x-forwarded-for is not appended to (the client is still decided). */
  skipXffAppend?: true;
  /** append_x_forwarded_port: x-forwarded-port is the listener's port, as x-forwarded-proto is set. */
  appendXForwardedPort?: true;
  /** tracing: the request-id sampling decision and tracing.* stats (no tracer); absent when not configured. */
  tracing?: TracingConfig;
  /** internal_address_config.cidr_ranges: the internal addresses; absent: RFC 1918, loopback and unique-local. */
  internalCidrRanges?: CidrRangeConfig[];
  /** internal_address_config.unix_sockets: a Unix socket (pipe) peer is internal. */
  internalUnixSockets?: boolean;
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
  /** drain_timeout; absent: Envoy's 5 s. */
  drainTimeoutMs?: number;
  /** delayed_close_timeout; absent: Envoy's 1 s; 0 disables. */
  delayedCloseTimeoutMs?: number;
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
  /** scheme_header_transformation.scheme_to_overwrite: :scheme and x-forwarded-proto set to it; absent when unset. */
  schemeToOverwrite?: "http" | "https";
  /** scheme_header_transformation.match_upstream: :scheme set by the upstream connection's security; absent when false (the default). */
  schemeMatchUpstream?: true;
  /** via: appended to the via header of requests and responses; absent when "" (the default: none). */
  via?: string;
  /** forward_client_cert_details (x-forwarded-client-cert, http/conn-manager/xfcc.ts); absent for SANITIZE, the default. */
  forwardClientCert?: "FORWARD_ONLY" | "APPEND_FORWARD" | "SANITIZE_SET" | "ALWAYS_FORWARD_ONLY";
  /** set_current_client_cert_details: what APPEND_FORWARD and SANITIZE_SET add, in Envoy's order; absent when none. */
  clientCertDetails?: readonly ("Subject" | "Cert" | "Chain" | "URI" | "DNS")[];
  /**
   * add_user_agent: the server's node.cluster goes in x-envoy-downstream-service-cluster
   * and in user-agent when absent, node.id in x-envoy-downstream-service-node (Envoy's
   * LocalInfo, read per request: a listener from LDS has it too); absent when not enabled.
   */
  addUserAgent?: true;
  /** preserve_external_request_id: an edge request keeps its x-request-id; absent when false (the default). */
  preserveExternalRequestId?: true;
  /** always_set_request_id_in_response: the response carries the request's x-request-id; absent when false (the default). */
  alwaysSetRequestIdInResponse?: true;
  /** strip_any_host_port ("any") or strip_matching_host_port ("matching"); absent when neither. */
  stripPortMode?: "any" | "matching";
  /** local_reply_config; absent when not configured (local replies as they are made). */
  localReply?: LocalReplyConfig;
  /** http_protocol_options (envoy.config.core.v3.Http1ProtocolOptions), the supported part; absent when all are at their defaults. */
  http1?: Http1ProtocolOptionsConfig;
}

/** Http2ProtocolOptions as the HTTP/2 codec takes them (core/http2/protocol-options.ts). */
export type Http2ProtocolOptionsConfig = Partial<
  Pick<
    Http2Options,
    | "hpackTableSize"
    | "maxConcurrentStreams"
    | "initialStreamWindowSize"
    | "initialConnectionWindowSize"
    | "allowConnect"
    | "maxOutboundFrames"
    | "maxOutboundControlFrames"
    | "maxConsecutiveInboundFramesWithEmptyPayload"
    | "maxInboundPriorityFramesPerStream"
    | "maxInboundWindowUpdateFramesPerDataFrameSent"
    | "streamErrorOnInvalidHttpMessage"
  >
> & {
  /** connection_keepalive: PINGs and their timeout (core/http2/keepalive.ts), not a codec setting. */
  connectionKeepalive?: Http2KeepaliveSettings;
};

/** HttpConnectionManager.local_reply_config (core/http/conn-manager/local-reply.ts applies it). */
export interface LocalReplyConfig {
  /** Tried in order; the first whose filter admits the reply rewrites it. */
  mappers: LocalReplyMapperConfig[];
  /** body_format; absent: the body as it is, text/plain. */
  bodyFormat?: LocalReplyBodyFormat;
}

export interface LocalReplyMapperConfig {
  filter: AccessLogFilterConfig;
  statusCode?: number;
  /** The new body, a byte string. */
  body?: string;
  headersToAdd: HeaderValueOption[];
  bodyFormatOverride?: LocalReplyBodyFormat;
}

export interface LocalReplyBodyFormat {
  format: AccessLogFormatConfig;
  contentType: string;
}

/** envoy.config.core.v3.Http1ProtocolOptions on the HCM (the downstream side). */
export interface Http1ProtocolOptionsConfig {
  /** accept_http_10 (default false: HTTP/1.0 gets 426). */
  acceptHttp10: boolean;
  /** default_host_for_http_10: the authority of an HTTP/1.0 request without Host ("" (default): none, a 400). */
  defaultHostForHttp10: string;
  /** header_key_format.proper_case_words: response header names written Proper-Case (default false: lowercase). */
  properCaseHeaderKeys: boolean;
  /** enable_trailers: HTTP/1 request trailers passed on and response trailers written (default false: both dropped). */
  enableTrailers: boolean;
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
export type HttpFilterConfig = UserHttpFilterConfig | ScriptHttpFilterConfig | AdminHttpFilterConfig;

/**
 * A filter written by the user (core/http/user-filter/): a Script config naming a module
 * (polyvoy.filters.http.script.v1.Script), or a filter an embedding program registered.
 * The module is loaded and the config checked by the filter's own parser at start-up
 * (resolve-user-filters.ts keeps what it made of this plain config).
 */
export interface ScriptHttpFilterConfig {
  name: string;
  type: "polyvoy.filters.http.user";
  config: UserFilterSource;
}

export interface UserFilterSource {
  /** The filter's name in http_filters (its stats and log lines say it). */
  filterName: string;
  /** Script's `module`: the file to import (relative to the working directory). */
  module?: string;
  /** The registered filter's name (registerHttpFilter). */
  registered?: string;
  /** The config as written: Script's `config`, or a registered filter's typed_config fields. */
  rawConfig: unknown;
}

/**
 * A user filter's per-route config as written (ScriptPerRoute, or a registered filter's own
 * type): checked by the filter's perRouteConfig at start-up (resolve-user-filters.ts).
 */
export interface UserPerRouteConfig {
  userFilterPerRoute: true;
  rawConfig: unknown;
  disabled: boolean;
}

// envoy.filters.http.custom_response (custom-response-schema.ts builds it).
/** A data input over the response (Envoy's HttpMatchingData on response headers). */
export type CustomResponseInput = { type: "status_code" } | { type: "status_code_class" } | { type: "response_header"; name: string } | { type: "local_reply" };

export type CustomResponsePredicate =
  | { type: "single"; input: CustomResponseInput; value: StringMatcherConfig }
  | { type: "and"; predicates: CustomResponsePredicate[] }
  | { type: "or"; predicates: CustomResponsePredicate[] }
  | { type: "not"; predicate: CustomResponsePredicate };

/** envoy.extensions.http.custom_response.local_response_policy.v3.LocalResponsePolicy */
export interface LocalResponsePolicyConfig {
  type: "local_response";
  body?: string;
  bodyFormat?: LocalReplyBodyFormat;
  statusCode?: number;
  responseHeadersToAdd: HeaderValueOption[];
}

/** envoy.extensions.http.custom_response.redirect_policy.v3.RedirectPolicy */
export interface RedirectPolicyConfig {
  type: "redirect";
  /** Exactly one of uri (an absolute URL) and redirectAction. */
  uri?: string;
  redirectAction?: RedirectAction;
  statusCode?: number;
  responseHeadersToAdd: HeaderValueOption[];
  requestHeadersToAdd: HeaderValueOption[];
}

export type CustomResponsePolicyConfig = LocalResponsePolicyConfig | RedirectPolicyConfig;

/** The matcher, as its two forms reduce: an ordered list, or one input looked up in maps. */
export interface CustomResponseMatcherConfig {
  list?: { predicate: CustomResponsePredicate; action: CustomResponsePolicyConfig }[];
  tree?: { input: CustomResponseInput; exact?: Map<string, CustomResponsePolicyConfig>; prefix?: Map<string, CustomResponsePolicyConfig> };
  onNoMatch?: CustomResponsePolicyConfig;
}

/** envoy.extensions.filters.http.custom_response.v3.CustomResponse */
export interface CustomResponseConfig {
  matcher?: CustomResponseMatcherConfig;
}

/** The HTTP filters a config may name. */
export type UserHttpFilterConfig =
  | { name: string; type: "envoy.filters.http.router"; config: RouterConfig }
  | { name: string; type: "envoy.filters.http.health_check"; config: HealthCheckFilterConfig }
  | { name: string; type: "envoy.filters.http.local_ratelimit"; config: LocalRateLimitConfig }
  | { name: string; type: "envoy.filters.http.fault"; config: FaultConfig }
  | { name: string; type: "envoy.filters.http.buffer"; config: BufferConfig }
  | { name: string; type: "envoy.filters.http.cache"; config: CacheConfig }
  | { name: string; type: "envoy.filters.http.lua"; config: LuaConfig }
  | { name: string; type: "envoy.filters.http.cors"; config: Record<string, never> }
  | { name: string; type: "envoy.filters.http.grpc_web"; config: Record<string, never> }
  | { name: string; type: "envoy.filters.http.grpc_http1_bridge"; config: GrpcHttp1BridgeConfig }
  | { name: string; type: "envoy.filters.http.grpc_stats"; config: GrpcStatsConfig }
  | { name: string; type: "envoy.filters.http.grpc_json_transcoder"; config: GrpcJsonTranscoderConfig }
  | { name: string; type: "envoy.filters.http.csrf"; config: CsrfPolicyConfig }
  | { name: string; type: "envoy.filters.http.checksum"; config: ChecksumConfig }
  | { name: string; type: "envoy.filters.http.custom_response"; config: CustomResponseConfig }
  | { name: string; type: "envoy.filters.http.header_mutation"; config: HeaderMutationConfig }
  | { name: string; type: "envoy.filters.http.header_to_metadata"; config: HeaderToMetadataConfig }
  | { name: string; type: "envoy.filters.http.rbac"; config: RbacConfig }
  | { name: string; type: "envoy.filters.http.ext_authz"; config: ExtAuthzConfig }
  | { name: string; type: "envoy.filters.http.ext_proc"; config: ExtProcConfig }
  | { name: string; type: "envoy.filters.http.ratelimit"; config: RateLimitConfig }
  | { name: string; type: "envoy.filters.http.compressor"; config: CompressorConfig }
  | { name: string; type: "envoy.filters.http.decompressor"; config: DecompressorConfig }
  | { name: string; type: "envoy.filters.http.jwt_authn"; config: JwtAuthnConfig }
  | { name: string; type: "envoy.filters.http.oauth2"; config: OAuth2Config }
  | { name: string; type: "envoy.filters.http.dynamic_forward_proxy"; config: DynamicForwardProxyFilterConfig };

/** One direction of envoy.extensions.filters.http.compressor.v3.Compressor (CommonDirectionConfig). */
export interface CompressorDirectionConfig {
  /** `enabled`'s default_value; its runtime_key, read per request, overrides it. */
  enabled: boolean;
  enabledRuntimeKey?: string;
  /** Bodies with a shorter content-length stay uncompressed (Envoy's default 30; 0 means the default). */
  minContentLength: number;
  /** Lowercase media types (without parameters) that may be compressed; Envoy's defaults when none given. */
  contentTypes: readonly string[];
}

/** envoy.extensions.filters.http.compressor.v3.Compressor (core/http/filters/compressor.ts). */
export interface CompressorConfig {
  /** compressor_library.name: part of the stats' names. */
  libraryName: string;
  /** compressor_library.typed_config: the gzip or brotli compressor's settings. */
  library: CompressorOptions;
  /** request_direction_config: absent, requests are never compressed. */
  request?: CompressorDirectionConfig;
  response: CompressorDirectionConfig & {
    disableOnEtagHeader: boolean;
    removeAcceptEncodingHeader: boolean;
    /** response_direction_config was given: the stats are under `response.` (else the legacy tree). */
    directionStats: boolean;
  };
  chooseFirst: boolean;
}

/** envoy.extensions.filters.http.compressor.v3.CompressorPerRoute, resolved (undefined: no override). */
export interface CompressorPerRouteConfig {
  responseCompressionEnabled?: boolean;
  removeAcceptEncodingHeader?: boolean;
}

/** One direction of envoy.extensions.filters.http.decompressor.v3.Decompressor. */
export interface DecompressorDirectionConfig {
  /** `enabled`'s default_value; its runtime_key, read per request, overrides it. */
  enabled: boolean;
  enabledRuntimeKey?: string;
  ignoreNoTransformHeader: boolean;
}

/** envoy.extensions.filters.http.decompressor.v3.Decompressor (core/http/filters/decompressor.ts). */
export interface DecompressorConfig {
  libraryName: string;
  library: DecompressorOptions;
  /** The compression-bomb guard: at most this many bytes out per byte in (gzip's max_inflate_ratio; brotli's is 100). */
  maxInflateRatio: number;
  request: DecompressorDirectionConfig & { advertiseAcceptEncoding: boolean };
  response: DecompressorDirectionConfig;
}

/** envoy.extensions.filters.http.oauth2.v3.OAuth2 (core/http/filters/oauth2/). */
export interface OAuth2Config {
  /** Absent: Envoy's filter does nothing (config.cc adds no filter). */
  readonly config?: OAuth2FilterConfig;
}

/** envoy.extensions.filters.http.oauth2.v3.OAuth2Config. */
export interface OAuth2FilterConfig {
  readonly tokenEndpoint: { readonly uri: string; readonly cluster: string; readonly timeoutMs: number };
  readonly authorizationEndpoint: string;
  readonly clientId: string;
  readonly tokenSecret: SdsSecretConfig;
  readonly hmacSecret: SdsSecretConfig;
  readonly cookieNames: OAuth2CookieNames;
  /** A header-value format (%REQ(…)% and the other operators). */
  readonly redirectUri: string;
  /** PathMatchers: a StringMatcher on the path without query and fragment. */
  readonly redirectPathMatcher: StringMatcherConfig;
  readonly signoutPath: StringMatcherConfig;
  readonly forwardBearerToken: boolean;
  readonly preserveAuthorizationHeader: boolean;
  readonly passThroughMatchers: HeaderMatcherConfig[];
  /** Default ["user"]. */
  readonly authScopes: string[];
  readonly resources: string[];
  readonly authType: "URL_ENCODED_BODY" | "BASIC_AUTH";
  /** Seconds; 0: the token endpoint must say expires_in. */
  readonly defaultExpiresIn: number;
  readonly denyRedirectMatchers: HeaderMatcherConfig[];
  readonly disableIdTokenSetCookie: boolean;
  /** An expired session with a RefreshToken cookie is renewed at the token endpoint (RFC 6749 §6). */
  readonly useRefreshToken: boolean;
  /** Seconds: the RefreshToken cookie's lifetime when the token is no JWT with an exp. */
  readonly defaultRefreshTokenExpiresIn: number;
}

/** OAuth2Credentials.CookieNames, defaults filled in. */
export interface OAuth2CookieNames {
  readonly bearerToken: string;
  readonly oauthHmac: string;
  readonly oauthExpires: string;
  readonly idToken: string;
  readonly refreshToken: string;
}

/** envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication (core/http/filters/jwt-authn/). */
export interface JwtAuthnConfig {
  providers: Map<string, JwtProviderConfig>;
  /** First match wins; no match: no JWT is required. */
  /** A rule's match: a RouteMatch without grpc, runtime_fraction nor dynamic_metadata (Envoy's jwt_authn matcher.cc). */
  rules: { match: RouteMatchConfig; requires?: JwtRequirementConfig; requirementName?: string }[];
  requirementMap: Map<string, JwtRequirementConfig>;
  bypassCorsPreflight: boolean;
  stripFailureResponse: boolean;
  /** Stats under http.<hcm prefix>.jwt_authn.<statPrefix> ("" by default). */
  statPrefix: string;
}

/** envoy.extensions.filters.http.jwt_authn.v3.JwtProvider. */
export interface JwtProviderConfig {
  /** "" : any issuer. */
  issuer: string;
  /** Empty: any audience. */
  audiences: string[];
  requireExpiration: boolean;
  /** The keys of local_jwks, parsed and checked at config time; empty with remote_jwks. */
  jwks: JwtJwk[];
  /** remote_jwks: the keys are fetched through a cluster and cached. */
  remoteJwks?: RemoteJwksConfig;
  forward: boolean;
  /** Empty (with fromParams empty): Authorization "Bearer " and the access_token parameter, Envoy's defaults. */
  fromHeaders: { name: string; valuePrefix: string }[];
  fromParams: string[];
  /** "": not forwarded. */
  forwardPayloadHeader: string;
  padForwardPayloadHeader: boolean;
  clockSkewSeconds: number;
  /** claim_to_headers: a verified JWT's claim (a `.` path into objects) added to a request header. */
  claimToHeaders: { header: string; claim: string }[];
  /** "": not set. The verified payload (header) under this key of the envoy.filters.http.jwt_authn dynamic metadata. */
  payloadInMetadata: string;
  headerInMetadata: string;
}

/** envoy.extensions.filters.http.jwt_authn.v3.RemoteJwks. */
export interface RemoteJwksConfig {
  /** http_uri.uri: the request's :authority, :path and :scheme. */
  uri: string;
  /** http_uri.cluster: where the request goes. */
  cluster: string;
  /** http_uri.timeout in ms (0: none). */
  timeoutMs: number;
  /** cache_duration in ms (Envoy's default 600 s). */
  cacheDurationMs: number;
  /** async_fetch: fetched at start-up and before expiry instead of on demand. */
  asyncFetch?: { fastListener: boolean; failedRefetchDurationMs: number };
  /** retry_policy (envoy.config.core.v3.RetryPolicy): retries on 5xx, gateway-error, connect-failure, reset. */
  retryPolicy?: { numRetries: number; baseIntervalMs: number; maxIntervalMs: number };
}

/** One key of a JWKS (RFC 7517), public fields only. */
export interface JwtJwk {
  kty: string;
  kid?: string;
  alg?: string;
  n?: string;
  e?: string;
  crv?: string;
  x?: string;
  y?: string;
}

/** envoy.extensions.filters.http.jwt_authn.v3.JwtRequirement. */
export type JwtRequirementConfig =
  | { type: "provider"; provider: string; audiences?: string[] }
  | { type: "any"; requirements: JwtRequirementConfig[] }
  | { type: "all"; requirements: JwtRequirementConfig[] }
  | { type: "allowMissing" }
  | { type: "allowMissingOrFailed" }
  /** An empty JwtRequirement: Envoy's AllowAllVerifierImpl. */
  | { type: "allowAll" };

/** envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig. */
export type JwtAuthnPerRouteConfig = { disabled: true } | { requirementName: string };

/** One envoy.config.common.mutation_rules.v3.HeaderMutation: remove a header, or add one (HeaderValueOption). */
export type HeaderMutationRule = { remove: string } | { append: HeaderValueOption };

/** envoy.extensions.filters.http.header_to_metadata.v3.Config (core/http/filters/header-to-metadata.ts), on the filter and per route. */
export interface HeaderToMetadataConfig {
  requestRules: HeaderToMetadataRule[];
  responseRules: HeaderToMetadataRule[];
}

/** Config.Rule: a header (lowercase) or a cookie's value; what to write when present and when missing. */
export interface HeaderToMetadataRule {
  header?: string;
  cookie?: string;
  onPresent?: HeaderToMetadataKeyValue;
  onMissing?: HeaderToMetadataKeyValue;
  /** Remove the header once read (not for a cookie). */
  remove: boolean;
}

/** Config.KeyValuePair */
export interface HeaderToMetadataKeyValue {
  /** "" means envoy.filters.http.header_to_metadata. */
  namespace: string;
  key: string;
  /** Written instead of the header's value when not "". */
  value: string;
  /** RE2 pattern and substitution applied (replace-all) to the header's value. */
  regexRewrite?: { pattern: string; substitution: string };
  type: "STRING" | "NUMBER";
  /** encode BASE64: the value is base64 to decode first. */
  base64: boolean;
}

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

/** envoy.extensions.filters.http.checksum.v3alpha.ChecksumConfig (core/http/filters/checksum.ts). */
export interface ChecksumConfig {
  /** In config order: the first whose matcher takes the path (without query) gives the expected digest. */
  checksums: { pathMatcher: StringMatcherConfig; /** 64 lowercase hex digits. */ sha256: string }[];
  /** A request whose path no checksum matches is refused: 403. */
  rejectUnmatched: boolean;
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

/** envoy.extensions.filters.http.cache.v3.CacheConfig with SimpleHttpCacheConfig (core/http/filters/cache/). */
export interface CacheConfig {
  /** `disabled: true`: the filter does nothing. */
  disabled: boolean;
  /** allowed_vary_headers: a response whose vary names another header is not stored. */
  allowedVaryHeaders: StringMatcherConfig[];
  /** max_body_bytes: a larger body is not stored; 0: the store's own entry limit. */
  maxBodyBytes: number;
  /** ignore_request_cache_control_header: the request's cache-control and pragma are not read. */
  ignoreRequestCacheControlHeader: boolean;
}

/** Lua code: inline (a byte string, one char per byte; `name` says which field) or a file read at listener build. */
export type LuaSource = { code: string; name: string } | { filename: string };

/** envoy.extensions.filters.http.lua.v3.Lua (core/http/filters/lua/). */
export interface LuaConfig {
  /** inline_code or default_source_code: run unless a route names another code. */
  defaultSource: LuaSource | undefined;
  /** source_codes: codes a route's LuaPerRoute names. */
  sourceCodes: ReadonlyMap<string, LuaSource>;
  /** stat_prefix: the errors counter is `http.<hcm prefix>.lua.<stat_prefix>.errors` when set. */
  statPrefix: string;
  /** clear_route_cache (default true): request header changes by a script clear the route cache. */
  clearRouteCache: boolean;
}

/** envoy.extensions.filters.http.lua.v3.LuaPerRoute: disabled, the name of one of the filter's source_codes, or a code of its own. */
export interface LuaPerRouteConfig {
  disabled: boolean;
  name?: string;
  /** source_code (inline): a byte string, one char per byte. */
  sourceCode?: string;
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
  /**
   * abort: a fixed http_status, a fixed grpc_status (a gRPC local reply with that status;
   * HTTP 200 to a request that is not gRPC), or header_abort (x-envoy-fault-abort-request,
   * else x-envoy-fault-abort-grpc-request).
   */
  abort?: { httpStatus?: number; grpcStatus?: number; percentage: FractionalPercent };
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
  /** The runtime keys that override the settings above (the *_runtime fields, or Envoy's fault.http.* defaults). */
  runtimeKeys: FaultRuntimeKeys;
}

export interface FaultRuntimeKeys {
  delayPercent: string;
  abortPercent: string;
  delayDuration: string;
  abortHttpStatus: string;
  abortGrpcStatus: string;
  maxActiveFaults: string;
}

/** The HCM's tracing sampling (config/tracing-schema.ts), each fraction with its tracing.* runtime key. */
export interface TracingConfig {
  /** client_sampling (x-client-trace-id requests): numerator of HUNDRED; default 100 %. */
  clientSampling: FractionalPercent;
  /** random_sampling: of TEN_THOUSAND (the percentage × 100, rounded); default 100 %. */
  randomSampling: FractionalPercent;
  /** overall_sampling: of HUNDRED; default 100 %. */
  overallSampling: FractionalPercent;
  /**
   * Envoy's Tracing::OperationName, from the listener's traffic_direction (OUTBOUND:
   * egress, else ingress; http_connection_manager config.cc): which way the route's
   * decorator operation travels in x-envoy-decorator-operation.
   */
  operationName: "ingress" | "egress";
  /** tracing.provider envoy.tracers.zipkin (core/tracing/zipkin.ts); absent: no spans, only the sampling decision. */
  zipkin?: ZipkinConfig;
  /** tracing.provider envoy.tracers.opentelemetry (core/tracing/opentelemetry.ts). */
  opentelemetry?: OpenTelemetryConfig;
  /** tracing.provider envoy.tracers.skywalking (core/tracing/skywalking.ts). */
  skywalking?: SkyWalkingConfig;
  /** tracing.provider envoy.tracers.datadog (core/tracing/datadog.ts). */
  datadog?: DatadogConfig;
  /** spawn_upstream_span: a CLIENT span per upstream request (Tracing::Config::spawnUpstreamSpan). */
  spawnUpstreamSpan: boolean;
  /** max_path_tag_length: the most of the path the http.url tag keeps (default 256). */
  maxPathTagLength: number;
  /** custom_tags, the first of each tag name (core/tracing/custom-tags.ts); absent when none. */
  customTags?: CustomTagConfig[];
}

/**
 * envoy.type.tracing.v3.CustomTag (config/custom-tag-schema.ts): a tag every span of the HCM
 * gets when it is finished, its value from one source. `defaultValue` is "" when unset.
 */
export type CustomTagConfig =
  | { tag: string; kind: "literal"; value: string }
  /** Read once, when the HCM's tracing is first used (Envoy: when the config is built). */
  | { tag: string; kind: "environment"; name: string; defaultValue: string }
  /** `name` lowercased; the first value of a repeated field. */
  | { tag: string; kind: "request_header"; name: string; defaultValue: string }
  /** metadata_key's key (the filter namespace) and path; key "" when metadata_key is unset. */
  | { tag: string; kind: "metadata"; source: "request" | "route" | "cluster" | "host"; key: string; path: string[]; defaultValue: string }
  /** `value`: an access-log format string (a UTF-8 byte string), unset operators printing "". */
  | { tag: string; kind: "value"; format: string };

/** envoy.config.trace.v3.OpenTelemetryConfig (config/tracing-schema.ts). */
export interface OpenTelemetryConfig {
  /** grpc_service: where ExportTraceServiceRequests go; absent: spans are made and not exported (Envoy's "no exporter configured"). */
  grpcService?: GrpcServiceTarget;
  /** http_service: OTLP/HTTP, a protobuf POST per flush; one of grpcService, httpService. */
  httpService?: OtlpHttpServiceConfig;
  /** grpc_service.timeout in ms; 0: none. */
  timeoutMs: number;
  /** The resource's service.name: service_name, default "unknown_service:envoy". */
  serviceName: string;
  /** sampler envoy.tracers.opentelemetry.samplers.always_on: every span sampled, whatever the HCM or traceparent say. */
  alwaysOnSampler: boolean;
}

/** envoy.config.trace.v3.SkyWalkingConfig (config/tracing-schema.ts). */
export interface SkyWalkingConfig {
  /** grpc_service: where TraceSegmentReportService/collect's stream goes. */
  grpcService: GrpcServiceTarget;
  /** client_config.service_name; "" for the node's cluster (else "EnvoyProxy"), read when a segment is made. */
  serviceName: string;
  /** client_config.instance_name; "" for the node's id (else "EnvoyProxy"). */
  instanceName: string;
  /** client_config.backend_token: the stream's `authentication` metadata; "" for none. */
  backendToken: string;
  /** client_config.max_cache_size (1024): segments held while the stream is down. */
  maxCacheSize: number;
}

/** envoy.config.core.v3.HttpService as the OpenTelemetry tracer's HTTP exporter reads it (http_trace_exporter.cc). */
export interface OtlpHttpServiceConfig {
  cluster: string;
  /** From http_uri.uri (Http::Utility::prepareHeaders). */
  authority: string;
  path: string;
  /** http_uri.timeout in ms (0: none). */
  timeoutMs: number;
  /** request_headers_to_add: each set on the request, replacing a header of its name. */
  headers: readonly (readonly [string, string])[];
}

/** envoy.config.trace.v3.DatadogConfig (config/tracing-schema.ts). */
export interface DatadogConfig {
  /** collector_cluster: the Datadog Agent's cluster. */
  collectorCluster: string;
  /** collector_hostname: the Host of the Agent requests; default the cluster's name. */
  collectorHostname: string;
  /** service_name; default "envoy". */
  serviceName: string;
}

/** envoy.config.trace.v3.ZipkinConfig (config/tracing-schema.ts), with the node's LocalInfo the tracer reads. */
export interface ZipkinConfig {
  collectorCluster: string;
  collectorEndpoint: string;
  /** collector_hostname; default the cluster's name. */
  collectorHostname: string;
  traceId128bit: boolean;
  /** Default true. */
  sharedSpanContext: boolean;
  splitSpansForRequest: boolean;
}

/** envoy.type.v3.FractionalPercent: `numerator` out of `denominator` (100, 10 000 or 1 000 000). */
export interface FractionalPercent {
  numerator: number;
  denominator: number;
  /**
   * A RuntimeFractionalPercent's runtime_key (or the key a filter reads for it, as the
   * fault filter's abort_percent_runtime): a runtime layer setting it overrides this
   * fraction (core/runtime/runtime-loader.ts).
   */
  runtimeKey?: string;
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
  /** A limited gRPC request gets grpc-status 8 RESOURCE_EXHAUSTED rather than the status mapped (14 for 429). */
  rateLimitedAsResourceExhausted: boolean;
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
  /** descriptors: buckets for the request descriptors the route's rate_limits make (absent: none). */
  descriptors?: LocalRateLimitDescriptorConfig[];
  /** stage: which of the route's rate_limits make descriptors (default 0). */
  stage?: number;
  /** vh_rate_limits: the virtual host's rate_limits as well (INCLUDE), only without route ones (OVERRIDE, the default), or never (IGNORE). */
  vhRateLimits?: "OVERRIDE" | "INCLUDE" | "IGNORE";
  /** always_consume_default_token_bucket (default true): the default bucket is drawn from even when a descriptor matched. */
  alwaysConsumeDefaultTokenBucket?: boolean;
  /** local_rate_limit_per_downstream_connection: each downstream connection has its own buckets. */
  perDownstreamConnection?: boolean;
  /** max_dynamic_descriptors (default 20): the buckets each dynamic descriptor keeps, least recently used dropped. Set when a descriptor is dynamic. */
  maxDynamicDescriptors?: number;
  /** The filter's own rate_limits (every one applies, whatever the stage): they make the request's descriptors instead of the route's. */
  rateLimits?: RateLimitPolicyConfig[];
}

/** envoy.extensions.common.ratelimit.v3.LocalRateLimitDescriptor */
export interface LocalRateLimitDescriptorConfig {
  /**
   * Key and value of each entry, in order; a request descriptor matches when equal. A value ""
   * matches any value of its key: a dynamic descriptor, a bucket per distinct request descriptor.
   */
  entries: [string, string][];
  tokenBucket: TokenBucketConfig;
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
  /**
   * `body`: a form-encoded request body (content-type application/x-www-form-urlencoded);
   * `json`: an application/json body, kept only where jsonBodyLimit allows one; else absent.
   */
  handle(request: { method: string; path: string; body?: string; json?: string; fromSupervisor?: boolean }): { status: number; contentType: string; body: string };
  /** The most of an application/json body kept for `path` (without its query); 0: none is kept (read and ignored). */
  jsonBodyLimit?(path: string, fromSupervisor: boolean): number;
  /** The request's supervisor-token header (worker processes) is its supervisor's: `fromSupervisor` then. */
  fromSupervisor?(token: string | undefined): boolean;
}

export interface HeaderValueOption {
  /** Lowercased; never a pseudo-header or host (Envoy refuses those). */
  key: string;
  /** The value: a literal (%%-escapes resolved) unless `format` is present, then the text as written. */
  value: string;
  /**
   * Present (true) when the value has %COMMAND% operators (Envoy's substitution format,
   * the access log's: core/access-log/format.ts), rendered per request; absent for a
   * literal. Config stays plain data (a runtime may load it in a worker and post it over), so the
   * compiled parts live in custom-headers.ts.
   */
  formatted?: true;
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
  /** envoy.config.route.v3.FilterConfig entries' `disabled`, by HTTP filter name (absent when none). */
  filterDisabled?: ReadonlyMap<string, boolean>;
  /**
   * cluster_specifier_plugins, every entry in order (a name given twice too: routes use the
   * first, but each is built, as Envoy's ConfigImpl builds them all). Absent when none.
   */
  clusterSpecifierPlugins?: { name: string; plugin: ClusterSpecifierPluginConfig }[];
}

export interface VirtualHostConfig extends HeaderMutations {
  name: string;
  /** As written; matching lowercases. */
  domains: string[];
  routes: RouteConfig[];
  /** retry_policy for routes without their own. */
  retryPolicy?: RetryPolicyConfig;
  /** hedge_policy for routes without their own. */
  hedgePolicy?: HedgePolicyConfig;
  /** request_mirror_policies for routes without their own. */
  requestMirrorPolicies?: RequestMirrorPolicyConfig[];
  /** per_request_buffer_limit_bytes for routes without their own. */
  perRequestBufferLimitBytes?: number;
  /** include_request_attempt_count: x-envoy-attempt-count on upstream requests (absent: false). */
  includeRequestAttemptCount?: boolean;
  /** include_attempt_count_in_response: x-envoy-attempt-count on responses (absent: false). */
  includeAttemptCountInResponse?: boolean;
  /** include_is_timeout_retry_header: x-envoy-is-timeout-retry on retried upstream requests (absent: false). */
  includeIsTimeoutRetryHeader?: boolean;
  /**
   * typed_per_filter_config: per-route config by HTTP filter name, each already validated
   * by the schema its filter declared (per-filter-config-schema.ts). Absent when none.
   */
  typedPerFilterConfig?: ReadonlyMap<string, unknown>;
  /** envoy.config.route.v3.FilterConfig entries' `disabled`, by HTTP filter name (absent when none). */
  filterDisabled?: ReadonlyMap<string, boolean>;
  /** The deprecated virtual host `cors` policy (the cors filter reads it when no typed_per_filter_config has one). */
  cors?: CorsPolicyConfig;
  /** rate_limits: descriptors for the ratelimit filter, for routes without their own. Absent when none. */
  rateLimits?: RateLimitPolicyConfig[];
}

export interface RouteConfig extends HeaderMutations {
  name: string;
  match: RouteMatchConfig;
  action: RouteAction;
  /** metadata.filter_metadata, by filter namespace (%METADATA(ROUTE:…)%). Absent when none. */
  metadata?: Record<string, Record<string, unknown>>;
  /** decorator.operation when decorator.propagate (default true): with HCM tracing, sent as x-envoy-decorator-operation. */
  decoratorOperation?: string;
  /** per_request_buffer_limit_bytes: the most request body kept for retries and mirroring; absent: the virtual host's. */
  perRequestBufferLimitBytes?: number;
  /**
   * typed_per_filter_config: per-route config by HTTP filter name, each already validated
   * by the schema its filter declared (per-filter-config-schema.ts). Absent when none.
   */
  typedPerFilterConfig?: ReadonlyMap<string, unknown>;
  /** envoy.config.route.v3.FilterConfig entries' `disabled`, by HTTP filter name (absent when none). */
  filterDisabled?: ReadonlyMap<string, boolean>;
}

export interface RouteMatchConfig {
  /** Exactly one of prefix, path, safeRegex (RE2 syntax, core/config/regex.ts), connect. */
  prefix?: string;
  /** connect_matcher: CONNECT requests only (the only way to match an HTTP/1.1 CONNECT, which has no path). */
  connect?: true;
  path?: string;
  /** path_separated_prefix: the path (no query) is this, or starts with it followed by "/". */
  pathSeparatedPrefix?: string;
  safeRegex?: string;
  /** Default true. */
  caseSensitive: boolean;
  headers: HeaderMatcherConfig[];
  queryParameters: QueryParameterMatcherConfig[];
  /** grpc: {} — only gRPC requests (content-type application/grpc or application/grpc+…). Absent when not set. */
  grpc?: true;
  /**
   * runtime_fraction: the route matches that fraction of requests (default_value, or the
   * runtime's value for its runtime_key; drawn once per request). Absent when not set.
   */
  runtimeFraction?: FractionalPercent;
  /** dynamic_metadata: every matcher must match the stream's dynamic metadata. Absent when none. */
  dynamicMetadata?: MetadataMatcherConfig[];
}

/** envoy.type.matcher.v3.MetadataMatcher (core/http/route/metadata-matcher.ts). */
export interface MetadataMatcherConfig {
  filter: string;
  path: string[];
  value: ValueMatcherConfig;
  invert: boolean;
}

/** envoy.type.matcher.v3.ValueMatcher: how one protobuf Value (a metadata value) is matched. */
export type ValueMatcherConfig =
  | { type: "null" }
  | { type: "bool"; value: boolean }
  | { type: "double_exact"; value: number }
  | { type: "double_range"; start: number; end: number }
  | { type: "present"; present: boolean }
  | { type: "string"; match: Exclude<ValueMatchConfig, { type: "present" }> }
  /** ListMatcher: a list one of whose elements matches `oneOf`. */
  | { type: "list"; oneOf: ValueMatcherConfig }
  /** OrMatcher: any of the matchers (two or more). */
  | { type: "or"; matchers: ValueMatcherConfig[] };

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
  /** One of cluster, clusterHeader or weightedClusters. */
  cluster?: string;
  /** rate_limits: descriptors for the ratelimit filter. Absent when none. */
  rateLimits?: RateLimitPolicyConfig[];
  /** include_vh_rate_limits: the virtual host's rate_limits apply too (else only when the route has none). */
  includeVhRateLimits?: boolean;
  /** cluster_header: the cluster named by this request header (lowercased). */
  clusterHeader?: string;
  /**
   * inline_cluster_specifier_plugin, or cluster_specifier_plugin (a name of the route
   * configuration's cluster_specifier_plugins, resolved to that entry: routes naming one
   * plugin share it). The plugin chooses the cluster per stream (core/http/route/cluster-specifier-plugin.ts).
   */
  clusterSpecifierPlugin?: ClusterSpecifierPluginConfig;
  /** Each entry's metadataMatch is the route's merged with its own (its own values win). */
  weightedClusters?: { name: string; weight: number; metadataMatch?: MetadataMatchCriteria }[];
  /** metadata_match's `envoy.lb` criteria, sorted by name (the subset load balancer's); absent when none. */
  metadataMatch?: MetadataMatchCriteria;
  /** cluster_not_found_response_code: 404 (NOT_FOUND) or 500 (INTERNAL_SERVER_ERROR); absent for 503 (SERVICE_UNAVAILABLE, the default). */
  clusterNotFoundResponseCode?: 404 | 500;
  /** host_rewrite_header: the upstream Host is this request header's value when it has one (lowercased name). */
  hostRewriteHeader?: string;
  /** host_rewrite_path_regex: the upstream Host is the path (no query) with every match substituted. */
  hostRewritePathRegex?: { pattern: string; substitution: string };
  prefixRewrite?: string;
  regexRewrite?: { pattern: string; substitution: string };
  hostRewriteLiteral?: string;
  autoHostRewrite: boolean;
  /** append_x_forwarded_host: a host rewrite appends the Host it replaces to x-forwarded-host. */
  appendXForwardedHost?: true;
  /** Default 15 s; 0 disables. */
  timeoutMs: number;
  /**
   * max_grpc_timeout (deprecated in Envoy, still honoured): a gRPC request's route timeout is
   * its grpc-timeout capped at this (0: no cap), instead of `timeoutMs`. Absent when not set.
   */
  maxGrpcTimeoutMs?: number;
  /** grpc_timeout_offset: taken off the grpc-timeout first (unless that would leave none). */
  grpcTimeoutOffsetMs?: number;
  /** Per-route stream idle timeout; undefined means the HCM's stream_idle_timeout. */
  idleTimeoutMs?: number;
  /**
   * max_stream_duration: replaces the HCM's max_stream_duration for this route's streams
   * (core/http/conn-manager/stream-duration.ts). When set, `timeoutMs` is 0, as in Envoy.
   */
  maxStreamDuration?: RouteMaxStreamDuration;
  /** hash_policy, in order, for RING_HASH and MAGLEV clusters; absent when none. */
  hashPolicy?: HashPolicyConfig[];
  /** retry_policy; absent: the virtual host's, if any. */
  retryPolicy?: RetryPolicyConfig;
  /** hedge_policy; absent: the virtual host's, if any (the route's wins whole, as Envoy's buildHedgePolicy). */
  hedgePolicy?: HedgePolicyConfig;
  /** request_mirror_policies; absent: the virtual host's, if any. */
  requestMirrorPolicies?: RequestMirrorPolicyConfig[];
  /** The deprecated route `cors` policy (the cors filter reads it when no typed_per_filter_config has one). */
  cors?: CorsPolicyConfig;
  /**
   * upgrade_configs: upgrade type (lowercased) → enabled, overriding the HCM's upgrade_configs
   * for this route (Envoy's createUpgradeFilterChain); absent when none.
   */
  upgrades?: Map<string, boolean>;
  /**
   * internal_redirect_policy (or the deprecated internal_redirect_action HANDLE_INTERNAL_REDIRECT):
   * the router follows a 3xx from the upstream itself (core/http/filters/internal-redirect.ts).
   */
  internalRedirectPolicy?: InternalRedirectPolicyConfig;
  /**
   * upgrade_configs CONNECT with connect_config: the router terminates CONNECT requests and
   * sends their payload to the upstream over TCP (core/http/filters/tcp-upstream.ts).
   */
  terminateConnect?: true;
}

/**
 * envoy.config.route.v3.ClusterSpecifierPlugin's extension, by its typed_config's "@type"
 * (Envoy looks the factory up by type URL): the Lua cluster specifier
 * (envoy.extensions.router.cluster_specifiers.lua.v3.LuaConfig), or, for an `is_optional`
 * plugin of a type Envoy has no factory for, Envoy's NullClusterSpecifierPlugin: a route
 * using it never matches (its clusterEntry is null, so matching goes on to the next route).
 */
export type ClusterSpecifierPluginConfig =
  | { type: "lua"; /** source_code, a byte string (one char per byte). */ sourceCode: string; /** default_cluster ("" when unset). */ defaultCluster: string }
  | { type: "null" };

/** envoy.config.route.v3.InternalRedirectPolicy. */
export interface InternalRedirectPolicyConfig {
  /** Redirects one downstream request may follow (default 1). */
  maxInternalRedirects: number;
  /** The 3xx codes followed: of 301, 302, 303, 307, 308 (default 302 only). */
  redirectResponseCodes: ReadonlySet<number>;
  allowCrossSchemeRedirect: boolean;
  predicates: InternalRedirectPredicateConfig[];
  /** Lowercased names of response headers copied onto the redirected request. */
  responseHeadersToCopy: string[];
}

/** The envoy.internal_redirect_predicates extensions. */
export type InternalRedirectPredicateConfig =
  | { type: "allow_listed_routes"; allowedRouteNames: ReadonlySet<string> }
  | { type: "previous_routes" }
  | { type: "safe_cross_scheme" };

/** RouteAction.MaxStreamDuration, in ms; each absent when unset (0 is a value: see stream-duration.ts). */
export interface RouteMaxStreamDuration {
  maxStreamDurationMs?: number;
  grpcTimeoutHeaderMaxMs?: number;
  grpcTimeoutHeaderOffsetMs?: number;
}

/** One RouteAction.HashPolicy (core/http/hash-policy.ts evaluates them). */
export type HashPolicyConfig = (
  | { type: "header"; headerName: string; regexRewrite?: { pattern: string; substitution: string } }
  | { type: "cookie"; name: string; path: string; ttlSeconds?: number; attributes: { name: string; value: string }[] }
  | { type: "source_ip" }
  | { type: "query_parameter"; name: string }
) & { terminal: boolean };

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
   * body.inline_string's UTF-8 bytes, body.inline_bytes decoded, or a file's or an environment variable's bytes (data-source-files.ts).
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
  type: "envoy.access_loggers.file" | "envoy.access_loggers.stdout" | "envoy.access_loggers.stderr" | "envoy.access_loggers.http_grpc" | "envoy.access_loggers.tcp_grpc" | "envoy.access_loggers.open_telemetry";
  /** The file written; "" for the gRPC loggers. */
  path: string;
  /** The line's format (the gRPC loggers send entries, not lines: Envoy's default, unused). */
  format: AccessLogFormatConfig;
  /** http_grpc / tcp_grpc: where and how entries are streamed (core/access-log/grpc-access-log.ts). */
  grpc?: GrpcAccessLogConfig;
  /** open_telemetry: the LogRecord's formats and where records are exported (core/access-log/open-telemetry-access-log.ts). */
  openTelemetry?: OpenTelemetryAccessLogConfig;
  /** `filter`: only streams it admits are logged; absent: every one. */
  filter?: AccessLogFilterConfig;
}

/**
 * envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig / TcpGrpcAccessLogConfig
 * with their CommonGrpcAccessLogConfig.
 */
export interface GrpcAccessLogConfig {
  /** HTTPAccessLogEntry (http_grpc) or TCPAccessLogEntry (tcp_grpc). */
  kind: "http" | "tcp";
  /** common_config.log_name: the stream's identifier; loggers with the same common_config share a stream. */
  logName: string;
  target: GrpcServiceTarget;
  /** buffer_flush_interval in ms (default 1000). */
  bufferFlushIntervalMs: number;
  /** buffer_size_bytes (default 16384): flush when the buffered entries reach it; 0: every entry at once. */
  bufferSizeBytes: number;
  /** A key for the shared logger: the common_config as configured (Envoy's cache hashes it). */
  commonConfigKey: string;
  /** additional_request_headers_to_log / additional_response_headers_to_log / additional_response_trailers_to_log, lowercase. */
  requestHeaders: string[];
  responseHeaders: string[];
  responseTrailers: string[];
}

/**
 * An OpenTelemetry AnyValue from the config (opentelemetry/proto/common/v1/common.proto). In
 * the open_telemetry access logger's body and attributes only strings, arrays and kvlists
 * are allowed, and every string is an access log format (a UTF-8 byte string, checked);
 * resource_attributes are sent as written.
 */
export type OtlpAnyValueConfig =
  | { readonly kind: "string"; readonly value: string }
  | { readonly kind: "bool"; readonly value: boolean }
  | { readonly kind: "int"; readonly value: number }
  | { readonly kind: "double"; readonly value: number }
  | { readonly kind: "array"; readonly values: readonly OtlpAnyValueConfig[] }
  | { readonly kind: "kvlist"; readonly values: readonly OtlpKeyValueConfig[] };

export interface OtlpKeyValueConfig {
  readonly key: string;
  readonly value: OtlpAnyValueConfig;
}

/** envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig with its common_config. */
export interface OpenTelemetryAccessLogConfig {
  /** common_config.log_name: the built-in log_name resource attribute. */
  readonly logName: string;
  readonly target: GrpcServiceTarget;
  /** common_config.grpc_service.timeout in ms, when set: each export's deadline. */
  readonly timeoutMs: number | undefined;
  readonly bufferFlushIntervalMs: number;
  readonly bufferSizeBytes: number;
  /** disable_builtin_labels: no log_name, zone_name, cluster_name, node_name resource attributes. */
  readonly disableBuiltinLabels: boolean;
  /** resource_attributes, as written. */
  readonly resourceAttributes: readonly OtlpKeyValueConfig[];
  /** body: absent when not set (the LogRecord then has none). */
  readonly body: OtlpAnyValueConfig | undefined;
  /** attributes: the formats of the LogRecord's attributes. */
  readonly attributes: readonly OtlpKeyValueConfig[];
  /** stat_prefix: appended to access_logs.open_telemetry_access_log. as written. */
  readonly statPrefix: string;
  /** Loggers with the same key share one buffer and exporter (Envoy's GrpcAccessLoggerCache hashes the whole config). */
  readonly key: string;
}

/**
 * envoy.config.accesslog.v3.AccessLogFilter (core/access-log/filter.ts evaluates it).
 * Comparison values are RuntimeUInt32s: default_value, or the runtime's value for runtime_key.
 */
export type AccessLogFilterConfig =
  | { type: "status_code" | "duration"; op: "EQ" | "GE" | "LE" | "NE"; value: number; runtimeKey?: string }
  | { type: "not_health_check" }
  /** Empty `flags`: any flag at all. */
  | { type: "response_flag"; flags: string[] }
  | { type: "header"; header: HeaderMatcherConfig }
  /** percent_sampled, with runtimeKey the filter's runtime_key. */
  | { type: "runtime"; percent: FractionalPercent; useIndependentRandomness: boolean }
  | { type: "and" | "or"; filters: AccessLogFilterConfig[] }
  /** GrpcStatusFilter: the statuses as numbers (GrpcStatusFilter.Status: OK 0 … UNAUTHENTICATED 16). */
  | { type: "grpc_status"; statuses: number[]; exclude: boolean }
  /**
   * MetadataFilter on the stream's dynamic metadata: no matcher means the key is never
   * found; matchIfKeyNotFound is match_if_key_not_found (default true).
   */
  | { type: "metadata"; matcher: Omit<MetadataMatcherConfig, "invert"> | undefined; matchIfKeyNotFound: boolean }
  /** LogTypeFilter: AccessLogType names (NotSet, DownstreamEnd, TcpConnectionEnd, …). */
  | { type: "log_type"; types: string[]; exclude: boolean };

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
      /** `formatters` has envoy.formatter.req_without_query: %REQ_WITHOUT_QUERY(X)% is known. */
      reqWithoutQuery?: boolean;
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
      /** `formatters` has envoy.formatter.req_without_query: %REQ_WITHOUT_QUERY(X)% is known. */
      reqWithoutQuery?: boolean;
    };

export type AccessLogJsonValue = string | number | AccessLogJsonValue[] | { [key: string]: AccessLogJsonValue };

// ---- Retries and mirroring (route and virtual host; core/config/retry-policy-schema.ts) ----

/** envoy.config.route.v3.RetryPolicy, defaults applied. */
/** envoy.config.route.v3.HedgePolicy (core/config/hedge-policy-schema.ts). */
export interface HedgePolicyConfig {
  /** hedge_on_per_try_timeout: a per-try timeout starts a retry beside the attempt, which goes on. */
  hedgeOnPerTryTimeout: boolean;
}

export interface RetryPolicyConfig {
  /** retry_on as RetryOn bits (core/config/retry-on.ts); 0: no condition (only request headers can add some). */
  retryOn: number;
  /** num_retries: default 1. */
  numRetries: number;
  /** per_try_timeout in ms; 0: none. */
  perTryTimeoutMs: number;
  /** per_try_idle_timeout in ms; 0: none. */
  perTryIdleTimeoutMs: number;
  /** retry_back_off.base_interval: default 25 ms. */
  baseIntervalMs: number;
  /** retry_back_off.max_interval: default 10 × base_interval. */
  maxIntervalMs: number;
  /** retry_host_predicate has envoy.retry_host_predicates.previous_hosts. */
  previousHosts: boolean;
  /** retry_host_predicate has envoy.retry_host_predicates.omit_canary_hosts. */
  omitCanaryHosts?: true;
  /** Each envoy.retry_host_predicates.omit_host_metadata's `envoy.lb` labels (non-empty sets only). */
  omitHostMetadata?: readonly (readonly (readonly [string, unknown])[])[];
  /** host_selection_retry_max_attempts: default 1. */
  hostSelectionRetryMaxAttempts: number;
  /** retry_priority envoy.retry_priorities.previous_priorities: its update_frequency; absent without. */
  previousPrioritiesUpdateFrequency?: number;
  retriableStatusCodes: number[];
  retriableHeaders: HeaderMatcherConfig[];
  retriableRequestHeaders: HeaderMatcherConfig[];
  /** rate_limited_retry_back_off; absent when not configured. */
  rateLimitedRetryBackOff?: { resetHeaders: { name: string; format: "SECONDS" | "UNIX_TIMESTAMP" }[]; maxIntervalMs: number };
}

/** envoy.config.route.v3.RouteAction.RequestMirrorPolicy. */
export interface RequestMirrorPolicyConfig {
  /** One of cluster or clusterHeader. */
  cluster?: string;
  clusterHeader?: string;
  /** runtime_fraction: default_value (100 % when unset), with its runtime_key. */
  fraction: FractionalPercent;
  disableShadowHostSuffixAppend: boolean;
}

// ---- Health checking and outlier detection (config/health-check-schema.ts) ----------

/** A half-open range [start, end) of HTTP status codes (envoy.type.v3.Int64Range). */
export interface StatusRange {
  start: number;
  end: number;
}

export interface HttpHealthCheckConfig {
  kind: "http";
  /** codec_client_type: HTTP/1.1 (default) or HTTP/2 (h2c, or h2 over the cluster's TLS), a stream per check. */
  codecClientType: "HTTP1" | "HTTP2";
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

/** envoy.extensions.filters.http.router.v3.Router (core/http/filters/router.ts). */
export interface RouterConfig {
  /** No x-envoy-* header of the router's own: x-envoy-expected-rq-timeout-ms, x-envoy-upstream-service-time, x-envoy-overloaded. */
  suppressEnvoyHeaders?: true;
  /**
   * dynamic_stats false: the router charges no per-response cluster stats — upstream_rq_<code>,
   * _<N>xx, _completed, upstream_rq_time and their canary/internal/external variants (Envoy's
   * emit_dynamic_stats_ in chargeUpstreamCode and onUpstreamComplete, router.cc).
   */
  dynamicStats?: false;
  /**
   * start_child_span: with tracing on the HCM, a CLIENT span per upstream request ("router
   * <cluster> egress"), a child of the request's, whose context goes upstream — as the HCM's
   * spawn_upstream_span does; either turns it on (UpstreamRequest's constructor,
   * source/common/router/upstream_request.cc: `spawnUpstreamSpan() || start_child_span_`).
   */
  startChildSpan?: true;
  /**
   * upstream_http_filters before the terminal upstream_codec: the chain an attempt runs
   * when its cluster has no http_filters of its own (UpstreamRequest's constructor,
   * source/common/router/upstream_request.cc). Absent when none (or only the codec).
   */
  upstreamHttpFilters?: readonly HttpFilterConfig[];
}

/** envoy.extensions.filters.http.grpc_http1_bridge.v3.Config (core/http/filters/grpc-http1-bridge.ts). */
export interface GrpcHttp1BridgeConfig {
  upgradeProtobufToGrpc: boolean;
  ignoreQueryParameters: boolean;
}

/** envoy.extensions.filters.http.grpc_stats.v3.FilterConfig (core/http/filters/grpc-stats-filter.ts). */
export interface GrpcStatsConfig {
  /** A filter state object `envoy.filters.http.grpc_stats` with the request and response message counts. */
  emitFilterState: boolean;
  /** Stats named by every request's service and method (false when unset, or when an allowlist is given). */
  statsForAllMethods: boolean;
  /** individual_method_stats_allowlist: these methods get their own stats, any other the shared `cluster.<c>.grpc.*`. */
  allowlist?: readonly { service: string; methods: readonly string[] }[];
  /** The `upstream_rq_time` histogram: the request's end sent upstream to the response's end received. */
  enableUpstreamStats: boolean;
  /** "." in a service name becomes "_" in its stats (stats_for_all_methods only). */
  replaceDotsInGrpcServiceName: boolean;
}

/**
 * envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder
 * (core/http/filters/grpc-json-transcoder.ts; built by core/grpc-json/transcoder-config.ts).
 * Plain data: the descriptor set's bytes, decoded once per config where it is used.
 */
export interface GrpcJsonTranscoderConfig {
  /** proto_descriptor's file content or proto_descriptor_bin: a FileDescriptorSet. */
  descriptorSet: Uint8Array;
  /** Empty: the filter is disabled (passes everything). */
  services: readonly string[];
  printOptions: {
    addWhitespace: boolean;
    alwaysPrintPrimitiveFields: boolean;
    alwaysPrintEnumsAsInts: boolean;
    preserveProtoFieldNames: boolean;
    streamNewlineDelimited: boolean;
  };
  matchIncomingRequestRoute: boolean;
  ignoredQueryParameters: readonly string[];
  autoMapping: boolean;
  ignoreUnknownQueryParameters: boolean;
  convertGrpcStatus: boolean;
  urlUnescapeSpec: "ALL_CHARACTERS_EXCEPT_RESERVED" | "ALL_CHARACTERS_EXCEPT_SLASH" | "ALL_CHARACTERS";
  queryParamUnescapePlus: boolean;
  matchUnregisteredCustomVerb: boolean;
  rejectUnknownMethod: boolean;
  rejectUnknownQueryParameters: boolean;
  rejectBindingBodyFieldCollisions: boolean;
  caseInsensitiveEnumParsing: boolean;
  /** Unset: the stream's buffer limit. */
  maxRequestBodySize?: number;
  maxResponseBodySize?: number;
}

/** HealthCheck.GrpcHealthCheck: grpc.health.v1.Health/Check over HTTP/2. */
export interface GrpcHealthCheckConfig {
  kind: "grpc";
  /** `service_name`, the HealthCheckRequest's service; empty: the server's overall health. */
  serviceName: string;
  /** `authority`; empty: the cluster's name, as Envoy does. */
  authority: string;
  /** `initial_metadata`: headers added to each check. */
  initialMetadata: HeaderValueOption[];
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
  /** event_log_path: a file of HealthCheckEvent JSON lines; absent without. */
  eventLogPath?: string;
  checker: HttpHealthCheckConfig | TcpHealthCheckConfig | GrpcHealthCheckConfig;
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

// ---- RBAC (config/rbac-schema.ts, core/rbac/rbac-engine.ts) ----

/** envoy.type.matcher.v3.StringMatcher (no present form: that belongs to HeaderMatcher). */
export type StringMatcherConfig = Exclude<ValueMatchConfig, { type: "present" }>;

/** envoy.config.rbac.v3.Permission: what the request is. */
export type RbacPermission =
  | { type: "any" }
  | { type: "and"; rules: RbacPermission[] }
  | { type: "or"; rules: RbacPermission[] }
  | { type: "not"; rule: RbacPermission }
  | { type: "header"; header: HeaderMatcherConfig }
  | { type: "url_path"; path: StringMatcherConfig }
  | { type: "destination_ip"; cidr: CidrRangeConfig }
  | { type: "destination_port"; port: number }
  | { type: "destination_port_range"; start: number; end: number }
  | { type: "requested_server_name"; name: StringMatcherConfig }
  /** A MetadataMatcher on the stream's (the connection's, for the network filter) dynamic metadata. */
  | { type: "metadata"; matcher: MetadataMatcherConfig }
  /** sourced_metadata with metadata_source ROUTE: a MetadataMatcher on the matched route's metadata (no route: no match). */
  | { type: "route_metadata"; matcher: MetadataMatcherConfig };

/** envoy.config.rbac.v3.Principal: who sends it. */
export type RbacPrincipal =
  | { type: "any" }
  | { type: "and"; rules: RbacPrincipal[] }
  | { type: "or"; rules: RbacPrincipal[] }
  | { type: "not"; rule: RbacPrincipal }
  | { type: "header"; header: HeaderMatcherConfig }
  | { type: "url_path"; path: StringMatcherConfig }
  | { type: "direct_remote_ip" | "remote_ip" | "source_ip"; cidr: CidrRangeConfig }
  /** TLS peer; `principalName` matches its URI SANs, DNS SANs, then subject (undefined: any TLS peer). */
  | { type: "authenticated"; principalName: StringMatcherConfig | undefined }
  /** A MetadataMatcher on the stream's (the connection's, for the network filter) dynamic metadata. */
  | { type: "metadata"; matcher: MetadataMatcherConfig }
  /** sourced_metadata with metadata_source ROUTE: a MetadataMatcher on the matched route's metadata (no route: no match). */
  | { type: "route_metadata"; matcher: MetadataMatcherConfig };

export interface RbacPolicyConfig {
  name: string;
  permissions: RbacPermission[];
  principals: RbacPrincipal[];
}

/** envoy.config.rbac.v3.RBAC: policies in name order (Envoy keeps them in a std::map: the first match by name is the effective policy). */
export interface RbacRulesConfig {
  action: "ALLOW" | "DENY" | "LOG";
  policies: RbacPolicyConfig[];
}

/** What an RBAC matcher predicate looks at (an xds.type.matcher.v3 data input). */
export type RbacMatchInput = { type: "request_header"; name: string };

/** xds.type.matcher.v3.Matcher.MatcherList.Predicate. */
export type RbacMatcherPredicate =
  | { type: "single"; input: RbacMatchInput; value: StringMatcherConfig }
  | { type: "and" | "or"; predicates: RbacMatcherPredicate[] }
  | { type: "not"; predicate: RbacMatcherPredicate };

/** envoy.config.rbac.v3.Action: what a matcher's on_match does (`name` is the effective policy). */
export interface RbacMatcherAction {
  name: string;
  action: "ALLOW" | "DENY" | "LOG";
}

/** xds.type.matcher.v3.Matcher (the matcher_list form, each on_match an RBAC Action). */
export interface RbacMatcherConfig {
  matchers: { predicate: RbacMatcherPredicate; action: RbacMatcherAction }[];
  /** Absent: a request no matcher matches is denied (Envoy's matcher engine). */
  onNoMatch?: RbacMatcherAction;
}

/** The RBAC filters' common part: enforced and shadow rules (or, HTTP only, matchers), each with its stat prefix. */
export interface RbacConfig {
  /** Absent (and no matcher): nothing is enforced (Envoy: no engine, "allowed by default"). */
  rules?: RbacRulesConfig;
  matcher?: RbacMatcherConfig;
  rulesStatPrefix: string;
  shadowRules?: RbacRulesConfig;
  shadowMatcher?: RbacMatcherConfig;
  shadowRulesStatPrefix: string;
}

/** envoy.extensions.filters.network.rbac.v3.RBAC. */
export interface NetworkRbacConfig extends RbacConfig {
  statPrefix: string;
  /** enforcement_type CONTINUOUS: decide on every read, not only the first. */
  continuous: boolean;
  /** delay_deny in ms: a denied connection is closed this long after the decision, reads stopped meanwhile; 0: at once. */
  delayDenyMs: number;
}

/** GrpcService.EnvoyGrpc with the GrpcService's initial_metadata (config/grpc-service-schema.ts, core/http/grpc-async-client.ts). */
export interface GrpcServiceTarget {
  clusterName: string;
  /** The :authority; "" for the cluster's name (Envoy's default). */
  authority: string;
  /** Headers sent with every call. */
  initialMetadata: readonly (readonly [string, string])[];
  /** google_grpc: the internal cluster `clusterName` names, built on first use (ClusterManager.internalCluster). */
  google?: GoogleGrpcTargetConfig;
  /** GrpcService.retry_policy, for unary calls (core/http/async-client.ts retries them); absent: no retries. */
  retryPolicy?: RetryPolicyConfig;
}

/** GrpcService.GoogleGrpc as polyvoy runs it (config/google-grpc-target.ts). */
export interface GoogleGrpcTargetConfig {
  /** grpc.<stat_prefix>.streams_total and streams_closed_<status> (Envoy's GoogleAsyncClientStats). */
  statPrefix: string;
  /** The :authority: the target's host:port. */
  authority: string;
  /** An HTTP/2 cluster to the target; one per distinct target and credentials, hidden from /clusters and cluster stats. */
  cluster: ClusterConfig;
}

// ---- ext_proc (config/ext-proc-schema.ts, core/http/filters/ext-proc.ts) ----

/** ProcessingMode as the filter runs it: which messages go to the processor. */
export interface ExtProcProcessingMode {
  requestHeaders: boolean;
  responseHeaders: boolean;
  /**
   * processing_mode.proto's BodySendMode: NONE, STREAMED (each chunk as it comes),
   * BUFFERED (the whole body, once, before the headers go on), BUFFERED_PARTIAL (up to the
   * buffer limit, once), FULL_DUPLEX_STREAMED (each chunk as it comes, the processor
   * answering with body in its own grouping).
   */
  requestBody: ExtProcBodyMode;
  responseBody: ExtProcBodyMode;
  /** Trailers SEND: they go to the processor (DEFAULT and SKIP: not). */
  requestTrailers: boolean;
  responseTrailers: boolean;
}

export type ExtProcBodyMode = "NONE" | "STREAMED" | "BUFFERED" | "BUFFERED_PARTIAL" | "FULL_DUPLEX_STREAMED";

/** envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor */
export interface ExtProcConfig {
  grpc: GrpcServiceTarget;
  /** GrpcService.timeout, taken for the stream as a whole (grpc-timeout) when set. */
  grpcTimeoutMs?: number;
  failureModeAllow: boolean;
  processingMode: ExtProcProcessingMode;
  messageTimeoutMs: number;
  /** max_message_timeout: the longest override_message_timeout taken; 0 takes none. */
  maxMessageTimeoutMs: number;
  /** Stats go under http.<hcm stat_prefix>.ext_proc.[<statPrefix>.] */
  statPrefix: string;
  allowModeOverride: boolean;
  disableClearRouteCache: boolean;
  /** mutation_rules: which of the processor's header mutations are taken (Envoy's defaults when unset). */
  mutationRules: HeaderMutationRulesConfig;
}

/** envoy.config.common.mutation_rules.v3.HeaderMutationRules (core/http/filters/ext-proc-mutation.ts). */
export interface HeaderMutationRulesConfig {
  allowAllRouting: boolean;
  allowEnvoy: boolean;
  disallowSystem: boolean;
  disallowAll: boolean;
  /** RE2, matched against the whole lowercase header name. */
  allowExpression?: string;
  disallowExpression?: string;
  disallowIsError: boolean;
}

/** ExtProcPerRoute: disabled, or ExtProcOverrides. */
export interface ExtProcPerRouteConfig {
  disabled: boolean;
  overrides?: ExtProcOverridesConfig;
}

/** ExtProcOverrides as the filter takes them (core/http/filters/ext-proc-route.ts merges the levels). */
export interface ExtProcOverridesConfig {
  /** Replaces the filter's processing_mode whole. */
  processingMode?: ExtProcProcessingMode;
  /** A different processor (its GrpcService.timeout as grpcTimeoutMs). */
  grpc?: GrpcServiceTarget;
  grpcTimeoutMs?: number;
  /** Added to the service's initial_metadata, replacing entries of the same key. */
  grpcInitialMetadata: readonly (readonly [string, string])[];
  failureModeAllow?: boolean;
}

// ---- ext_authz (config/ext-authz-schema.ts, core/http/filters/ext-authz.ts) ----

/** envoy.extensions.filters.http.ext_authz.v3.BufferSettings */
export interface ExtAuthzBufferSettings {
  maxRequestBytes: number;
  allowPartialMessage: boolean;
  /** gRPC only: the body goes in raw_body (bytes) rather than body (string). */
  packAsBytes: boolean;
}

export interface ExtAuthzConfig {
  /** http_service.server_uri.cluster or grpc_service.envoy_grpc.cluster_name: where the checks go. */
  cluster: string;
  timeoutMs: number;
  /** Set for a grpc_service (envoy.service.auth.v3.Authorization/Check); the http_service fields below are then at their defaults. */
  grpc?: GrpcServiceTarget;
  /** http_service.retry_policy (core.v3.RetryPolicy on 5xx,gateway-error,connect-failure,reset); absent: one attempt. */
  httpRetryPolicy?: RetryPolicyConfig;
  /** Put before the original path in the check request. */
  pathPrefix: string;
  /** authorization_request.allowed_headers (besides authorization, :method, :path and :authority, always sent). */
  allowedHeaders: StringMatcherConfig[];
  /** gRPC service with the top-level allowed_headers: only these request headers go in the CheckRequest (else all). */
  grpcAllowedHeaders?: StringMatcherConfig[];
  /** metadata_context_namespaces: these namespaces of the stream's (else the connection's) dynamic metadata go in the CheckRequest. */
  metadataContextNamespaces: string[];
  /** authorization_request.headers_to_add: set on every check request (values may be %…% formats). */
  headersToAdd: HeaderValueOption[];
  /** authorization_response.*: which of the service's response headers go where. */
  allowedUpstreamHeaders: StringMatcherConfig[];
  allowedUpstreamHeadersToAppend: StringMatcherConfig[];
  /** Empty: every header of a denial but Host goes to the client. */
  allowedClientHeaders: StringMatcherConfig[];
  allowedClientHeadersOnSuccess: StringMatcherConfig[];
  /** The service's response headers copied, name → value, into the dynamic metadata under envoy.filters.http.ext_authz. */
  dynamicMetadataFromHeaders: StringMatcherConfig[];
  /** gRPC service only: the downstream peer's certificate in CheckRequest source.certificate. */
  includePeerCertificate: boolean;
  /** gRPC service only: CheckRequest attributes.tls_session (its sni). */
  includeTlsSession: boolean;
  failureModeAllow: boolean;
  failureModeAllowHeaderAdd: boolean;
  /** Absent: the body is not sent. */
  withRequestBody?: ExtAuthzBufferSettings;
  /** The local reply's status when the call fails (default 403). */
  statusOnError: number;
  clearRouteCache: boolean;
  /** Stats go under http.<hcm stat_prefix>.ext_authz.<statPrefix>. */
  statPrefix: string;
  /** Absent: always on. */
  filterEnabled?: FractionalPercent;
  /** When filter_enabled is off for a request: deny it (status_on_error) rather than let it through. */
  denyAtDisable: boolean;
}

/** ExtAuthzPerRoute */
export interface ExtAuthzPerRouteConfig {
  disabled: boolean;
  /** Sent with gRPC check requests only: an HTTP service never sees them (Envoy likewise). */
  contextExtensions: Record<string, string>;
  disableRequestBodyBuffering: boolean;
  withRequestBody?: ExtAuthzBufferSettings;
}

// ---- TLS (envoy.transport_sockets.tls; core/tls/) ---------------------------------------

/**
 * The TLS transport socket as the config loader gives it (envoy.transport_sockets.tls):
 * data sources still unread (a filename is read when the listener or cluster starts,
 * through the port), everything else checked.
 */

/** envoy.config.core.v3.DataSource as TLS uses it: a file, or the text inline. */
export type TlsDataSourceConfig = { readonly filename: string } | { readonly inline: string };

export interface TlsCertificateConfig {
  readonly certificateChain: TlsDataSourceConfig;
  readonly privateKey: TlsDataSourceConfig;
  readonly password?: TlsDataSourceConfig;
  /** watched_directory: in a secret delivered by SDS, the directory whose changes reload the files. */
  readonly watchedDirectory?: string;
  /** ocsp_staple: a DER OCSP response for the certificate, stapled when the client asks (downstream only). */
  readonly ocspStaple?: TlsDataSourceConfig;
}

/** envoy.extensions.transport_sockets.tls.v3.Secret: a TLS certificate, a validation context or a generic secret, by name. */
export type SecretConfig =
  | { readonly name: string; readonly tlsCertificate: TlsCertificateConfig }
  | { readonly name: string; readonly validationContext: ValidationContextConfig }
  | { readonly name: string; readonly genericSecret: GenericSecretConfig };

/** envoy.extensions.transport_sockets.tls.v3.GenericSecret: bytes for a filter (the oauth2 filter's token and HMAC secrets). */
export interface GenericSecretConfig {
  readonly secret: TlsDataSourceConfig;
}

/**
 * SdsSecretConfig: a secret by name, from static_resources.secrets (no sdsConfig), from
 * an SDS file (a DiscoveryResponse holding it), watched for changes, or from a
 * management server (api_config_source, ads).
 */
export interface SdsSecretConfig {
  readonly name: string;
  readonly sdsConfig?: XdsConfigSource;
}

/** Cluster.eds_cluster_config: the file of the ClusterLoadAssignment, and its cluster_name (absent: the cluster's name). */
export interface EdsClusterConfig {
  readonly configSource: XdsConfigSource;
  readonly serviceName?: string;
}

/** HttpConnectionManager.rds: which route configuration, from which ConfigSource. */
export interface RdsConfig {
  readonly configSource: XdsConfigSource;
  readonly routeConfigName: string;
}

/** ConfigSource with path_config_source (or the older `path`): the file, and the directory whose moves reload it. */
export interface SdsConfigSource {
  readonly path: string;
  readonly watchedDirectory?: string;
}

/** ConfigSource.api_config_source with api_type GRPC or DELTA_GRPC: a management server's cluster (core/config/xds/grpc-mux.ts, delta-grpc-mux.ts). */
export interface ApiConfigSource {
  readonly kind: "grpc";
  readonly target: GrpcServiceTarget;
  /** api_type DELTA_GRPC: incremental xDS (DeltaDiscoveryRequest/Response). */
  readonly delta: boolean;
  /** Send the node only on a stream's first request (set_node_on_first_message_only). */
  readonly nodeOnFirstMessageOnly: boolean;
  /** rate_limit_settings: a token bucket on the stream's DiscoveryRequests (GRPC only), fillRate tokens a second. */
  readonly rateLimit?: { readonly maxTokens: number; readonly fillRate: number };
  /** initial_fetch_timeout in ms (0: wait forever); for dynamic_resources.ads_config unused. */
  readonly initialFetchTimeoutMs: number;
}

/** ConfigSource.api_config_source with api_type REST: JSON polling of cluster_names[0] (core/config/xds/http-subscription.ts). */
export interface RestConfigSource {
  readonly kind: "rest";
  readonly clusterName: string;
  /** refresh_delay in ms: the wait between two polls. */
  readonly refreshDelayMs: number;
  /** request_timeout in ms (Envoy's default 1 s). */
  readonly requestTimeoutMs: number;
  readonly initialFetchTimeoutMs: number;
}

/** ConfigSource.ads: the resources come over dynamic_resources.ads_config's stream. */
export interface AdsConfigSource {
  readonly kind: "ads";
  readonly initialFetchTimeoutMs: number;
}

/** Where xDS resources come from: a file, a management server, or the ADS stream. */
export type XdsConfigSource = SdsConfigSource | ApiConfigSource | RestConfigSource | AdsConfigSource;

/** One SubjectAltNameMatcher: a SAN of this type matching the string matcher. */
export interface SanMatcherConfig {
  readonly sanType: "DNS" | "URI" | "EMAIL" | "IP_ADDRESS";
  readonly matcher: Exclude<ValueMatchConfig, { type: "present" }>;
}

/** CertificateValidationContext: the CA bundle and the peer checks made after the chain. */
export interface ValidationContextConfig {
  readonly trustedCa?: TlsDataSourceConfig;
  /** crl: PEM certificate revocation lists every certificate of the peer's chain is checked against (needs trustedCa). */
  readonly crl?: TlsDataSourceConfig;
  readonly matchTypedSubjectAltNames: readonly SanMatcherConfig[];
  /** verify_certificate_hash: SHA-256 fingerprints, lowercase hex without colons. */
  readonly verifyCertificateHash: readonly string[];
  /** verify_certificate_spki: base64 SHA-256 of the SubjectPublicKeyInfo; absent when none. */
  readonly verifyCertificateSpki?: readonly string[];
  /** allow_expired_certificate: an expired (or not yet valid) peer certificate passes the chain check. */
  readonly allowExpiredCertificate?: true;
  /** trust_chain_verification ACCEPT_UNTRUSTED: a chain that does not verify is counted (fail_verify_error) and accepted. */
  readonly acceptUntrusted?: true;
  /** watched_directory: in a secret delivered by SDS, the directory whose changes reload trusted_ca. */
  readonly watchedDirectory?: string;
}

/** CommonTlsContext */
export interface CommonTlsContextConfig {
  readonly tlsCertificates: readonly TlsCertificateConfig[];
  readonly alpnProtocols: readonly string[];
  readonly params: TlsParamsConfig;
  readonly validationContext?: ValidationContextConfig;
  /** tls_certificate_sds_secret_configs (instead of tlsCertificates). */
  readonly tlsCertificateSds: readonly SdsSecretConfig[];
  /** validation_context_sds_secret_config (instead of validationContext). */
  readonly validationContextSds?: SdsSecretConfig;
}

/** DownstreamTlsContext, on a filter chain. */
export interface DownstreamTlsConfig {
  readonly side: "downstream";
  readonly common: CommonTlsContextConfig;
  readonly requireClientCertificate: boolean;
  /** ocsp_staple_policy (Envoy's default LENIENT_STAPLING). */
  readonly ocspStaplePolicy: OcspStaplePolicy;
  /** session_ticket_keys (each key's data source), disable_*_session_resumption, session_timeout. */
  readonly session?: DownstreamTlsSessionConfig;
}

/** DownstreamTlsContext.OcspStaplePolicy. */
export type OcspStaplePolicy = "LENIENT_STAPLING" | "STRICT_STAPLING" | "MUST_STAPLE";

export interface DownstreamTlsSessionConfig {
  readonly ticketKeys?: readonly TlsDataSourceConfig[];
  readonly disableStateless?: true;
  readonly disableStateful?: true;
  readonly timeoutSeconds?: number;
}

/** UpstreamTlsContext, on a cluster. */
export interface UpstreamTlsConfig {
  readonly side: "upstream";
  readonly common: CommonTlsContextConfig;
  /** The SNI sent; auto_sni sends the request's host instead when there is one. */
  readonly sni?: string;
  readonly autoSni: boolean;
  /** max_session_keys (Envoy's default 1; 0 turns upstream session resumption off). */
  readonly maxSessionKeys: number;
}

/** TlsParameters as the port's TlsParams takes them (core/port.ts). */
export interface TlsParamsConfig {
  readonly minVersion?: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3";
  readonly maxVersion?: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3";
  readonly cipherSuites?: readonly string[];
  readonly ecdhCurves?: readonly string[];
}

// ---- ratelimit (config/ratelimit-schema.ts, core/http/route/rate-limit-policy.ts, core/http/filters/ratelimit.ts) ----

/** One action of a route's RateLimit: how it makes one descriptor entry (Envoy's RateLimit.Action). */
export type RateLimitActionConfig =
  | { type: "source_cluster" }
  | { type: "destination_cluster" }
  | { type: "request_headers"; headerName: string; descriptorKey: string; skipIfAbsent: boolean }
  | { type: "remote_address" }
  | { type: "generic_key"; descriptorKey: string; descriptorValue: string }
  | { type: "header_value_match"; descriptorKey: string; descriptorValue: string; expectMatch: boolean; headers: HeaderMatcherConfig[] }
  | { type: "masked_remote_address"; v4PrefixMaskLen: number; v6PrefixMaskLen: number }
  | { type: "query_parameters"; queryParameterName: string; descriptorKey: string; skipIfAbsent: boolean }
  | { type: "query_parameter_value_match"; descriptorKey: string; descriptorValue: string; expectMatch: boolean; queryParameters: QueryParameterMatcherConfig[] };

/** envoy.config.route.v3.RateLimit: the actions that make one descriptor, for the filters of one stage. */
export interface RateLimitPolicyConfig {
  stage: number;
  actions: RateLimitActionConfig[];
}

/** envoy.extensions.filters.http.ratelimit.v3.RateLimit */
export interface RateLimitConfig {
  domain: string;
  stage: number;
  /** Which requests are limited: x-envoy-internal: true ones, the others, or both. */
  requestType: "internal" | "external" | "both";
  timeoutMs: number;
  failureModeDeny: boolean;
  rateLimitedAsResourceExhausted: boolean;
  /** rate_limit_service.grpc_service (envoy.service.ratelimit.v3.RateLimitService). */
  service: GrpcServiceTarget;
  /** rate_limit_service.grpc_service.timeout when set: not the call's bound (timeoutMs is, as in Envoy); warned about at start. */
  unusedServiceTimeoutMs?: number;
  enableXRateLimitHeaders: boolean;
  disableXEnvoyRateLimitedHeader: boolean;
  rateLimitedStatus: number;
  statusOnError: number;
  /** Added to the rate-limited local reply (after the service's headers). */
  responseHeadersToAdd: HeaderValueOption[];
  /** The filter's own rate_limits: when set, the route's and virtual host's are not read. */
  rateLimits?: RateLimitPolicyConfig[];
}

/** envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute */
export interface RateLimitPerRouteConfig {
  vhRateLimits: "OVERRIDE" | "INCLUDE" | "IGNORE";
  /** Replaces the filter's domain; "" keeps it. */
  domain: string;
  /** When set, the only rate limits of the route (the filter's, the route's and the virtual host's are not read). */
  rateLimits?: RateLimitPolicyConfig[];
}
