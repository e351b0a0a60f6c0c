/**
 * Envoy's SkyWalking tracer (source/extensions/tracers/skywalking/: skywalking_tracer_impl.cc,
 * tracer.cc, trace_segment_reporter.cc, over the cpp2sky library's TracingContext).
 *
 * - Driver::startSpan: a request with an `sw8` header (sw8.ts) joins its trace, whatever
 *   the HCM decided (cpp2sky treats every context as sampled); a malformed one is logged at
 *   warn and, if the HCM traces the request, a new trace begins, else no span. Without the
 *   header an untraced request gets no span (Envoy's NullSpan: nothing is sent, nothing
 *   propagated), a traced one a new trace. Each request is one segment: new UUIDs as its
 *   trace id (unless joined) and segment id, the service and instance names.
 * - The request's span is the segment's ENTRY span (span id 0, parent -1), named by the
 *   request's path; Span::setOperation does nothing (a route decorator does not rename it).
 *   Its layer is read from the request's `:protocol` (Http when it holds "HTTP", else the
 *   layer it names, else Unknown), as Envoy's Span does with TraceContext::protocol().
 * - Span::spawnChild (start_child_span, spawn_upstream_span): an EXIT span, the next span
 *   id, the entry its parent, the parent's name and layer. Span::injectContext writes `sw8`
 *   only when the segment's last span is an EXIT span (cpp2sky's createSW8HeaderValue), so
 *   without a child span nothing goes upstream — why Envoy's SkyWalking sandbox sets
 *   start_child_span; the exit span is then renamed with the upstream request's path.
 * - Span::setTag: http.url becomes `url`, http.status_code `status_code`, `error` also
 *   marks the span an error, peer.address is the span's peer; other tags as they are, in
 *   order, a name repeated as often as it is set. Component id 9000 (cpp2sky's).
 * - Tracer::sendSegment: when every span of the segment has finished, the segment goes to
 *   the reporter.
 * - TraceSegmentReporter: one skywalking.v3.TraceSegmentReportService/collect client stream
 *   per worker and HCM, each segment a message on it (segments_sent); while the stream is
 *   down or not yet connected, segments wait in a cache of max_cache_size (1024), the oldest
 *   dropped past it (segments_dropped); a stream that closes is opened again after a
 *   jittered back-off of 500 ms to 30 s, and the cache flushed on it once it is connected
 *   (segments_flushed per segment, cache_flushed per flush). Envoy flushes when it opens the
 *   stream and resets its back-off then, losing the cache to a stream that fails to connect
 *   (a TODO in its establishNewStream); polyvoy waits for the connection for both. The stream's initial metadata carries `authentication` with
 *   backend_token.
 */
import type { SkyWalkingConfig } from "../config/bootstrap.ts";
import type { Timer } from "../event/timers.ts";
import type { GrpcAsyncStream, GrpcStreamCallbacks } from "../http/grpc-async-stream.ts";
import type { HeaderMap } from "../http/header-map.ts";
import { uuid4 } from "../http/headers-util.ts";
import type { RequestHeaders } from "../http/message.ts";
import type { ServerContext } from "../server-context.ts";
import type { Counter } from "../stats/counter.ts";
import { JitteredExponentialBackOffStrategy } from "../util/backoff-strategy.ts";
import { encodeSegmentObject, SKYWALKING_COLLECT_METHOD, SPAN_LAYERS, SpanType, type SegmentSpan } from "./skywalking-segment.ts";
import type { TracingSpan } from "./span.ts";
import { encodeSw8, parseSw8, SW8_HEADER, Sw8Error, type Sw8Context } from "./sw8.ts";

/** skywalking_tracer_impl.cc's DEFAULT_SERVICE_AND_INSTANCE: when neither the config nor the node names them. */
const DEFAULT_SERVICE_AND_INSTANCE = "EnvoyProxy";
/** cpp2sky's TracingSpanImpl component_id_ (the C++ SDK's range starts at 9000). */
const COMPONENT_ID = 9000;
/** trace_segment_reporter.cc's RetryInitialDelayMs and RetryMaxDelayMs. */
const RETRY_INITIAL_DELAY_MS = 500;
const RETRY_MAX_DELAY_MS = 30_000;
/** The collect call's answer (Commands) is not read: a small bound. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/**
 * Spans one segment holds at most (polyvoy's: cpp2sky's list has no bound). A request makes
 * one span and one per upstream attempt; a child past this is made and never reported.
 */
const MAX_SPANS_PER_SEGMENT = 1024;
/** How long a closing stream waits for the collector's trailers before it is reset. */
const CLOSE_TIMEOUT_MS = 1000;

/** tracing.skywalking.* (SKYWALKING_TRACER_STATS, skywalking_stats.h). */
class SkyWalkingStats {
  readonly segmentsSent: Counter;
  readonly segmentsDropped: Counter;
  readonly cacheFlushed: Counter;
  readonly segmentsFlushed: Counter;
  constructor(server: ServerContext) {
    const scope = server.stats.scope("tracing.skywalking.");
    this.cacheFlushed = scope.counter("cache_flushed");
    this.segmentsDropped = scope.counter("segments_dropped");
    this.segmentsFlushed = scope.counter("segments_flushed");
    this.segmentsSent = scope.counter("segments_sent");
  }
}

/** Span::Span's layer: HTTP in the protocol, else skywalking::v3::SpanLayer_Parse of it, else Unknown. */
function spanLayer(protocol: string): number {
  if (protocol.includes("HTTP")) return SPAN_LAYERS.Http!;
  return SPAN_LAYERS[protocol] ?? SPAN_LAYERS.Unknown!;
}

/** One request's segment (cpp2sky's TracingContext). */
export class SegmentContext {
  readonly spans: SkyWalkingSpan[] = [];
  private sent = false;

  constructor(
    readonly tracer: SkyWalkingTracer,
    readonly traceId: string,
    readonly segmentId: string,
    readonly service: string,
    readonly instance: string,
    readonly parent: Sw8Context | undefined,
  ) {}

  /** createSW8HeaderValue: the last span's context, if it is an EXIT span. */
  sw8HeaderValue(targetAddress: string): string | undefined {
    const last = this.spans[this.spans.length - 1];
    if (last === undefined || last.spanType !== SpanType.Exit) return undefined;
    return encodeSw8({
      traceId: this.traceId,
      segmentId: this.segmentId,
      spanId: last.spanId,
      service: this.service,
      instance: this.instance,
      endpoint: this.spans[0]!.operationName,
      targetAddress,
    });
  }

  /** Tracer::sendSegment: once every span has finished (readyToSend). */
  onSpanFinished(): void {
    if (this.sent || !this.spans.every((span) => span.finished)) return;
    this.sent = true;
    this.tracer.report(this);
  }
}

/** One span (Envoy's SkyWalking Span over a cpp2sky TracingSpan). */
export class SkyWalkingSpan implements TracingSpan {
  /** SkyWalking samples every span it makes (the decision was whether to make one). */
  readonly sampled = true;
  readonly tags: [string, string][] = [];
  peer = "";
  isError = false;
  finished = false;
  endTime = 0;
  readonly startTime: number;

  constructor(
    private readonly segment: SegmentContext,
    readonly spanId: number,
    readonly parentSpanId: number,
    readonly spanType: SpanType,
    public operationName: string,
    readonly layer: number,
    /** Past MAX_SPANS_PER_SEGMENT: not part of the segment, never reported. */
    private readonly detached = false,
  ) {
    this.startTime = segment.tracer.wallMillis();
  }

  /** Span::setOperation: a no-op (the entry span keeps the request's path). */
  setOperation(_name: string): void {}

  setTag(name: string, value: string): void {
    if (name === "http.url") this.tags.push(["url", value]);
    else if (name === "http.status_code") this.tags.push(["status_code", value]);
    else if (name === "peer.address") this.peer = value;
    else {
      if (name === "error") this.isError = true;
      this.tags.push([name, value]);
    }
  }

  /**
   * Span::injectContext: `sw8` for the upstream request, from the segment's last span when it
   * is an EXIT span, with the upstream host's address (else the request's authority) as the
   * target; this span then takes the upstream request's path as its name.
   */
  injectContext(headers: HeaderMap, upstreamAddress?: string): void {
    if (this.detached) return;
    const request = headers as RequestHeaders;
    const target = upstreamAddress ?? request.authority;
    const value = this.segment.sw8HeaderValue(target);
    if (value === undefined) return;
    headers.set(SW8_HEADER, value);
    this.operationName = request.path;
    // finalizeUpstreamSpan tags an upstream span's peer.address with the host's address (http_tracer_impl.cc).
    if (this.spanType === SpanType.Exit && upstreamAddress !== undefined) this.peer = upstreamAddress;
  }

  get spawnsUpstreamSpans(): boolean {
    return this.segment.tracer.spawnUpstreamSpan;
  }

  nowMicros(): number {
    return Math.round(this.segment.tracer.server.runtime.wallClock() * 1000);
  }

  /** Span::getTraceId: the segment's trace id (a UUID, not hex: the open_telemetry access logger sets no trace_id from it). */
  getTraceId(): string {
    return this.segment.traceId;
  }

  /** Span::getSpanId: none, as Envoy's SkyWalking span (its getSpanId is unimplemented and returns ""). */
  getSpanId(): string {
    return "";
  }

  /** Span::spawnChild: an EXIT span, this one its parent, with its name and layer (the given name and time are not used, as Envoy's). */
  spawnChild(_name: string, _startMicros: number): SkyWalkingSpan {
    const spans = this.segment.spans;
    const detached = this.detached || spans.length >= MAX_SPANS_PER_SEGMENT;
    const child = new SkyWalkingSpan(this.segment, spans.length, this.spanId, SpanType.Exit, this.operationName, this.layer, detached);
    if (!detached) spans.push(child);
    return child;
  }

  /** Span::finishSpan: its end time; the segment goes when its last span ends. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.endTime = this.segment.tracer.wallMillis();
    if (!this.detached) this.segment.onSpanFinished();
  }

  /** As the segment encoder takes it. */
  toSegmentSpan(): SegmentSpan {
    return {
      spanId: this.spanId,
      parentSpanId: this.parentSpanId,
      startTime: this.startTime,
      endTime: this.endTime,
      operationName: this.operationName,
      peer: this.peer,
      spanType: this.spanType,
      spanLayer: this.layer,
      componentId: COMPONENT_ID,
      isError: this.isError,
      tags: this.tags,
    };
  }
}

/** The Driver, Tracer and TraceSegmentReporter of one worker for one HCM tracing config. */
export class SkyWalkingTracer {
  private readonly stats: SkyWalkingStats;
  /** Segments waiting for a stream (delayed_segments_cache_), at most max_cache_size. */
  private cache: Uint8Array[] = [];
  private stream: GrpcAsyncStream | undefined;
  private openStream: ((callbacks: GrpcStreamCallbacks) => GrpcAsyncStream) | undefined;
  private readonly retryTimer: Timer;
  private readonly backoff: JitteredExponentialBackOffStrategy;
  private stopped = false;

  constructor(
    readonly server: ServerContext,
    readonly config: SkyWalkingConfig,
    /** The HCM's spawn_upstream_span: a child span per upstream request. */
    readonly spawnUpstreamSpan: boolean,
  ) {
    this.stats = new SkyWalkingStats(server);
    this.backoff = new JitteredExponentialBackOffStrategy(RETRY_INITIAL_DELAY_MS, RETRY_MAX_DELAY_MS, server.runtime);
    this.retryTimer = server.timers.create(() => this.establishNewStream());
    // The stream's code is loaded with the tracer (kept out of start-up's imports); until then segments wait in the cache.
    void import("../http/grpc-async-stream.ts").then(
      ({ GrpcAsyncStream }) => {
        this.openStream = (callbacks) => new GrpcAsyncStream(server, callbacks, MAX_RESPONSE_BYTES);
        this.establishNewStream();
      },
      (err: unknown) => server.log.warn(`envoy.tracers.skywalking: the gRPC stream's code could not be loaded, segments are not sent: ${err instanceof Error ? err.message : String(err)}`),
    );
  }

  /** Wall-clock ms since the epoch, as cpp2sky's TimePoint<SystemTime> gives it. */
  wallMillis(): number {
    return Math.floor(this.server.runtime.wallClock());
  }

  /**
   * Driver::startSpan: the request's ENTRY span, in a new segment, or undefined (Envoy's
   * NullSpan). `traced` is the HCM's decision; a valid `sw8` header traces the request anyway.
   */
  startDownstreamSpan(headers: RequestHeaders, traced: boolean): SkyWalkingSpan | undefined {
    const header = headers.get(SW8_HEADER);
    let parent: Sw8Context | undefined;
    if (header === undefined) {
      if (!traced) return undefined;
    } else {
      try {
        parent = parseSw8(header);
      } catch (e) {
        if (!(e instanceof Sw8Error)) throw e;
        this.server.log.component("tracing").warn(`New SkyWalking Span/Segment with previous span context cannot be created for error: ${e.message}`);
        if (!traced) return undefined;
      }
    }
    const runtime = this.server.runtime;
    const config = this.config;
    // loadConfig: the configured names, else the node's cluster and id, else EnvoyProxy.
    const service = config.serviceName || this.server.localClusterName || DEFAULT_SERVICE_AND_INSTANCE;
    const instance = config.instanceName || this.server.localNodeId || DEFAULT_SERVICE_AND_INSTANCE;
    const segment = new SegmentContext(this, parent?.traceId ?? uuid4(runtime), uuid4(runtime), service, instance, parent);
    const span = new SkyWalkingSpan(segment, 0, -1, SpanType.Entry, headers.path, spanLayer(headers.get(":protocol") ?? ""));
    segment.spans.push(span);
    return span;
  }

  /** TraceSegmentReporter::report: on the stream, else into the cache (the oldest dropped past max_cache_size). */
  report(segment: SegmentContext): void {
    if (this.stopped) {
      // A request that ended after shutdown began: counted, not lost silently.
      this.stats.segmentsDropped.inc();
      return;
    }
    const message = encodeSegmentObject({
      traceId: segment.traceId,
      segmentId: segment.segmentId,
      service: segment.service,
      instance: segment.instance,
      parent: segment.parent,
      spans: segment.spans.map((span) => span.toSegmentSpan()),
    });
    const stream = this.stream;
    if (stream !== undefined && stream.ready && !stream.aboveWriteBufferHighWatermark) {
      if (stream.sendMessage(message)) this.stats.segmentsSent.inc();
      else this.stats.segmentsDropped.inc();
      return;
    }
    this.cache.push(message);
    if (this.cache.length > this.config.maxCacheSize) {
      this.stats.segmentsDropped.inc();
      this.cache.shift();
    }
  }

  /** Segments waiting in the cache (tests). */
  get cachedSegments(): number {
    return this.cache.length;
  }

  /** flushTraceSegments: the cache onto the stream, as far as it takes them. */
  private flushTraceSegments(): void {
    while (this.cache.length > 0 && this.stream !== undefined && this.stream.ready && !this.stream.aboveWriteBufferHighWatermark) {
      const message = this.cache.shift()!;
      if (this.stream.sendMessage(message)) {
        this.stats.segmentsSent.inc();
        this.stats.segmentsFlushed.inc();
      } else {
        this.stats.segmentsDropped.inc();
      }
    }
    this.stats.cacheFlushed.inc();
  }

  /** establishNewStream: the collect call, with backend_token as `authentication`; the cache flushed on it once it is connected. */
  private establishNewStream(): void {
    if (this.stopped || this.openStream === undefined) return;
    let stream: GrpcAsyncStream | undefined;
    const callbacks: GrpcStreamCallbacks = {
      // Connected: the cache goes out now, and the back-off starts again from its base.
      onReady: () => {
        if (this.stream !== stream) return;
        if (this.cache.length > 0) this.flushTraceSegments();
        this.backoff.reset();
      },
      onReceiveMessage: () => {},
      // onRemoteClose: the stream is gone; a new one after the back-off.
      onRemoteClose: (status, message) => {
        const log = this.server.log.component("tracing");
        if (log.debugOn) log.debug(`skywalking: collect gRPC stream closed: ${status}, ${message}`);
        if (this.stream !== stream) return;
        this.stream = undefined;
        if (!this.stopped) this.retryTimer.enable(this.backoff.nextBackOffMs());
      },
      onBelowWriteBufferLowWatermark: () => {
        if (this.stream === stream && this.cache.length > 0) this.flushTraceSegments();
      },
    };
    stream = this.openStream(callbacks);
    this.stream = stream;
    const target = this.config.grpcService;
    const token = this.config.backendToken;
    // onCreateInitialMetadata: setInline(authentication), replacing one from initial_metadata.
    const metadata = token === "" ? target.initialMetadata : [...target.initialMetadata.filter(([name]) => name.toLowerCase() !== "authentication"), ["authentication", token] as const];
    stream.start(target.clusterName, SKYWALKING_COLLECT_METHOD, target.authority, metadata, target.google);
    // Failed at once (no such cluster): onRemoteClose has armed the retry. Otherwise the
    // cache waits for onReady: Envoy flushes it here, on a stream that may yet fail to
    // connect and lose it (its establishNewStream's TODO), and resets its back-off here, so
    // that a collector that refuses connections is retried every ≤500 ms for good.
  }

  /** The listener is gone (closeStream): the cache goes out on an open stream, which is half-closed; no retry follows. */
  stop(): void {
    if (this.stopped) return;
    const stream = this.stream;
    if (stream !== undefined) {
      if (stream.ready) this.flushTraceSegments();
      stream.closeSendAndDeleteOnRemoteClose(CLOSE_TIMEOUT_MS);
    }
    this.stopped = true;
    this.stream = undefined;
    this.retryTimer.disable();
    this.cache = [];
  }
}

/** The tracers of each server (worker), by the HCM config that made them. */
const tracers = new WeakMap<ServerContext, WeakMap<object, SkyWalkingTracer>>();

/** The tracer for an HCM's tracing on this worker: made at the HCM's first request. */
export function skyWalkingTracerFor(server: ServerContext, key: object, config: SkyWalkingConfig, spawnUpstreamSpan: boolean): SkyWalkingTracer {
  let byKey = tracers.get(server);
  if (byKey === undefined) tracers.set(server, (byKey = new WeakMap()));
  let tracer = byKey.get(key);
  if (tracer === undefined) {
    const made = (tracer = new SkyWalkingTracer(server, config, spawnUpstreamSpan));
    byKey.set(key, tracer);
    server.onListenerDestroyed?.(() => made.stop());
  }
  return tracer;
}
