/**
 * The HCM's `tracing` (envoy.extensions.filters.network.http_connection_manager.v3.
 * HttpConnectionManager.Tracing) and the bootstrap's (envoy.config.trace.v3.Tracing).
 * Without a provider Envoy's tracer is its null tracer, and what remains has effects
 * polyvoy reproduces: the request-id sampling decision written into x-request-id and the
 * `tracing.*` stats (core/http/conn-manager/tracing-decision.ts). The providers polyvoy has
 * are envoy.tracers.zipkin (core/tracing/zipkin.ts), envoy.tracers.opentelemetry
 * (core/tracing/opentelemetry.ts), envoy.tracers.skywalking (core/tracing/skywalking.ts) and
 * envoy.tracers.datadog (core/tracing/datadog.ts);
 * others are refused by name.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { optionalBool, strictObject, stringEmpty } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { DatadogConfig, OpenTelemetryConfig, OtlpHttpServiceConfig, SkyWalkingConfig, TracingConfig, ZipkinConfig } from "./bootstrap.ts";
import { durationMs, headerName, headerValue, uint32 } from "./proto-schema.ts";
import { nonEmptyString } from "./shared-schemas.ts";
import { grpcService } from "./grpc-service-schema.ts";
import { customTags } from "./custom-tag-schema.ts";

const ZIPKIN = "envoy.tracers.zipkin";
const ZIPKIN_TYPE = "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig";
const OPENTELEMETRY = "envoy.tracers.opentelemetry";
const OPENTELEMETRY_TYPE = "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig";
const SKYWALKING = "envoy.tracers.skywalking";
const SKYWALKING_TYPE = "type.googleapis.com/envoy.config.trace.v3.SkyWalkingConfig";
const DATADOG = "envoy.tracers.datadog";
const DATADOG_TYPE = "type.googleapis.com/envoy.config.trace.v3.DatadogConfig";
/** The one sampler taken: AlwaysOnSampler samples every span (samplers/always_on/always_on_sampler.cc), which the HCM's decision then does not change. */
const ALWAYS_ON = "envoy.tracers.opentelemetry.samplers.always_on";
const ALWAYS_ON_TYPE = "type.googleapis.com/envoy.extensions.tracers.opentelemetry.samplers.v3.AlwaysOnSamplerConfig";

/** A BoolValue, bare or as { value }. */
const boolValue = z.union([z.boolean(), strictObject({ value: z.boolean() }).transform((b) => b.value)]);

/**
 * envoy.config.trace.v3.ZipkinConfig, as Envoy's zipkin Driver reads it
 * (source/extensions/tracers/zipkin/zipkin_tracer_impl.cc, span_buffer.cc). The node's
 * LocalInfo (serviceName, nodeId, zone) is filled from the bootstrap (schema.ts).
 */
const zipkinConfig = lazySchema(() =>
  strictObject({
    "@type": z.literal(ZIPKIN_TYPE).optional(),
    collector_cluster: stringEmpty,
    collector_endpoint: stringEmpty,
    trace_id_128bit: z.boolean().default(false),
    shared_span_context: boolValue.optional(),
    collector_endpoint_version: z.union([z.string(), z.number()]).optional(),
    collector_hostname: stringEmpty,
    split_spans_for_request: z.boolean().default(false),
    trace_context_option: z.union([z.literal("USE_B3"), z.literal(0)]).optional(),
    collector_service: z.unknown().optional(),
  })
  .superRefine((c, ctx) => {
    if (c.collector_service !== undefined) {
      ctx.addIssue({ code: "custom", path: ["collector_service"], message: "collector_service (an HttpService) is not supported by polyvoy yet: use collector_cluster, collector_endpoint and collector_hostname" });
      return;
    }
    if (c.collector_cluster === "") ctx.addIssue({ code: "custom", path: ["collector_cluster"], message: "Either collector_cluster or collector_service must be specified" });
    else if (c.collector_endpoint === "") ctx.addIssue({ code: "custom", path: ["collector_endpoint"], message: "collector_endpoint must be specified when using collector_cluster" });
    const version = c.collector_endpoint_version;
    if (version === "HTTP_JSON" || version === 1) return;
    // The enum's 0 (its default) is the removed JSON v1 (span_buffer.cc's makeSerializer).
    const message =
      version === undefined || version === 0 || version === "DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE"
        ? "hidden_envoy_deprecated_HTTP_JSON_V1 has been deprecated. Please use a non-default envoy::config::trace::v3::ZipkinConfig::CollectorEndpointVersion value (polyvoy sends HTTP_JSON)."
        : version === "HTTP_PROTO" || version === 2
          ? "collector_endpoint_version HTTP_PROTO is not supported by polyvoy (it has no protobuf encoder for zipkin's proto3 spans): use HTTP_JSON, which every Zipkin collector (and Jaeger's) accepts"
          : version === "GRPC" || version === 3
            ? "collector_endpoint_version GRPC is not implemented by Envoy's zipkin tracer either: use HTTP_JSON"
            : `unknown collector_endpoint_version ${String(version)}: polyvoy sends HTTP_JSON`;
    ctx.addIssue({ code: "custom", path: ["collector_endpoint_version"], message });
  })
  .transform((c): ZipkinConfig => ({
    collectorCluster: c.collector_cluster,
    collectorEndpoint: c.collector_endpoint,
    collectorHostname: c.collector_hostname !== "" ? c.collector_hostname : c.collector_cluster,
    traceId128bit: c.trace_id_128bit,
    // DEFAULT_SHARED_SPAN_CONTEXT
    sharedSpanContext: c.shared_span_context ?? true,
    splitSpansForRequest: c.split_spans_for_request,
  })));

/**
 * envoy.config.core.v3.HttpService as OpenTelemetryHttpTraceExporter reads it
 * (http_trace_exporter.cc): the POST's cluster, :authority and :path from http_uri
 * (Http::Utility::prepareHeaders), its timeout, and headers set on it (setReference: each
 * replaces one of its name, whatever a HeaderValueOption's append says, so those are refused).
 */
const otlpHttpService = lazySchema(() =>
  strictObject({
    http_uri: strictObject({
      uri: z.string().min(1).refine((uri) => /^https?:\/\/[^/?#]+/i.test(uri), { message: "must be an absolute http:// or https:// URI" }),
      cluster: nonEmptyString,
      timeout: durationMs,
    }),
    request_headers_to_add: z.array(strictObject({ header: strictObject({ key: headerName, value: headerValue.default("") }) })).max(1000).default([]),
  }).transform((h): OtlpHttpServiceConfig => {
    const match = /^https?:\/\/([^/?#]+)([^#]*)/i.exec(h.http_uri.uri)!;
    const rest = match[2]!;
    return {
      cluster: h.http_uri.cluster,
      authority: match[1]!,
      path: rest === "" ? "/" : rest.startsWith("/") ? rest : `/${rest}`,
      timeoutMs: h.http_uri.timeout,
      headers: h.request_headers_to_add.map((o) => [o.header.key.toLowerCase(), o.header.value] as const),
    };
  }));

/**
 * envoy.config.trace.v3.OpenTelemetryConfig, as Envoy's OpenTelemetry Driver reads it
 * (source/extensions/tracers/opentelemetry/opentelemetry_tracer_impl.cc): OTLP over gRPC to
 * grpc_service (a unary Export per flush, grpc_trace_exporter.cc) or OTLP/HTTP to
 * http_service (http_trace_exporter.cc), the resource's
 * service.name.
 */
const openTelemetryConfig = lazySchema(() =>
  strictObject({
    "@type": z.literal(OPENTELEMETRY_TYPE).optional(),
    grpc_service: grpcService({ timeout: "taken", retryPolicy: "taken" }).optional(),
    http_service: otlpHttpService.optional(),
    service_name: stringEmpty,
    resource_detectors: z.array(z.unknown()).optional(),
    sampler: strictObject({ name: stringEmpty, typed_config: z.unknown().optional() }).optional(),
  })
  .superRefine((c, ctx) => {
    // Envoy: only one of grpc_service, http_service may be used (the otlp_exporter oneof).
    if (c.http_service !== undefined && c.grpc_service !== undefined) ctx.addIssue({ code: "custom", path: ["http_service"], message: "grpc_service and http_service are one of: set one" });
    if (c.resource_detectors !== undefined && c.resource_detectors.length > 0) {
      ctx.addIssue({ code: "custom", path: ["resource_detectors"], message: "resource_detectors are not supported by polyvoy's opentelemetry tracer yet (its resource has service.name only): remove them" });
    }
    if (c.sampler !== undefined && c.sampler.typed_config === undefined) {
      // TypedExtensionConfig.typed_config is required (extension.proto); Envoy refuses a sampler without it.
      ctx.addIssue({ code: "custom", path: ["sampler", "typed_config"], message: `value is required: a sampler's typed_config, e.g. {"@type": "${ALWAYS_ON_TYPE}"}` });
    } else if (c.sampler !== undefined) {
      const type = (c.sampler.typed_config as { "@type"?: string } | undefined)?.["@type"];
      const alwaysOn = (c.sampler.name === ALWAYS_ON || c.sampler.name === "") && (type === undefined || type === ALWAYS_ON_TYPE) && !(c.sampler.name === "" && type === undefined);
      const extra = c.sampler.typed_config !== undefined && Object.keys(c.sampler.typed_config as object).some((k) => k !== "@type");
      if (!alwaysOn || extra) {
        const name = c.sampler.name !== "" ? c.sampler.name : String(type ?? "(unnamed)");
        ctx.addIssue({ code: "custom", path: ["sampler"], message: `${name} is an OpenTelemetry sampler that polyvoy does not support (it has ${ALWAYS_ON}; without a sampler the HCM's sampling decides)` });
      }
    }
  })
  .transform((c): OpenTelemetryConfig => ({
    ...(c.grpc_service !== undefined ? { grpcService: c.grpc_service.target } : {}),
    ...(c.http_service !== undefined ? { httpService: c.http_service } : {}),
    timeoutMs: c.grpc_service?.timeoutMs ?? 0,
    // resource_provider.cc: the service name, else OpenTelemetry's default for an unknown service.
    serviceName: c.service_name !== "" ? c.service_name : "unknown_service:envoy",
    alwaysOnSampler: c.sampler !== undefined,
  })));

/**
 * envoy.config.trace.v3.SkyWalkingConfig, as Envoy's SkyWalking Driver reads it
 * (source/extensions/tracers/skywalking/skywalking_tracer_impl.cc, loadConfig): the
 * collect stream's grpc_service (required) and the client_config. grpc_service.timeout is
 * taken and has no effect, as in Envoy: the reporter's stream is long-lived, started with
 * default StreamOptions (no deadline; trace_segment_reporter.cc), and Envoy's own sandbox
 * sets one.
 */
const skyWalkingConfig = lazySchema(() =>
  strictObject({
    "@type": z.literal(SKYWALKING_TYPE).optional(),
    grpc_service: grpcService({ timeout: "taken" }).optional(),
    client_config: strictObject({
      service_name: stringEmpty,
      instance_name: stringEmpty,
      backend_token: stringEmpty,
      // DEFAULT_DELAYED_SEGMENTS_CACHE_SIZE
      max_cache_size: z.union([uint32, strictObject({ value: uint32 }).transform((v) => v.value)]).default(1024),
    }).optional(),
  })
  .superRefine((c, ctx) => {
    // SkyWalkingConfig.grpc_service: (validate.rules).message.required.
    if (c.grpc_service === undefined) ctx.addIssue({ code: "custom", path: ["grpc_service"], message: "value is required: the gRPC service SkyWalking segments are reported to" });
  })
  .transform((c): SkyWalkingConfig => ({
    grpcService: c.grpc_service!.target,
    serviceName: c.client_config?.service_name ?? "",
    instanceName: c.client_config?.instance_name ?? "",
    backendToken: c.client_config?.backend_token ?? "",
    maxCacheSize: c.client_config?.max_cache_size ?? 1024,
  })));

/**
 * envoy.config.trace.v3.DatadogConfig, as Envoy's DatadogTracerFactory reads it
 * (source/extensions/tracers/datadog/config.cc): collector_cluster (required), the Agent
 * requests' Host (collector_hostname, else the cluster's name: makeCollectorReferenceHost)
 * and the spans' service (service_name, else "envoy"). remote_config is refused: it turns on
 * dd-trace-cpp's Remote Configuration, a /v0.7/config poll whose answers change sampling
 * rules and tags at run time, which polyvoy does not have.
 */
const datadogConfig = lazySchema(() =>
  strictObject({
    "@type": z.literal(DATADOG_TYPE).optional(),
    collector_cluster: stringEmpty,
    service_name: stringEmpty,
    collector_hostname: stringEmpty,
    remote_config: z.unknown().optional(),
  })
  .superRefine((c, ctx) => {
    // DatadogConfig.collector_cluster: (validate.rules).string.min_len = 1.
    if (c.collector_cluster === "") ctx.addIssue({ code: "custom", path: ["collector_cluster"], message: "value length must be at least 1 characters: the Datadog Agent's cluster" });
    if (c.remote_config !== undefined) {
      ctx.addIssue({ code: "custom", path: ["remote_config"], message: "remote_config (Datadog Remote Configuration: polling the Agent's /v0.7/config for sampling rules and tags) is not supported by polyvoy's datadog tracer: remove it" });
    }
  })
  .transform((c): DatadogConfig => ({
    collectorCluster: c.collector_cluster,
    collectorHostname: c.collector_hostname !== "" ? c.collector_hostname : c.collector_cluster,
    serviceName: c.service_name !== "" ? c.service_name : "envoy",
  })));

type Provider = { zipkin: ZipkinConfig } | { opentelemetry: OpenTelemetryConfig } | { skywalking: SkyWalkingConfig } | { datadog: DatadogConfig };

/** The provider's typed_config parsed by `schema`, its issues under typed_config. */
function parseTyped<T>(schema: z.ZodType<T, unknown>, typed: unknown, ctx: z.RefinementCtx): T | typeof z.NEVER {
  const parsed = schema.safeParse(typed ?? {}, { reportInput: true });
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: ["typed_config", ...issue.path] } as never);
  return z.NEVER;
}

/** tracing.provider: envoy.tracers.zipkin, envoy.tracers.opentelemetry or envoy.tracers.skywalking, by name or by typed_config's @type; any other tracer is refused with its name. */
const provider = lazySchema(() =>
  strictObject({ name: stringEmpty, typed_config: z.unknown().optional() })
  .transform((p, ctx): Provider => {
    const type = (p.typed_config as { "@type"?: string } | undefined)?.["@type"];
    if (type === ZIPKIN_TYPE || (p.name === ZIPKIN && type !== OPENTELEMETRY_TYPE && type !== SKYWALKING_TYPE && type !== DATADOG_TYPE)) {
      const zipkin = parseTyped(zipkinConfig, p.typed_config, ctx);
      return zipkin === z.NEVER ? z.NEVER : { zipkin };
    }
    if (type === OPENTELEMETRY_TYPE || (p.name === OPENTELEMETRY && type !== SKYWALKING_TYPE && type !== DATADOG_TYPE)) {
      const opentelemetry = parseTyped(openTelemetryConfig, p.typed_config, ctx);
      return opentelemetry === z.NEVER ? z.NEVER : { opentelemetry };
    }
    if (type === SKYWALKING_TYPE || (p.name === SKYWALKING && type !== DATADOG_TYPE)) {
      const skywalking = parseTyped(skyWalkingConfig, p.typed_config, ctx);
      return skywalking === z.NEVER ? z.NEVER : { skywalking };
    }
    if (type === DATADOG_TYPE || p.name === DATADOG) {
      const datadog = parseTyped(datadogConfig, p.typed_config, ctx);
      return datadog === z.NEVER ? z.NEVER : { datadog };
    }
    const name = p.name !== "" ? p.name : String(type ?? "(unnamed)");
    ctx.addIssue({ code: "custom", message: `${name} is an Envoy tracer that polyvoy does not support yet (polyvoy has ${ZIPKIN}, which Jaeger's collector also takes, ${OPENTELEMETRY}, ${SKYWALKING} and ${DATADOG})` });
    return z.NEVER;
  }));

/** envoy.type.v3.Percent */
const percent = lazySchema(() =>
  strictObject({ value: z.number().min(0).max(100) }).transform((p) => p.value));

export const hcmTracing: z.ZodType<TracingConfig, unknown> = lazySchema(() =>
  strictObject({
    client_sampling: percent.optional(),
    random_sampling: percent.optional(),
    overall_sampling: percent.optional(),
    verbose: optionalBool,
    max_path_tag_length: z.union([uint32, strictObject({ value: uint32 }).transform((v) => v.value)]).optional(),
    custom_tags: customTags.optional(),
    spawn_upstream_span: boolValue.optional(),
    provider: provider.optional(),
  })
  .superRefine((t, ctx) => {
    // Without a provider they change nothing (Envoy's null tracer); with one they shape the spans.
    if (t.provider === undefined) return;
    const tracer = "zipkin" in t.provider ? "zipkin" : "opentelemetry" in t.provider ? "opentelemetry" : "skywalking" in t.provider ? "skywalking" : "datadog";
    if (t.verbose === true) ctx.addIssue({ code: "custom", path: ["verbose"], message: `verbose (timing annotations on the span) is not supported by polyvoy's ${tracer} tracer yet: remove it` });
  })
  .transform(
    (t): TracingConfig => ({
      // Envoy's HttpConnectionManagerConfig: client and overall as whole percents, random out of 10 000.
      clientSampling: { numerator: Math.floor(t.client_sampling ?? 100), denominator: 100, runtimeKey: "tracing.client_enabled" },
      randomSampling: { numerator: Math.round((t.random_sampling ?? 100) * 100), denominator: 10_000, runtimeKey: "tracing.random_sampling" },
      overallSampling: { numerator: Math.floor(t.overall_sampling ?? 100), denominator: 100, runtimeKey: "tracing.global_enabled" },
      // The listener's traffic_direction decides it (listenerSchema).
      operationName: "ingress",
      ...t.provider,
      spawnUpstreamSpan: t.spawn_upstream_span ?? false,
      // Tracing::DefaultMaxPathTagLength
      maxPathTagLength: t.max_path_tag_length ?? 256,
      // Without a provider no span is made to tag (Envoy's null tracer).
      ...(t.provider !== undefined && t.custom_tags !== undefined && t.custom_tags.length > 0 ? { customTags: t.custom_tags } : {}),
    }),
  ));

/**
 * The bootstrap's tracing: its provider (`http`, deprecated in Envoy, which HCMs without
 * their own provider use) is refused by name; zipkin is taken in the HCM's tracing.
 */
export const bootstrapTracing = lazySchema(() =>
  strictObject({ http: strictObject({ name: stringEmpty, typed_config: z.unknown().optional() }).optional() }).superRefine((t, ctx) => {
    if (t.http === undefined) return;
    const type = (t.http.typed_config as { "@type"?: string } | undefined)?.["@type"];
    const name = t.http.name !== "" ? t.http.name : String(type ?? "(unnamed)");
    const message =
      name === ZIPKIN || type === ZIPKIN_TYPE
        ? `${ZIPKIN} is taken by polyvoy only in the HCM's tracing.provider (the bootstrap's tracing.http is deprecated in Envoy): move it there`
        : name === OPENTELEMETRY || type === OPENTELEMETRY_TYPE
          ? `${OPENTELEMETRY} is taken by polyvoy only in the HCM's tracing.provider (the bootstrap's tracing.http is deprecated in Envoy): move it there`
          : name === SKYWALKING || type === SKYWALKING_TYPE
            ? `${SKYWALKING} is taken by polyvoy only in the HCM's tracing.provider (the bootstrap's tracing.http is deprecated in Envoy): move it there`
            : name === DATADOG || type === DATADOG_TYPE
              ? `${DATADOG} is taken by polyvoy only in the HCM's tracing.provider (the bootstrap's tracing.http is deprecated in Envoy): move it there`
              : `${name} is an Envoy tracer that polyvoy does not support yet (polyvoy has ${ZIPKIN}, ${OPENTELEMETRY}, ${SKYWALKING} and ${DATADOG}, in the HCM's tracing.provider)`;
    ctx.addIssue({ code: "custom", path: ["http"], message });
  }));
