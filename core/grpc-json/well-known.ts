/**
 * The well-known types' JSON forms (protobuf.dev/programming-guides/json, "JSON Mapping"),
 * shared by both directions of the gRPC-JSON codec: Timestamp as RFC 3339, Duration as
 * seconds with an "s", FieldMask as lowerCamelCase paths joined by ",", bytes as base64.
 */
import { utcEpochMs, utcParts } from "../util/civil-time.ts";
import { TranscodeError, type DescriptorPool, type MessageDescriptor } from "./descriptors.ts";

/** The messages whose JSON form is not an object of their fields. */
export type WellKnown =
  | "Any"
  | "Timestamp"
  | "Duration"
  | "FieldMask"
  | "Struct"
  | "Value"
  | "ListValue"
  | "Wrapper"
  | "Empty";

const WELL_KNOWN = new Map<string, WellKnown>([
  ["google.protobuf.Any", "Any"],
  ["google.protobuf.Timestamp", "Timestamp"],
  ["google.protobuf.Duration", "Duration"],
  ["google.protobuf.FieldMask", "FieldMask"],
  ["google.protobuf.Struct", "Struct"],
  ["google.protobuf.Value", "Value"],
  ["google.protobuf.ListValue", "ListValue"],
  ["google.protobuf.Empty", "Empty"],
  ["google.protobuf.DoubleValue", "Wrapper"],
  ["google.protobuf.FloatValue", "Wrapper"],
  ["google.protobuf.Int64Value", "Wrapper"],
  ["google.protobuf.UInt64Value", "Wrapper"],
  ["google.protobuf.Int32Value", "Wrapper"],
  ["google.protobuf.UInt32Value", "Wrapper"],
  ["google.protobuf.BoolValue", "Wrapper"],
  ["google.protobuf.StringValue", "Wrapper"],
  ["google.protobuf.BytesValue", "Wrapper"],
]);

export function wellKnown(fullName: string): WellKnown | undefined {
  return WELL_KNOWN.get(fullName);
}

/**
 * Inside an Any, a well-known type (Any too, not Empty) is `{"@type": …, "value": <its JSON>}`
 * (unparser.cc WriteAny: ClassifyMessage is not kNotWellKnown).
 */
export function anyUsesValueKey(kind: WellKnown | undefined): boolean {
  return kind !== undefined && kind !== "Empty";
}

/** The type a type URL names: the text after its last "/" (any.proto), looked up in the pool. */
export function resolveTypeUrl(pool: DescriptorPool, url: string): MessageDescriptor | undefined {
  const slash = url.lastIndexOf("/");
  if (slash < 0) return undefined;
  return pool.message(url.slice(slash + 1));
}

/** timestamp.proto: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z. */
const MIN_TIMESTAMP_SECONDS = -62_135_596_800n;
const MAX_TIMESTAMP_SECONDS = 253_402_300_799n;
/** duration.proto: ±10,000 years. */
const MAX_DURATION_SECONDS = 315_576_000_000n;

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/;
const DIGITS = /^\d+$/;

/**
 * RFC 3339 (§5.6) text as Timestamp's seconds and nanos (time.cc ParseTime: upper-case T and
 * Z, up to nine fractional digits, years 0001 to 9999), or the converter's message.
 */
export function parseTimestamp(text: string): { seconds: bigint; nanos: number } | string {
  const m = TIMESTAMP.exec(text);
  const bad = `Invalid time format: ${text}`;
  if (m === null) return bad;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number];
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59) return bad;
  let seconds = BigInt(utcEpochMs(year, month, day, hour, minute, second) / 1000);
  if (m[9] !== undefined) {
    if (Number(m[10]) > 23 || Number(m[11]) > 59) return bad;
    const offset = (Number(m[10]) * 60 + Number(m[11])) * 60;
    seconds -= BigInt(m[9] === "+" ? offset : -offset);
  }
  if (seconds < MIN_TIMESTAMP_SECONDS || seconds > MAX_TIMESTAMP_SECONDS) return bad;
  return { seconds, nanos: m[7] === undefined ? 0 : Number(m[7].padEnd(9, "0")) };
}

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * "1.5s", "-0.000001s" as Duration's seconds and nanos (the same sign), or the converter's
 * message (protostream_objectwriter.cc RenderDuration).
 */
export function parseDuration(text: string): { seconds: bigint; nanos: number } | string {
  if (!text.endsWith("s")) return "Illegal duration format; duration must end with 's'";
  let value = text.slice(0, -1);
  const negative = value.startsWith("-");
  if (negative) value = value.slice(1);
  const dot = value.indexOf(".");
  const secondsText = dot < 0 ? value : value.slice(0, dot);
  const nanosText = dot < 0 ? "" : value.slice(dot + 1);
  if (!DIGITS.test(secondsText)) return "Invalid duration format, failed to parse seconds";
  if (nanosText !== "" && !DIGITS.test(nanosText)) return "Invalid duration format, failed to parse nanos seconds";
  const seconds = BigInt(secondsText);
  // static_cast<int32>(d_nanos * 1e9): digits past the ninth are dropped.
  const nanos = nanosText === "" ? 0 : Number(nanosText.slice(0, 9).padEnd(9, "0"));
  if (seconds > MAX_DURATION_SECONDS) return "Duration value exceeds limits";
  return negative ? { seconds: -seconds, nanos: -nanos } : { seconds, nanos };
}

/** Nanoseconds as protobuf prints them: none, or 3, 6 or 9 digits (time_util.cc FormatNanos). */
function fraction(nanos: number): string {
  if (nanos === 0) return "";
  if (nanos % 1_000_000 === 0) return `.${String(nanos / 1_000_000).padStart(3, "0")}`;
  if (nanos % 1000 === 0) return `.${String(nanos / 1000).padStart(6, "0")}`;
  return `.${String(nanos).padStart(9, "0")}`;
}

const pad = (n: number, width: number): string => String(n).padStart(width, "0");

/** Timestamp as RFC 3339 in UTC, or protobuf's error for one out of range (unparser.cc WriteTimestamp). */
export function formatTimestamp(seconds: bigint, nanos: number): string {
  if (seconds < MIN_TIMESTAMP_SECONDS) throw new TranscodeError("minimum acceptable time value is 0001-01-01T00:00:00Z");
  if (seconds > MAX_TIMESTAMP_SECONDS) throw new TranscodeError("maximum acceptable time value is 9999-12-31T23:59:59Z");
  if (nanos < 0 || nanos > 999_999_999) throw new TranscodeError("nanos must be in range [0, +999,999,999]");
  const p = utcParts(Number(seconds) * 1000);
  return `${pad(p.year, 4)}-${pad(p.month, 2)}-${pad(p.day, 2)}T${pad(p.hour, 2)}:${pad(p.minute, 2)}:${pad(p.second, 2)}${fraction(nanos)}Z`;
}

/** Duration as "<seconds>[.fraction]s", or protobuf's error (unparser.cc WriteDuration). */
export function formatDuration(seconds: bigint, nanos: number): string {
  if (seconds > MAX_DURATION_SECONDS || seconds < -MAX_DURATION_SECONDS || nanos > 999_999_999 || nanos < -999_999_999) {
    throw new TranscodeError("duration out of range");
  }
  if (seconds !== 0n && nanos !== 0 && seconds < 0n !== nanos < 0) throw new TranscodeError("nanos and seconds signs do not match");
  const negative = seconds < 0n || nanos < 0;
  const s = (seconds < 0n ? -seconds : seconds).toString();
  return `${negative ? "-" : ""}${s}${fraction(Math.abs(nanos))}s`;
}

/** FieldMask's JSON path "fooBar.baz" as its .proto path "foo_bar.baz" (the converter's ToSnakeCase of each path). */
export function fieldMaskPathFromJson(path: string): string {
  let out = "";
  for (const c of path) out += c >= "A" && c <= "Z" ? `_${c.toLowerCase()}` : c;
  return out;
}

/**
 * The inverse, as protobuf's JSON printer writes a path (json/internal/unparser.cc
 * WriteFieldMask): the lowercase letter after "_" upper-cased, digits, lowercase letters and
 * "." kept, a lone "_" dropped; undefined for any other character (its "unexpected character
 * in FieldMask").
 */
export function fieldMaskPathToJson(path: string): string | undefined {
  let out = "";
  let sawUnder = false;
  for (const c of path) {
    const lower = c >= "a" && c <= "z";
    if (lower && sawUnder) out += c.toUpperCase();
    else if (lower || (c >= "0" && c <= "9") || c === ".") out += c;
    else if (c === "_" && !sawUnder) {
      sawUnder = true;
      continue;
    } else return undefined;
    sawUnder = false;
  }
  return out;
}

