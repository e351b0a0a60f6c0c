/**
 * SkyWalking's cross-process propagation header `sw8` (SkyWalking's Cross Process
 * Propagation Headers Protocol v3), as Envoy's tracer reads and writes it through the
 * cpp2sky library (source/propagation_impl.cc, SpanContextImpl; source/
 * tracing_context_impl.cc, encodeSpan):
 *
 *   {sample}-{base64 trace id}-{base64 parent segment id}-{parent span id}-
 *   {base64 parent service}-{base64 parent instance}-{base64 parent endpoint}-
 *   {base64 target address}
 *
 * Exactly eight `-`-separated fields, the first "0" or "1" (cpp2sky then treats every
 * context as sampled), the span id a decimal int32 (read as std::stoi reads it: its leading
 * integer). Written with "1" always, the texts as standard base64 of their UTF-8 bytes.
 */
import { decodeBase64Standard, encodeBase64 } from "../util/base64.ts";
import { utf8Decode, utf8Encode } from "../util/utf8.ts";

export const SW8_HEADER = "sw8";

/** A parent's context, as an `sw8` header carries it (cpp2sky's SpanContext). */
export interface Sw8Context {
  readonly traceId: string;
  readonly segmentId: string;
  readonly spanId: number;
  readonly service: string;
  readonly instance: string;
  readonly endpoint: string;
  readonly targetAddress: string;
}

/** A header cpp2sky refuses (its TracerException, or std::stoi's). */
export class Sw8Error extends Error {}

const FIELDS = 8;
const INT32_MIN = -0x8000_0000;
const INT32_MAX = 0x7fff_ffff;

/** cpp2sky decodes each text field strictly: a field that is not base64 is "" (not bytes read as 0s). */
function decodeText(field: string): string {
  const bytes = decodeBase64Standard(field);
  return bytes === undefined ? "" : utf8Decode(bytes);
}

/** std::stoi: optional leading white space, a sign, digits; what follows them is ignored. */
function stoi(field: string): number {
  const match = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(field);
  if (match === null) throw new Sw8Error("stoi: no conversion");
  const value = Number(match[1]);
  if (value < INT32_MIN || value > INT32_MAX) throw new Sw8Error("stoi: out of range");
  return value;
}

/** SpanContextImpl's constructor: the header's eight fields. */
export function parseSw8(value: string): Sw8Context {
  const fields = value.split("-");
  if (fields.length !== FIELDS) throw new Sw8Error("Invalid span context format. It must have 8 fields.");
  if (fields[0] !== "0" && fields[0] !== "1") throw new Sw8Error("Invalid span context format. sample field must be 0 or 1.");
  return {
    traceId: decodeText(fields[1]!),
    segmentId: decodeText(fields[2]!),
    spanId: stoi(fields[3]!),
    service: decodeText(fields[4]!),
    instance: decodeText(fields[5]!),
    endpoint: decodeText(fields[6]!),
    targetAddress: decodeText(fields[7]!),
  };
}

const encodeText = (text: string): string => encodeBase64(utf8Encode(text));

/** TracingContextImpl::encodeSpan: the context an exit span sends upstream ("1-": always sampled, as cpp2sky writes it). */
export function encodeSw8(context: Sw8Context): string {
  return [
    "1",
    encodeText(context.traceId),
    encodeText(context.segmentId),
    String(context.spanId),
    encodeText(context.service),
    encodeText(context.instance),
    encodeText(context.endpoint),
    encodeText(context.targetAddress),
  ].join("-");
}
