/** The HCM's path rules against Envoy's own cases (test/common/http/path_utility_test.cc, conn_manager_utility_test.cc). */
import { describe, expect, test } from "vitest";
import type { PathNormalizationConfig } from "../../../../core/config/bootstrap.ts";
import {
  canonicalPath,
  mergeSlashes,
  NormalizePathAction,
  normalizeRequestPath,
  unescapeSlashes,
} from "../../../../core/http/conn-manager/path-normalization.ts";

describe("canonicalPath (normalize_path, RFC 3986 §6 as Chromium's url::CanonicalizePath)", () => {
  test.each(["/xyz", "/x/y/z", "/A/B/C", "/a/%2F%2f/c", "/%c0%af", "/%5c%25", "/a:b@c;d=e!$&'()*+,[]"])("%s is already normal", (path) => {
    expect(canonicalPath(path)).toBe(path);
  });

  test.each([
    ["/a/b/../c", "/a/c"],
    ["/a/b/./c", "/a/b/c"],
    ["a/b/../c", "/a/c"],
    ["/a/b/../../../../c", "/c"],
    ["/a/..\\c", "/c"],
    ["/a/b/%2E%2E/c", "/a/c"],
    ["/a/b/%2e%2e/c", "/a/c"],
    ["/a/b/%2E./c", "/a/c"],
    ["/a/b/%2E/c", "/a/b/c"],
    ["..", "/"],
    ["/../a/b", "/a/b"],
    ["/./a/b", "/a/b"],
    ["/a/b/..", "/a/"],
    ["/a/b/.", "/a/b/"],
    ["/a/.b/..c/c..", "/a/.b/..c/c.."],
    ["/a%2Eb", "/a.b"],
    // Unreserved characters are decoded; reserved and unsafe ones stay (or become) escaped.
    ["/%41%7a%30%2D%5F%7E", "/Az0-_~"],
    ["/%3f%23", "/%3f%23"],
    ["/a b\"<>`{|}^", "/a%20b%22%3C%3E%60%7B%7C%7D%5E"],
    ["/\xe9", "/%E9"],
    ["/a\\b", "/a/b"],
    ["/100%", "/100%"],
    ["/%zz", "/%zz"],
    ["", "/"],
    // The query is left alone.
    ["/a/../b?x=/../y&%41", "/b?x=/../y&%41"],
  ])("%s → %s", (path, normal) => {
    expect(canonicalPath(path)).toBe(normal);
  });

  test.each(["/xyz/.%00../abc", "/xyz/%00.%00./abc", "/xyz/AAAAA%%0000/abc", "/a\x00b"])("%s cannot be normalized", (path) => {
    expect(canonicalPath(path)).toBeUndefined();
  });
});

describe("mergeSlashes", () => {
  test.each([
    ["", ""],
    ["a//b/c", "a/b/c"],
    ["/a//b/c/", "/a/b/c/"],
    ["a//b/c/", "a/b/c/"],
    ["/a", "/a"],
    ["//a/b/c", "/a/b/c"],
    ["/a//b/c", "/a/b/c"],
    ["/a/b/c//", "/a/b/c/"],
    ["/a////b/c", "/a/b/c"],
    ["/a//b?a=///c", "/a/b?a=///c"],
    ["/a//b?", "/a/b?"],
    ["//a/?b", "/a/?b"],
  ])("%s → %s", (path, merged) => {
    expect(mergeSlashes(path)).toBe(merged);
  });
});

describe("unescapeSlashes", () => {
  test.each([
    ["/a%2Fb%2fc%5Cd%5ce", "/a/b/c\\d\\e"],
    ["/a%2Fb?c=%2F", "/a/b?c=%2F"],
  ])("%s → %s", (path, unescaped) => {
    expect(unescapeSlashes(path)).toBe(unescaped);
  });

  test.each(["/a/b", "/a%2Eb", "/a?b=%2F", "/a%2"])("%s has none", (path) => {
    expect(unescapeSlashes(path)).toBeUndefined();
  });
});

describe("normalizeRequestPath (ConnectionManagerUtility::maybeNormalizePath)", () => {
  const rules = (over: Partial<PathNormalizationConfig>): PathNormalizationConfig => ({
    normalizePath: false,
    mergeSlashes: false,
    escapedSlashesAction: "KEEP_UNCHANGED",
    ...over,
  });

  test("escaped slashes: kept, refused, redirected or forwarded", () => {
    const path = "/a%2F..%2Fb";
    expect(normalizeRequestPath(path, rules({ normalizePath: true }))).toEqual({ action: NormalizePathAction.Continue, path });
    expect(normalizeRequestPath(path, rules({ escapedSlashesAction: "REJECT_REQUEST" })).action).toBe(NormalizePathAction.Reject);
    // Unescaped first, then normalized: the dot segment is seen.
    expect(normalizeRequestPath(path, rules({ escapedSlashesAction: "UNESCAPE_AND_REDIRECT", normalizePath: true }))).toEqual({
      action: NormalizePathAction.Redirect,
      path: "/b",
    });
    expect(normalizeRequestPath(path, rules({ escapedSlashesAction: "UNESCAPE_AND_FORWARD", normalizePath: true }))).toEqual({
      action: NormalizePathAction.Continue,
      path: "/b",
    });
    // Nothing escaped: nothing to redirect.
    expect(normalizeRequestPath("/a/b", rules({ escapedSlashesAction: "UNESCAPE_AND_REDIRECT" })).action).toBe(NormalizePathAction.Continue);
  });

  test("slashes merge after normalization (so escapes that decode next to a slash are caught)", () => {
    expect(normalizeRequestPath("/a/%2E//b", rules({ normalizePath: true, mergeSlashes: true })).path).toBe("/a/b");
    expect(normalizeRequestPath("/a/%2E//b", rules({ mergeSlashes: true })).path).toBe("/a/%2E/b");
  });

  test("a path that cannot be normalized is refused", () => {
    expect(normalizeRequestPath("/a%00", rules({ normalizePath: true })).action).toBe(NormalizePathAction.Reject);
  });
});
