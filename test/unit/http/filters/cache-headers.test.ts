/**
 * The HTTP cache's rules (core/http/filters/cache/cache-headers.ts) and its store
 * (simple-http-cache.ts), against Envoy's cache_headers_utils_test.cc, cacheability_utils_test.cc
 * and http_cache_test.cc cases and RFC 9111.
 */
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import {
  byteRange,
  canServeRequestFromCache,
  currentAge,
  httpTime,
  isCacheableResponse,
  parseDeltaSeconds,
  parseRequestCacheControl,
  parseResponseCacheControl,
  requestCacheControl,
  requiresValidation,
  VaryAllowList,
} from "../../../../core/http/filters/cache/cache-headers.ts";
import { SimpleHttpCache, type CacheEntry } from "../../../../core/http/filters/cache/simple-http-cache.ts";
import { HeaderMap } from "../../../../core/http/header-map.ts";
import { RequestHeaders, ResponseHeaders } from "../../../../core/http/message.ts";

const NOW = Date.UTC(2026, 11, 6, 4, 0, 0);
const DATE = new Date(NOW).toUTCString();

function headers(fields: Record<string, string>): HeaderMap {
  const map = new HeaderMap();
  for (const [name, value] of Object.entries(fields)) map.add(name, value);
  return map;
}

function response(status: number, fields: Record<string, string>): ResponseHeaders {
  const map = new ResponseHeaders(status);
  for (const [name, value] of Object.entries(fields)) map.add(name, value);
  return map;
}

function request(fields: Record<string, string> = {}, method = "GET"): RequestHeaders {
  const map = new RequestHeaders();
  map.method = method;
  map.path = "/p";
  map.authority = "host";
  for (const [name, value] of Object.entries(fields)) map.add(name, value);
  return map;
}

describe("cache-control", () => {
  test("request directives (Envoy's RequestCacheControl)", () => {
    expect(parseRequestCacheControl('no-cache, no-store, no-transform, only-if-cached, max-age="10", min-fresh=5, max-stale')).toEqual({
      mustValidate: true,
      noStore: true,
      noTransform: true,
      onlyIfCached: true,
      maxAge: 10,
      minFresh: 5,
      maxStale: Infinity,
    });
    expect(parseRequestCacheControl("max-stale=3, max-age=-1, min-fresh=abc")).toEqual({ mustValidate: false, noStore: false, noTransform: false, onlyIfCached: false, maxStale: 3, maxAge: undefined, minFresh: undefined });
  });

  test("response directives: private is no-store; s-maxage wins over max-age in either order; must-revalidate/proxy-revalidate forbid stale", () => {
    expect(parseResponseCacheControl("private").noStore).toBe(true);
    expect(parseResponseCacheControl("max-age=10, s-maxage=20").maxAge).toBe(20);
    expect(parseResponseCacheControl("s-maxage=20, max-age=10").maxAge).toBe(20);
    expect(parseResponseCacheControl("proxy-revalidate").noStale).toBe(true);
    expect(parseResponseCacheControl("Public, No-Cache").isPublic && parseResponseCacheControl("Public, No-Cache").mustValidate).toBe(true);
  });

  test("pragma: no-cache counts only without cache-control, and neither with ignore_request_cache_control_header", () => {
    expect(requestCacheControl(headers({ pragma: "no-cache" }), false).mustValidate).toBe(true);
    expect(requestCacheControl(headers({ pragma: "no-cache", "cache-control": "max-age=5" }), false).mustValidate).toBe(false);
    expect(requestCacheControl(headers({ pragma: "no-cache", "cache-control": "no-cache, no-store" }), true)).toMatchObject({ mustValidate: false, noStore: false });
  });

  test("delta-seconds: digits (quoted or not) only; any list of directives parses without throwing", () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 31 }), (n) => parseDeltaSeconds(String(n)) === n && parseDeltaSeconds(`"${n}"`) === n),
    );
    expect(parseDeltaSeconds("1e3")).toBeUndefined();
    expect(parseDeltaSeconds("99999999999999")).toBe(2 ** 31);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom("max-age", "s-maxage", "no-cache", "private", "max-stale", "x"), fc.option(fc.string()))), (parts) => {
        const value = parts.map(([d, a]) => (a === null ? d : `${d}=${a}`)).join(", ");
        parseRequestCacheControl(value);
        const cc = parseResponseCacheControl(value);
        return cc.maxAge === undefined || (Number.isInteger(cc.maxAge) && cc.maxAge >= 0);
      }),
    );
  });
});

describe("HTTP dates", () => {
  test("the three forms of RFC 9110 §5.6.7; anything else is undefined", () => {
    const t = Date.UTC(1994, 10, 6, 8, 49, 37);
    expect(httpTime("Sun, 06 Nov 1994 08:49:37 GMT")).toBe(t);
    expect(httpTime("Sunday, 06-Nov-94 08:49:37 GMT")).toBe(t);
    expect(httpTime("Sun Nov  6 08:49:37 1994")).toBe(t);
    expect(httpTime("yesterday")).toBeUndefined();
    expect(httpTime(undefined)).toBeUndefined();
  });

  test("every IMF-fixdate the clock can write parses back", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 4102444800 }), (s) => httpTime(new Date(s * 1000).toUTCString()) === s * 1000));
  });
});

describe("cacheability", () => {
  const allowNone = new VaryAllowList([]);

  test("requests: GET or HEAD with path and host, no authorization, no if-none-match / if-modified-since / if-range", () => {
    expect(canServeRequestFromCache(request())).toBe(true);
    expect(canServeRequestFromCache(request({}, "HEAD"))).toBe(true);
    expect(canServeRequestFromCache(request({}, "POST"))).toBe(false);
    expect(canServeRequestFromCache(request({ authorization: "x" }))).toBe(false);
    for (const name of ["if-none-match", "if-modified-since", "if-range"]) expect(canServeRequestFromCache(request({ [name]: "x" }))).toBe(false);
    // Caches may ignore these (RFC 9110 §13.1.1, §13.1.4).
    expect(canServeRequestFromCache(request({ "if-match": "x", "if-unmodified-since": DATE }))).toBe(true);
  });

  test("responses: a cacheable status, a freshness lifetime, neither no-store nor private, vary allowed", () => {
    expect(isCacheableResponse(response(200, { "cache-control": "max-age=10" }), allowNone)).toBe(true);
    expect(isCacheableResponse(response(200, { "cache-control": "no-cache" }), allowNone)).toBe(true);
    expect(isCacheableResponse(response(200, { date: DATE, expires: DATE }), allowNone)).toBe(true);
    expect(isCacheableResponse(response(200, { expires: DATE }), allowNone)).toBe(false);
    expect(isCacheableResponse(response(200, {}), allowNone)).toBe(false);
    expect(isCacheableResponse(response(200, { "cache-control": "private, max-age=10" }), allowNone)).toBe(false);
    expect(isCacheableResponse(response(200, { "cache-control": "no-store, max-age=10" }), allowNone)).toBe(false);
    expect(isCacheableResponse(response(302, { "cache-control": "max-age=10" }), allowNone)).toBe(false);
    expect(isCacheableResponse(response(404, { "cache-control": "max-age=10" }), allowNone)).toBe(true);
    const allowed = new VaryAllowList([{ type: "exact", value: "accept-encoding", ignoreCase: false }]);
    expect(isCacheableResponse(response(200, { "cache-control": "max-age=10", vary: "Accept-Encoding" }), allowed)).toBe(true);
    expect(isCacheableResponse(response(200, { "cache-control": "max-age=10", vary: "accept-encoding, user-agent" }), allowed)).toBe(false);
    expect(isCacheableResponse(response(200, { "cache-control": "max-age=10", vary: "*" }), allowed)).toBe(false);
  });
});

describe("age and freshness", () => {
  const stored = (fields: Record<string, string>, responseTime = NOW) => ({ headers: headers(fields), responseTime });

  test("age: the larger of Date's apparent age and the Age received, plus the time resident (RFC 9111 §4.2.3)", () => {
    expect(currentAge(stored({ date: DATE }), NOW + 5_500)).toBe(5);
    expect(currentAge(stored({ date: new Date(NOW - 10_000).toUTCString() }), NOW + 1_000)).toBe(11);
    expect(currentAge(stored({ date: DATE, age: "30" }), NOW + 1_000)).toBe(31);
    // Without a Date, the time it was received stands in.
    expect(currentAge(stored({}), NOW + 2_000)).toBe(2);
  });

  test("validation is required by no-cache on either side, a request max-age exceeded, staleness, min-fresh", () => {
    const none = parseRequestCacheControl("");
    const fresh = headers({ "cache-control": "max-age=100" });
    expect(requiresValidation(none, fresh, 50)).toBe(false);
    expect(requiresValidation(none, fresh, 101)).toBe(true);
    // Fresh only while lifetime > age (RFC 9111 §4.2): max-age=0 is stale at once, max-age=100 at 100.
    expect(requiresValidation(none, headers({ "cache-control": "max-age=0" }), 0)).toBe(true);
    expect(requiresValidation(none, fresh, 100)).toBe(true);
    expect(requiresValidation(none, headers({ "cache-control": "max-age=100, no-cache" }), 0)).toBe(true);
    expect(requiresValidation(parseRequestCacheControl("no-cache"), fresh, 0)).toBe(true);
    expect(requiresValidation(parseRequestCacheControl("max-age=10"), fresh, 11)).toBe(true);
    expect(requiresValidation(parseRequestCacheControl("min-fresh=60"), fresh, 50)).toBe(true);
    expect(requiresValidation(parseRequestCacheControl("min-fresh=40"), fresh, 50)).toBe(false);
    // Stale within max-stale, unless must-revalidate.
    expect(requiresValidation(parseRequestCacheControl("max-stale=20"), fresh, 110)).toBe(false);
    expect(requiresValidation(parseRequestCacheControl("max-stale"), fresh, 1e6)).toBe(false);
    expect(requiresValidation(parseRequestCacheControl("max-stale=20"), headers({ "cache-control": "max-age=100, must-revalidate" }), 110)).toBe(true);
    // Expires − Date is the lifetime without max-age.
    const expires = headers({ date: DATE, expires: new Date(NOW + 60_000).toUTCString() });
    expect([requiresValidation(none, expires, 59), requiresValidation(none, expires, 61)]).toEqual([false, true]);
    // An invalid Expires is in the past (RFC 9111 §5.3).
    expect(requiresValidation(none, headers({ date: DATE, expires: "0" }), 0)).toBe(true);
  });
});

describe("byte ranges", () => {
  test("one range is cut; several, malformed, other units or the whole body serve it whole; past the end is 416", () => {
    expect(byteRange("bytes=0-4", 10)).toEqual({ begin: 0, end: 5 });
    expect(byteRange("bytes=5-", 10)).toEqual({ begin: 5, end: 10 });
    expect(byteRange("bytes=-3", 10)).toEqual({ begin: 7, end: 10 });
    expect(byteRange("bytes=8-100", 10)).toEqual({ begin: 8, end: 10 });
    expect(byteRange("bytes=0-", 10)).toBe("whole");
    expect(byteRange("bytes=-10", 10)).toBe("whole");
    expect(byteRange("bytes=0-1, 3-4", 10)).toBe("whole");
    expect(byteRange("bytes=5-2", 10)).toBe("whole");
    expect(byteRange("items=0-1", 10)).toBe("whole");
    expect(byteRange("bytes=10-", 10)).toBe("unsatisfiable");
    expect(byteRange("bytes=-0", 10)).toBe("unsatisfiable");
  });

  test("a cut range always lies within the body and is not all of it", () => {
    fc.assert(
      fc.property(fc.nat(100), fc.option(fc.nat(120)), fc.option(fc.nat(120)), (length, a, b) => {
        const r = byteRange(`bytes=${a ?? ""}-${b ?? ""}`, length);
        if (typeof r === "string") return true;
        return r.begin >= 0 && r.begin < r.end && r.end <= length && r.end - r.begin < length;
      }),
    );
  });
});

describe("SimpleHttpCache", () => {
  const allow = new VaryAllowList([{ type: "exact", value: "x-v", ignoreCase: false }]);
  const entry = (body: string, fields: Record<string, string> = {}): CacheEntry => ({ status: 200, headers: headers(fields), body: new TextEncoder().encode(body), responseTime: NOW });

  test("variants of a varied response are stored apart; a request whose vary header is not allowed misses", () => {
    const cache = new SimpleHttpCache();
    expect(cache.insert("k", headers({ "x-v": "a" }), allow, entry("a", { vary: "x-v" }))).toBe(true);
    expect(cache.insert("k", headers({ "x-v": "b" }), allow, entry("b", { vary: "x-v" }))).toBe(true);
    const text = (r: ReturnType<SimpleHttpCache["lookup"]>) => (r === undefined ? undefined : new TextDecoder().decode(r.entry.body));
    expect([text(cache.lookup("k", headers({ "x-v": "a" }), allow)), text(cache.lookup("k", headers({ "x-v": "b" }), allow)), text(cache.lookup("k", headers({}), allow))]).toEqual(["a", "b", undefined]);
    expect(cache.lookup("k", headers({ "x-v": "a" }), new VaryAllowList([]))).toBeUndefined();
  });

  test("an entry over the entry limit is refused; past the total the least recently used go first", () => {
    const cache = new SimpleHttpCache(100, 1000);
    expect(cache.insert("big", headers({}), allow, entry("x".repeat(101)))).toBe(false);
    for (const key of ["a", "b", "c", "d", "e", "f"]) cache.insert(key, headers({}), allow, entry("x".repeat(90)));
    // Each costs 90 + 128 + 1: four fit in 1000.
    expect(cache.bytes).toBeLessThanOrEqual(1000);
    expect(cache.size).toBe(4);
    expect(cache.lookup("a", headers({}), allow)).toBeUndefined();
    cache.lookup("c", headers({}), allow);
    cache.insert("g", headers({}), allow, entry("x".repeat(90)));
    expect(cache.lookup("c", headers({}), allow)).toBeDefined();
    expect(cache.lookup("d", headers({}), allow)).toBeUndefined();
  });

  test("a 304 updates the head but for content-length, etag, vary; the response time is the validation's", () => {
    const cache = new SimpleHttpCache();
    cache.insert("k", headers({}), allow, entry("body", { etag: '"1"', "content-length": "4", "x-a": "old", "x-b": "kept" }));
    const found = cache.lookup("k", headers({}), allow)!;
    const updated = cache.updateHeaders(found.key, found.entry, headers({ etag: '"2"', "content-length": "0", "x-a": "new" }), NOW + 5000);
    expect(updated.headers.entries()).toEqual([["etag", '"1"'], ["content-length", "4"], ["x-b", "kept"], ["x-a", "new"]]);
    expect(cache.lookup("k", headers({}), allow)!.entry).toBe(updated);
    expect(updated.responseTime).toBe(NOW + 5000);
  });
});
