/**
 * SkyWalking's SegmentObject read with protobufjs from the hand-written Tracing.proto subset
 * (test/support/protos/skywalking), as a collector would: what polyvoy's hand-written encoder
 * (core/tracing/skywalking-segment.ts) sends is checked against the schema, not against itself.
 */
import { join } from "node:path";
import protobuf from "protobufjs";

const root = protobuf.loadSync(join(import.meta.dirname, "protos/skywalking/Tracing.proto"));
const SegmentObject = root.lookupType("skywalking.v3.SegmentObject");

export interface DecodedRef {
  refType: string;
  traceId: string;
  parentTraceSegmentId: string;
  parentSpanId: number;
  parentService: string;
  parentServiceInstance: string;
  parentEndpoint: string;
  networkAddressUsedAtPeer: string;
}

export interface DecodedSpan {
  spanId: number;
  parentSpanId: number;
  startTime: number;
  endTime: number;
  refs: DecodedRef[];
  operationName: string;
  peer: string;
  spanType: string;
  spanLayer: string;
  componentId: number;
  isError: boolean;
  tags: { key: string; value: string }[];
  skipAnalysis: boolean;
}

export interface DecodedSegment {
  traceId: string;
  traceSegmentId: string;
  spans: DecodedSpan[];
  service: string;
  serviceInstance: string;
}

export function decodeSegment(bytes: Uint8Array): DecodedSegment {
  return SegmentObject.toObject(SegmentObject.decode(bytes), { defaults: true, enums: String, longs: Number, arrays: true }) as DecodedSegment;
}
