/**
 * One runtime value as Envoy keeps it (Runtime::Snapshot::Entry, runtime_impl.h/.cc):
 * the raw string, and what it parses as — a bool, an unsigned integer (a non-negative
 * double, floored), a double, or a FractionalPercent written as YAML or JSON
 * (`numerator: 5` / `{"numerator": 5, "denominator": "TEN_THOUSAND"}`).
 */
import { parseDocument } from "yaml";
import type { FractionalPercent } from "../config/bootstrap.ts";

export interface RuntimeEntry {
  readonly raw: string;
  readonly bool?: boolean;
  readonly uint?: number;
  readonly double?: number;
  readonly fraction?: FractionalPercent;
}

const DENOMINATORS: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/** Envoy's SnapshotImpl::createEntry → resolveEntryType: bool, then number, then FractionalPercent. */
export function createEntry(raw: string): RuntimeEntry {
  const entry: { raw: string; bool?: boolean; uint?: number; double?: number; fraction?: FractionalPercent } = { raw };
  const stripped = raw.trim();
  // parseEntryBooleanValue: an integer also reads as a bool (non-zero), and parsing goes on.
  if (/^\d+$/.test(stripped)) {
    entry.bool = Number(stripped) !== 0;
  } else if (stripped.toLowerCase() === "true" || stripped.toLowerCase() === "false") {
    entry.bool = stripped.toLowerCase() === "true";
    return entry;
  }
  // parseEntryDoubleValue (absl::SimpleAtod: surrounding whitespace allowed).
  const number = stripped === "" ? NaN : Number(stripped);
  if (Number.isFinite(number)) {
    entry.double = number;
    if (number >= 0) entry.uint = Math.floor(number);
    return entry;
  }
  const fraction = parseFraction(raw);
  if (fraction !== undefined) entry.fraction = fraction;
  return entry;
}

/**
 * What a FractionalPercent's text can be: two short fields in one flow or block mapping,
 * YAML or JSON. A value longer, with a character no such text has (`?`, `[`, `&`, `*`, `!`,
 * `#`, `|`…), or more braces, colons or commas than one such mapping has stays a plain string without going through yaml,
 * whose time grows with nesting: 20,000 nested `{` aborted node out of memory, 512
 * characters of nested complex keys (`? ? ? …`) took seconds (a /runtime_modify, an RTDS
 * resource), stalling every request meanwhile.
 */
export const MAX_FRACTION_TEXT = 1024;
const NOT_IN_A_FRACTION = /[^\w\s"':,.+{}-]/;

export function mayBeFraction(raw: string): boolean {
  if (raw.length > MAX_FRACTION_TEXT || NOT_IN_A_FRACTION.test(raw)) return false;
  // One mapping of at most two fields: one brace pair, two colons, one comma, one sign.
  return count(raw, "{") <= 1 && count(raw, "}") <= 1 && count(raw, ":") <= 2 && count(raw, ",") <= 1 && count(raw, "-") <= 1;
}

function count(text: string, char: string): number {
  let n = 0;
  for (let i = text.indexOf(char); i >= 0; i = text.indexOf(char, i + 1)) n++;
  return n;
}

/** parseEntryFractionalPercentValue: a FractionalPercent message in YAML or JSON, strictly (unknown fields refuse). */
function parseFraction(raw: string): FractionalPercent | undefined {
  if (!mayBeFraction(raw)) return undefined;
  // Bad YAML is no FractionalPercent: parseDocument collects syntax and tag errors, it
  // does not throw them. What it throws is not about the value (yaml failing to load: a
  // node lazy script, bin/node-code-cache.js) and goes up.
  const document = parseDocument(raw, { prettyErrors: false });
  if (document.errors.length > 0) return undefined;
  let value: unknown;
  try {
    value = document.toJS();
  } catch (err) {
    // What the syntax allowed but has no value: an alias without its anchor or more
    // aliases than maxAliasCount (yaml's Alias.resolve: ReferenceError), a YAML 1.1 merge
    // key of no map (yaml-1.1/merge.js: a plain Error). Anything else (a TypeError) is a bug.
    if (err instanceof ReferenceError || (err instanceof Error && Object.getPrototypeOf(err) === Error.prototype)) return undefined;
    throw err;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  const fields = value as Record<string, unknown>;
  for (const key of Object.keys(fields)) if (key !== "numerator" && key !== "denominator") return undefined;
  const numerator = fields.numerator ?? 0;
  const denominator = fields.denominator ?? "HUNDRED";
  if (typeof numerator !== "number" || !Number.isInteger(numerator) || numerator < 0 || numerator > 0xffff_ffff) return undefined;
  // An enum by name (any case, as Envoy's loader reads enums) or by number.
  const scale = typeof denominator === "string" ? DENOMINATORS[denominator.toUpperCase()] : typeof denominator === "number" ? [100, 10_000, 1_000_000][denominator] : undefined;
  if (scale === undefined) return undefined;
  return { numerator, denominator: scale };
}
