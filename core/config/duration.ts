/**
 * google.protobuf.Duration as Envoy reads it from YAML/JSON (the proto3 JSON mapping):
 * a string of seconds ending in "s" with up to 9 fractional digits ("5s", "0.25s"),
 * or the message form `{ seconds, nanos }` (the mapping accepts a message's fields too).
 * A bare number is rejected, as in Envoy: "5" has no unit.
 */

export type DurationResult = { ok: true; ms: number } | { ok: false; error: string };

/** protobuf's Duration range: ±10,000 years. */
const MAX_SECONDS = 315_576_000_000;
const MAX_NANOS = 999_999_999;

const DURATION_STRING = /^(\d+)(?:\.(\d{1,9}))?s$/;

const EXPECTED = `a duration such as "5s", "0.25s" or { seconds: 1, nanos: 500000000 }`;

/**
 * Parse a duration into milliseconds. Negative durations are refused: fields take none but
 * the few parseSignedDurationMs reads (Envoy's proto validation rejects them for timeouts).
 */
export function parseDurationMs(value: unknown): DurationResult {
  if (typeof value === "string") return parseDurationString(value);
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    return parseDurationObject(value as Record<string, unknown>);
  }
  return fail(`expected ${EXPECTED}, got ${value === null ? "null" : Array.isArray(value) ? "array" : typeof value}`);
}

/**
 * A duration that may be negative ("-1.5s", or `{ seconds: -1, nanos: -500000000 }`, the
 * proto3 form: both parts share the sign), for the few fields whose proto has no validation
 * and whose user treats a negative value as it does 0 (the network RBAC filter's delay_deny).
 */
export function parseSignedDurationMs(value: unknown): DurationResult {
  if (typeof value === "string" && value.startsWith("-") && !value.startsWith("--")) {
    const result = parseDurationString(value.slice(1));
    // An error names the text as written, sign and all.
    return result.ok ? negated(result) : fail(result.error.replace(JSON.stringify(value.slice(1)), JSON.stringify(value)));
  }
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const { seconds = 0, nanos = 0 } = value as Record<string, unknown>;
    const secondsNumber = typeof seconds === "string" && /^-\d+$/.test(seconds) ? Number(seconds) : seconds;
    if (typeof secondsNumber === "number" && typeof nanos === "number" && secondsNumber <= 0 && nanos <= 0 && (secondsNumber < 0 || nanos < 0)) {
      return negated(parseDurationObject({ ...(value as Record<string, unknown>), seconds: -secondsNumber, nanos: -nanos }));
    }
  }
  return parseDurationMs(value);
}

function negated(result: DurationResult): DurationResult {
  return result.ok ? { ok: true, ms: -result.ms } : result;
}

function parseDurationString(text: string): DurationResult {
  const match = DURATION_STRING.exec(text);
  if (!match) {
    if (/^-\d/.test(text)) return fail(`invalid duration "${text}": must not be negative`);
    return fail(`invalid duration "${text}": expected seconds with an "s" suffix and at most 9 fractional digits, e.g. "5s" or "0.25s"`);
  }
  const seconds = Number(match[1]);
  const nanos = Number((match[2] ?? "").padEnd(9, "0"));
  return toMs(seconds, nanos, `"${text}"`);
}

function parseDurationObject(object: Record<string, unknown>): DurationResult {
  const unknown = Object.keys(object).filter((key) => key !== "seconds" && key !== "nanos");
  if (unknown.length > 0) return fail(`invalid duration: unknown field "${unknown[0]}" (a duration object has only seconds and nanos)`);
  // proto3 JSON writes int64 as a string, so "seconds" may come quoted.
  const rawSeconds = object.seconds ?? 0;
  const seconds = typeof rawSeconds === "string" && /^\d+$/.test(rawSeconds) ? Number(rawSeconds) : rawSeconds;
  if (typeof seconds !== "number" || !Number.isInteger(seconds) || seconds < 0) {
    return fail(`invalid duration: seconds must be a non-negative integer, got ${JSON.stringify(rawSeconds)}`);
  }
  const nanos = object.nanos ?? 0;
  if (typeof nanos !== "number" || !Number.isInteger(nanos) || nanos < 0 || nanos > MAX_NANOS) {
    return fail(`invalid duration: nanos must be an integer from 0 to ${MAX_NANOS}, got ${JSON.stringify(nanos)}`);
  }
  return toMs(seconds, nanos, `{ seconds: ${seconds}, nanos: ${nanos} }`);
}

function toMs(seconds: number, nanos: number, shown: string): DurationResult {
  if (seconds > MAX_SECONDS) return fail(`invalid duration ${shown}: longer than protobuf's maximum of ${MAX_SECONDS}s`);
  return { ok: true, ms: seconds * 1000 + nanos / 1e6 };
}

function fail(error: string): DurationResult {
  return { ok: false, error };
}
