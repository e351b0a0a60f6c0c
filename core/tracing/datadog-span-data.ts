/**
 * A finished Datadog span and its MessagePack, as dd-trace-cpp's SpanData writes it
 * (span_data.cpp msgpack_encode): a map of service, name, resource, trace_id (the low 64
 * bits), span_id, parent_id (uint64), start and duration (ns, uint64 as its pack_integer
 * writes them), error (an int), meta (string tags), metrics (double tags) and type. A
 * /v0.4/traces payload is an array of trace chunks, each an array of spans
 * (datadog_agent.cpp msgpack_encode).
 */
import type { MsgpackWriter } from "../util/msgpack.ts";

export interface DatadogSpanData {
  service: string;
  name: string;
  resource: string;
  traceIdLow: bigint;
  spanId: bigint;
  /** 0n for a root span. */
  parentId: bigint;
  /** Wall-clock ns since the epoch. */
  startNs: bigint;
  durationNs: bigint;
  error: boolean;
  /** Service type: "web" (SpanDefaults' service_type). */
  type: string;
  readonly meta: Map<string, string>;
  readonly metrics: Map<string, number>;
}

export function writeSpan(w: MsgpackWriter, span: DatadogSpanData): void {
  w.mapHeader(12);
  w.string("service");
  w.string(span.service);
  w.string("name");
  w.string(span.name);
  w.string("resource");
  w.string(span.resource);
  w.string("trace_id");
  w.uint64(span.traceIdLow);
  w.string("span_id");
  w.uint64(span.spanId);
  w.string("parent_id");
  w.uint64(span.parentId);
  w.string("start");
  w.uint64(span.startNs);
  w.string("duration");
  w.uint64(span.durationNs);
  w.string("error");
  w.int64(span.error ? 1 : 0);
  w.string("meta");
  w.mapHeader(span.meta.size);
  for (const [key, value] of span.meta) {
    w.string(key);
    w.string(value);
  }
  w.string("metrics");
  w.mapHeader(span.metrics.size);
  for (const [key, value] of span.metrics) {
    w.string(key);
    w.double(value);
  }
  w.string("type");
  w.string(span.type);
}

/** The /v0.4/traces body: an array of trace chunks, each an array of spans. */
export function writeTraces(w: MsgpackWriter, chunks: readonly (readonly DatadogSpanData[])[]): void {
  w.arrayHeader(chunks.length);
  for (const chunk of chunks) {
    w.arrayHeader(chunk.length);
    for (const span of chunk) writeSpan(w, span);
  }
}
