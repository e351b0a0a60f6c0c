/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/), as Envoy's OpenTelemetry tracer
 * reads it (source/extensions/tracers/opentelemetry/span_context_extractor.cc) and writes it
 * (Span::injectContext, tracer.cc): `traceparent` is
 * `{version}-{trace-id}-{parent-id}-{trace-flags}` (§3.2), 2 + 32 + 16 + 2 hex digits;
 * `tracestate` (§3.3) is carried as it came, several headers joined into one.
 */
import type { HeaderMap } from "../http/header-map.ts";

/** What a request carries of its trace (Envoy's OpenTelemetry SpanContext). */
export interface TraceContext {
  readonly version: string;
  /** 32 lowercase hex digits. */
  readonly traceId: string;
  /** The caller's span id: 16 lowercase hex digits. */
  readonly parentId: string;
  readonly sampled: boolean;
  /** "" when none came. */
  readonly tracestate: string;
}

/** A malformed traceparent (Envoy's extractSpanContext error status): the request gets no span. */
export class TraceparentError extends Error {}

/** 2 + 1 + 32 + 1 + 16 + 1 + 2 (§3.2.2). */
const TRACEPARENT_SIZE = 55;
const HEX = /^[0-9a-fA-F]*$/;
const ALL_ZEROS = /^0+$/;

/** SpanContextExtractor::propagationHeaderPresent. */
export function hasTraceparent(headers: HeaderMap): boolean {
  return headers.get("traceparent") !== undefined;
}

/**
 * SpanContextExtractor::extractSpanContext: the request's context; TraceparentError with
 * Envoy's reason when its traceparent is malformed. Envoy checks the length first, so a
 * future version's longer header is refused as it is there.
 */
export function extractTraceContext(headers: HeaderMap): TraceContext {
  const header = headers.get("traceparent");
  if (header === undefined) throw new TraceparentError("No propagation header found");
  if (header.length !== TRACEPARENT_SIZE) throw new TraceparentError("Invalid traceparent header length");
  // absl::StrSplit with SkipEmpty: "--" does not make an empty part.
  const parts = header.split("-").filter((part) => part !== "");
  if (parts.length !== 4) throw new TraceparentError("Invalid traceparent hyphenation");
  const [version, traceId, parentId, flags] = parts as [string, string, string, string];
  if (version.length !== 2 || traceId.length !== 32 || parentId.length !== 16 || flags.length !== 2) throw new TraceparentError("Invalid traceparent field sizes");
  if (!HEX.test(version) || !HEX.test(traceId) || !HEX.test(parentId) || !HEX.test(flags)) throw new TraceparentError("Invalid header hex");
  // §3.2.2.3 and §3.2.2.4: all-zero ids are invalid.
  if (ALL_ZEROS.test(traceId)) throw new TraceparentError("Invalid trace id");
  if (ALL_ZEROS.test(parentId)) throw new TraceparentError("Invalid parent id");
  // §3.2.2.5: the sampled flag is the lowest bit.
  const sampled = (parseInt(flags, 16) & 1) === 1;
  // Every tracestate header, joined with "," (span_context_extractor.cc; §3.3.1.1: several
  // tracestate headers are one list, combined as RFC 9110 §5.3 combines field lines).
  const tracestate = headers.getJoined("tracestate", ",") ?? "";
  return { version, traceId: traceId.toLowerCase(), parentId: parentId.toLowerCase(), sampled, tracestate };
}

/** Span::injectContext: version 00, the span's ids and its sampled flag; tracestate set too, empty or not. */
export function injectTraceContext(headers: HeaderMap, traceId: string, spanId: string, sampled: boolean, tracestate: string): void {
  headers.set("traceparent", `00-${traceId}-${spanId}-${sampled ? "01" : "00"}`);
  headers.set("tracestate", tracestate);
}
