/**
 * Schemas for protobuf building blocks that the HTTP config shares: durations, uint32,
 * header names and values, regexes, and "one of these fields" groups (proto oneofs).
 * (schema.ts keeps its own private `duration`; it is the same parser.)
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import { parseDurationMs, parseSignedDurationMs } from "./duration.ts";
import { compileRegex } from "./regex.ts";

/** A google.protobuf.Duration, output in milliseconds. */
export const durationMs = lazySchema(() =>
  z.unknown().transform((value, ctx) => {
  const result = parseDurationMs(value);
  if (result.ok) return result.ms;
  ctx.addIssue({ code: "custom", message: result.error });
  return z.NEVER;
}));

/** A google.protobuf.Duration that may be negative (duration.ts, parseSignedDurationMs), in milliseconds. */
export const signedDurationMs = lazySchema(() =>
  z.unknown().transform((value, ctx) => {
  const result = parseSignedDurationMs(value);
  if (result.ok) return result.ms;
  ctx.addIssue({ code: "custom", message: result.error });
  return z.NEVER;
}));

// Built at load, unlike the rest: its users refine it further (uint32.min(1)), which a lazy schema cannot be.
export const uint32 = z.number().int().min(0).max(0xffff_ffff);

/**
 * Envoy validates header names and values with `well_known_regex` in non-strict mode:
 * only NUL, CR and LF are refused (they would split or end the header line).
 */
const NO_NUL_CR_LF = /^[^\0\r\n]*$/;

/** A header name, lowercased as Envoy's LowerCaseString does. */
export const headerName = lazySchema(() =>
  z
  .string()
  .min(1)
  .regex(NO_NUL_CR_LF, { message: "must not contain NUL, CR or LF" })
  .transform((name) => name.toLowerCase()));

// Built at load, as uint32: refined further by its users (headerValue.max(16384)).
export const headerValue = z.string().regex(NO_NUL_CR_LF, { message: "must not contain NUL, CR or LF" });

/** An RE2 pattern (core/config/regex.ts), checked here and kept as text (the route table compiles it). */
const re2Regex = lazySchema(() =>
  z.string().min(1).superRefine((pattern, ctx) => {
  const result = compileRegex(pattern);
  if (!result.ok) ctx.addIssue({ code: "custom", message: result.error });
}));

/** A regex used as RE2::FullMatch (safe_regex, header and query parameter matchers). */
export const fullMatchRegex = re2Regex;

/** A regex used with RE2::GlobalReplace (regex_rewrite). */
export const replaceAllRegex = re2Regex;

/**
 * envoy.type.matcher.v3.RegexMatcher: `regex`, with the deprecated engine selector
 * `google_re2: {}` accepted and ignored (RE2 is the only engine).
 */
export const regexMatcher = lazySchema(() =>
  strictObject({ regex: fullMatchRegex, google_re2: strictObject({}).optional() })
  .transform((m) => m.regex));

/**
 * A proto oneof: at most one of `keys` may be set (and one must be, if `required`).
 * Reports at the object holding them; returns the key that is set.
 */
export function oneOf<K extends string>(
  object: Partial<Record<K, unknown>>,
  keys: readonly K[],
  ctx: z.RefinementCtx,
  required: boolean,
): K | undefined {
  const set = keys.filter((key) => object[key] !== undefined);
  if (set.length > 1) {
    ctx.addIssue({ code: "custom", message: `must set only one of ${keys.join(", ")} (got ${set.join(", ")})` });
  } else if (set.length === 0 && required) {
    ctx.addIssue({ code: "custom", message: `must set one of ${keys.join(", ")}` });
  }
  return set.length === 1 ? set[0] : undefined;
}
