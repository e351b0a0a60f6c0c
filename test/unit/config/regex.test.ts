/**
 * core/config/regex.ts: RE2 semantics as Envoy's CompiledGoogleReMatcher has them
 * (RE2::FullMatch and RE2::GlobalReplace). The expected values were checked against C++
 * RE2 (libre2 2022-06-01) — RE2's own answers, not JavaScript's.
 */
import { describe, expect, test } from "vitest";
import { type CompiledRegex, compileRegex } from "../../../core/config/regex.ts";
// Checks regexes synchronously: the RE2 engine loaded up front (core/config/regex-engine.ts).
import "../../../core/config/regex-engine-static.ts";

function re(pattern: string): CompiledRegex {
  const result = compileRegex(pattern);
  if (!result.ok) throw new Error(result.error);
  return result.regex;
}

/** A value as the HTTP/1 codec hands it over: the UTF-8 bytes of `text`, one character per byte. */
function wire(text: string): string {
  return String.fromCharCode(...new TextEncoder().encode(text));
}

describe("fullMatch is RE2::FullMatch", () => {
  test.each<[string, string, boolean]>([
    ["/users/[0-9]+", "/users/12", true],
    ["/users/[0-9]+", "/users/12/x", false],
    ["/users/[0-9]+", "x/users/12", false],
    // Every alternative is tried against the whole value, not only the first that matches a prefix.
    ["a|ab", "ab", true],
    ["^/api/v[0-9]+/users/[^/]+$", "/api/v2/users/bob", true],
    ["^/api/v[0-9]+/users/[^/]+$", "/api/v2/users/bob/x", false],
    // `$` is the end of the text: no final newline allowed, as in Perl.
    ["/a$", "/a\n", false],
    ["\\A/a\\z", "/a", true],
    ["a.b", "a\nb", false],
    ["(?s)a.b", "a\nb", true],
    ["(?i)abc", "ABC", true],
    ["(?U)a+", "aaa", true],
    ["\\Q.*\\E", ".*", true],
    ["\\Q.*\\E", "ab", false],
    ["[[:digit:]]+", "123", true],
    ["\\bfoo\\b", "foo", true],
    ["x*", "", true],
  ])("%j on %j: %s", (pattern, value, expected) => {
    expect(re(pattern).fullMatch(value)).toBe(expected);
  });

  // A leading `^` is dropped for FullMatch (core/config/regex.ts, fullMatchForm): the same answers.
  test.each<[string, string, boolean]>([
    ["^a|b", "b", true],
    ["^a|b", "a", true],
    ["^a|b", "ab", false],
    ["^*a", "a", true],
    ["^", "", true],
    ["^", "x", false],
    ["^|a", "", true],
    ["^|a", "a", true],
    ["^(?m)a", "a", true],
    ["^^a", "a", true],
    ["^{", "{", true],
    ["^$", "", true],
    ["^/products/\\d+$", "/products/123", true],
    ["^/products/\\d+$", "x/products/123", false],
  ])("leading ^: %j on %j: %s", (pattern, value, expected) => {
    expect(re(pattern).fullMatch(value)).toBe(expected);
  });

  // UTF-8: values are bytes; a character of the pattern matches its UTF-8 encoding.
  test.each<[string, string, boolean]>([
    ["/é+", "/éé", true],
    ["/.", "/é", true],
    ["/..", "/é", false],
    ["[^/]+", "é", true],
    ["\\pL+", "é", true],
    ["\\p{Greek}+", "αβ", true],
    ["(?i)é", "É", true],
    ["\\x{e9}", "é", true],
    ["[\\x{80}-\\x{10FFFF}]", "é", true],
    // Perl classes are ASCII in RE2.
    ["\\w+", "é", false],
    ["\\d+", "١٢", false],
  ])("UTF-8: %j on %j: %s", (pattern, text, expected) => {
    expect(re(pattern).fullMatch(wire(text))).toBe(expected);
  });

  test("a pattern that backtracks exponentially in JavaScript is linear here", () => {
    const nested = re("/(a+)+");
    const started = performance.now();
    expect(nested.fullMatch(`/${"a".repeat(50)}!`)).toBe(false);
    expect(re("/(a+)+b|/a+!").fullMatch(`/${"a".repeat(50)}!`)).toBe(true);
    expect(re("(x+x+)+y").fullMatch("x".repeat(20_000))).toBe(false);
    // Seconds (V8) or a silent no-match (JavaScriptCore) with a backtracking engine.
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe("replaceAll is RE2::GlobalReplace", () => {
  test.each<[string, string, string, string]>([
    ["^/(.*)/x$", "/a/b/x", "/\\1", "/a/b"],
    ["/v[0-9]+/", "/v1/a/v2/b", "/", "/a/b"],
    // An empty match right after a match is skipped (JavaScript's replace gives "-b--c-").
    ["a*", "baaac", "-", "-b-c-"],
    ["b*", "abc", "-", "-a-c-"],
    // \0–\9 and \\ are special; $1 is literal text; a group that did not take part is empty.
    ["(a)(b)?", "xaay", "[\\2\\1$1]", "x[a$1][a$1]y"],
    ["a", "a", "\\\\\\0", "\\a"],
    // A group the pattern lacks: GlobalReplace refuses, the value stays.
    ["a", "aa", "\\3", "aa"],
    // Any other escape ends the rewrite where it stands (RE2 logs "invalid rewrite pattern").
    ["(x)", "axb", "1\\q2", "a1b"],
    ["nomatch", "/a", "x", "/a"],
    // `^` holds at the start of the text only, not after the previous match.
    ["^a", "aa", "x", "xa"],
  ])("%j in %j by %j: %j", (pattern, value, substitution, expected) => {
    expect(re(pattern).replaceAll(value, substitution)).toBe(expected);
  });

  test("UTF-8 values: offsets are bytes, an empty match steps over a whole character", () => {
    expect(re("é").replaceAll(wire("/é/"), "e")).toBe("/e/");
    expect(re("").replaceAll(wire("/é"), "-")).toBe(wire("-/-é-"));
    expect(re("/([^/]+)$").replaceAll(wire("/a/ü"), "/x/\\1")).toBe(wire("/a/x/ü"));
  });
});

describe("patterns RE2 refuses are errors that say why", () => {
  test.each<[string, string]>([
    ["(a)\\1", 'invalid regex "(a)\\\\1": invalid escape sequence: \\1 (RE2 has no backreferences)'],
    ["/(?=a)", 'invalid regex "/(?=a)": invalid perl operator: (?= (RE2 has no lookahead or lookbehind)'],
    ["(?<!a)b", 'invalid regex "(?<!a)b": invalid perl operator: (?<! (RE2 has no lookahead or lookbehind)'],
    ["(?>a)", 'invalid regex "(?>a)": invalid perl operator: (?> (RE2 has no atomic groups or possessive quantifiers)'],
    ["a*+", 'invalid regex "a*+": bad repetition operator: *+ (RE2 has no atomic groups or possessive quantifiers)'],
    ["(a", 'invalid regex "(a": missing ): (a'],
    ["a)", 'invalid regex "a)": unexpected ): a)'],
    ["[a", 'invalid regex "[a": missing ]: [a'],
    ["[z-a]", 'invalid regex "[z-a]": invalid character class range: z-a'],
    ["a\\", 'invalid regex "a\\\\": trailing \\'],
    ["*a", 'invalid regex "*a": no argument for repetition operator: *'],
    ["a{1001}", 'invalid regex "a{1001}": invalid repetition size: {1001}'],
    ["\\pX", 'invalid regex "\\\\pX": invalid character class range: \\pX'],
    ["(?z)", 'invalid regex "(?z)": invalid perl operator: (?z'],
  ])("%j", (pattern, error) => {
    expect(compileRegex(pattern)).toEqual({ ok: false, error });
  });

  test("RE2 syntax JavaScript lacks compiles", () => {
    for (const pattern of ["(?P<id>[0-9]+)", "(?<id>[0-9]+)", "\\pN+", "[[:alpha:]]", "\\Qa.b\\E", "a(?i)b", "(?s:.)", "\\z"]) {
      expect(compileRegex(pattern).ok, pattern).toBe(true);
    }
  });
});
