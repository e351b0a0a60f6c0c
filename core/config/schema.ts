/**
 * Zod schemas for the supported subset of Envoy's v3 bootstrap, read after keys are
 * normalized to snake_case. Every object is strict: a field Envoy has but we do not
 * implement is an error, never silently ignored, so a config cannot mean more to the
 * user than it does to the proxy. Each schema's output is already the `Bootstrap`
 * shape, with Envoy's defaults applied next to the field they belong to.
 * Cross-object checks (names, references) are in `load.ts`.
 */
// Namespace import: under one runtime, vitest's module loader drops zod's `z` named export.
import * as z from "zod";
import type { Bootstrap, ClusterConfig, ConnectionLimitConfig, LbEndpointConfig, LocalityLbEndpointsConfig, ListenerConfig, NetworkFilterConfig, SocketAddressConfig, TcpProxyConfig } from "./bootstrap.ts";
import { parseDurationMs } from "./duration.ts";
import { httpConnectionManager } from "./http-connection-manager-schema.ts";
import { accessLogs } from "../access-log/access-log-schema.ts";
import { healthChecks, outlierDetection } from "./health-check-schema.ts";
import { formatAddress } from "../network/address.ts";

/** Envoy's default per_connection_buffer_limit_bytes for listeners and clusters: 1 MiB. */
const DEFAULT_BUFFER_LIMIT_BYTES = 1024 * 1024;
/** Envoy's tcp_proxy idle_timeout default: 1 hour. */
const DEFAULT_TCP_IDLE_TIMEOUT_MS = 3_600_000;
/** Envoy's cluster connect_timeout default: 5 s. */
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/** A google.protobuf.Duration, output in milliseconds. */
const duration = z.unknown().transform((value, ctx) => {
  const result = parseDurationMs(value);
  if (result.ok) return result.ms;
  ctx.addIssue({ code: "custom", message: result.error });
  return z.NEVER;
});

/** A google.protobuf.UInt32Value buffer limit. */
const bufferLimitBytes = z.number().int().min(1).max(0xffff_ffff);

const isIpLiteral = z.union([z.ipv4(), z.ipv6()]);

/**
 * Envoy parses listener, admin and STATIC endpoint addresses as IP literals
 * ("malformed IP address"); host names need a DNS cluster type, which we lack.
 */
const ipAddress = z.string().superRefine((text, ctx) => {
  if (!isIpLiteral.safeParse(text).success) {
    ctx.addIssue({ code: "custom", message: `"${text}" is not an IP address (Envoy needs an IPv4 or IPv6 literal here, not a host name)` });
  }
});

/** envoy.config.core.v3.SocketAddress: port_value only (no named_port), TCP only. */
const socketAddress = z
  .strictObject({
    address: ipAddress,
    port_value: z.number().int().min(0).max(65535),
    protocol: z.enum(["TCP"]).optional(),
  })
  .transform((s): SocketAddressConfig => ({ address: s.address, port: s.port_value }));

/** envoy.config.core.v3.Address: only the socket_address variant (no pipe, no envoy_internal_address). */
const address = z.strictObject({ socket_address: socketAddress }).transform((a) => a.socket_address);


// ---- Network filters ---------------------------------------------------------------

/** envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy (single cluster only). */
const tcpProxy = z
  .strictObject({
    stat_prefix: z.string().min(1),
    cluster: z.string(),
    // "If not set, defaults to 1 hour. If set to 0s, the timeout will be disabled."
    idle_timeout: duration.default(DEFAULT_TCP_IDLE_TIMEOUT_MS),
    access_log: accessLogs,
  })
  .transform(
    (c): TcpProxyConfig => ({
      statPrefix: c.stat_prefix,
      cluster: c.cluster,
      idleTimeoutMs: c.idle_timeout,
      // Only when configured: configs without access logs compare equal to what they were.
      ...(c.access_log.length > 0 ? { accessLog: c.access_log } : {}),
    }),
  );

/** envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit */
const connectionLimit = z
  .strictObject({
    stat_prefix: z.string().min(1),
    // Envoy: required, gte 1 (a UInt64Value; JSON gives it as a number or a string).
    max_connections: z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]).pipe(z.number().int().min(1)),
    delay: duration.optional(),
  })
  .transform((c): ConnectionLimitConfig => ({ statPrefix: c.stat_prefix, maxConnections: c.max_connections, delayMs: c.delay ?? 0 }));

type NetworkFilterType = NetworkFilterConfig["type"];
type ConfigOf<T extends NetworkFilterType> = Extract<NetworkFilterConfig, { type: T }>["config"];

/**
 * Every supported network filter, by canonical name, with the type URL of its
 * typed_config and the schema that validates it and builds its config. To add a filter,
 * add its variant to `NetworkFilterConfig` in bootstrap.ts and an entry here (the
 * compiler asks for it).
 */
const NETWORK_FILTERS: { [T in NetworkFilterType]: { typeUrl: string; typedConfig: z.ZodType<ConfigOf<T>> } } = {
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
const networkFilter = z
  .strictObject({
    name: z.string().min(1),
    // A google.protobuf.Any in JSON: "@type" plus the message's own fields. "@type" is
    // optional here: without it the filter name says what the fields are.
    typed_config: z.looseObject({ "@type": z.string().optional() }).optional(),
  })
  .transform((filter, ctx): NetworkFilterConfig => {
    const { "@type": typeUrl, ...fields } = filter.typed_config ?? {};
    const type = networkFilterType(filter.name, typeUrl);
    if (type === undefined) {
      const supported = Object.keys(NETWORK_FILTERS).join(", ");
      ctx.addIssue({ code: "custom", message: `unsupported network filter "${typeUrl ?? filter.name}" (supported: ${supported})` });
      return z.NEVER;
    }
    // Parsed on its own (the schema depends on "@type"); its issues are re-rooted here.
    const config = NETWORK_FILTERS[type].typedConfig.safeParse(fields, { reportInput: true });
    if (!config.success) {
      for (const issue of config.error.issues) ctx.addIssue({ ...issue, path: ["typed_config", ...issue.path] });
      return z.NEVER;
    }
    return { name: filter.name, type, config: config.data } as NetworkFilterConfig;
  });

// ---- Listeners -------------------------------------------------------------------

/** envoy.config.listener.v3.FilterChain, without filter_chain_match (one chain serves all). */
const filterChain = z.strictObject({
  filters: z
    .array(networkFilter)
    .min(1)
    .superRefine((filters, ctx) => {
      // Envoy's terminal-filter check: tcp_proxy and the HCM end a chain, nothing else may.
      filters.forEach((filter, i) => {
        const terminal = filter.type !== "envoy.filters.network.connection_limit";
        const last = i === filters.length - 1;
        if (terminal && !last) {
          const message = `terminal filter named ${filter.name} of type ${filter.type} must be the last filter in a network filter chain`;
          ctx.addIssue({ code: "custom", message, path: [i] });
        } else if (!terminal && last) {
          const message = `non-terminal filter named ${filter.name} of type ${filter.type} is the last filter in a network filter chain`;
          ctx.addIssue({ code: "custom", message, path: [i] });
        }
      });
    }),
});

/** envoy.config.listener.v3.Listener */
export const listenerSchema = z
  .strictObject({
    name: z.string().min(1).optional(),
    address,
    // Envoy refuses a listener without filter chains ("no filter chains specified"), and
    // several chains with the same (here: no) filter_chain_match ("multiple filter chains
    // with the same matching rules are defined").
    filter_chains: z
      .array(filterChain)
      .min(1)
      .refine((chains) => chains.length <= 1, {
        message: "multiple filter chains need filter_chain_match, which is not supported yet: use one filter chain",
      }),
    per_connection_buffer_limit_bytes: bufferLimitBytes.default(DEFAULT_BUFFER_LIMIT_BYTES),
  })
  .transform(
    (l): ListenerConfig => ({
      name: l.name ?? formatAddress(l.address),
      address: l.address,
      perConnectionBufferLimitBytes: l.per_connection_buffer_limit_bytes,
      filterChains: l.filter_chains,
    }),
  );

// ---- Clusters --------------------------------------------------------------------

/** envoy.config.endpoint.v3.LbEndpoint: only `endpoint.address` (no weights, health, metadata). */
const lbEndpoint = z
  .strictObject({ endpoint: z.strictObject({ address }) })
  .transform((e): LbEndpointConfig => ({ address: e.endpoint.address, loadBalancingWeight: 1 }));

/** envoy.config.endpoint.v3.LocalityLbEndpoints: no locality, priority or weight yet. */
const localityLbEndpoints = z
  .strictObject({ lb_endpoints: z.array(lbEndpoint).default([]) })
  .transform((l): LocalityLbEndpointsConfig => ({ priority: 0, lbEndpoints: l.lb_endpoints }));

/** envoy.config.endpoint.v3.ClusterLoadAssignment */
const loadAssignment = z
  .strictObject({
    cluster_name: z.string().min(1), // required by Envoy's proto validation
    endpoints: z.array(localityLbEndpoints).default([]),
  })
  .transform((a) => a.endpoints);

/** Envoy's circuit breaker defaults (envoy.config.cluster.v3.CircuitBreakers.Thresholds). */
const DEFAULT_THRESHOLD = 1024;
const DEFAULT_MAX_RETRIES = 3;

const threshold = z.number().int().min(0).max(0xffff_ffff);

/**
 * Thresholds.RetryBudget: retries may be at most budget_percent (default 20 %) of the
 * active and pending requests, but never fewer than min_retry_concurrency (default 3).
 * Configured, it replaces max_retries (resource_manager_impl.h, RetryBudgetImpl).
 */
const retryBudget = z
  .strictObject({
    budget_percent: z.strictObject({ value: z.number().min(0).max(100).default(0) }).optional(),
    min_retry_concurrency: threshold.optional(),
  })
  .transform((b) => ({ budgetPercent: b.budget_percent?.value ?? 20, minRetryConcurrency: b.min_retry_concurrency ?? 3 }));

/**
 * envoy.config.cluster.v3.CircuitBreakers: per-priority thresholds. Only routes of
 * priority DEFAULT exist here, so HIGH thresholds are accepted and never reached —
 * exactly what Envoy does for a config without high-priority routes.
 */
const circuitBreakers = z.strictObject({
  thresholds: z
    .array(
      z.strictObject({
        priority: z.enum(["DEFAULT", "HIGH"]).default("DEFAULT"),
        max_connections: threshold.optional(),
        max_pending_requests: threshold.optional(),
        max_requests: threshold.optional(),
        max_retries: threshold.optional(),
        retry_budget: retryBudget.optional(),
      }),
    )
    .default([]),
});

function defaultThresholds(breakers: z.infer<typeof circuitBreakers> | undefined): ClusterConfig["circuitBreakers"] {
  const t = breakers?.thresholds.find((each) => each.priority === "DEFAULT");
  const limits: ClusterConfig["circuitBreakers"] = {
    maxConnections: t?.max_connections ?? DEFAULT_THRESHOLD,
    maxPendingRequests: t?.max_pending_requests ?? DEFAULT_THRESHOLD,
    maxRequests: t?.max_requests ?? DEFAULT_THRESHOLD,
    maxRetries: t?.max_retries ?? DEFAULT_MAX_RETRIES,
  };
  if (t?.retry_budget) limits.retryBudget = t.retry_budget;
  return limits;
}

const HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/**
 * envoy.extensions.upstreams.http.v3.HttpProtocolOptions, the one
 * typed_extension_protocol_options entry supported: HTTP/1 upstreams (Envoy requires one
 * of the upstream_protocol_options; only explicit_http_config with http_protocol_options
 * is HTTP/1) and common_http_protocol_options.max_requests_per_connection.
 */
const upstreamHttpProtocolOptions = z.strictObject({
  "@type": z.literal(`type.googleapis.com/${HTTP_PROTOCOL_OPTIONS}`),
  common_http_protocol_options: z.strictObject({ max_requests_per_connection: z.number().int().min(0).max(0xffff_ffff).optional() }).optional(),
  explicit_http_config: z.strictObject({ http_protocol_options: z.strictObject({}) }, { message: "must set explicit_http_config (HTTP/1; the other upstream protocols are not supported)" }),
});

const typedExtensionProtocolOptions = z.strictObject({ [HTTP_PROTOCOL_OPTIONS]: upstreamHttpProtocolOptions.optional() });

/** envoy.config.cluster.v3.Cluster */
const cluster = z
  .strictObject({
    name: z.string().min(1),
    // Envoy's default discovery type is STATIC; DNS and EDS types are not implemented.
    type: z.enum(["STATIC"]).default("STATIC"),
    // Envoy validates connect_timeout as `gt: {}`: zero is refused.
    connect_timeout: duration
      .refine((ms) => ms > 0, { message: "must be greater than 0s" })
      .default(DEFAULT_CONNECT_TIMEOUT_MS),
    lb_policy: z.enum(["ROUND_ROBIN"]).default("ROUND_ROBIN"),
    per_connection_buffer_limit_bytes: bufferLimitBytes.default(DEFAULT_BUFFER_LIMIT_BYTES),
    load_assignment: loadAssignment.optional(),
    circuit_breakers: circuitBreakers.optional(),
    typed_extension_protocol_options: typedExtensionProtocolOptions.optional(),
    // Deprecated in v3 for the typed option above, which Envoy refuses it beside.
    max_requests_per_connection: z.number().int().min(0).max(0xffff_ffff).optional(),
    health_checks: healthChecks.optional(),
    outlier_detection: outlierDetection.optional(),
  })
  .superRefine((c, ctx) => {
    const typed = c.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS]?.common_http_protocol_options?.max_requests_per_connection;
    if (typed !== undefined && c.max_requests_per_connection !== undefined) {
      const message = "Only one of max_requests_per_connection from Cluster or HttpProtocolOptions can be specified";
      ctx.addIssue({ code: "custom", message, path: ["max_requests_per_connection"] });
    }
  })
  .transform(
    (c): ClusterConfig => ({
      name: c.name,
      type: c.type,
      connectTimeoutMs: c.connect_timeout,
      lbPolicy: c.lb_policy,
      perConnectionBufferLimitBytes: c.per_connection_buffer_limit_bytes,
      endpoints: c.load_assignment ?? [],
      circuitBreakers: defaultThresholds(c.circuit_breakers),
      // 0 or unset: no limit. Present only when set, so other configs compare as before.
      ...maxRequestsPerConnection(
        c.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS]?.common_http_protocol_options?.max_requests_per_connection ?? c.max_requests_per_connection,
      ),
      ...(c.health_checks?.length ? { healthChecks: c.health_checks } : {}),
      ...(c.outlier_detection ? { outlierDetection: c.outlier_detection } : {}),
    }),
  );

function maxRequestsPerConnection(max: number | undefined): { maxRequestsPerConnection?: number } {
  return max ? { maxRequestsPerConnection: max } : {};
}

// ---- Bootstrap -------------------------------------------------------------------

/** envoy.config.core.v3.Node: carried for logs and the admin page only. */
const node = z.strictObject({ id: z.string().optional(), cluster: z.string().optional() });

/** envoy.config.bootstrap.v3.Admin: no access log or profiling. Without an address there is no admin listener, as in Envoy. */
const admin = z.strictObject({ address: address.optional() });

const staticResources = z.strictObject({
  listeners: z.array(listenerSchema).default([]),
  clusters: z.array(cluster).default([]),
});

/** envoy.config.bootstrap.v3.Bootstrap */
export const bootstrapSchema: z.ZodType<Bootstrap> = z
  .strictObject({
    node: node.optional(),
    admin: admin.optional(),
    static_resources: staticResources.default({ listeners: [], clusters: [] }),
  })
  .transform((b): Bootstrap => {
    const bootstrap: Bootstrap = { listeners: b.static_resources.listeners, clusters: b.static_resources.clusters };
    if (b.node !== undefined) bootstrap.node = b.node;
    if (b.admin?.address !== undefined) bootstrap.admin = { address: b.admin.address };
    return bootstrap;
  });
