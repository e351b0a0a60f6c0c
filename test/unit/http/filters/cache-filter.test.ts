/**
 * The cache filter (core/http/filters/cache/cache-filter.ts) driven call by call with stub
 * callbacks and a hand-set clock: what the e2e test cannot pin — a body stored from several
 * chunks, nothing stored from a reset or a response with trailers, freshness running out.
 */
import { describe, expect, test } from "vitest";
import { CacheFilter, CacheFilterConfig } from "../../../../core/http/filters/cache/cache-filter.ts";
import { SimpleHttpCache } from "../../../../core/http/filters/cache/simple-http-cache.ts";
import { FilterHeadersStatus, type DecoderFilterCallbacks, type EncoderFilterCallbacks } from "../../../../core/http/filter.ts";
import { HeaderMap } from "../../../../core/http/header-map.ts";
import { RequestHeaders, ResponseHeaders } from "../../../../core/http/message.ts";
import { StreamInfo } from "../../../../core/http/stream-info.ts";
import type { ServerContext } from "../../../../core/server-context.ts";
import type { CacheConfig } from "../../../../core/config/bootstrap.ts";

const CONFIG: CacheConfig = { disabled: false, allowedVaryHeaders: [], maxBodyBytes: 0, ignoreRequestCacheControlHeader: false };
const text = (s: string) => new TextEncoder().encode(s);

function setup() {
  const clock = { now: Date.UTC(2026, 11, 6) };
  const server = { runtime: { wallClock: () => clock.now, defer: (f: () => void) => f() } } as unknown as ServerContext;
  const store = new SimpleHttpCache();
  const shared = new CacheFilterConfig(CONFIG, store, server);
  /** One stream: the request, and what the filter answered itself (if it did). */
  const stream = (path = "/a") => {
    const filter = new CacheFilter(shared);
    const served: { status?: number; headers?: ResponseHeaders; body: string } = { body: "" };
    const streamInfo = new StreamInfo(0);
    filter.setDecoderFilterCallbacks({
      streamInfo,
      encodeHeaders: (headers: ResponseHeaders) => {
        served.status = headers.status;
        served.headers = headers;
      },
      encodeData: (data: Uint8Array) => (served.body += new TextDecoder().decode(data)),
    } as unknown as DecoderFilterCallbacks);
    filter.setEncoderFilterCallbacks({} as EncoderFilterCallbacks);
    const request = new RequestHeaders();
    request.path = path;
    request.authority = "h";
    const status = filter.decodeHeaders(request, true);
    return { filter, served, status, streamInfo };
  };
  const response = (fields: Record<string, string>) => {
    const headers = new ResponseHeaders(200);
    for (const [name, value] of Object.entries(fields)) headers.add(name, value);
    headers.add("date", new Date(clock.now).toUTCString());
    return headers;
  };
  return { clock, store, stream, response };
}

describe("cache filter", () => {
  test("a body in several chunks is stored whole at its end, and served with age, RFCF and its details", () => {
    const { clock, stream, response } = setup();
    const first = stream();
    expect(first.status).toBe(FilterHeadersStatus.Continue);
    first.filter.encodeHeaders(response({ "cache-control": "max-age=60" }), false);
    first.filter.encodeData(text("hello "), false);
    first.filter.encodeData(text("world"), true);
    first.filter.onDestroy();
    clock.now += 7_000;
    const second = stream();
    expect(second.status).toBe(FilterHeadersStatus.StopIteration);
    expect([second.served.status, second.served.body, second.served.headers?.get("age")]).toEqual([200, "hello world", "7"]);
    expect([second.streamInfo.responseFlags, second.streamInfo.responseCodeDetails]).toEqual([["RFCF"], "cache.response_from_cache_filter"]);
    // Past max-age, without validators: the request goes upstream as it is.
    clock.now += 60_000;
    const third = stream();
    expect([third.status, third.served.status]).toEqual([FilterHeadersStatus.Continue, undefined]);
  });

  test("a response reset before its end, or with trailers, is not stored", () => {
    const { store, stream, response } = setup();
    const reset = stream("/reset");
    reset.filter.encodeHeaders(response({ "cache-control": "max-age=60" }), false);
    reset.filter.encodeData(text("part"), false);
    reset.filter.onDestroy();
    const trailers = stream("/trailers");
    trailers.filter.encodeHeaders(response({ "cache-control": "max-age=60" }), false);
    trailers.filter.encodeData(text("body"), false);
    trailers.filter.encodeTrailers(new HeaderMap());
    trailers.filter.onDestroy();
    expect(store.size).toBe(0);
  });

  test("a 304 to a validation is answered with the stored body, injected after the headers", () => {
    const { clock, stream, response } = setup();
    const first = stream();
    first.filter.encodeHeaders(response({ "cache-control": "no-cache", etag: '"e"' }), false);
    first.filter.encodeData(text("stored"), true);
    clock.now += 1000;
    const filter = new CacheFilter((first.filter as unknown as { shared: CacheFilterConfig }).shared);
    const injected: string[] = [];
    filter.setDecoderFilterCallbacks({ streamInfo: new StreamInfo(0) } as unknown as DecoderFilterCallbacks);
    filter.setEncoderFilterCallbacks({ injectEncodedDataToFilterChain: (data: Uint8Array, end: boolean) => injected.push(`${new TextDecoder().decode(data)} ${end}`) } as unknown as EncoderFilterCallbacks);
    const request = new RequestHeaders();
    request.path = "/a";
    request.authority = "h";
    expect(filter.decodeHeaders(request, true)).toBe(FilterHeadersStatus.Continue);
    expect(request.get("if-none-match")).toBe('"e"');
    const notModified = new ResponseHeaders(304);
    notModified.add("etag", '"e"');
    notModified.add("x-new", "1");
    expect(filter.encodeHeaders(notModified, true)).toBe(FilterHeadersStatus.ContinueAndDontEndStream);
    expect([notModified.status, notModified.get("x-new"), notModified.get("cache-control"), notModified.get("age")]).toEqual([200, "1", "no-cache", undefined]);
    expect(injected).toEqual(["stored true"]);
  });
});
