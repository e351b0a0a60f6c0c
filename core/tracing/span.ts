/**
 * What the HCM, the router and the upstream request need of a tracer's span (Envoy's
 * Tracing::Span, envoy/tracing/trace_driver.h): each tracer (zipkin.ts, opentelemetry.ts, skywalking.ts)
 * implements it.
 */
import type { HeaderMap } from "../http/header-map.ts";

export interface TracingSpan {
  /** Whether the span is reported when finished (an unsampled one gets no tags). */
  readonly sampled: boolean;
  /** Span::setOperation: its name (a route decorator's operation). */
  setOperation(name: string): void;
  setTag(name: string, value: string): void;
  /**
   * Span::injectContext: this span's context on a request going upstream; `upstreamAddress`
   * is the chosen host's (Tracing::UpstreamContext's host), when there is one.
   */
  injectContext(headers: HeaderMap, upstreamAddress?: string): void;
  /** The router makes a child span per upstream request (spawn_upstream_span, zipkin's split_spans_for_request). */
  readonly spawnsUpstreamSpans: boolean;
  /** The wall-clock µs now, for a child's start. */
  nowMicros(): number;
  /** Span::spawnChild: a span for an upstream request, this one its parent. */
  spawnChild(name: string, startMicros: number): TracingSpan;
  /** Span::getTraceId: the trace id in hex ("" when the tracer has none); the open_telemetry access logger's trace_id. */
  getTraceId(): string;
  /** Span::getSpanId: this span's id in hex; the open_telemetry access logger's span_id. */
  getSpanId(): string;
  /** Span::finishSpan. */
  finish(): void;
}
