/**
 * B3 propagation (https://github.com/openzipkin/b3-propagation), as Envoy's zipkin tracer
 * reads it (source/extensions/tracers/zipkin/span_context_extractor.cc) and writes it
 * (ZipkinSpan::injectContext, zipkin_tracer_impl.cc): the multi-header form
 * (x-b3-traceid, x-b3-spanid, x-b3-parentspanid, x-b3-sampled) and the single `b3` header
 * (`{traceid}-{spanid}[-{sampled}[-{parentspanid}]]`, or just the sampling flag), the
 * single header first. Ids are kept as lowercase 16-digit hex strings, as Envoy prints
 * its uint64 ids (Hex::uint64ToHex).
 */
import type { HeaderMap } from "../http/header-map.ts";

/** What a request carries of its trace (Envoy's zipkin SpanContext). */
export interface B3Context {
  /** The high 64 bits of a 128-bit trace id; absent for a 64-bit one. */
  readonly traceIdHigh: string | undefined;
  readonly traceId: string;
  readonly id: string;
  /** Absent or zero: none. */
  readonly parentId: string | undefined;
  readonly sampled: boolean;
}

/** A malformed B3 context (Envoy's ExtractorException): the request gets no span. */
export class B3Error extends Error {}

/** traceid128-spanid-1-parentid */
const FORMAT_MAX_LENGTH = 32 + 1 + 16 + 3 + 16;
const HEX_ID = /^[0-9a-fA-F]{1,16}$/;

/**
 * StringUtil::atoull(s, out, 16): one to sixteen hex digits (more overflow a uint64),
 * as 16 lowercase digits.
 */
function parseId(text: string): string | undefined {
  if (!HEX_ID.test(text)) return undefined;
  return text.toLowerCase().padStart(16, "0");
}

function validSamplingFlag(c: string | undefined): boolean {
  return c === "1" || c === "0" || c === "d";
}

/**
 * SpanContextExtractor::extractSampled: the sampling decision the request carries, or
 * undefined when it carries none (the local decision stands). In a `b3` header the flag's
 * position follows from the header's length; `d` (debug) samples.
 */
export function extractSampled(headers: HeaderMap): boolean | undefined {
  const b3 = headers.get("b3");
  if (b3 !== undefined) {
    let at: number;
    switch (b3.length) {
      case 1:
        at = 0;
        break;
      case 35: // 16 + 1 + 16 + 2
      case 52: // 16 + 1 + 16 + 2 + 1 + 16
        at = 34;
        break;
      case 51: // 32 + 1 + 16 + 2
      case 68: // 32 + 1 + 16 + 2 + 1 + 16
        at = 50;
        break;
      default:
        return undefined;
    }
    const flag = b3[at];
    return validSamplingFlag(flag) ? flag !== "0" : undefined;
  }
  const sampled = headers.get("x-b3-sampled");
  if (sampled === undefined) return undefined;
  // Some old tracers send "true".
  return sampled === "1" || sampled === "true";
}

/**
 * SpanContextExtractor::extractSpanContext: the request's trace context, undefined when it
 * has none, B3Error when the one it has is malformed. `sampled` is the decision to record
 * in it (the request's, else the local one).
 */
export function extractSpanContext(headers: HeaderMap, sampled: boolean): B3Context | undefined {
  const b3 = headers.get("b3");
  if (b3 !== undefined) return parseB3Single(b3, sampled);
  const traceIdText = headers.get("x-b3-traceid");
  const spanIdText = headers.get("x-b3-spanid");
  if (traceIdText === undefined || spanIdText === undefined) return undefined;
  let traceIdHigh: string | undefined;
  let traceId: string | undefined;
  if (traceIdText.length === 32) {
    traceIdHigh = parseId(traceIdText.slice(0, 16));
    traceId = parseId(traceIdText.slice(16));
    if (traceIdHigh === undefined || traceId === undefined) throw new B3Error(`Invalid traceid_high ${traceIdText.slice(0, 16)} or tracid ${traceIdText.slice(16)}`);
  } else {
    traceId = parseId(traceIdText);
    if (traceId === undefined) throw new B3Error(`Invalid trace_id ${traceIdText}`);
  }
  const id = parseId(spanIdText);
  if (id === undefined) throw new B3Error(`Invalid span id ${spanIdText}`);
  let parentId: string | undefined;
  const parentText = headers.get("x-b3-parentspanid");
  if (parentText !== undefined && parentText !== "") {
    parentId = parseId(parentText);
    if (parentId === undefined) throw new B3Error(`Invalid parent span id ${parentText}`);
  }
  return { traceIdHigh, traceId, id, parentId, sampled };
}

/** SpanContextExtractor::extractSpanContextFromB3SingleFormat. */
function parseB3Single(b3: string, sampled: boolean): B3Context | undefined {
  if (b3.length === 0) throw new B3Error("Invalid input: empty");
  if (b3.length === 1) {
    // Only a sampling flag: no context.
    if (validSamplingFlag(b3)) return undefined;
    throw new B3Error(`Invalid input: invalid sampling flag ${b3}`);
  }
  if (b3.length < 16 + 1 + 16) throw new B3Error("Invalid input: truncated");
  if (b3.length > FORMAT_MAX_LENGTH) throw new B3Error("Invalid input: too long");
  let pos = 0;
  let traceIdHigh: string | undefined;
  if (b3[32] === "-") {
    traceIdHigh = parseId(b3.slice(0, 16));
    if (traceIdHigh === undefined) throw new B3Error(`Invalid input: invalid trace id high ${b3.slice(0, 16)}`);
    pos += 16;
  }
  const traceId = parseId(b3.slice(pos, pos + 16));
  if (traceId === undefined) throw new B3Error(`Invalid input: invalid trace id ${b3.slice(pos, pos + 16)}`);
  pos += 16;
  if (b3[pos++] !== "-") throw new B3Error("Invalid input: not exists span id");
  const id = parseId(b3.slice(pos, pos + 16));
  if (id === undefined) throw new B3Error(`Invalid input: invalid span id ${b3.slice(pos, pos + 16)}`);
  pos += 16;
  let parentId: string | undefined;
  if (b3.length > pos) {
    // "-{flag}" follows, then maybe "-{parent}".
    if (b3.length === pos + 1) throw new B3Error("Invalid input: truncated");
    if (b3[pos++] !== "-") throw new B3Error("Invalid input: not exists sampling field");
    if (b3.length === pos + 1 || (b3.length >= pos + 2 && b3[pos + 1] === "-")) {
      if (!validSamplingFlag(b3[pos])) throw new B3Error(`Invalid input: invalid sampling flag ${b3[pos]}`);
      pos++;
    } else {
      throw new B3Error("Invalid input: truncated");
    }
    if (b3.length > pos) {
      if (b3.length !== pos + 17) throw new B3Error("Invalid input: truncated");
      pos++;
      parentId = parseId(b3.slice(pos));
      if (parentId === undefined) throw new B3Error(`Invalid input: invalid parent id ${b3.slice(pos)}`);
    }
  }
  return { traceIdHigh, traceId, id, parentId, sampled };
}

/** ZipkinSpan::injectContext: the span's context on a request going upstream. */
export function injectB3(headers: HeaderMap, context: B3Context): void {
  headers.set("x-b3-traceid", (context.traceIdHigh ?? "") + context.traceId);
  headers.set("x-b3-spanid", context.id);
  if (context.parentId !== undefined) headers.set("x-b3-parentspanid", context.parentId);
  headers.set("x-b3-sampled", context.sampled ? "1" : "0");
}
