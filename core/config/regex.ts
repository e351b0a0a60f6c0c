/**
 * Envoy's regexes (RegexMatcher.regex, safe_regex, regex_rewrite) are RE2 syntax; we run
 * them as JavaScript RegExps. The common subset reads the same. Two RE2 spellings are
 * translated: a leading `(?i)` (becomes the `i` flag) and `(?P<name>` (named group).
 * Everything else that the two read differently is refused, so a config never means
 * something other than it does in Envoy: JS-only features (Envoy would reject them) and
 * RE2-only ones (a JS RegExp would reject them or, worse, silently match otherwise).
 */

export type RegexResult = { ok: true; regex: RegExp } | { ok: false; error: string };

const UNPORTABLE: [RegExp, string][] = [
  // RE2 guarantees linear time, so it has neither.
  [/\(\?<?[=!]|\\[1-9]|\\k</, "lookaround and backreferences are not RE2 syntax"],
  // Without the `u` flag, JS reads \p{L} as "p{L}" and [[:digit:]] as a set of characters.
  [
    /\\[pPQEzAC]|\[\[:|\(\?[imsU-]+[:)]/,
    "RE2's \\p{..} classes, [[:..:]] classes, \\Q..\\E, \\A, \\z, \\C and inline flags (but a leading (?i)) are not supported yet",
  ],
];

/** Compile for RE2::FullMatch, as Envoy's safe_regex path and header matchers use. */
export function compileFullMatch(pattern: string): RegexResult {
  return compile(pattern, (source) => `^(?:${source})$`, "");
}

/** Compile for replace-all (RE2::GlobalReplace), as regex_rewrite uses. */
export function compileReplaceAll(pattern: string): RegexResult {
  return compile(pattern, (source) => source, "g");
}

function compile(pattern: string, wrap: (source: string) => string, flags: string): RegexResult {
  let source = pattern.replace(/\(\?P</g, "(?<");
  if (source.startsWith("(?i)")) {
    source = source.slice(4);
    flags += "i";
  }
  for (const [construct, reason] of UNPORTABLE) {
    if (construct.test(source)) return { ok: false, error: `invalid regex ${JSON.stringify(pattern)}: ${reason}` };
  }
  try {
    // Compiled alone first so that an error names the user's pattern, not the wrapper.
    new RegExp(source, flags);
    return { ok: true, regex: new RegExp(wrap(source), flags) };
  } catch (err) {
    // Engines word this differently ("Invalid regular expression: /(/: Unterminated group" is one).
    const reason = String((err as Error).message ?? err)
      .replace(/^Invalid regular expression:\s*/, "")
      .replace(/^\/.*\/[a-z]*:\s*/, "");
    return { ok: false, error: `invalid regex ${JSON.stringify(pattern)}: ${reason}` };
  }
}
