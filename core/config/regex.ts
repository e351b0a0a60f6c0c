/**
 * Envoy's regexes (RegexMatcher.regex in safe_regex, header and query matchers, and
 * regex_rewrite's pattern) are RE2 (source/common/common/regex.h, CompiledGoogleReMatcher),
 * and so are they here: re2js, a pure-JavaScript port of RE2, matches in time linear in the
 * input, so no request can make a pattern backtrack — JavaScript's own RegExp can, for
 * seconds per request with `(a+)+` on some engines, or give up and report no match on others.
 * Patterns RE2 refuses (backreferences, lookaround, possessive `a++`…) are config errors.
 *
 * Not mirrored: Envoy's default `re2.max_program_size.error_level` of 100. It counts C++
 * RE2's byte-level instructions, which re2js does not compile (`.` is 12 of them there,
 * `\p{L}+` 1198; here 3 and 4), so the same check would refuse other patterns than Envoy's.
 * Matching stays linear whatever the size. `\C` (any byte) is refused, which RE2 accepts.
 */
import type { RE2JS } from "re2js";
import { latin1Encode } from "../util/latin1.ts";
import { regexEngine } from "./regex-engine.ts";

export type RegexResult = { ok: true; regex: CompiledRegex } | { ok: false; error: string };

/** A compiled RE2 pattern: RE2::FullMatch and RE2::GlobalReplace, as Envoy's CompiledMatcher. */
export class CompiledRegex {
  /**
   * @param re the pattern as written
   * @param full the same for FullMatch, without a leading `^` (fullMatchForm)
   */
  constructor(
    private readonly re: RE2JS,
    private readonly full: RE2JS,
  ) {}

  /** RE2::PartialMatch: anywhere in the value (the admin's `/stats?filter=`). */
  partialMatch(value: string): boolean {
    return this.re.test(matchInput(value));
  }

  /** RE2::FullMatch: the whole value, not a part of it (safe_regex and StringMatcher.safe_regex). */
  fullMatch(value: string): boolean {
    return this.full.testExact(matchInput(value));
  }

  /**
   * RE2::GlobalReplace(value, pattern, substitution), as regex_rewrite applies it: every
   * non-overlapping match left to right; `\0`–`\9` in the substitution are the groups,
   * `\\` a backslash, everything else (`$1` too) literal. An empty match right after the
   * previous match is skipped (RE2, unlike JavaScript's replace). A substitution naming a
   * group the pattern lacks leaves the value unchanged, as GlobalReplace refuses it.
   */
  replaceAll(value: string, substitution: string): string {
    if (maxGroupReference(substitution) > this.re.groupCount()) return value;
    const input = matchInput(value);
    // Offsets are UTF-8 byte offsets for byte input: one per character of a Latin-1 value.
    const matcher = this.re.matcher(input);
    const end = value.length;
    let out = "";
    let at = 0;
    let lastEnd = -1;
    let count = 0;
    while (at <= end && matcher.find(at)) {
      const start = matcher.start();
      const stop = matcher.end();
      out += value.slice(at, start);
      if (start === stop && start === lastEnd) {
        // Disallowed empty match at the end of the last one: copy one character (a whole
        // UTF-8 sequence of a byte value) and search again after it.
        const step = start < end ? characterLength(value, input, start) : 1;
        out += value.slice(start, start + step);
        at = start + step;
        continue;
      }
      out += rewrite(substitution, matcher, value);
      at = stop;
      lastEnd = stop;
      count++;
    }
    if (count === 0) return value;
    return out + value.slice(at);
  }
}

/**
 * Compile `pattern` with RE2's default options (UTF-8, case-sensitive, Perl classes).
 * Throws RegexEngineNotLoaded before the engine is loaded (regex-engine.ts).
 */
export function compileRegex(pattern: string): RegexResult {
  const { RE2JS } = regexEngine();
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    return { ok: false, error: `invalid regex ${JSON.stringify(pattern)}: ${describeError(err)}` };
  }
  const full = fullMatchForm(pattern);
  return { ok: true, regex: new CompiledRegex(re, full === pattern ? re : RE2JS.compile(full)) };
}

/**
 * The pattern for FullMatch without the `^` it may open with: a full match starts at the
 * start of the text, where `^` holds, so the two accept the same values (a `^` followed by
 * a repetition operator stays). Anchored at its start, a pattern can run on re2js's
 * one-pass matcher, which some engines run 3–4× slower than the DFA it uses otherwise
 * (bench/regex-engines.ts has the per-runtime figures).
 */
function fullMatchForm(pattern: string): string {
  return pattern.length > 1 && pattern[0] === "^" && !"*+?{".includes(pattern[1]!) ? pattern.slice(1) : pattern;
}

/**
 * Request paths and header values are Latin-1 strings, one character per byte
 * (core/util/latin1.ts). RE2 matches the bytes as UTF-8: an ASCII value reads the same
 * either way and is matched as it is; any other is matched as its bytes, so `é` in a
 * pattern matches the two bytes of its UTF-8 form, as in Envoy.
 */
function matchInput(value: string): string | Uint8Array {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) > 0x7f) return latin1Encode(value);
  return value;
}

/** How many bytes (= Latin-1 characters) the UTF-8 character at `at` takes; 1 for an invalid byte. */
function characterLength(value: string, input: string | Uint8Array, at: number): number {
  if (typeof input === "string") return 1;
  const lead = value.charCodeAt(at);
  const length = lead >= 0xf0 && lead <= 0xf4 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc2 && lead < 0xe0 ? 2 : 1;
  if (length === 1 || at + length > value.length) return 1;
  for (let i = 1; i < length; i++) if ((value.charCodeAt(at + i) & 0xc0) !== 0x80) return 1;
  return length;
}

/** The highest `\N` in a substitution (0 if none), as RE2's MaxSubmatch. */
function maxGroupReference(substitution: string): number {
  let max = 0;
  for (let i = 0; i < substitution.length; i++) {
    if (substitution.charCodeAt(i) !== 0x5c) continue;
    const c = substitution.charCodeAt(++i);
    if (c >= 0x30 && c <= 0x39) max = Math.max(max, c - 0x30);
  }
  return max;
}

/**
 * RE2::Rewrite: `\N` is group N (empty if it did not take part), `\\` a backslash. Any
 * other backslash makes RE2 stop the rewrite there (it logs "invalid rewrite pattern"),
 * keeping what it wrote so far.
 */
function rewrite(substitution: string, matcher: ReturnType<RE2JS["matcher"]>, value: string): string {
  let out = "";
  for (let i = 0; i < substitution.length; i++) {
    const c = substitution.charCodeAt(i);
    if (c !== 0x5c) {
      out += substitution[i];
      continue;
    }
    const next = substitution.charCodeAt(++i);
    if (next >= 0x30 && next <= 0x39) {
      const group = next - 0x30;
      const start = matcher.start(group);
      // Byte offsets, so sliced from the Latin-1 value rather than taken from group().
      if (start >= 0) out += value.slice(start, matcher.end(group));
    } else if (next === 0x5c) {
      out += "\\";
    } else {
      break;
    }
  }
  return out;
}

/**
 * RE2's error text (re2.cc, RE2::ErrorCodeText, then ": " and the offending part) for the
 * Go-worded error re2js gives; with a hint where RE2 reads a JavaScript or Perl feature
 * as something else.
 */
function describeError(err: unknown): string {
  if (!(err instanceof regexEngine().RE2JSSyntaxException)) return String((err as Error)?.message ?? err);
  let code = RE2_ERROR_TEXT[err.error] ?? err.error;
  let arg = err.input;
  // re2js reads "(?<=" as a bad group name; RE2 (parse.cc, since it took "(?<name>") says
  // what it is: an unsupported Perl operator.
  if (arg !== null && /^\(\?<[=!]/.test(arg)) [code, arg] = ["invalid perl operator", arg.slice(0, 4)];
  const text = err.error === "trailing backslash at end of expression" || arg === null ? code : `${code}: ${arg}`;
  const hint = UNSUPPORTED.find(([construct]) => construct.test(arg ?? ""))?.[1];
  return hint === undefined ? text : `${text} (${hint})`;
}

/** re2js's (Go's regexp/syntax) error codes, as C++ RE2 words them. */
const RE2_ERROR_TEXT: Record<string, string> = {
  "invalid character class": "invalid character class",
  "invalid character class range": "invalid character class range",
  "invalid escape sequence": "invalid escape sequence",
  "invalid named capture": "invalid named capture group",
  "invalid or unsupported Perl syntax": "invalid perl operator",
  "invalid nested repetition operator": "bad repetition operator",
  "invalid repeat count": "invalid repetition size",
  "missing closing ]": "missing ]",
  "missing closing )": "missing )",
  "missing argument to repetition operator": "no argument for repetition operator",
  "trailing backslash at end of expression": "trailing \\",
  "unexpected )": "unexpected )",
  "expression too large": "pattern too large - compile failed",
  "invalid UTF-8": "invalid UTF-8",
};

/** What users of other dialects reach for and RE2 lacks, by the part RE2 stopped at. */
const UNSUPPORTED: [RegExp, string][] = [
  [/^\\[1-9]/, "RE2 has no backreferences"],
  [/^\(\?<?[=!]/, "RE2 has no lookahead or lookbehind"],
  [/^\(\?>|^[*+?}]\+$/, "RE2 has no atomic groups or possessive quantifiers"],
];
