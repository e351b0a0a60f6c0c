/**
 * The URL pieces the oauth2 filter writes and reads, as Envoy's Http::Utility does
 * (source/common/http/utility.cc): PercentEncoding::urlEncodeQueryParameter,
 * PercentEncoding::decode, and QueryParamsMulti's parse (values kept as written).
 */
import { latin1Decode } from "../../../util/latin1.ts";

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * urlEncodeQueryParameter: every byte but the unreserved ones (RFC 3986 §2.3) as %XX.
 * `bytes`: the value's bytes (a header-derived string's latin1, a config string's UTF-8).
 */
export function urlEncodeQueryParameter(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) {
    const ch = String.fromCharCode(byte);
    out += UNRESERVED.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** PercentEncoding::decode: each %XX (hex) as its byte, everything else (a "+" too) as it is; a byte string back. */
export function percentDecode(text: string): string {
  if (!text.includes("%")) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x25 && i + 2 < text.length && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(ch & 0xff);
    }
  }
  const array = Uint8Array.from(bytes);
  return latin1Decode(array, 0, array.length);
}

/**
 * QueryParamsMulti::parseQueryString: the query of `pathOrUrl` (after "?", before "#")
 * as name → values, in order, neither decoded.
 */
export function parseQueryString(pathOrUrl: string): Map<string, string[]> {
  const params = new Map<string, string[]>();
  const start = pathOrUrl.indexOf("?");
  if (start < 0) return params;
  let query = pathOrUrl.slice(start + 1);
  const hash = query.indexOf("#");
  if (hash >= 0) query = query.slice(0, hash);
  for (const pair of query.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const name = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? "" : pair.slice(eq + 1);
    const values = params.get(name);
    if (values === undefined) params.set(name, [value]);
    else values.push(value);
  }
  return params;
}

/**
 * QueryParamsMulti::replaceQueryString on `url`: its query replaced by `params`, which
 * Envoy keeps in a btree_map — so in the byte order of their names.
 */
export function replaceQueryString(url: string, params: Map<string, string[]>): string {
  const hashAt = url.indexOf("#");
  const withoutFragment = hashAt < 0 ? url : url.slice(0, hashAt);
  const queryAt = withoutFragment.indexOf("?");
  const base = queryAt < 0 ? withoutFragment : withoutFragment.slice(0, queryAt);
  const names = [...params.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const parts: string[] = [];
  for (const name of names) for (const value of params.get(name)!) parts.push(`${name}=${value}`);
  return parts.length === 0 ? base : `${base}?${parts.join("&")}`;
}

/**
 * Http::Utility::Url::initialize, as the filter uses it on the state: an absolute http(s)
 * URL with a host. No control character or space anywhere (http_parser's URL parser refuses
 * them): the state becomes the Location of the callback's redirect.
 */
export function isAbsoluteHttpUrl(url: string): boolean {
  return /^https?:\/\/[^/?#\x00-\x20\x7f]+[^\x00-\x20\x7f]*$/i.test(url);
}

/** The path and query of an absolute URL (Url::pathAndQueryParams), "/" when it has none. */
export function pathAndQuery(url: string): string {
  const match = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*([^#]*)/.exec(url);
  const rest = match?.[1] ?? "";
  return rest === "" ? "/" : rest.startsWith("/") ? rest : `/${rest}`;
}
