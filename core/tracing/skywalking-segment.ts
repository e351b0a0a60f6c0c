/**
 * SkyWalking's SegmentObject, encoded by hand for the one call polyvoy makes:
 * skywalking.v3.TraceSegmentReportService/collect, a client stream of SegmentObjects
 * (apache/skywalking-data-collect-protocol, language-agent/Tracing.proto):
 * - SegmentObject { traceId = 1, traceSegmentId = 2, spans = 3, service = 4,
 *   serviceInstance = 5, isSizeLimited = 6 }.
 * - SpanObject { spanId = 1 (int32), parentSpanId = 2 (int32, -1 for the entry span),
 *   startTime = 3, endTime = 4 (int64 ms since the epoch), refs = 5, operationName = 6,
 *   peer = 7, spanType = 8 (Entry 0, Exit 1, Local 2), spanLayer = 9 (Unknown 0, Database
 *   1, RPCFramework 2, Http 3, MQ 4, Cache 5, FAAS 6), componentId = 10, isError = 11,
 *   tags = 12, logs = 13, skipAnalysis = 14 }.
 * - SegmentReference { refType = 1 (CrossProcess 0), traceId = 2, parentTraceSegmentId = 3,
 *   parentSpanId = 4, parentService = 5, parentServiceInstance = 6, parentEndpoint = 7,
 *   networkAddressUsedAtPeer = 8 }.
 * - common/Common.proto: KeyStringValuePair { key = 1, value = 2 }.
 * Envoy builds it through cpp2sky (TracingContextImpl::createSegmentObject,
 * TracingSpanImpl::createSpanObject): every span of the segment, each with the segment's
 * parent context as a CrossProcess ref when the request brought one.
 */
import { ProtoWriter } from "../util/protobuf-wire.ts";
import type { Sw8Context } from "./sw8.ts";

export const SKYWALKING_COLLECT_METHOD = "/skywalking.v3.TraceSegmentReportService/collect";

export const SpanType = { Entry: 0, Exit: 1 } as const;
export type SpanType = (typeof SpanType)[keyof typeof SpanType];

/** Tracing.proto's SpanLayer, by the names skywalking::v3::SpanLayer_Parse takes. */
export const SPAN_LAYERS: Readonly<Record<string, number>> = { Unknown: 0, Database: 1, RPCFramework: 2, Http: 3, MQ: 4, Cache: 5, FAAS: 6 };

/** A finished span, as the reporter encodes it. */
export interface SegmentSpan {
  readonly spanId: number;
  readonly parentSpanId: number;
  readonly startTime: number;
  readonly endTime: number;
  readonly operationName: string;
  readonly peer: string;
  readonly spanType: SpanType;
  readonly spanLayer: number;
  readonly componentId: number;
  readonly isError: boolean;
  /** In the order they were added; a name may repeat (cpp2sky's tags are a list). */
  readonly tags: readonly (readonly [string, string])[];
}

export interface Segment {
  readonly traceId: string;
  readonly segmentId: string;
  readonly service: string;
  readonly instance: string;
  /** The request's sw8 context: every span's ref. */
  readonly parent: Sw8Context | undefined;
  readonly spans: readonly SegmentSpan[];
}

function encodeRef(w: ProtoWriter, parent: Sw8Context): void {
  // refType CrossProcess is the enum's 0: not written.
  w.string(2, parent.traceId);
  w.string(3, parent.segmentId);
  w.int64(4, parent.spanId);
  w.string(5, parent.service);
  w.string(6, parent.instance);
  w.string(7, parent.endpoint);
  w.string(8, parent.targetAddress);
}

function encodeSpan(w: ProtoWriter, span: SegmentSpan, parent: Sw8Context | undefined): void {
  w.int64(1, span.spanId);
  // An int32's -1 is written as its 64-bit two's complement, as protobuf does.
  w.int64(2, span.parentSpanId);
  w.int64(3, span.startTime);
  w.int64(4, span.endTime);
  if (parent !== undefined) w.message(5, (ref) => encodeRef(ref, parent));
  w.string(6, span.operationName);
  w.string(7, span.peer);
  w.uint(8, span.spanType);
  w.uint(9, span.spanLayer);
  w.int64(10, span.componentId);
  w.uint(11, span.isError ? 1 : 0);
  for (const [key, value] of span.tags) w.message(12, (kv) => kv.string(1, key).string(2, value));
}

/** One SegmentObject: the collect stream's message. */
export function encodeSegmentObject(segment: Segment): Uint8Array {
  const w = new ProtoWriter(256);
  w.string(1, segment.traceId);
  w.string(2, segment.segmentId);
  for (const span of segment.spans) w.message(3, (s) => encodeSpan(s, span, segment.parent));
  w.string(4, segment.service);
  w.string(5, segment.instance);
  return w.finish();
}
