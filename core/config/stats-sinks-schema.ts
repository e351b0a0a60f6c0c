/**
 * The bootstrap's `stats_sinks` (envoy.config.metrics.v3.StatsSink): Envoy's statsd sink
 * (StatsdSink, UDP or TCP), DogStatsD sink (DogStatsdSink) and gRPC metrics service sink
 * (MetricsServiceConfig) and OpenTelemetry sink (open_telemetry.v3.SinkConfig), as
 * source/extensions/stat_sinks/statsd/config.cc, dog_statsd/config.cc,
 * metrics_service/config.cc and open_telemetry/config.cc build them. A
 * sink is found by its typed_config's "@type" first, then by its name (Envoy's
 * getAndCheckFactory); the other sinks Envoy has are refused by name.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { lazySchema } from "./lazy-schema.ts";
import { stringEmpty, strictObject } from "./shared-schemas.ts";
import type { StatsSinkConfig } from "./bootstrap.ts";
import { grpcService } from "./grpc-service-schema.ts";
import { unsupportedField } from "./unsupported-field.ts";

const STATSD = "envoy.stat_sinks.statsd";
const STATSD_TYPE = "type.googleapis.com/envoy.config.metrics.v3.StatsdSink";
const DOG_STATSD = "envoy.stat_sinks.dog_statsd";
const DOG_STATSD_TYPE = "type.googleapis.com/envoy.config.metrics.v3.DogStatsdSink";
const METRICS_SERVICE = "envoy.stat_sinks.metrics_service";
const METRICS_SERVICE_TYPE = "type.googleapis.com/envoy.config.metrics.v3.MetricsServiceConfig";
const OPEN_TELEMETRY = "envoy.stat_sinks.open_telemetry";
const OPEN_TELEMETRY_TYPE = "type.googleapis.com/envoy.extensions.stat_sinks.open_telemetry.v3.SinkConfig";

/** Envoy's getDefaultPrefix() (statsd.h): an empty prefix is this one. */
export const DEFAULT_STATSD_PREFIX = "envoy";

/** Sinks Envoy has and polyvoy does not, by canonical name, legacy name and type URL: what each is. */
const OTHER_SINKS: readonly { names: readonly string[]; type: string; what: string }[] = [
  { names: ["envoy.stat_sinks.hystrix", "envoy.hystrix"], type: "type.googleapis.com/envoy.config.metrics.v3.HystrixSink", what: "the Hystrix dashboard sink" },
  { names: ["envoy.stat_sinks.graphite_statsd"], type: "type.googleapis.com/envoy.extensions.stat_sinks.graphite_statsd.v3.GraphiteStatsdSink", what: "the Graphite statsd sink" },
  { names: ["envoy.stat_sinks.wasm"], type: "type.googleapis.com/envoy.extensions.stat_sinks.wasm.v3.Wasm", what: "the Wasm sink" },
];

const ipv4OrIpv6 = lazySchema(() => z.union([z.ipv4(), z.ipv6()]));

/**
 * core.v3.Address of a UDP sink: an IP literal and a port (Envoy's resolveProtoAddress; the
 * socket is a datagram one whatever `protocol` says). A pipe would be a Unix datagram socket,
 * which no runtime's UDP sockets are.
 */
const sinkAddress = lazySchema(() =>
  strictObject({
    socket_address: strictObject({
      address: z.string().refine((a) => ipv4OrIpv6.safeParse(a).success, { message: "must be an IPv4 or IPv6 literal (Envoy resolves no host name here)" }),
      port_value: z.number().int().min(1).max(65535),
      protocol: z.enum(["TCP", "UDP"]).optional(),
    }).optional(),
    pipe: z.unknown().optional(),
  })
  .superRefine((a, ctx) => {
    if (a.pipe !== undefined) ctx.addIssue({ code: "custom", path: ["pipe"], message: "a Unix datagram socket is not supported by polyvoy's UDP sockets: use a socket_address" });
    else if (a.socket_address === undefined) ctx.addIssue({ code: "custom", message: "value is required: a socket_address" });
  })
  .transform((a) => ({ address: a.socket_address?.address ?? "", port: a.socket_address?.port_value ?? 0 })));

/** envoy.config.metrics.v3.StatsdSink: one of address (UDP) or tcp_cluster_name. */
const statsdSink = lazySchema(() =>
  strictObject({
    "@type": z.literal(STATSD_TYPE).optional(),
    address: sinkAddress.optional(),
    tcp_cluster_name: z.string().optional(),
    prefix: stringEmpty,
  })
  .superRefine((s, ctx) => {
    const count = (s.address !== undefined ? 1 : 0) + (s.tcp_cluster_name !== undefined ? 1 : 0);
    if (count !== 1) ctx.addIssue({ code: "custom", message: count === 0 ? "value is required: one of address (UDP) or tcp_cluster_name" : "only one of address and tcp_cluster_name" });
  })
  .transform((s): StatsSinkConfig => {
    const prefix = s.prefix === "" ? DEFAULT_STATSD_PREFIX : s.prefix;
    return s.tcp_cluster_name !== undefined ? { kind: "statsd_tcp", clusterName: s.tcp_cluster_name, prefix } : { kind: "statsd", address: s.address!, prefix };
  }));

/** A UInt64Value, bare or as { value }, greater than 0 (DogStatsdSink's validate rule). */
const maxBytesPerDatagram = lazySchema(() =>
  z.union([z.number(), strictObject({ value: z.union([z.number(), z.string()]) }).transform((v) => Number(v.value))])
  .refine((n) => Number.isSafeInteger(n) && n > 0, { message: "must be an integer greater than 0" }));

/** envoy.config.metrics.v3.DogStatsdSink. */
const dogStatsdSink = lazySchema(() =>
  strictObject({
    "@type": z.literal(DOG_STATSD_TYPE).optional(),
    address: sinkAddress.optional(),
    prefix: stringEmpty,
    max_bytes_per_datagram: maxBytesPerDatagram.optional(),
  })
  .superRefine((s, ctx) => {
    if (s.address === undefined) ctx.addIssue({ code: "custom", path: ["address"], message: "value is required (the DogStatsD agent's UDP address)" });
  })
  .transform((s): StatsSinkConfig => ({
    kind: "dog_statsd",
    address: s.address!,
    prefix: s.prefix === "" ? DEFAULT_STATSD_PREFIX : s.prefix,
    // Unset: Envoy's buffer_size 0, every metric a datagram of its own.
    maxBytesPerDatagram: s.max_bytes_per_datagram ?? 0,
  })));

/**
 * envoy.config.metrics.v3.MetricsServiceConfig (metrics_service.proto). transport_api_version
 * must be V3: Envoy's factory calls Config::Utility::checkTransportVersion, which refuses
 * AUTO (unset) and V2. The stream has no deadline and is not retried: grpc_service's timeout
 * and retry_policy are refused by name.
 */
const metricsServiceSink = lazySchema(() =>
  strictObject({
    "@type": z.literal(METRICS_SERVICE_TYPE).optional(),
    grpc_service: grpcService({ timeout: "a stream's timeout: Envoy's metrics service stream has no deadline" }).optional(),
    transport_api_version: z.string().optional(),
    report_counters_as_deltas: z.union([z.boolean(), strictObject({ value: z.boolean() }).transform((w) => w.value)]).default(false),
    emit_tags_as_labels: z.boolean().default(false),
    histogram_emit_mode: z.enum(["SUMMARY_AND_HISTOGRAM", "SUMMARY", "HISTOGRAM"]).default("SUMMARY_AND_HISTOGRAM"),
  })
  .superRefine((s, ctx) => {
    if (s.grpc_service === undefined) ctx.addIssue({ code: "custom", path: ["grpc_service"], message: "value is required (the metrics service's gRPC cluster)" });
    if (s.transport_api_version !== "V3") {
      const got = s.transport_api_version === undefined ? "unset (AUTO)" : `'${s.transport_api_version}'`;
      ctx.addIssue({ code: "custom", path: ["transport_api_version"], message: `must be V3, got ${got}: the V2 and AUTO transport versions are no longer supported (as Envoy's checkTransportVersion)` });
    }
  })
  .transform((s): StatsSinkConfig => ({
    kind: "metrics_service",
    target: s.grpc_service!.target,
    reportCountersAsDeltas: s.report_counters_as_deltas,
    emitTagsAsLabels: s.emit_tags_as_labels,
    histogramEmitMode: s.histogram_emit_mode,
  })));

/** A google.protobuf.BoolValue, bare or as { value }. */
const boolValue = lazySchema(() => z.union([z.boolean(), strictObject({ value: z.boolean() }).transform((w) => w.value)]));

/**
 * envoy.extensions.stat_sinks.open_telemetry.v3.SinkConfig (open_telemetry.proto): the
 * fields of the pinned proto (1.28's) are taken; those later Envoy versions added are
 * refused by name. grpc_service's timeout is each Export's deadline and its retry_policy
 * retries it, as for the other unary gRPC calls.
 */
const openTelemetrySink = lazySchema(() =>
  strictObject({
    "@type": z.literal(OPEN_TELEMETRY_TYPE).optional(),
    grpc_service: grpcService({ timeout: "taken", retryPolicy: "taken" }).optional(),
    report_counters_as_deltas: z.boolean().default(false),
    report_histograms_as_deltas: z.boolean().default(false),
    emit_tags_as_attributes: boolValue.default(true),
    use_tag_extracted_name: boolValue.default(true),
    prefix: stringEmpty,
    // Fields of later Envoy versions than the pinned proto (1.36's docs show the first two, 1.38's http_service, 1.39's the last).
    resource_detectors: unsupportedField("resource detectors (the resource has Envoy's telemetry.sdk.* attributes only): remove them", (v) => Array.isArray(v) && v.length === 0),
    custom_metric_conversions: unsupportedField("a matcher renaming and aggregating stats (custom_metric_conversions): remove it"),
    http_service: unsupportedField("OTLP/HTTP export of metrics: use grpc_service"),
    max_data_points_per_request: unsupportedField("splitting an export into several requests: every flush is one request", (v) => v === 0),
  })
  .superRefine((s, ctx) => {
    // Envoy: the protocol_specifier oneof is required, and grpc_service is its only member in this version.
    if (s.grpc_service === undefined) ctx.addIssue({ code: "custom", path: ["grpc_service"], message: "value is required (the OTLP/gRPC collector's cluster)" });
  })
  .transform((s): StatsSinkConfig => ({
    kind: "open_telemetry",
    target: s.grpc_service!.target,
    timeoutMs: s.grpc_service!.timeoutMs,
    reportCountersAsDeltas: s.report_counters_as_deltas,
    reportHistogramsAsDeltas: s.report_histograms_as_deltas,
    emitTagsAsAttributes: s.emit_tags_as_attributes,
    useTagExtractedName: s.use_tag_extracted_name,
    // OtlpOptions: stat_prefix_ is prefix + "." when set.
    prefix: s.prefix === "" ? "" : `${s.prefix}.`,
  })));

/** The typed_config parsed by `schema`, its issues under typed_config. */
function parseTyped(schema: z.ZodType<StatsSinkConfig, unknown>, typed: unknown, ctx: z.RefinementCtx): StatsSinkConfig {
  const parsed = schema.safeParse(typed ?? {}, { reportInput: true });
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: ["typed_config", ...issue.path] } as never);
  return z.NEVER;
}

/** One stats_sinks entry. */
export const statsSink = lazySchema(() =>
  strictObject({ name: stringEmpty, typed_config: z.unknown().optional() })
  .transform((s, ctx): StatsSinkConfig => {
    const type = (s.typed_config as { "@type"?: unknown } | undefined)?.["@type"];
    if (type === STATSD_TYPE || (type === undefined && (s.name === STATSD || s.name === "envoy.statsd"))) return parseTyped(statsdSink, s.typed_config, ctx);
    if (type === DOG_STATSD_TYPE || (type === undefined && (s.name === DOG_STATSD || s.name === "envoy.dog_statsd"))) return parseTyped(dogStatsdSink, s.typed_config, ctx);
    if (type === METRICS_SERVICE_TYPE || (type === undefined && (s.name === METRICS_SERVICE || s.name === "envoy.metrics_service"))) return parseTyped(metricsServiceSink, s.typed_config, ctx);
    // Envoy's legacy name for it is envoy.open_telemetry_stat_sink (config.cc's LEGACY_REGISTER_FACTORY).
    if (type === OPEN_TELEMETRY_TYPE || (type === undefined && (s.name === OPEN_TELEMETRY || s.name === "envoy.open_telemetry_stat_sink"))) return parseTyped(openTelemetrySink, s.typed_config, ctx);
    const other = OTHER_SINKS.find((o) => o.type === type || (type === undefined && o.names.includes(s.name)));
    const name = other?.names[0] ?? (s.name !== "" ? s.name : String(type ?? "(unnamed)"));
    ctx.addIssue({
      code: "custom",
      message: `${name}${other ? ` (${other.what})` : ""} is an Envoy stats sink that polyvoy does not support (polyvoy has ${STATSD}, ${DOG_STATSD}, ${METRICS_SERVICE} and ${OPEN_TELEMETRY})`,
    });
    return z.NEVER;
  }));
