/**
 * The checksum filter (core/http/filters/checksum.ts) driven by hand, as Envoy's
 * checksum_filter_test.cc drives it: the first matching checksum by path (query left out),
 * reject_unmatched's 403, a body hashed across pieces, a mismatch at its end (or at the
 * trailers) and a bodiless response answered with Envoy's local replies; and the config's
 * checks.
 */
import { createHash } from "node:crypto";
import { describe, expect, test } from "vitest";
import type { ChecksumConfig } from "../../../../core/config/bootstrap.ts";
import { FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, type DecoderFilterCallbacks, type EncoderFilterCallbacks } from "../../../../core/http/filter.ts";
import { ChecksumFilter, checksumFilterConfig } from "../../../../core/http/filters/checksum.ts";
import { HeaderMap } from "../../../../core/http/header-map.ts";
import { RequestHeaders, ResponseHeaders } from "../../../../core/http/message.ts";
import { filterConfig, HCM_FILTERS, problems } from "../../config/http-filter-config.ts";

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.checksum.v3alpha.ChecksumConfig";
const text = (s: string) => new TextEncoder().encode(s);
const sha = (s: string) => createHash("sha256").update(s).digest("hex");

const CONFIG: ChecksumConfig = {
  checksums: [
    { pathMatcher: { type: "exact", value: "/foo", ignoreCase: false }, sha256: sha("FOO") },
    { pathMatcher: { type: "prefix", value: "/f", ignoreCase: false }, sha256: sha("F") },
  ],
  rejectUnmatched: false,
};

function stream(path: string, config: ChecksumConfig = CONFIG) {
  const replies: [number, string, string][] = [];
  /** What the filter passed on in place of a data call's piece, or added before trailers. */
  const passed: string[] = [];
  const decode = (data: Uint8Array) => new TextDecoder().decode(data);
  const callbacks = {
    sendLocalReply: (status: number, body: string, details: string) => void replies.push([status, body, details]),
    replaceEncodedData: (data: Uint8Array) => void passed.push(decode(data)),
    addEncodedData: (data: Uint8Array) => void passed.push(`+${decode(data)}`),
  };
  const filter = new ChecksumFilter(checksumFilterConfig(config));
  filter.setDecoderFilterCallbacks(callbacks as unknown as DecoderFilterCallbacks);
  filter.setEncoderFilterCallbacks(callbacks as unknown as EncoderFilterCallbacks);
  const headers = new RequestHeaders();
  headers.method = "GET";
  headers.path = path;
  return { filter, headers, replies, passed };
}

describe("checksum filter", () => {
  test("a matching body passes, hashed across pieces, one piece behind; the path's query is not matched", () => {
    const s = stream("/foo?x=1");
    expect(s.filter.decodeHeaders(s.headers, true)).toBe(FilterHeadersStatus.Continue);
    expect(s.filter.encodeHeaders(new ResponseHeaders(200), false)).toBe(FilterHeadersStatus.Continue);
    // The first piece is held (an empty one goes on in its place, with Continue: never a
    // StopIteration, which would have the filter manager buffer against its limit); each next
    // one passes the one before on; the end passes what is held with it.
    expect(s.filter.encodeData(text("F"), false)).toBe(FilterDataStatus.Continue);
    expect(s.filter.encodeData(text("O"), false)).toBe(FilterDataStatus.Continue);
    expect(s.filter.encodeData(text("O"), true)).toBe(FilterDataStatus.Continue);
    expect(s.passed).toEqual(["", "F", "OO"]);
    expect(s.replies).toEqual([]);
  });

  test("a mismatch withholds the body's last piece, even when the end comes as an empty piece", () => {
    const s = stream("/foo");
    s.filter.decodeHeaders(s.headers, true);
    s.filter.encodeHeaders(new ResponseHeaders(200), false);
    expect(s.filter.encodeData(text("BAR"), false)).toBe(FilterDataStatus.Continue);
    expect(s.filter.encodeData(new Uint8Array(0), true)).toBe(FilterDataStatus.StopIterationNoBuffer);
    expect(s.passed).toEqual([""]);
    expect(s.replies).toEqual([[403, "Mismatched checksum", "mismatched_checksum"]]);
  });

  test("the first matching checksum is the one: /foo's, not /f's", () => {
    const s = stream("/foo");
    s.filter.decodeHeaders(s.headers, true);
    s.filter.encodeHeaders(new ResponseHeaders(200), false);
    expect(s.filter.encodeData(text("F"), true)).toBe(FilterDataStatus.StopIterationNoBuffer);
    expect(s.replies).toEqual([[403, "Mismatched checksum", "mismatched_checksum"]]);
  });

  test("a mismatch found at the trailers", () => {
    const s = stream("/fa");
    s.filter.decodeHeaders(s.headers, true);
    s.filter.encodeHeaders(new ResponseHeaders(200), false);
    s.filter.encodeData(text("G"), false);
    expect(s.filter.encodeTrailers(new HeaderMap())).toBe(FilterTrailersStatus.StopIteration);
    expect(s.replies).toEqual([[403, "Mismatched checksum", "mismatched_checksum"]]);
    expect(s.passed).toEqual([""]);
    const ok = stream("/fa");
    ok.filter.decodeHeaders(ok.headers, true);
    ok.filter.encodeHeaders(new ResponseHeaders(200), false);
    ok.filter.encodeData(text("F"), false);
    expect(ok.filter.encodeTrailers(new HeaderMap())).toBe(FilterTrailersStatus.Continue);
    expect(ok.passed).toEqual(["", "+F"]);
    expect(ok.replies).toEqual([]);
  });

  test("a matched response without a body: 403 checksum_but_no_body", () => {
    const s = stream("/foo");
    s.filter.decodeHeaders(s.headers, true);
    expect(s.filter.encodeHeaders(new ResponseHeaders(200), true)).toBe(FilterHeadersStatus.StopIteration);
    expect(s.replies).toEqual([[403, "Expected checksum has value but response has no body", "checksum_but_no_body"]]);
  });

  test("an unmatched path passes unless reject_unmatched: then 403 no_checksum_for_path", () => {
    const s = stream("/bar");
    expect(s.filter.decodeHeaders(s.headers, true)).toBe(FilterHeadersStatus.Continue);
    s.filter.encodeHeaders(new ResponseHeaders(200), true);
    expect(s.filter.encodeData(text("anything"), true)).toBe(FilterDataStatus.Continue);
    expect(s.replies).toEqual([]);
    const strict = stream("/bar", { ...CONFIG, rejectUnmatched: true });
    expect(strict.filter.decodeHeaders(strict.headers, true)).toBe(FilterHeadersStatus.StopIteration);
    expect(strict.replies).toEqual([[403, "No checksum for path", "no_checksum_for_path"]]);
  });
});

describe("ChecksumConfig", () => {
  test("checksums and reject_unmatched; the digest lowercased", () => {
    const config = filterConfig({ name: "envoy.filters.http.checksum", typed_config: { "@type": TYPE, checksums: [{ path_matcher: { exact: "/foo" }, sha256: sha("FOO").toUpperCase() }], reject_unmatched: true } });
    expect(config).toEqual({ checksums: [{ pathMatcher: expect.objectContaining({ type: "exact", value: "/foo" }), sha256: sha("FOO") }], rejectUnmatched: true });
  });

  test("a digest that is not 64 hex digits, a checksum without a path_matcher, an unknown field: refused by field", () => {
    const filter = (config: object) => ({ name: "envoy.filters.http.checksum", typed_config: { "@type": TYPE, ...config } });
    expect(problems(filter({ checksums: [{ path_matcher: { exact: "/a" }, sha256: "abc" }] }))).toEqual([`${HCM_FILTERS}.checksums[0].sha256: must be a SHA-256 in hex: 64 hex digits`]);
    expect(problems(filter({ checksums: [{ sha256: sha("") }] }))[0]).toContain(`${HCM_FILTERS}.checksums[0].path_matcher`);
    expect(problems(filter({ reject_unmatchd: true }))[0]).toContain("reject_unmatchd");
  });
});
