/**
 * OTLP's trace messages, encoded by hand for the one call polyvoy makes:
 * opentelemetry.proto.collector.trace.v1.TraceService/Export. Field numbers from
 * opentelemetry-proto (github.com/open-telemetry/opentelemetry-proto, v1.x):
 * - collector/trace/v1/trace_service.proto: ExportTraceServiceRequest.resource_spans = 1.
 * - trace/v1/trace.proto: ResourceSpans { resource = 1, scope_spans = 2, schema_url = 3 };
 *   ScopeSpans { scope = 1, spans = 2, schema_url = 3 }; Span { trace_id = 1 (bytes),
 *   span_id = 2, trace_state = 3, parent_span_id = 4, name = 5, kind = 6 (SpanKind),
 *   start_time_unix_nano = 7 (fixed64), end_time_unix_nano = 8 (fixed64), attributes = 9,
 *   status = 15 }; Status { message = 2, code = 3 (0 UNSET, 1 OK, 2 ERROR) }.
 * - resource/v1/resource.proto: Resource { attributes = 1 }.
 * - common/v1/common.proto: KeyValue { key = 1, value = 2 }; AnyValue { string_value = 1 }.
 * Envoy builds the same request (Tracer::flushSpans, tracer.cc): one ResourceSpans with
 * the resource's attributes and one ScopeSpans (no scope) holding the spans.
 */
import { ProtoWriter } from "../util/protobuf-wire.ts";

export const OTLP_EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/** trace.proto's Span.SpanKind: the two Envoy makes. */
export const SpanKind = { Server: 2, Client: 3 } as const;
export type SpanKind = (typeof SpanKind)[keyof typeof SpanKind];

/** trace.proto's Status.StatusCode. */
export const StatusCode = { Unset: 0, Ok: 1, Error: 2 } as const;
export type StatusCode = (typeof StatusCode)[keyof typeof StatusCode];

/** A finished span, as the exporter encodes it. */
export interface OtlpSpan {
  /** 32 hex digits. */
  readonly traceId: string;
  /** 16 hex digits. */
  readonly spanId: string;
  /** 16 hex digits; "" for a root span. */
  readonly parentSpanId: string;
  readonly traceState: string;
  readonly name: string;
  readonly kind: SpanKind;
  readonly startTimeUnixNano: bigint;
  readonly endTimeUnixNano: bigint;
  /** String attributes, in the order they were first set. */
  readonly attributes: ReadonlyMap<string, string>;
  readonly status: StatusCode;
}

/** Hex digits as bytes (the ids are validated or generated as hex). */
function hexBytes(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (hexDigit(hex.charCodeAt(2 * i)) << 4) | hexDigit(hex.charCodeAt(2 * i + 1));
  return bytes;
}

/** A hex digit's value (0-9, a-f, A-F), as parseInt(…, 16) reads it. */
function hexDigit(c: number): number {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
}

/** KeyValue with a string AnyValue: the value is a oneof member, written even when empty. */
function keyValue(writer: ProtoWriter, field: number, key: string, value: string): void {
  writer.message(field, (kv) => kv.string(1, key).message(2, (any) => any.explicitString(1, value)));
}

function encodeSpan(w: ProtoWriter, span: OtlpSpan): void {
  w.bytesField(1, hexBytes(span.traceId));
  w.bytesField(2, hexBytes(span.spanId));
  w.string(3, span.traceState);
  if (span.parentSpanId !== "") w.bytesField(4, hexBytes(span.parentSpanId));
  w.string(5, span.name);
  w.uint(6, span.kind);
  w.fixed64(7, span.startTimeUnixNano);
  w.fixed64(8, span.endTimeUnixNano);
  for (const [key, value] of span.attributes) keyValue(w, 9, key, value);
  if (span.status !== StatusCode.Unset) w.message(15, (status) => status.uint(3, span.status));
}

/** ExportTraceServiceRequest: the resource's attributes, then the spans. */
export function encodeExportRequest(resource: ReadonlyMap<string, string>, spans: readonly OtlpSpan[]): Uint8Array {
  return new ProtoWriter()
    .message(1, (resourceSpans) => {
      resourceSpans.message(1, (r) => {
        for (const [key, value] of resource) keyValue(r, 1, key, value);
      });
      resourceSpans.message(2, (scopeSpans) => {
        for (const span of spans) scopeSpans.message(2, (s) => encodeSpan(s, span));
      });
    })
    .finish();
}
