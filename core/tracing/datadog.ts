/**
 * Envoy's Datadog tracer (source/extensions/tracers/datadog/), which wraps dd-trace-cpp:
 * spans made by the HCM for its streams (and by the router for upstream requests when asked),
 * grouped per trace segment and sent to the Datadog Agent as MessagePack (datadog-agent.ts).
 *
 * - Tracer::startSpan (tracer.cc): the span's name is always "envoy.proxy", its resource the
 *   HCM's operation name (a route decorator's operation replaces it: Span::setOperation);
 *   the request's context (datadog-propagation.ts) is joined, and a malformed one is logged
 *   and a new trace begins (extract_or_create_span). With no sampling decision extracted, a
 *   request the HCM did not trace is a USER_DROP (-1); one it traced is left to the tracer's
 *   sampler (datadog-sampler.ts): AUTO_KEEP (1) or AUTO_DROP (0) by the Agent's rate for the
 *   root span's service and env (mechanism AGENT_RATE), rate 1.0 before the Agent named one
 *   (DEFAULT).
 * - Span (span.cc): tags go to `meta`; "resource.name" sets the resource, "error" = "true" the
 *   error flag, "error.reason" also `error.message`. Every span is sent, a dropped trace
 *   with its priority: the Agent decides (trace_segment.cpp span_finished).
 * - TraceSegment (trace_segment.cpp): the local root and the children spawned from it; when
 *   the last finishes, the root gets the trace tags (`_dd.p.*`), `_sampling_priority_v1` and
 *   the sampler's rate (`_dd.agent_psr`), every span `language` "cpp", `runtime-id` and
 *   `_dd.origin`, and the chunk goes to the agent.
 */
import type { DatadogConfig } from "../config/bootstrap.ts";
import { randomHexId64, uuid4 } from "../http/headers-util.ts";
import type { HeaderMap } from "../http/header-map.ts";
import type { ServerContext } from "../server-context.ts";
import { VERSION } from "../version.ts";
import { DatadogAgent } from "./datadog-agent.ts";
import { DatadogTraceSampler } from "./datadog-sampler.ts";
import { DECISION_MAKER_TAG, DatadogExtractError, extractDatadogContext, injectDatadogContext, PROPAGATION_ERROR_TAG, TRACE_ID_HIGH_TAG, W3C_PARENT_ID_TAG, hex16, type DatadogContext } from "./datadog-propagation.ts";
import type { DatadogSpanData } from "./datadog-span-data.ts";
import type { TracingSpan } from "./span.ts";

/** dd-trace-cpp's SamplingPriority. */
export const enum SamplingPriority {
  UserDrop = -1,
  AutoDrop = 0,
  AutoKeep = 1,
  UserKeep = 2,
}

/** dd-trace-cpp's SamplingMechanism MANUAL (a priority the tracer was told); DEFAULT and AGENT_RATE come from the sampler. */
const MECHANISM_MANUAL = 4;

interface SamplingDecision {
  priority: number;
  /** undefined for an extracted decision. */
  mechanism: number | undefined;
  /** The sampler's rate, for `_dd.agent_psr` (DEFAULT and AGENT_RATE mechanisms, trace_segment.cpp). */
  rate?: number;
}

/** 63-bit span ids (id_generator.cpp: ids stay positive for languages without unsigned integers). */
const MAX_ID = (1n << 63n) - 1n;

/** The spans of one trace made by this worker (dd-trace-cpp's TraceSegment). */
class DatadogSegment {
  readonly spans: DatadogSpanData[] = [];
  private finishedSpans = 0;
  decision: SamplingDecision | undefined;

  constructor(
    private readonly tracer: DatadogTracer,
    readonly traceIdHigh: bigint,
    readonly traceIdLow: bigint,
    readonly origin: string | undefined,
    readonly traceTags: [string, string][],
    readonly additionalW3cTracestate: string | undefined,
    readonly additionalDatadogW3cTracestate: string | undefined,
  ) {}

  register(span: DatadogSpanData): void {
    this.spans.push(span);
  }

  /** override_sampling_priority: a MANUAL decision. */
  overridePriority(priority: number): void {
    this.decision = { priority, mechanism: MECHANISM_MANUAL };
    this.updateDecisionMaker();
  }

  /** make_sampling_decision_if_null: the tracer's sampler decides, by the local root's service and env tag. */
  decide(): SamplingDecision {
    if (this.decision === undefined) {
      const root = this.spans[0]!;
      this.decision = this.tracer.sampler.decide(this.traceIdLow, root.service, root.meta.get("env") ?? "");
      this.updateDecisionMaker();
    }
    return this.decision;
  }

  /** update_decision_maker_trace_tag: `_dd.p.dm` = "-{mechanism}" for a kept trace, none for a dropped one. */
  private updateDecisionMaker(): void {
    const decision = this.decision!;
    const at = this.traceTags.findIndex(([key]) => key === DECISION_MAKER_TAG);
    if (decision.priority <= 0) {
      if (at !== -1) this.traceTags.splice(at, 1);
      return;
    }
    const value = `-${decision.mechanism ?? 0}`;
    if (at === -1) this.traceTags.push([DECISION_MAKER_TAG, value]);
    else this.traceTags[at]![1] = value;
  }

  /** TraceSegment::inject. */
  inject(headers: HeaderMap, spanId: bigint): void {
    const decision = this.decide();
    const fits = injectDatadogContext(headers, {
      traceIdHigh: this.traceIdHigh,
      traceIdLow: this.traceIdLow,
      spanId,
      samplingPriority: decision.priority,
      origin: this.origin,
      traceTags: this.traceTags,
      additionalW3cTracestate: this.additionalW3cTracestate,
      additionalDatadogW3cTracestate: this.additionalDatadogW3cTracestate,
    });
    if (!fits) this.spans[0]!.meta.set(PROPAGATION_ERROR_TAG, "inject_max_size");
  }

  /** span_finished: the last span out sends the chunk. */
  spanFinished(): void {
    if (++this.finishedSpans < this.spans.length) return;
    const decision = this.decide();
    const root = this.spans[0]!;
    for (const [key, value] of this.traceTags) if (!root.meta.has(key)) root.meta.set(key, value);
    root.metrics.set("_sampling_priority_v1", decision.priority);
    if (decision.rate !== undefined) root.metrics.set("_dd.agent_psr", decision.rate);
    const runtimeId = this.tracer.runtimeId;
    for (const span of this.spans) {
      if (this.origin !== undefined) span.meta.set("_dd.origin", this.origin);
      span.meta.set("language", "cpp");
      span.meta.set("runtime-id", runtimeId);
    }
    this.tracer.agent.send(this.spans);
  }
}

/** One span (Envoy's Datadog::Span over a dd-trace-cpp span). */
export class DatadogSpan implements TracingSpan {
  /** Every span goes to the Agent, a dropped trace's too (its priority tells the Agent): its tags are always set. */
  readonly sampled = true;
  private readonly startMono: number;
  private finished = false;

  constructor(
    private readonly tracer: DatadogTracer,
    readonly segment: DatadogSegment,
    readonly data: DatadogSpanData,
  ) {
    this.startMono = tracer.server.runtime.now();
    segment.register(data);
  }

  /** Span::setOperation; like every change, ignored once the span is finished (its segment may be sent). */
  setOperation(name: string): void {
    if (this.finished) return;
    this.data.resource = name;
  }

  /** Span::setTag (span.cc). */
  setTag(name: string, value: string): void {
    if (this.finished) return;
    if (name === "resource.name") this.data.resource = value;
    else if (name === "error") {
      if (value === "true") this.data.error = true;
    } else if (name === "error.reason") {
      // dd-trace-cpp's set_error_message: the error flag and error.message.
      this.data.error = true;
      this.data.meta.set("error.message", value);
      this.data.meta.set(name, value);
    } else this.data.meta.set(name, value);
  }

  /** Span::setSampled: USER_KEEP or USER_DROP, a manual decision. */
  setSampled(sampled: boolean): void {
    if (this.finished) return;
    this.segment.overridePriority(sampled ? SamplingPriority.UserKeep : SamplingPriority.UserDrop);
  }

  injectContext(headers: HeaderMap): void {
    if (this.finished) return;
    this.segment.inject(headers, this.data.spanId);
  }

  get spawnsUpstreamSpans(): boolean {
    return this.tracer.spawnUpstreamSpan;
  }

  nowMicros(): number {
    return this.tracer.wallMicros();
  }

  /**
   * Span::spawnChild: "envoy.proxy", the name its resource, in this span's segment. A finished
   * span's child is Envoy's NullSpan (span.cc: the dd-trace-cpp span is reset at finish): it
   * would otherwise join a segment maybe sent already, and its finish send that again.
   */
  spawnChild(name: string, startMicros: number): DatadogSpan {
    if (this.finished) {
      const detached = new DatadogSegment(this.tracer, this.segment.traceIdHigh, this.segment.traceIdLow, undefined, [], undefined, undefined);
      const nullSpan = new DatadogSpan(this.tracer, detached, this.tracer.spanData(name, this.segment.traceIdLow, this.data.spanId, startMicros));
      nullSpan.finished = true;
      return nullSpan;
    }
    return new DatadogSpan(this.tracer, this.segment, this.tracer.spanData(name, this.segment.traceIdLow, this.data.spanId, startMicros));
  }

  /** Span::getTraceIdAsHex: Envoy's gives the span's id() in hex, unpadded (span.cc). */
  getTraceId(): string {
    return this.data.spanId.toString(16);
  }

  /** Span::getSpanIdAsHex: not implemented by Envoy's Datadog span (its TODO): "". */
  getSpanId(): string {
    return "";
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.data.durationNs = BigInt(Math.max(0, Math.round((this.tracer.server.runtime.now() - this.startMono) * 1e6)));
    this.segment.spanFinished();
  }
}

/** The Datadog tracer of one worker for one HCM tracing config (Envoy's ThreadLocalTracer). */
export class DatadogTracer {
  readonly agent: DatadogAgent;
  /** The tracer's TraceSampler, which the Agent's answers feed. */
  readonly sampler = new DatadogTraceSampler();
  /** dd-trace-cpp's runtime id: a UUID per tracer. */
  readonly runtimeId: string;

  constructor(
    readonly server: ServerContext,
    readonly config: DatadogConfig,
    readonly spawnUpstreamSpan: boolean,
  ) {
    this.agent = new DatadogAgent(server, config, this.sampler);
    this.runtimeId = uuid4(server.runtime);
  }

  wallMicros(): number {
    return Math.round(this.server.runtime.wallClock() * 1000);
  }

  /** The wall-clock µs a stream started `elapsedMs` ago began. */
  startMicros(elapsedMs: number): number {
    return this.wallMicros() - Math.round(elapsedMs * 1000);
  }

  private randomId(): bigint {
    return BigInt(`0x${randomHexId64(this.server.runtime)}`);
  }

  /** SpanData::apply_config with makeConfig's defaults (config.cc): service, "envoy.proxy", the version tag, type "web". */
  spanData(resource: string, traceIdLow: bigint, parentId: bigint, startMicros: number, spanId: bigint = this.randomId() & MAX_ID): DatadogSpanData {
    const meta = new Map<string, string>();
    // config.version = "envoy " + the version: polyvoy's own.
    meta.set("version", `polyvoy ${VERSION}`);
    return {
      service: this.config.serviceName,
      name: "envoy.proxy",
      resource,
      traceIdLow,
      spanId,
      parentId,
      startNs: BigInt(startMicros) * 1000n,
      durationNs: 0n,
      error: false,
      type: "web",
      meta,
      metrics: new Map(),
    };
  }

  /** Tracer::startSpan (tracer.cc). */
  startDownstreamSpan(headers: HeaderMap, operationName: string, startMicros: number, traced: boolean): DatadogSpan {
    const spanTags = new Map<string, string>();
    let context: DatadogContext | undefined;
    try {
      context = extractDatadogContext(headers, spanTags);
    } catch (e) {
      if (!(e instanceof DatadogExtractError)) throw e;
      this.server.log.component("tracing").error(`Unable to extract span context. Creating a new trace instead. Error: ${e.message}`);
      spanTags.clear();
    }
    let segment: DatadogSegment;
    let parentId = 0n;
    if (context === undefined) {
      // id_generator.cpp: a 128-bit trace id, its high half the start's seconds in its top 32 bits.
      const high = BigInt(Math.floor(startMicros / 1_000_000)) << 32n;
      segment = new DatadogSegment(this, high, this.randomId(), undefined, [[TRACE_ID_HIGH_TAG, hex16(high)]], undefined, undefined);
    } else {
      const tags = context.traceTags.filter(([key]) => key !== TRACE_ID_HIGH_TAG);
      if (context.traceIdHigh !== 0n) tags.unshift([TRACE_ID_HIGH_TAG, hex16(context.traceIdHigh)]);
      segment = new DatadogSegment(this, context.traceIdHigh, context.traceIdLow, context.origin, tags, context.additionalW3cTracestate, context.additionalDatadogW3cTracestate);
      if (context.samplingPriority !== undefined) segment.decision = { priority: context.samplingPriority, mechanism: undefined };
      parentId = context.parentId ?? 0n;
    }
    // tracer.cpp create_span: a new trace's root span's id is its trace id's low 64 bits.
    const data = context === undefined ? this.spanData(operationName, segment.traceIdLow, 0n, startMicros, segment.traceIdLow) : this.spanData(operationName, segment.traceIdLow, parentId, startMicros);
    for (const [key, value] of spanTags) data.meta.set(key, value);
    // tracer.cpp extract_span: the W3C context's last Datadog parent, on the local root.
    if (context?.datadogW3cParentId !== undefined) data.meta.set(W3C_PARENT_ID_TAG, context.datadogW3cParentId);
    const span = new DatadogSpan(this, segment, data);
    // No decision extracted and Envoy not tracing: a USER_DROP (tracer.cc).
    if (segment.decision === undefined && !traced) segment.overridePriority(SamplingPriority.UserDrop);
    return span;
  }
}

/** The tracers of each server (worker), by the HCM config that made them. */
const tracers = new WeakMap<ServerContext, WeakMap<object, DatadogTracer>>();

/** The tracer for an HCM's tracing on this worker: made at the HCM's first request. */
export function datadogTracerFor(server: ServerContext, key: object, config: DatadogConfig, spawnUpstreamSpan: boolean): DatadogTracer {
  let byKey = tracers.get(server);
  if (byKey === undefined) tracers.set(server, (byKey = new WeakMap()));
  let tracer = byKey.get(key);
  if (tracer === undefined) {
    const made = (tracer = new DatadogTracer(server, config, spawnUpstreamSpan));
    byKey.set(key, tracer);
    // A listener removed or replaced (a reload), or the server shutting down: what is held goes now (DatadogAgent's destructor flushes).
    const unregister = server.onShutdown?.(() => made.agent.flushAndWait());
    server.onListenerDestroyed?.(() => {
      unregister?.();
      made.agent.stop();
    });
  }
  return tracer;
}
