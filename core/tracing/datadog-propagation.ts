/**
 * The Datadog tracer's trace context on requests, as dd-trace-cpp (which Envoy's
 * envoy.tracers.datadog wraps) reads and writes it with its default propagation styles,
 * Datadog then W3C tracecontext for both extraction and injection (tracer_config.cpp):
 *
 * - Datadog (extraction_util.cpp extract_datadog, trace_segment.cpp inject):
 *   `x-datadog-trace-id` (the low 64 bits, decimal), `x-datadog-parent-id` (decimal),
 *   `x-datadog-sampling-priority`, `x-datadog-origin`, and `x-datadog-tags` ("k=v,k=v": the
 *   `_dd.p.*` trace tags, `_dd.p.tid` carrying the trace id's high 64 bits as 16 hex digits).
 * - W3C (w3c_propagation.cpp): `traceparent` and `tracestate` with its `dd=` member
 *   (s: priority, o: origin, p: parent, t.*: trace tags); the other members carried on.
 *
 * The first style that yields a trace id is the context; a W3C context of the same trace
 * adds its tracestate (extraction_util.cpp merge). A malformed Datadog header is an error
 * (Envoy then logs it and starts a new trace: tracer.cc extract_or_create_span); a malformed
 * traceparent only tags the span with `_dd.w3c_extraction_error`.
 */
import type { HeaderMap } from "../http/header-map.ts";

/** A trace's context as a request carries it (dd-trace-cpp's ExtractedData, merged). */
export interface DatadogContext {
  traceIdHigh: bigint;
  traceIdLow: bigint;
  /** The caller's span: undefined only with an origin (synthetics' requests have none). */
  parentId: bigint | undefined;
  samplingPriority: number | undefined;
  origin: string | undefined;
  /** `_dd.p.*` trace tags, in their order. */
  traceTags: [string, string][];
  /**
   * The last Datadog span's id in a W3C context (tracestate's `dd=p:`, "0000000000000000"
   * without it), the local root's `_dd.parent_id` tag; undefined without a W3C context of this trace.
   */
  datadogW3cParentId: string | undefined;
  /** tracestate's non-`dd` members, carried on. */
  additionalW3cTracestate: string | undefined;
  /** tracestate's `dd` member's unknown keys, carried on. */
  additionalDatadogW3cTracestate: string | undefined;
}

/** A trace context that could not be read (dd-trace-cpp's extraction Error). */
export class DatadogExtractError extends Error {}

/**
 * tags_header_max_size's default (tracer_config.h): x-datadog-tags past it is not read or
 * written. In bytes: header values are Latin-1 strings here (one code unit per byte, see
 * util/latin1.ts), so a value's length is its size on the wire.
 */
export const TAGS_HEADER_MAX_SIZE = 512;
/** dd-trace-cpp's tags::internal names. */
export const PROPAGATION_ERROR_TAG = "_dd.propagation_error";
export const W3C_EXTRACTION_ERROR_TAG = "_dd.w3c_extraction_error";
export const TRACE_ID_HIGH_TAG = "_dd.p.tid";
export const DECISION_MAKER_TAG = "_dd.p.dm";
/** tags::internal::w3c_parent_id. */
export const W3C_PARENT_ID_TAG = "_dd.parent_id";

const MAX_UINT64 = (1n << 64n) - 1n;

/** parse_util.cpp parse_uint64 (after trim): digits only, within 64 bits. */
function parseUint64(text: string, base: 10 | 16): bigint | undefined {
  if (text === "" || !(base === 10 ? /^[0-9]+$/ : /^[0-9a-fA-F]+$/).test(text)) return undefined;
  const value = BigInt(base === 10 ? text : `0x${text}`);
  return value > MAX_UINT64 ? undefined : value;
}

/** parse_util.cpp parse_int: std::from_chars, an optional '-' (not '+') and digits, within an int. */
function parseInt32(text: string): number | undefined {
  if (!/^-?[0-9]+$/.test(text)) return undefined;
  const value = Number(text);
  return value > 2147483647 || value < -2147483648 ? undefined : value;
}

/** string_util.cpp trim: spaces and tabs (and the other whitespace) off both ends. */
function trim(text: string): string {
  return text.replace(/^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g, "");
}

/** tag_propagation.cpp decode_tags: "k=v,k=v"; an entry without '=' is an error. */
export function decodeTraceTags(header: string): [string, string][] | undefined {
  const tags: [string, string][] = [];
  for (const entry of header.split(",")) {
    const equals = entry.indexOf("=");
    if (equals === -1) return undefined;
    const key = trim(entry.slice(0, equals));
    if (key === "") return undefined;
    tags.push([key, trim(entry.slice(equals + 1))]);
  }
  return tags;
}

/** tag_propagation.cpp encode_tags. */
export function encodeTraceTags(tags: readonly (readonly [string, string])[]): string {
  return tags.map(([k, v]) => `${k}=${v}`).join(",");
}

interface Extracted {
  traceIdHigh: bigint;
  traceIdLow: bigint | undefined;
  parentId: bigint | undefined;
  samplingPriority: number | undefined;
  origin: string | undefined;
  traceTags: [string, string][];
  datadogW3cParentId?: string;
  additionalW3cTracestate?: string;
  additionalDatadogW3cTracestate?: string;
}

function empty(): Extracted {
  return { traceIdHigh: 0n, traceIdLow: undefined, parentId: undefined, samplingPriority: undefined, origin: undefined, traceTags: [] };
}

/** extract_id_header: absent is undefined, malformed an error. */
function idHeader(headers: HeaderMap, name: string, kind: string): bigint | undefined {
  const value = headers.get(name);
  if (value === undefined) return undefined;
  const id = parseUint64(trim(value), 10);
  if (id === undefined) throw new DatadogExtractError(`Could not extract Datadog-style ${kind}ID from ${name}: ${value}`);
  return id;
}

/** extract_datadog. */
function extractDatadog(headers: HeaderMap, spanTags: Map<string, string>): Extracted {
  const result = empty();
  result.traceIdLow = idHeader(headers, "x-datadog-trace-id", "trace ");
  result.parentId = idHeader(headers, "x-datadog-parent-id", "parent span ");
  const priority = headers.get("x-datadog-sampling-priority");
  if (priority !== undefined) {
    const parsed = parseInt32(trim(priority));
    if (parsed === undefined) throw new DatadogExtractError(`Could not extract Datadog-style sampling priority from x-datadog-sampling-priority: ${priority}`);
    result.samplingPriority = parsed;
  }
  result.origin = headers.get("x-datadog-origin");
  const tags = headers.get("x-datadog-tags");
  if (tags !== undefined) {
    // tracer.cpp: a header past tags_header_max_size is not decoded.
    if (tags.length > TAGS_HEADER_MAX_SIZE) spanTags.set(PROPAGATION_ERROR_TAG, "extract_max_size");
    else {
      const decoded = decodeTraceTags(tags);
      if (decoded === undefined) spanTags.set(PROPAGATION_ERROR_TAG, "decoding_error");
      else {
        for (const [key, value] of decoded) {
          if (!key.startsWith("_dd.p.")) continue;
          if (key === TRACE_ID_HIGH_TAG) {
            const high = value.length === 16 ? parseUint64(value, 16) : undefined;
            if (high === undefined) {
              spanTags.set(PROPAGATION_ERROR_TAG, `malformed_tid ${value}`);
              continue;
            }
            if (result.traceIdLow !== undefined) result.traceIdHigh = high;
          }
          result.traceTags.push([key, value]);
        }
      }
    }
  }
  return result;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})($|-.*)/;

/** extract_w3c: a malformed traceparent tags the span and yields nothing. */
function extractW3c(headers: HeaderMap, spanTags: Map<string, string>): Extracted {
  const result = empty();
  const header = headers.get("traceparent");
  if (header === undefined) return result;
  const match = TRACEPARENT.exec(trim(header));
  let error: string | undefined;
  if (match === null) error = "malformed_traceparent";
  else if (match[1] === "ff") error = "invalid_version";
  else if (match[1] === "00" && match[5] !== "") error = "malformed_traceparent";
  else if (/^0+$/.test(match[2]!)) error = "trace_id_zero";
  else if (/^0+$/.test(match[3]!)) error = "parent_id_zero";
  if (error !== undefined) {
    spanTags.set(W3C_EXTRACTION_ERROR_TAG, error);
    return empty();
  }
  result.traceIdHigh = BigInt(`0x${match![2]!.slice(0, 16)}`);
  result.traceIdLow = BigInt(`0x${match![2]!.slice(16)}`);
  result.parentId = BigInt(`0x${match![3]!}`);
  result.samplingPriority = parseInt(match![4]!, 16) & 1;
  result.datadogW3cParentId = "0000000000000000";
  const tracestate = headers.getJoined("tracestate", ",");
  if (tracestate !== undefined && tracestate !== "") extractTracestate(result, trim(tracestate));
  return result;
}

/** w3c_propagation.cpp parse_tracestate and parse_datadog_tracestate. */
function extractTracestate(result: Extracted, tracestate: string): void {
  const members = tracestate.split(",");
  const index = members.findIndex((m) => {
    const pair = trim(m);
    const eq = pair.indexOf("=");
    return eq !== -1 && pair.slice(0, eq) === "dd";
  });
  if (index === -1) {
    result.additionalW3cTracestate = tracestate;
    return;
  }
  const others = members.filter((_, i) => i !== index).join(",");
  if (others !== "") result.additionalW3cTracestate = others;
  const dd = trim(members[index]!);
  const extra: string[] = [];
  for (const pair of dd.slice(dd.indexOf("=") + 1).split(";")) {
    if (pair === "") continue;
    const colon = pair.indexOf(":");
    if (colon === -1) continue;
    const key = pair.slice(0, colon);
    const value = pair.slice(colon + 1);
    if (key === "o") result.origin = value.replaceAll("~", "=");
    else if (key === "s") {
      const priority = parseInt32(value);
      if (priority === undefined) continue;
      // traceparent's flag wins over an inconsistent s: (parse_datadog_tracestate).
      if (result.samplingPriority === undefined || result.samplingPriority > 0 === priority > 0) result.samplingPriority = priority;
    } else if (key === "p") {
      if (value.length === 16) result.datadogW3cParentId = value;
    } else if (key.startsWith("t.")) result.traceTags.push([`_dd.p.${key.slice(2)}`, value.replaceAll("~", "=")]);
    else extra.push(pair);
  }
  if (extra.length > 0) result.additionalDatadogW3cTracestate = extra.join(";");
}

/**
 * Tracer::extract_span: the request's context; undefined when it carries none; a
 * DatadogExtractError when a Datadog header is malformed or the context is incomplete.
 * `spanTags` gets the propagation errors that do not stop extraction.
 */
export function extractDatadogContext(headers: HeaderMap, spanTags: Map<string, string>): DatadogContext | undefined {
  const datadog = extractDatadog(headers, spanTags);
  const w3c = extractW3c(headers, spanTags);
  // merge(): the first style (Datadog, then W3C) with a trace id.
  const main = datadog.traceIdLow !== undefined ? datadog : w3c.traceIdLow !== undefined ? w3c : undefined;
  if (main === undefined) return undefined;
  const result: Extracted = { ...main, traceTags: [...main.traceTags] };
  if (main === datadog && w3c.traceIdLow !== undefined && w3c.traceIdLow === main.traceIdLow && w3c.traceIdHigh === main.traceIdHigh) {
    result.datadogW3cParentId = w3c.datadogW3cParentId;
    result.additionalW3cTracestate = w3c.additionalW3cTracestate;
    result.additionalDatadogW3cTracestate = w3c.additionalDatadogW3cTracestate;
    if (result.parentId !== w3c.parentId) result.parentId = w3c.parentId;
  }
  if (result.parentId === undefined && result.origin === undefined) throw new DatadogExtractError("There's neither a parent span ID nor an origin");
  if (result.traceIdLow === 0n && result.traceIdHigh === 0n) throw new DatadogExtractError("Zero trace ID");
  return {
    traceIdHigh: result.traceIdHigh,
    traceIdLow: result.traceIdLow!,
    parentId: result.parentId,
    samplingPriority: result.samplingPriority,
    origin: result.origin,
    traceTags: result.traceTags,
    datadogW3cParentId: result.datadogW3cParentId,
    additionalW3cTracestate: result.additionalW3cTracestate,
    additionalDatadogW3cTracestate: result.additionalDatadogW3cTracestate,
  };
}

/** 16 lowercase hex digits. */
export function hex16(id: bigint): string {
  return id.toString(16).padStart(16, "0");
}

/** Characters outside printable ASCII, or among `disallowed`, become '_' (w3c_propagation.cpp verboten). */
function sanitize(text: string, disallowed: string): string {
  let out = "";
  for (const ch of text) {
    const code = ch.charCodeAt(0);
    out += ch.length > 1 || code < 0x20 || code > 0x7e || disallowed.includes(ch) ? "_" : ch;
  }
  return out;
}

/** encode_datadog_tracestate and encode_tracestate: at most 256 bytes of `dd=`, cut at a ';'. */
function encodeTracestate(spanId: bigint, priority: number, origin: string | undefined, traceTags: readonly (readonly [string, string])[], additionalDatadog: string | undefined, additional: string | undefined): string {
  let dd = `dd=s:${priority};p:${hex16(spanId)}`;
  if (origin !== undefined) dd += `;o:${sanitize(origin, ",;~").replaceAll("=", "~")}`;
  for (const [key, value] of traceTags) {
    if (!key.startsWith("_dd.p.") || key === TRACE_ID_HIGH_TAG) continue;
    dd += `;t.${sanitize(key.slice(6), " ,;=")}:${sanitize(value, ",;~").replaceAll("=", "~")}`;
  }
  if (additionalDatadog !== undefined) dd += `;${additionalDatadog}`;
  while (dd.length > 256) dd = dd.slice(0, dd.lastIndexOf(";"));
  return additional !== undefined ? `${dd},${additional}` : dd;
}

/** What a span injects (trace_segment.cpp TraceSegment::inject's inputs). */
export interface DatadogInjection {
  traceIdHigh: bigint;
  traceIdLow: bigint;
  spanId: bigint;
  samplingPriority: number;
  origin: string | undefined;
  traceTags: readonly (readonly [string, string])[];
  additionalW3cTracestate: string | undefined;
  additionalDatadogW3cTracestate: string | undefined;
}

/**
 * TraceSegment::inject with the Datadog and W3C styles. Returns false when x-datadog-tags
 * was over TAGS_HEADER_MAX_SIZE and so not written (the local root is then tagged
 * `_dd.propagation_error: inject_max_size`).
 */
export function injectDatadogContext(headers: HeaderMap, c: DatadogInjection): boolean {
  headers.set("x-datadog-trace-id", c.traceIdLow.toString());
  headers.set("x-datadog-parent-id", c.spanId.toString());
  headers.set("x-datadog-sampling-priority", String(c.samplingPriority));
  if (c.origin !== undefined) headers.set("x-datadog-origin", c.origin);
  const tags = encodeTraceTags(c.traceTags);
  let fits = true;
  if (tags.length > TAGS_HEADER_MAX_SIZE) fits = false;
  else if (tags !== "") headers.set("x-datadog-tags", tags);
  headers.set("traceparent", `00-${hex16(c.traceIdHigh)}${hex16(c.traceIdLow)}-${hex16(c.spanId)}-${c.samplingPriority > 0 ? "01" : "00"}`);
  headers.set("tracestate", encodeTracestate(c.spanId, c.samplingPriority, c.origin, c.traceTags, c.additionalDatadogW3cTracestate, c.additionalW3cTracestate));
  return fits;
}
