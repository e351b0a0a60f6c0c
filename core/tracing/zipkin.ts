/**
 * Envoy's Zipkin tracer (source/extensions/tracers/zipkin/): spans made by the HCM for
 * its streams (and by the router for upstream requests when asked), buffered per worker
 * and POSTed as Zipkin's JSON v2 to the collector cluster.
 *
 * - Driver (zipkin_tracer_impl.cc): one per HCM tracing config and worker, as Envoy's
 *   thread-local tracers: a span's B3 context is read from the request (b3.ts); without
 *   one a new trace begins.
 * - Tracer::startSpan (tracer.cc): a span's kind and ids. Envoy as an independent hop
 *   (split_spans_for_request or spawn_upstream_span) makes a SERVER span for the
 *   downstream request and CLIENT spans for upstream ones; otherwise the direction
 *   decides (egress: CLIENT, ingress: SERVER). A SERVER span joining a context shares its
 *   span id (shared_span_context, the default), else it is a child of it.
 * - ReporterImpl: spans buffered (span-batcher.ts) up to runtime tracing.zipkin.min_flush_spans (5) and
 *   flushed when that many are in, or every tracing.zipkin.flush_interval_ms (5000), in
 *   one POST bounded by tracing.zipkin.request_timeout (5000); a 202 is a report sent.
 * - JsonV2Serializer (span_buffer.cc): the JSON.
 */
import type { ZipkinConfig } from "../config/bootstrap.ts";
import type { AsyncClient, AsyncFailureReason, AsyncRequest, AsyncRequestCallbacks, AsyncResponse } from "../http/async-client.ts";
import { RequestHeaders } from "../http/message.ts";
import { randomHexId64 } from "../http/headers-util.ts";
import type { HeaderMap } from "../http/header-map.ts";
import type { SocketAddress } from "../port.ts";
import { SpanBatcher } from "./span-batcher.ts";
import type { ServerContext } from "../server-context.ts";
import type { Counter } from "../stats/counter.ts";
import { utf8Encode } from "../util/utf8.ts";
import { B3Error, type B3Context, extractSampled, extractSpanContext, injectB3 } from "./b3.ts";

export type SpanKind = "CLIENT" | "SERVER";

/** A sampled span's JSON (a zipkin2 Span, as JsonV2Serializer writes it). */
export interface ZipkinSpanJson {
  annotations?: { timestamp: number; value: string }[];
  duration: number;
  id: string;
  kind: SpanKind;
  localEndpoint: { ipv4?: string; ipv6?: string; port?: number; serviceName?: string };
  name?: string;
  parentId?: string;
  shared?: true;
  tags?: Record<string, string>;
  timestamp: number;
  traceId: string;
}

/** tracing.zipkin.* (ZIPKIN_TRACER_STATS). */
class ZipkinStats {
  readonly spansSent: Counter;
  readonly timerFlushed: Counter;
  readonly reportsSkippedNoCluster: Counter;
  readonly reportsSent: Counter;
  readonly reportsDropped: Counter;
  readonly reportsFailed: Counter;
  constructor(server: ServerContext) {
    const scope = server.stats.scope("tracing.zipkin.");
    this.spansSent = scope.counter("spans_sent");
    this.timerFlushed = scope.counter("timer_flushed");
    this.reportsSkippedNoCluster = scope.counter("reports_skipped_no_cluster");
    this.reportsSent = scope.counter("reports_sent");
    this.reportsDropped = scope.counter("reports_dropped");
    this.reportsFailed = scope.counter("reports_failed");
  }
}

/** A 64-bit id from the runtime's random source, as 16 hex digits (pooled bytes: one getRandomValues call per 512 ids). */
function randomId(server: ServerContext): string {
  return randomHexId64(server.runtime);
}

/** Microseconds since the epoch, now. */
function wallMicros(server: ServerContext): number {
  return Math.round(server.runtime.wallClock() * 1000);
}

/** One span (Envoy's zipkin Span and its ZipkinSpan wrapper). */
export class ZipkinSpan {
  readonly tags: Map<string, string> = new Map();
  traceIdHigh: string | undefined;
  traceId = "";
  id = "";
  parentId: string | undefined;
  sampled = false;
  /** Its first annotation: CS (CLIENT) or SR (SERVER). */
  kind: SpanKind = "SERVER";
  /** The CS/SR annotation's time, the span's `timestamp` (µs since the epoch). */
  timestamp = 0;
  private readonly startMono: number;
  private finished = false;

  constructor(
    private readonly driver: ZipkinDriver,
    public name: string,
  ) {
    this.startMono = driver.server.runtime.now();
  }

  /** Span::setOperation: the name (a route decorator's operation). */
  setOperation(name: string): void {
    this.name = name;
  }

  /** Span::setTag: only a named tag with a value. */
  setTag(name: string, value: string): void {
    if (name !== "" && value !== "") this.tags.set(name, value);
  }

  setSampled(sampled: boolean): void {
    this.sampled = sampled;
  }

  get context(): B3Context {
    return { traceIdHigh: this.traceIdHigh, traceId: this.traceId, id: this.id, parentId: this.parentId, sampled: this.sampled };
  }

  /** Envoy's Zipkin span: 32 hex digits with a 128-bit trace id, else 16. */
  getTraceId(): string {
    return (this.traceIdHigh ?? "") + this.traceId;
  }

  getSpanId(): string {
    return this.id;
  }

  /** ZipkinSpan::injectContext: this span's B3 context on a request going upstream. */
  injectContext(headers: HeaderMap): void {
    injectB3(headers, this.context);
  }

  /** The router makes a child span per upstream request (spawn_upstream_span, split_spans_for_request). */
  get spawnsUpstreamSpans(): boolean {
    return this.driver.spawnChildSpan;
  }

  /** The wall-clock µs now, for a child's start. */
  nowMicros(): number {
    return this.driver.startMicros(0);
  }

  /** ZipkinSpan::spawnChild: a span for an upstream request, this one its parent. */
  spawnChild(name: string, startMicros: number): ZipkinSpan {
    return this.driver.startSpan(name, startMicros, this.context, true);
  }

  /** Span::finishSpan: its duration, then to the reporter if sampled. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.sampled) this.driver.reporter.reportSpan(this.toJson(Math.max(0, Math.round((this.driver.server.runtime.now() - this.startMono) * 1000))));
  }

  /**
   * JsonV2Serializer::toListOfSpans (span_buffer.cc): the SR (CS) annotation becomes the
   * span's kind and timestamp, the SS (CR) one that finishing adds stays an annotation.
   */
  private toJson(duration: number): ZipkinSpanJson {
    const driver = this.driver;
    const endpoint: ZipkinSpanJson["localEndpoint"] = {};
    const address = driver.localAddress;
    if (address !== undefined) {
      if (address.family === 6) endpoint.ipv6 = address.address;
      else endpoint.ipv4 = address.address;
      endpoint.port = address.port;
    }
    // LocalInfo::clusterName, the server's (zipkin_tracer_impl.cc).
    const serviceName = driver.server.localClusterName;
    if (serviceName !== "") endpoint.serviceName = serviceName;
    const json: ZipkinSpanJson = {
      annotations: [{ timestamp: this.timestamp + duration, value: this.kind === "SERVER" ? "ss" : "cr" }],
      duration,
      id: this.id,
      kind: this.kind,
      localEndpoint: endpoint,
      timestamp: this.timestamp,
      traceId: (this.traceIdHigh ?? "") + this.traceId,
    };
    if (this.name !== "") json.name = this.name;
    if (this.parentId !== undefined) json.parentId = this.parentId;
    // The SR annotation with its SS: a span shared with the client's (span_buffer.cc).
    if (this.kind === "SERVER" && driver.config.sharedSpanContext) json.shared = true;
    if (this.tags.size > 0) {
      const tags: Record<string, string> = {};
      for (const key of [...this.tags.keys()].sort()) tags[key] = this.tags.get(key)!;
      json.tags = tags;
    }
    return json;
  }
}

/**
 * The zipkin Driver and Tracer of one worker for one HCM tracing config: it starts spans
 * and owns the reporter they go to.
 */
export class ZipkinDriver {
  readonly reporter: ZipkinReporter;
  /** LocalInfo's address: the spans' localEndpoint (the address of the first listener that used this driver). */
  localAddress: SocketAddress | undefined;

  constructor(
    readonly server: ServerContext,
    readonly config: ZipkinConfig,
    /** split_spans_for_request or the HCM's spawn_upstream_span: Envoy is a hop of its own, with a CLIENT span per upstream request. */
    readonly spawnChildSpan: boolean,
    private readonly egress: boolean,
  ) {
    this.reporter = new ZipkinReporter(server, config);
  }

  /**
   * Driver::startSpan: the downstream request's span, joining the request's B3 context when
   * it has one; undefined when that context is malformed (Envoy's NullSpan). `traced` is the
   * HCM's decision, which a sampling flag in the request overrides.
   */
  startDownstreamSpan(headers: HeaderMap, host: string, startMicros: number, traced: boolean): ZipkinSpan | undefined {
    const sampled = extractSampled(headers);
    let context: B3Context | undefined;
    try {
      context = extractSpanContext(headers, sampled ?? traced);
    } catch (e) {
      if (e instanceof B3Error) {
        const log = this.server.log.component("tracing");
        if (log.debugOn) log.debug(`zipkin: ${e.message}`);
        return undefined;
      }
      throw e;
    }
    if (context !== undefined) return this.startSpan(host, startMicros, context, false);
    const span = this.startSpan(host, startMicros, undefined, false);
    span.setSampled(sampled ?? traced);
    return span;
  }

  /** Tracer::startSpan, without a previous context (a new trace) or with one. */
  startSpan(name: string, startMicros: number, previous: B3Context | undefined, upstream: boolean): ZipkinSpan {
    const span = new ZipkinSpan(this, name);
    // getAnnotation (tracer.cc).
    span.kind = this.spawnChildSpan ? (upstream ? "CLIENT" : "SERVER") : this.egress ? "CLIENT" : "SERVER";
    span.timestamp = startMicros;
    if (previous === undefined) {
      const id = randomId(this.server);
      span.id = id;
      span.traceId = id;
      if (this.config.traceId128bit) span.traceIdHigh = randomId(this.server);
      return span;
    }
    if (span.kind === "CLIENT" || !this.config.sharedSpanContext) {
      span.id = randomId(this.server);
      span.parentId = previous.id;
    } else {
      span.id = previous.id;
      if (previous.parentId !== undefined && !/^0+$/.test(previous.parentId)) span.parentId = previous.parentId;
    }
    span.traceId = previous.traceId;
    span.traceIdHigh = previous.traceIdHigh;
    span.sampled = previous.sampled;
    return span;
  }

  /** The wall-clock µs a stream started `elapsedMs` ago began. */
  startMicros(elapsedMs: number): number {
    return wallMicros(this.server) - Math.round(elapsedMs * 1000);
  }
}

/**
 * Reports in flight at once (ours: Envoy's ReporterImpl is bounded only by the collector
 * cluster's circuit breakers, 1,024 connections by default): a collector slower than the
 * spans come drops the excess, as the OpenTelemetry exporter does.
 */
const MAX_REPORTS_IN_FLIGHT = 16;
/** The collector's answer is read only for its status. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** Spans flushed while the HTTP client loads (one dynamic import): past this they are dropped. */
const MAX_WAITING_SPANS = 10_000;

/** ReporterImpl and its SpanBuffer. */
export class ZipkinReporter implements AsyncRequestCallbacks {
  private readonly stats: ZipkinStats;
  /** Loaded with the reporter (the async client stays out of start-up's imports, as ext_authz's does). */
  private client: AsyncClient | undefined;
  private readonly clientLoaded: Promise<void>;
  private clientFailed = false;
  /** Flushed before the async client was loaded: sent as soon as it is. */
  private waiting: ZipkinSpanJson[] = [];
  private readonly batcher: SpanBatcher<ZipkinSpanJson>;
  private readonly active = new Set<AsyncRequest>();

  constructor(
    private readonly server: ServerContext,
    private readonly config: ZipkinConfig,
  ) {
    this.stats = new ZipkinStats(server);
    this.clientLoaded = import("../http/async-client.ts").then(
      ({ AsyncClient }) => {
        this.client = new AsyncClient(server);
      },
      (err: unknown) => {
        // The module could not load (a broken install): spans are dropped, never queued for ever.
        this.clientFailed = true;
        this.waiting = [];
        server.log.warn(`envoy.tracers.zipkin: the HTTP client could not be loaded, spans are dropped: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
    // SpanBuffer::allocateBuffer: min_flush_spans when the reporter was made is the buffer's
    // size, a span past it dropped (ReporterImpl::reportSpan); flushed at exactly min_flush_spans.
    this.batcher = new SpanBatcher<ZipkinSpanJson>(server, {
      runtimePrefix: "tracing.zipkin",
      timerFlushed: this.stats.timerFlushed,
      capacity: server.layeredRuntime.getInteger("tracing.zipkin.min_flush_spans", 5),
      flushAtExactCount: true,
      flush: (spans) => this.report(spans),
    });
  }

  /** ReporterImpl::reportSpan: a full buffer drops the span. */
  reportSpan(span: ZipkinSpanJson): void {
    this.batcher.add(span);
  }

  /** The listener is gone: the spans it left go now, and no timer fires again. */
  stop(): void {
    this.batcher.stop();
  }

  /** Spans waiting for a flush (tests). */
  get pendingSpans(): number {
    return this.batcher.pending;
  }

  flushSpans(): void {
    this.batcher.flush();
  }

  /** A batch out of the buffer: sent, or held until the client is loaded. */
  private report(spans: ZipkinSpanJson[]): void {
    if (this.clientFailed) {
      this.stats.reportsDropped.inc();
      return;
    }
    if (this.client === undefined) {
      // Out of the buffer now (it stays free for what comes), sent once the client is loaded.
      const first = this.waiting.length === 0;
      if (this.waiting.length + spans.length > MAX_WAITING_SPANS) {
        this.stats.reportsDropped.inc();
        return;
      }
      this.waiting.push(...spans);
      if (first) {
        void this.clientLoaded.then(() => {
          const waiting = this.waiting;
          this.waiting = [];
          if (waiting.length > 0) this.send(waiting);
        });
      }
      return;
    }
    this.send(spans);
  }

  /** One report: the spans POSTed as a JSON list. */
  private send(spans: ZipkinSpanJson[]): void {
    if (this.active.size >= MAX_REPORTS_IN_FLIGHT) {
      const log = this.server.log.component("tracing");
      if (log.debugOn) log.debug(`zipkin: ${MAX_REPORTS_IN_FLIGHT} reports in flight, this one dropped`);
      this.stats.reportsDropped.inc();
      return;
    }
    this.stats.spansSent.inc(spans.length);
    if (this.server.clusterManager.get(this.config.collectorCluster) === undefined) {
      const log = this.server.log.component("tracing");
      if (log.debugOn) log.debug(`collector cluster '${this.config.collectorCluster}' does not exist`);
      this.stats.reportsSkippedNoCluster.inc();
      return;
    }
    const headers = new RequestHeaders();
    headers.method = "POST";
    headers.path = this.config.collectorEndpoint;
    headers.authority = this.config.collectorHostname;
    headers.set("content-type", "application/json");
    const body = utf8Encode(JSON.stringify(spans));
    const timeoutMs = this.server.layeredRuntime.getInteger("tracing.zipkin.request_timeout", 5000);
    const request = this.client!.send(this.config.collectorCluster, headers, body, this, { timeoutMs, maxResponseBytes: MAX_RESPONSE_BYTES });
    if (request !== undefined) this.active.add(request);
  }

  onSuccess(request: AsyncRequest, response: AsyncResponse): void {
    this.active.delete(request);
    if (response.headers.status === 202) this.stats.reportsSent.inc();
    else this.stats.reportsDropped.inc();
  }

  onFailure(request: AsyncRequest, _reason: AsyncFailureReason): void {
    this.active.delete(request);
    this.stats.reportsFailed.inc();
  }
}

/** The drivers of each server (worker), by the HCM config that made them. */
const drivers = new WeakMap<ServerContext, WeakMap<object, ZipkinDriver>>();

/**
 * The driver for an HCM's tracing on this worker: made at the HCM's first request, so a
 * worker that serves none reports nothing and arms no timer.
 */
export function zipkinDriverFor(server: ServerContext, key: object, config: ZipkinConfig, spawnUpstreamSpan: boolean, egress: boolean, localAddress: SocketAddress | undefined): ZipkinDriver {
  let byKey = drivers.get(server);
  if (byKey === undefined) drivers.set(server, (byKey = new WeakMap()));
  let driver = byKey.get(key);
  if (driver === undefined) {
    const made = (driver = new ZipkinDriver(server, config, config.splitSpansForRequest || spawnUpstreamSpan, egress));
    driver.localAddress = localAddress;
    byKey.set(key, driver);
    // A listener removed or replaced (a reload): what its spans left is sent, its timer stops.
    server.onListenerDestroyed?.(() => made.reporter.stop());
  }
  return driver;
}
