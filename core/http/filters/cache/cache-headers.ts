/**
 * The cache's HTTP rules, as Envoy's cache filter applies them
 * (source/extensions/filters/http/cache/cache_headers_utils.cc, cacheability_utils.cc and
 * http_cache.cc's LookupRequest): cache-control parsing, which requests may be answered from
 * the cache and which responses may be stored, an entry's age (RFC 9111 §4.2.3) and whether
 * it must be validated before it is served (RFC 9111 §4.2, §5.2). Times are wall-clock
 * milliseconds since the epoch, given by the caller (the port's clock); ages and lifetimes are seconds.
 */
import { compileStringMatch } from "../../route/header-matcher.ts";
import { utcEpochMs } from "../../../util/civil-time.ts";
import type { StringMatcherConfig } from "../../../config/bootstrap.ts";
import type { HeaderMap } from "../../header-map.ts";
import type { RequestHeaders, ResponseHeaders } from "../../message.ts";

/** A request's cache-control (Envoy's RequestCacheControl). Durations in seconds. */
export interface RequestCacheControl {
  /** no-cache (or, without cache-control, pragma: no-cache): validate even a fresh entry. */
  mustValidate: boolean;
  /** no-store: the response is not stored. */
  noStore: boolean;
  noTransform: boolean;
  onlyIfCached: boolean;
  maxAge?: number;
  minFresh?: number;
  /** max-stale without a value: any staleness (Infinity). */
  maxStale?: number;
}

/** A response's cache-control (Envoy's ResponseCacheControl). */
export interface ResponseCacheControl {
  /** no-cache: every use must be validated first. */
  mustValidate: boolean;
  /** no-store or private: a shared cache does not store it (RFC 9111 §5.2.2.3, §5.2.2.7). */
  noStore: boolean;
  noTransform: boolean;
  /** must-revalidate or proxy-revalidate: never served stale. */
  noStale: boolean;
  isPublic: boolean;
  /** s-maxage, else max-age. */
  maxAge?: number;
}

/**
 * delta-seconds (RFC 9111 §1.2.2), quotes stripped as Envoy does; an invalid one is
 * ignored (undefined). Beyond 2^31 it is 2^31 (RFC 9111 §1.2.2: "the greatest integer it can represent").
 */
export function parseDeltaSeconds(value: string): number | undefined {
  if (value.length > 1 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
  if (!/^[0-9]+$/.test(value)) return undefined;
  return Math.min(Number(value), 2 ** 31);
}

/** Each directive of a cache-control value, lowercase (directives are case-insensitive, RFC 9111 §5.2), and its argument. */
function directives(value: string, each: (directive: string, argument: string) => void): void {
  for (const part of value.split(",")) {
    const trimmed = part.trim();
    const eq = trimmed.indexOf("=");
    if (eq < 0) each(trimmed.toLowerCase(), "");
    else each(trimmed.slice(0, eq).trim().toLowerCase(), trimmed.slice(eq + 1).trim());
  }
}

export function parseRequestCacheControl(value: string): RequestCacheControl {
  const cc: RequestCacheControl = { mustValidate: false, noStore: false, noTransform: false, onlyIfCached: false };
  directives(value, (directive, argument) => {
    switch (directive) {
      case "no-cache":
        cc.mustValidate = true;
        break;
      case "no-store":
        cc.noStore = true;
        break;
      case "no-transform":
        cc.noTransform = true;
        break;
      case "only-if-cached":
        cc.onlyIfCached = true;
        break;
      case "max-age":
        cc.maxAge = parseDeltaSeconds(argument);
        break;
      case "min-fresh":
        cc.minFresh = parseDeltaSeconds(argument);
        break;
      case "max-stale":
        cc.maxStale = argument === "" ? Infinity : parseDeltaSeconds(argument);
        break;
    }
  });
  return cc;
}

export function parseResponseCacheControl(value: string): ResponseCacheControl {
  const cc: ResponseCacheControl = { mustValidate: false, noStore: false, noTransform: false, noStale: false, isPublic: false };
  let sMaxAge = false;
  directives(value, (directive, argument) => {
    switch (directive) {
      case "no-cache":
        // Arguments (field names) are ignored, as Envoy does: the whole response is validated.
        cc.mustValidate = true;
        break;
      case "must-revalidate":
      case "proxy-revalidate":
        cc.noStale = true;
        break;
      case "no-store":
      case "private":
        cc.noStore = true;
        break;
      case "no-transform":
        cc.noTransform = true;
        break;
      case "public":
        cc.isPublic = true;
        break;
      case "s-maxage":
        // A shared cache's max-age: it overrides max-age (RFC 9111 §5.2.2.10).
        cc.maxAge = parseDeltaSeconds(argument);
        sMaxAge = true;
        break;
      case "max-age":
        if (!sMaxAge && cc.maxAge === undefined) cc.maxAge = parseDeltaSeconds(argument);
        break;
    }
  });
  return cc;
}

/** The request's cache-control as the lookup reads it: without cache-control, `pragma: no-cache` is no-cache (RFC 9111 §5.4). */
export function requestCacheControl(headers: HeaderMap, ignore: boolean): RequestCacheControl {
  const value = ignore ? undefined : headers.getJoined("cache-control", ",");
  if (value !== undefined) return parseRequestCacheControl(value);
  const cc = parseRequestCacheControl("");
  if (!ignore && headers.getJoined("pragma", ",")?.split(",").some((p) => p.trim().toLowerCase() === "no-cache")) cc.mustValidate = true;
  return cc;
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const IMF_FIXDATE = /^[A-Za-z]{3}, (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const RFC850 = /^[A-Za-z]+, (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const ASCTIME = /^[A-Za-z]{3} ([A-Za-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

/**
 * An HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms, as
 * Envoy's CacheHeadersUtils::httpTime) in ms since the epoch; undefined if absent or invalid.
 * Parsed here, not by Date.parse, whose accepted forms differ between JavaScript engines.
 */
export function httpTime(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  value = value.trim();
  let day: string, month: string, year: number, h: string, m: string, s: string;
  let match = IMF_FIXDATE.exec(value);
  if (match) {
    [, day, month, , h, m, s] = match as unknown as string[] as [string, string, string, string, string, string, string];
    year = Number(match[3]);
  } else if ((match = RFC850.exec(value))) {
    [, day, month, , h, m, s] = match as unknown as [string, string, string, string, string, string, string];
    // RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is in the past century; 1970–2069 here.
    const yy = Number(match[3]);
    year = yy < 70 ? 2000 + yy : 1900 + yy;
  } else if ((match = ASCTIME.exec(value))) {
    [, month, day, h, m, s] = match as unknown as [string, string, string, string, string, string, string];
    year = Number(match[6]);
  } else {
    return undefined;
  }
  const monthIndex = MONTHS.indexOf(month.toLowerCase());
  if (monthIndex < 0) return undefined;
  const d = Number(day.trim());
  const [hour, minute, second] = [Number(h), Number(m), Number(s)];
  if (d < 1 || d > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  return utcEpochMs(year, monthIndex + 1, d, hour, minute, second);
}

/** The statuses Envoy stores (cacheability_utils.cc: "heuristically cacheable" by RFC 9110 §15.1, and 308). */
const CACHEABLE_STATUSES = new Set([200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 451, 501]);

/**
 * Envoy's CacheabilityUtils::canServeRequestFromCache: a GET or HEAD with a path and host, no
 * authorization, and none of the conditional headers a cache would have to evaluate itself
 * (if-none-match, if-modified-since, if-range: such requests pass through, which is never
 * wrong). if-match and if-unmodified-since may be ignored by caches (RFC 9110 §13.1.1, §13.1.4).
 */
export function canServeRequestFromCache(headers: RequestHeaders): boolean {
  if (headers.method !== "GET" && headers.method !== "HEAD") return false;
  if (headers.path === "" || headers.authority === "") return false;
  if (headers.has("authorization")) return false;
  if (headers.has("if-none-match") || headers.has("if-modified-since") || headers.has("if-range")) return false;
  return headers.scheme === "http" || headers.scheme === "https";
}

/** The header names a response's vary lists, lowercase; "*" among them if it says so. */
export function varyHeaderNames(headers: HeaderMap): string[] {
  const value = headers.getJoined("vary", ",");
  if (value === undefined) return [];
  const names: string[] = [];
  for (const part of value.split(",")) {
    const name = part.trim().toLowerCase();
    if (name !== "") names.push(name);
  }
  return names;
}

/** allowed_vary_headers (Envoy's VaryAllowList): the request headers a stored response may vary on. */
export class VaryAllowList {
  private readonly matchers: ((value: string) => boolean)[];

  constructor(matchers: readonly StringMatcherConfig[]) {
    this.matchers = matchers.map(compileStringMatch);
  }

  allowsValue(name: string): boolean {
    for (const matcher of this.matchers) if (matcher(name)) return true;
    return false;
  }

  /** Every header the response varies on is allowed ("*" never is: no request could match it). */
  allowsHeaders(response: HeaderMap): boolean {
    for (const name of varyHeaderNames(response)) if (name === "*" || !this.allowsValue(name)) return false;
    return true;
  }

  /**
   * The part of the key a varied response is stored under (Envoy's
   * VaryHeaderUtils::createVaryIdentifier): the request's values of each vary header, in the
   * response's order; undefined if one is not allowed.
   */
  varyIdentifier(varyNames: readonly string[], request: HeaderMap): string | undefined {
    let id = "vary-id\n";
    for (const name of varyNames) {
      if (name === "*" || !this.allowsValue(name)) return undefined;
      id += `${name}\r${request.getJoined(name, "\r") ?? ""}\n`;
    }
    return id;
  }
}

/**
 * Envoy's CacheabilityUtils::isCacheableResponse: not no-store nor private, a cacheable status,
 * enough to compute a freshness lifetime (no-cache, max-age / s-maxage, or both Expires and
 * Date: RFC 9111 §4.2.1), and a vary on allowed headers only.
 */
export function isCacheableResponse(headers: ResponseHeaders, varyAllowList: VaryAllowList): boolean {
  const cc = parseResponseCacheControl(headers.getJoined("cache-control", ",") ?? "");
  const hasValidationData = cc.mustValidate || cc.maxAge !== undefined || (headers.has("date") && headers.has("expires"));
  return !cc.noStore && CACHEABLE_STATUSES.has(headers.status) && hasValidationData && varyAllowList.allowsHeaders(headers);
}

/** What the cache keeps of a stored response's head to judge it. */
export interface StoredHead {
  /** The header fields, lowercase names. */
  readonly headers: HeaderMap;
  /** When it was received (inserted) or last validated: RFC 9111's response_time, ms since the epoch. */
  readonly responseTime: number;
}

/**
 * The entry's current age in whole seconds (RFC 9111 §4.2.3, as Envoy's
 * CacheHeadersUtils::calculateAge, response_delay taken as 0). Without a valid Date the time
 * it was received stands in (RFC 9110 §6.6.1).
 */
export function currentAge(stored: StoredHead, now: number): number {
  const date = httpTime(stored.headers.get("date")) ?? stored.responseTime;
  const ageValue = parseDeltaSeconds(stored.headers.get("age") ?? "") ?? 0;
  const apparentAge = Math.max(0, stored.responseTime - date) / 1000;
  const correctedInitialAge = Math.max(apparentAge, ageValue);
  const residentTime = (now - stored.responseTime) / 1000;
  return Math.max(0, Math.floor(correctedInitialAge + residentTime));
}

/**
 * The freshness lifetime in seconds (RFC 9111 §4.2.1): s-maxage / max-age, else Expires − Date.
 * An invalid date is the epoch, as Envoy's httpTime returns: an invalid Expires is in the
 * past, so the entry is stale (RFC 9111 §5.3).
 */
export function freshnessLifetime(cc: ResponseCacheControl, headers: HeaderMap): number {
  if (cc.maxAge !== undefined) return cc.maxAge;
  return ((httpTime(headers.get("expires")) ?? 0) - (httpTime(headers.get("date")) ?? 0)) / 1000;
}

/**
 * Envoy's LookupRequest::requiresValidation: the entry may be served only when neither side
 * asks for validation (no-cache), the request's max-age is not exceeded, and it is fresh
 * enough for min-fresh — or stale within the request's max-stale and not must-revalidate.
 */
export function requiresValidation(request: RequestCacheControl, stored: HeaderMap, age: number): boolean {
  const response = parseResponseCacheControl(stored.getJoined("cache-control", ",") ?? "");
  const maxAgeExceeded = request.maxAge !== undefined && request.maxAge < age;
  if (response.mustValidate || request.mustValidate || maxAgeExceeded) return true;
  const lifetime = freshnessLifetime(response, stored);
  // Fresh only while lifetime > age (RFC 9111 §4.2; Envoy's `>` left a max-age=0 response
  // fresh for its first second, served to other clients without validation).
  if (age >= lifetime) {
    const allowedByMaxStale = request.maxStale !== undefined && request.maxStale >= age - lifetime;
    return response.noStale || !allowedByMaxStale;
  }
  return request.minFresh !== undefined && request.minFresh > lifetime - age;
}

/**
 * The headers a 304 does not update in the stored response (Envoy's headersNotToUpdate,
 * after RFC 9111 §3.2): the body's length and range, the validator the entry was chosen by,
 * and vary (a changed vary is a new entry).
 */
export const HEADERS_NOT_TO_UPDATE: ReadonlySet<string> = new Set(["content-range", "content-length", "etag", "vary"]);

/** A byte range to serve: [begin, end) of the stored body. */
export interface ByteRange {
  begin: number;
  end: number;
}

/**
 * A request's `range` against a stored body of `length` bytes (Envoy's RangeUtils and
 * adjustByteRangeSet, RFC 9110 §14.1.2): "whole" when the stored response should be served
 * entire (no bytes range, one not well formed, several ranges — polyvoy sends no multipart —
 * or one covering everything), "unsatisfiable" (416) when no range overlaps the body, else
 * the one range.
 */
export function byteRange(value: string, length: number): ByteRange | "whole" | "unsatisfiable" {
  const match = /^\s*bytes\s*=\s*(.*)$/i.exec(value);
  if (match === null) return "whole";
  const specs = match[1]!.split(",").map((s) => s.trim());
  if (specs.length !== 1) return "whole";
  const spec = /^(\d*)-(\d*)$/.exec(specs[0]!);
  if (spec === null || (spec[1] === "" && spec[2] === "")) return "whole";
  if (spec[1] === "") {
    // suffix-range: the last N bytes.
    const suffix = Number(spec[2]);
    if (suffix === 0 || length === 0) return "unsatisfiable";
    return suffix >= length ? "whole" : { begin: length - suffix, end: length };
  }
  const first = Number(spec[1]);
  const last = spec[2] === "" ? Infinity : Number(spec[2]);
  if (last < first) return "whole";
  if (first >= length) return "unsatisfiable";
  if (first === 0 && last >= length - 1) return "whole";
  return { begin: first, end: Math.min(last + 1, length) };
}
