/**
 * Envoy's cache HTTP filter (source/extensions/filters/http/cache/cache_filter.cc) with the
 * SimpleHttpCacheConfig storage: a GET or HEAD the cache may answer (cache-headers.ts) is
 * looked up; a usable entry is served from memory with its `age`, the response flag RFCF and
 * details cache.response_from_cache_filter; one that must be validated first sends the
 * request upstream with its validators (if-none-match, if-modified-since), and a 304 is
 * answered with the stored response, its head updated; anything else goes upstream, and a
 * cacheable response is stored as it streams to the client (its body copied aside, never
 * held back; past the entry limit the copy is dropped and the response still served). A
 * single byte range is cut from a usable stored 200 (206, or 416 when it is beyond the body).
 */
import type { CacheConfig } from "../../../config/bootstrap.ts";
import type { ServerContext } from "../../../server-context.ts";
import { CoreResponseFlag } from "../../../stream-info/response-flags.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type EncoderFilterCallbacks,
  type StreamFilter,
} from "../../filter.ts";
import { HeaderMap } from "../../header-map.ts";
import { ResponseHeaders, type RequestHeaders } from "../../message.ts";
import { PerConfig } from "../../../util/per-config.ts";
import { byteRange, type ByteRange, canServeRequestFromCache, currentAge, isCacheableResponse, requestCacheControl, requiresValidation, VaryAllowList } from "./cache-headers.ts";
import { simpleHttpCache, type CacheEntry, type CacheKey, type SimpleHttpCache } from "./simple-http-cache.ts";

/** Envoy's CacheResponseCodeDetails. */
const RESPONSE_FROM_CACHE_FILTER = "cache.response_from_cache_filter";

/** What one filter config's streams share. */
export class CacheFilterConfig {
  readonly varyAllowList: VaryAllowList;
  /** The largest body stored: max_body_bytes, within the store's own limit. */
  readonly maxBodyBytes: number;

  constructor(
    readonly config: CacheConfig,
    readonly store: SimpleHttpCache,
    readonly server: ServerContext,
  ) {
    this.varyAllowList = new VaryAllowList(config.allowedVaryHeaders);
    this.maxBodyBytes = config.maxBodyBytes === 0 ? store.maxEntryBytes : Math.min(config.maxBodyBytes, store.maxEntryBytes);
  }
}

const CONFIGS = new PerConfig((config: CacheConfig, server: ServerContext) => new CacheFilterConfig(config, simpleHttpCache(), server));

export function cacheFilterConfig(config: CacheConfig, server: ServerContext): CacheFilterConfig {
  return CONFIGS.get(config, server);
}

/** A response being stored as it streams (Envoy's InsertContext). */
interface Insert {
  status: number;
  headers: HeaderMap;
  chunks: Uint8Array[];
  bytes: number;
  responseTime: number;
}

export class CacheFilter implements StreamFilter {
  private decoderCallbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  /** The request's key when it was looked up (undefined: the cache stays out of this stream). */
  private key: string | undefined;
  private request: RequestHeaders | undefined;
  private allowsInserts = false;
  private isHead = false;
  /** The stored response this request is validating upstream. */
  private validating: { key: CacheKey; entry: CacheEntry } | undefined;
  /** The response went out from the cache: its own headers pass this filter's encoder side untouched. */
  private served = false;
  private insert: Insert | undefined;
  private destroyed = false;
  private encoderCallbacks: EncoderFilterCallbacks | undefined;

  constructor(private readonly shared: CacheFilterConfig) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.decoderCallbacks = callbacks;
  }

  setEncoderFilterCallbacks(callbacks: EncoderFilterCallbacks): void {
    this.encoderCallbacks = callbacks;
  }

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    const { config, store, varyAllowList } = this.shared;
    // A request with a body is not looked up (cache_filter.cc: "ignoring request because it has body and/or trailers").
    if (config.disabled || !endStream || !canServeRequestFromCache(headers)) return FilterHeadersStatus.Continue;
    const cacheControl = requestCacheControl(headers, config.ignoreRequestCacheControlHeader);
    this.key = `${headers.scheme}://${headers.authority}${headers.path}`;
    this.request = headers;
    this.allowsInserts = !cacheControl.noStore;
    this.isHead = headers.method === "HEAD";
    const found = store.lookup(this.key, headers, varyAllowList);
    const range = headers.get("range");
    if (range !== undefined) {
      // A range is cut from a usable stored 200; otherwise the request goes upstream as it is,
      // unvalidated, and its (partial) answer is not stored.
      this.key = undefined;
      if (found !== undefined && found.entry.status === 200 && !this.isHead) {
        const age = currentAge(found.entry, this.shared.server.runtime.wallClock());
        if (!requiresValidation(cacheControl, found.entry.headers, age)) {
          this.serve(found.entry, age, byteRange(range, found.entry.body.byteLength));
          return FilterHeadersStatus.StopIteration;
        }
      }
      return FilterHeadersStatus.Continue;
    }
    if (found === undefined) return FilterHeadersStatus.Continue;
    const now = this.shared.server.runtime.wallClock();
    const age = currentAge(found.entry, now);
    if (!requiresValidation(cacheControl, found.entry.headers, age)) {
      this.serve(found.entry, age, "whole");
      return FilterHeadersStatus.StopIteration;
    }
    // Validate upstream with the entry's validators (Envoy's injectValidationHeaders).
    this.validating = found;
    const etag = found.entry.headers.get("etag");
    if (etag !== undefined) headers.set("if-none-match", etag);
    const lastModified = found.entry.headers.get("last-modified") ?? found.entry.headers.get("date");
    if (lastModified !== undefined) headers.set("if-modified-since", lastModified);
    return FilterHeadersStatus.Continue;
  }

  decodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  decodeTrailers(): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  encodeHeaders(headers: ResponseHeaders, endStream: boolean): FilterHeadersStatus {
    if (this.served || this.key === undefined) return FilterHeadersStatus.Continue;
    const now = this.shared.server.runtime.wallClock();
    const validating = this.validating;
    if (validating !== undefined && headers.status === 304) return this.onNotModified(validating, headers, now);
    // Anything else is a full response (to a validation too: it replaces the entry).
    if (!this.allowsInserts || this.isHead || !isCacheableResponse(headers, this.shared.varyAllowList)) return FilterHeadersStatus.Continue;
    const length = headers.get("content-length");
    if (length !== undefined && Number(length) > this.shared.maxBodyBytes) return FilterHeadersStatus.Continue;
    const copy = new HeaderMap();
    headers.forEach((name, value) => copy.add(name, value));
    this.insert = { status: headers.status, headers: copy, chunks: [], bytes: 0, responseTime: now };
    if (endStream) this.commit();
    return FilterHeadersStatus.Continue;
  }

  encodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    const insert = this.insert;
    if (insert !== undefined) {
      insert.bytes += data.byteLength;
      if (insert.bytes > this.shared.maxBodyBytes) {
        this.insert = undefined;
      } else {
        // A copy: the chunk's bytes belong to the codec's buffer once this call returns.
        if (data.byteLength > 0) insert.chunks.push(data.slice());
        if (endStream) this.commit();
      }
    }
    return FilterDataStatus.Continue;
  }

  encodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    // Responses with trailers are not stored: the store keeps a head and a body only.
    this.insert = undefined;
    return FilterTrailersStatus.Continue;
  }

  onDestroy(): void {
    // A response that did not complete (a reset) is not stored.
    this.insert = undefined;
    this.destroyed = true;
  }

  /** The whole response went through: store it (Envoy's InsertContext, on end_stream). */
  private commit(): void {
    const insert = this.insert!;
    this.insert = undefined;
    let body: Uint8Array;
    if (insert.chunks.length === 1) {
      body = insert.chunks[0]!;
    } else {
      body = new Uint8Array(insert.bytes);
      let at = 0;
      for (const chunk of insert.chunks) {
        body.set(chunk, at);
        at += chunk.byteLength;
      }
    }
    const entry: CacheEntry = { status: insert.status, headers: insert.headers, body, responseTime: insert.responseTime };
    this.shared.store.insert(this.key!, this.request!, this.shared.varyAllowList, entry);
  }

  /** A fresh enough entry answers the request (Envoy's CacheFilter::onHeaders, CacheEntryStatus::Ok). */
  private serve(entry: CacheEntry, age: number, range: ByteRange | "whole" | "unsatisfiable"): void {
    this.served = true;
    const callbacks = this.decoderCallbacks;
    const headers = new ResponseHeaders(entry.status);
    entry.headers.forEach((name, value) => headers.add(name, value));
    headers.set("age", String(age));
    callbacks.streamInfo.setResponseFlag(CoreResponseFlag.ResponseFromCacheFilter);
    callbacks.streamInfo.responseCodeDetails = RESPONSE_FROM_CACHE_FILTER;
    let body = entry.body;
    const length = body.byteLength;
    if (range === "unsatisfiable") {
      // RFC 9110 §15.5.17: 416 with the representation's length.
      headers.status = 416;
      headers.set("content-range", `bytes */${length}`);
      body = new Uint8Array(0);
      headers.set("content-length", "0");
    } else if (range !== "whole") {
      headers.status = 206;
      headers.set("content-range", `bytes ${range.begin}-${range.end - 1}/${length}`);
      body = body.subarray(range.begin, range.end);
      headers.set("content-length", String(body.byteLength));
    }
    const noBody = this.isHead || body.byteLength === 0;
    callbacks.encodeHeaders(headers, noBody);
    if (!noBody) callbacks.encodeData(body, true);
  }

  /**
   * The upstream said the stored response is still good: the client gets the stored response
   * with the 304's header fields (Envoy's processSuccessfulValidation), and no age — validated
   * just now, it is as fresh as one from the origin. The entry is updated unless the 304
   * names another etag than the stored one.
   */
  private onNotModified(validating: { key: CacheKey; entry: CacheEntry }, headers: ResponseHeaders, now: number): FilterHeadersStatus {
    const { entry, key } = validating;
    const etag = headers.get("etag");
    const updated = this.shared.store.updateHeaders(key, entry, headers, now, etag === undefined || etag === entry.headers.get("etag"));
    // The 304's head becomes the stored response's.
    const names = new Set<string>();
    headers.forEach((name) => names.add(name));
    for (const name of names) headers.remove(name);
    headers.status = updated.status;
    updated.headers.forEach((name, value) => {
      if (name !== "age") headers.add(name, value);
    });
    if (this.isHead || updated.body.byteLength === 0) return FilterHeadersStatus.Continue;
    // The 304 ended the stream: the stored body follows the headers once they went on.
    const body = updated.body;
    this.shared.server.runtime.defer(() => {
      if (!this.destroyed) this.encoderInject(body);
    });
    return FilterHeadersStatus.ContinueAndDontEndStream;
  }

  private encoderInject(body: Uint8Array): void {
    this.encoderCallbacks?.injectEncodedDataToFilterChain(body, true);
  }
}
