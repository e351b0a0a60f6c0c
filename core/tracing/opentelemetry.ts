/**
 * Envoy's OpenTelemetry tracer (source/extensions/tracers/opentelemetry/): spans made by
 * the HCM for its streams (and by the router for upstream requests when asked), buffered
 * per worker and exported as OTLP over gRPC.
 *
 * - Driver (opentelemetry_tracer_impl.cc): one per HCM tracing config and worker, as Envoy's
 *   thread-local tracers. A request with a `traceparent` joins its trace (traceparent.ts);
 *   a malformed one gets no span (Envoy's NullSpan); without one a new trace begins, sampled
 *   as the HCM decided.
 * - Span (tracer.cc): the downstream span is SERVER when Envoy is a hop of its own
 *   (spawn_upstream_span), else the direction decides (egress: CLIENT, ingress: SERVER);
 *   a child span for an upstream request is CLIENT. Every span gets a new 64-bit id; a joined
 *   trace keeps its trace id and tracestate, the caller's span becoming the parent. Tags are
 *   string attributes; http.status_code sets the status to ERROR for a 5xx (and a 4xx on a
 *   CLIENT span), the OpenTelemetry HTTP semantic conventions' rule (Span::setTag).
 * - Tracer::sendSpan / flushSpans: sampled spans are buffered (span-batcher.ts) until runtime
 *   tracing.opentelemetry.min_flush_spans (5) are in, or every
 *   tracing.opentelemetry.flush_interval_ms (5000), then sent as one
 *   ExportTraceServiceRequest (otlp.ts) with the resource's service.name; stats
 *   tracing.opentelemetry.spans_sent (spans handed to the exporter's client), timer_flushed,
 *   and polyvoy's spans_dropped (the buffer or the in-flight exports at their limit).
 * - Export: a unary TraceService/Export call per flush on grpc_service (the gRPC async
 *   client, with the OTLP exporter's user agent; bounded by grpc_service.timeout, which
 *   Envoy's exporter does not apply, else by the OTLP exporters' default 10 s); its answer is not read further, a failure
 *   only logged, as Envoy's exporter ("Unsuccessful log request"). Or OTLP/HTTP: a
 *   protobuf POST per flush on http_service (http_trace_exporter.cc). Without either,
 *   spans are made and dropped (Envoy: "no exporter configured").
 */
import type { GrpcServiceTarget, OpenTelemetryConfig, OtlpHttpServiceConfig } from "../config/bootstrap.ts";
import type { AsyncRequest, AsyncRequestCallbacks } from "../http/async-client.ts";
import type { GrpcUnaryCallbacks, GrpcUnaryRequest } from "../http/grpc-async-client.ts";
import { RequestHeaders } from "../http/message.ts";
import { VERSION } from "../version.ts";
import { randomHexId64 } from "../http/headers-util.ts";
import type { HeaderMap } from "../http/header-map.ts";
import { SpanBatcher } from "./span-batcher.ts";
import type { ServerContext } from "../server-context.ts";
import type { Counter } from "../stats/counter.ts";
import { encodeExportRequest, OTLP_EXPORT_METHOD, SpanKind, StatusCode, type OtlpSpan } from "./otlp.ts";
import type { TracingSpan } from "./span.ts";
import { extractTraceContext, hasTraceparent, injectTraceContext, type TraceContext, TraceparentError } from "./traceparent.ts";

/** Export calls in flight at once: a collector slower than the spans come drops the excess (Envoy's stream drops above its watermark). */
const MAX_EXPORTS_IN_FLIGHT = 16;
/** The collector's answer is not read (setDiscardResponseBody): a small bound. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** Spans buffered at most, whatever min_flush_spans says (Envoy's buffer has no bound; the timer empties it). */
const MAX_BUFFERED_SPANS = 10_000;
/**
 * An export's deadline when none is configured: the OTLP exporters' default timeout
 * (OTEL_EXPORTER_OTLP_TIMEOUT, opentelemetry-specification protocol/exporter.md). Without
 * one a collector that accepts and never answers would hold every in-flight slot for good.
 */
const DEFAULT_EXPORT_TIMEOUT_MS = 10_000;

/**
 * tracing.opentelemetry.* (OPENTELEMETRY_TRACER_STATS, opentelemetry_tracer_impl.h):
 * spans_sent and timer_flushed as Envoy's; spans_dropped is polyvoy's (Envoy has no bound to
 * drop at): spans not handed to the exporter's client because a limit was reached or no
 * exporter is there.
 */
class OpenTelemetryStats {
  readonly spansSent: Counter;
  readonly spansDropped: Counter;
  readonly timerFlushed: Counter;
  constructor(server: ServerContext) {
    const scope = server.stats.scope("tracing.opentelemetry.");
    this.spansSent = scope.counter("spans_sent");
    this.spansDropped = scope.counter("spans_dropped");
    this.timerFlushed = scope.counter("timer_flushed");
  }
}

/** One encoded ExportTraceServiceRequest and how many spans it carries. */
interface ExportMessage {
  readonly bytes: Uint8Array;
  readonly spans: number;
}

/** One span (Envoy's OpenTelemetry Span, tracer.cc). */
export class OpenTelemetrySpan implements TracingSpan {
  readonly attributes = new Map<string, string>();
  traceId = "";
  spanId = "";
  /** "" for a root span. */
  parentSpanId = "";
  tracestate = "";
  sampled = false;
  private status: StatusCode = StatusCode.Unset;
  private readonly startMono: number;
  private finished = false;

  constructor(
    private readonly tracer: OpenTelemetryTracer,
    public name: string,
    /** Wall-clock µs since the epoch. */
    readonly startMicros: number,
    readonly kind: SpanKind,
  ) {
    this.startMono = tracer.server.runtime.now();
  }

  setOperation(name: string): void {
    this.name = name;
  }

  setSampled(sampled: boolean): void {
    this.sampled = sampled;
  }

  /** Span::setTag: a key must be non-empty; setting one again overwrites it. */
  setTag(name: string, value: string): void {
    if (name === "") return;
    if (name === "http.status_code") {
      // 5xx is an error; 4xx only for a CLIENT span (semantic conventions, http spans' status).
      const code = /^\d+$/.test(value) ? Number(value) : undefined;
      if (code !== undefined && (code >= 500 || (code >= 400 && this.kind === SpanKind.Client))) this.status = StatusCode.Error;
    }
    this.attributes.set(name, value);
  }

  injectContext(headers: HeaderMap): void {
    injectTraceContext(headers, this.traceId, this.spanId, this.sampled, this.tracestate);
  }

  get spawnsUpstreamSpans(): boolean {
    return this.tracer.spawnUpstreamSpan;
  }

  nowMicros(): number {
    return this.tracer.wallMicros();
  }

  /** Span::spawnChild: a CLIENT span in this one's trace, this one its parent. */
  spawnChild(name: string, startMicros: number): OpenTelemetrySpan {
    const context: TraceContext = { version: "00", traceId: this.traceId, parentId: this.spanId, sampled: this.sampled, tracestate: this.tracestate };
    return this.tracer.startSpan(name, startMicros, context, SpanKind.Client);
  }

  getTraceId(): string {
    return this.traceId;
  }

  getSpanId(): string {
    return this.spanId;
  }

  /** Span::finishSpan: its end time, then to the tracer's buffer if sampled. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.sampled) return;
    const elapsedMicros = Math.max(0, Math.round((this.tracer.server.runtime.now() - this.startMono) * 1000));
    const start = BigInt(this.startMicros) * 1000n;
    this.tracer.sendSpan({
      traceId: this.traceId,
      spanId: this.spanId,
      parentSpanId: this.parentSpanId,
      traceState: this.tracestate,
      name: this.name,
      kind: this.kind,
      startTimeUnixNano: start,
      endTimeUnixNano: start + BigInt(elapsedMicros) * 1000n,
      attributes: this.attributes,
      status: this.status,
    });
  }
}

/**
 * The Driver and Tracer of one worker for one HCM tracing config: it starts spans and
 * buffers and exports the finished ones.
 */
export class OpenTelemetryTracer {
  private readonly stats: OpenTelemetryStats;
  private readonly resource: ReadonlyMap<string, string>;
  private readonly batcher: SpanBatcher<OtlpSpan>;
  /** Sends one encoded request: the gRPC or HTTP exporter, once its client is loaded. */
  private exporter: ((message: ExportMessage) => void) | undefined;
  private readonly exporterLoaded: Promise<void> | undefined;
  /** Requests encoded before the exporter was loaded: sent once it is. */
  private waiting: ExportMessage[] = [];
  private readonly inFlight = new Set<{ cancel(): void }>();
  private stopped = false;

  constructor(
    readonly server: ServerContext,
    readonly config: OpenTelemetryConfig,
    /** The HCM's spawn_upstream_span: a CLIENT span per upstream request, the downstream one SERVER. */
    readonly spawnUpstreamSpan: boolean,
    private readonly egress: boolean,
  ) {
    this.stats = new OpenTelemetryStats(server);
    // resource_provider.cc: service.name, from service_name or its default.
    this.resource = new Map([["service.name", config.serviceName]]);
    // Loaded with the tracer (the clients stay out of start-up's imports, as zipkin's HTTP client does).
    const loaded = config.grpcService !== undefined ? this.loadGrpcExporter(config.grpcService) : config.httpService !== undefined ? this.loadHttpExporter(config.httpService) : undefined;
    this.exporterLoaded = loaded?.then(
      (exporter) => {
        this.exporter = exporter;
      },
      (err: unknown) => {
        for (const message of this.waiting) this.stats.spansDropped.inc(message.spans);
        this.waiting = [];
        server.log.warn(`envoy.tracers.opentelemetry: the exporter's client could not be loaded, spans are dropped: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
    // Tracer::sendSpan: flushed once min_flush_spans or more are in; bounded by MAX_BUFFERED_SPANS.
    this.batcher = new SpanBatcher<OtlpSpan>(server, {
      runtimePrefix: "tracing.opentelemetry",
      timerFlushed: this.stats.timerFlushed,
      capacity: MAX_BUFFERED_SPANS,
      onDropped: () => this.stats.spansDropped.inc(),
      flushAtExactCount: false,
      flush: (spans) => this.export(spans),
    });
  }

  /** Wall-clock µs since the epoch, now. */
  wallMicros(): number {
    return Math.round(this.server.runtime.wallClock() * 1000);
  }

  /** The wall-clock µs a stream started `elapsedMs` ago began. */
  startMicros(elapsedMs: number): number {
    return this.wallMicros() - Math.round(elapsedMs * 1000);
  }

  /**
   * Driver::startSpan: the downstream request's span, joining the request's trace context
   * when it has one; undefined when that context is malformed (Envoy's NullSpan). `traced`
   * is the HCM's decision, which a traceparent's sampled flag replaces.
   */
  startDownstreamSpan(headers: HeaderMap, operationName: string, startMicros: number, traced: boolean): OpenTelemetrySpan | undefined {
    // getSpanKind (opentelemetry_tracer_impl.cc).
    const kind = this.spawnUpstreamSpan || !this.egress ? SpanKind.Server : SpanKind.Client;
    if (!hasTraceparent(headers)) {
      const span = this.startSpan(operationName, startMicros, undefined, kind);
      span.setSampled(this.config.alwaysOnSampler || traced);
      return span;
    }
    let context: TraceContext;
    try {
      context = extractTraceContext(headers);
    } catch (e) {
      if (e instanceof TraceparentError) {
        const log = this.server.log.component("tracing");
        if (log.debugOn) log.debug(`opentelemetry: unable to extract span context: ${e.message}`);
        return undefined;
      }
      throw e;
    }
    return this.startSpan(operationName, startMicros, context, kind);
  }

  /** Tracer::startSpan, a new trace (`previous` undefined) or in the previous span's. */
  startSpan(name: string, startMicros: number, previous: TraceContext | undefined, kind: SpanKind): OpenTelemetrySpan {
    const span = new OpenTelemetrySpan(this, name, startMicros, kind);
    const runtime = this.server.runtime;
    if (previous === undefined) {
      span.traceId = randomHexId64(runtime) + randomHexId64(runtime);
      span.spanId = randomHexId64(runtime);
      return span;
    }
    span.traceId = previous.traceId;
    span.parentSpanId = previous.parentId;
    span.spanId = randomHexId64(runtime);
    // AlwaysOnSampler samples and keeps the parent's tracestate; without a sampler the parent's flag stands.
    span.setSampled(this.config.alwaysOnSampler || previous.sampled);
    span.tracestate = previous.tracestate;
    return span;
  }

  /** Tracer::sendSpan: buffered, flushed when min_flush_spans are in. */
  sendSpan(span: OtlpSpan): void {
    if (this.stopped) return;
    this.batcher.add(span);
  }

  /** Spans waiting for a flush (tests). */
  get pendingSpans(): number {
    return this.batcher.pending;
  }

  /** Tracer::flushSpans: one ExportTraceServiceRequest for what is buffered. */
  flushSpans(): void {
    this.batcher.flush();
  }

  /** A batch out of the buffer, as one ExportTraceServiceRequest. */
  private export(spans: OtlpSpan[]): void {
    if (this.exporterLoaded === undefined) {
      const log = this.server.log.component("tracing");
      if (log.debugOn) log.debug("opentelemetry: skipping log request: no exporter configured");
      this.stats.spansDropped.inc(spans.length);
      return;
    }
    const request: ExportMessage = { bytes: encodeExportRequest(this.resource, spans), spans: spans.length };
    if (this.exporter === undefined) {
      if (this.waiting.length >= MAX_EXPORTS_IN_FLIGHT) {
        this.stats.spansDropped.inc(request.spans);
        return;
      }
      const first = this.waiting.length === 0;
      this.waiting.push(request);
      if (first) {
        void this.exporterLoaded.then(() => {
          const waiting = this.waiting;
          this.waiting = [];
          if (this.exporter !== undefined) for (const message of waiting) this.exporter(message);
        });
      }
      return;
    }
    this.exporter(request);
  }

  /** In flight, or dropped when too many are (logged at debug, counted in spans_dropped). */
  private admit(message: ExportMessage): boolean {
    if (this.inFlight.size < MAX_EXPORTS_IN_FLIGHT) return true;
    this.stats.spansDropped.inc(message.spans);
    const log = this.server.log.component("tracing");
    if (log.debugOn) log.debug(`opentelemetry: ${MAX_EXPORTS_IN_FLIGHT} export calls in flight, this one dropped`);
    return false;
  }

  /** The configured deadline, else the OTLP exporters' default. */
  private exportTimeoutMs(configured: number): number {
    return configured > 0 ? configured : DEFAULT_EXPORT_TIMEOUT_MS;
  }

  /** OpenTelemetryGrpcTraceExporter: a unary Export call on grpc_service. */
  private async loadGrpcExporter(target: GrpcServiceTarget): Promise<(message: ExportMessage) => void> {
    const { GrpcAsyncClient } = await import("../http/grpc-async-client.ts");
    const client = new GrpcAsyncClient(this.server);
    return (message) => {
      if (!this.admit(message)) return;
      let call: GrpcUnaryRequest | undefined;
      const callbacks: GrpcUnaryCallbacks = {
        // OpenTelemetryGrpcTraceExporter::onCreateInitialMetadata: setReferenceUserAgent, replacing one from initial_metadata.
        onCreateInitialMetadata: (headers) => headers.set("user-agent", `OTel-OTLP-Exporter-Envoy/${VERSION}`),
        onSuccess: () => {
          if (call !== undefined) this.inFlight.delete(call);
        },
        onFailure: (status, text) => {
          if (call !== undefined) this.inFlight.delete(call);
          this.logFailure(`grpc-status ${status}${text !== "" ? `: ${text}` : ""}`);
        },
      };
      this.stats.spansSent.inc(message.spans);
      call = client.send(target, OTLP_EXPORT_METHOD, message.bytes, callbacks, this.exportTimeoutMs(this.config.timeoutMs));
      if (call !== undefined) this.inFlight.add(call);
    };
  }

  /**
   * OpenTelemetryHttpTraceExporter (http_trace_exporter.cc): a POST of the request as
   * application/x-protobuf (OTLP/HTTP, opentelemetry-proto's specification.md), with the
   * OTLP exporter's User-Agent and the configured headers; anything but 200 is logged.
   */
  private async loadHttpExporter(service: OtlpHttpServiceConfig): Promise<(message: ExportMessage) => void> {
    const { AsyncClient } = await import("../http/async-client.ts");
    const client = new AsyncClient(this.server);
    return (message) => {
      if (!this.admit(message)) return;
      if (this.server.clusterManager.get(service.cluster) === undefined) {
        this.stats.spansDropped.inc(message.spans);
        this.server.log.error(`OTLP HTTP exporter failed: [cluster = ${service.cluster}] is not configured`);
        return;
      }
      const headers = new RequestHeaders();
      headers.method = "POST";
      headers.path = service.path;
      headers.authority = service.authority;
      headers.set("content-type", "application/x-protobuf");
      // OtlpUtils::getOtlpUserAgentHeader.
      headers.set("user-agent", `OTel-OTLP-Exporter-Envoy/${VERSION}`);
      for (const [name, value] of service.headers) headers.set(name, value);
      let request: AsyncRequest | undefined;
      const callbacks: AsyncRequestCallbacks = {
        onSuccess: (_request, response) => {
          if (request !== undefined) this.inFlight.delete(request);
          if (response.headers.status !== 200) this.server.log.error(`OTLP HTTP exporter received a non-success status code: ${response.headers.status} while exporting the OTLP message`);
        },
        onFailure: (_request, reason) => {
          if (request !== undefined) this.inFlight.delete(request);
          this.logFailure(`the OTLP export request failed: ${reason}`);
        },
      };
      this.stats.spansSent.inc(message.spans);
      request = client.send(service.cluster, headers, message.bytes, callbacks, { timeoutMs: this.exportTimeoutMs(service.timeoutMs), maxResponseBytes: MAX_RESPONSE_BYTES });
      if (request !== undefined) this.inFlight.add(request);
    };
  }

  private logFailure(what: string): void {
    const log = this.server.log.component("tracing");
    if (log.debugOn) log.debug(`opentelemetry: unsuccessful log request to the trace collector (${what})`);
  }

  /** The listener is gone: what its spans left goes now, and no timer fires again. */
  stop(): void {
    this.batcher.stop();
    this.stopped = true;
  }
}

/** The tracers of each server (worker), by the HCM config that made them. */
const tracers = new WeakMap<ServerContext, WeakMap<object, OpenTelemetryTracer>>();

/**
 * The tracer for an HCM's tracing on this worker: made at the HCM's first request, so a
 * worker that serves none exports nothing and arms no timer.
 */
export function openTelemetryTracerFor(server: ServerContext, key: object, config: OpenTelemetryConfig, spawnUpstreamSpan: boolean, egress: boolean): OpenTelemetryTracer {
  let byKey = tracers.get(server);
  if (byKey === undefined) tracers.set(server, (byKey = new WeakMap()));
  let tracer = byKey.get(key);
  if (tracer === undefined) {
    const made = (tracer = new OpenTelemetryTracer(server, config, spawnUpstreamSpan, egress));
    byKey.set(key, tracer);
    // A listener removed or replaced (a reload): what its spans left is sent, its timer stops.
    server.onListenerDestroyed?.(() => made.stop());
  }
  return tracer;
}
