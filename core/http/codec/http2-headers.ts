/**
 * HTTP/2 header lists (flat name, value lists, as core/http2 decodes and encodes them) to and
 * from the HCM's header maps, as Envoy's HTTP/2 codec does (source/common/http/http2/codec_impl.cc):
 * `:authority` is the request's authority (a `host` field stands in when it is absent,
 * RFC 9113 §8.3.1), `cookie` fields are joined with "; " (§8.2.3), and on the way out the
 * connection-specific fields an HTTP/1 upstream may have sent are dropped (§8.2.2).
 * The decoder has already refused malformed lists (core/http2/header-validation.ts).
 */
import { HeaderMap } from "../header-map.ts";
import { RequestHeaders, ResponseHeaders } from "../message.ts";

/** A request's fields (already validated) as the HCM's request headers. */
export function requestHeadersFromHttp2(fields: readonly string[]): RequestHeaders {
  const headers = new RequestHeaders();
  headers.protocol = "HTTP/2";
  let host: string | undefined;
  let cookie: string | undefined;
  let authority = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name.charCodeAt(0) === 0x3a) {
      if (name === ":method") headers.method = value;
      else if (name === ":path") headers.path = value;
      else if (name === ":scheme") headers.scheme = value;
      else if (name === ":authority") {
        headers.authority = value;
        authority = true;
      }
      // :protocol (extended CONNECT) is refused by the codec unless allow_connect, which the HCM refuses.
      continue;
    }
    if (name === "host") host = value;
    else if (name === "cookie") cookie = cookie === undefined ? value : `${cookie}; ${value}`;
    else headers.add(name, value);
  }
  if (!authority && host !== undefined) headers.authority = host;
  if (cookie !== undefined) headers.add("cookie", cookie);
  return headers;
}

/** A regular field that HTTP/2 forbids (RFC 9113 §8.2.2): dropped from what goes out. */
function isConnectionSpecific(name: string): boolean {
  switch (name) {
    case "connection":
    case "keep-alive":
    case "proxy-connection":
    case "transfer-encoding":
    case "upgrade":
      return true;
    default:
      return false;
  }
}

/** A response head as an HTTP/2 field list: `:status` first. */
export function responseFieldsToHttp2(headers: ResponseHeaders): string[] {
  const fields: string[] = [":status", String(headers.status)];
  appendFields(fields, headers);
  return fields;
}

/** Trailers as an HTTP/2 field list. */
export function trailerFieldsToHttp2(trailers: HeaderMap): string[] {
  const fields: string[] = [];
  appendFields(fields, trailers);
  return fields;
}

/** Request trailers from HTTP/2 fields. */
export function trailersFromHttp2(fields: readonly string[]): HeaderMap {
  const map = new HeaderMap();
  for (let i = 0; i < fields.length; i += 2) map.add(fields[i]!, fields[i + 1]!);
  return map;
}

function appendFields(fields: string[], map: HeaderMap): void {
  const n = map.size;
  for (let i = 0; i < n; i++) {
    // Header maps hold lowercase names; HTTP/2 requires them (§8.2), so a filter's mixed case is folded.
    const name = map.nameAt(i).toLowerCase();
    if (isConnectionSpecific(name)) continue;
    // te is only ever "trailers" in HTTP/2 (§8.2.2).
    const value = map.valueAt(i);
    if (name === "te" && value !== "trailers") continue;
    fields.push(name, value);
  }
}

/**
 * A request head as an HTTP/2 field list, for an upstream (Envoy's ClientConnectionImpl):
 * the pseudo-headers first (`:authority` from the Host, §8.3.1), then the fields without the
 * connection-specific ones (§8.2.2) and without `host`, which `:authority` carries.
 * `scheme` is the request's :scheme when it has one.
 */
export function requestFieldsToHttp2(headers: RequestHeaders): string[] {
  const fields: string[] = [":method", headers.method, ":scheme", headers.scheme, ":authority", headers.authority, ":path", headers.path];
  const n = headers.size;
  for (let i = 0; i < n; i++) {
    const name = headers.nameAt(i).toLowerCase();
    if (isConnectionSpecific(name) || name === "host") continue;
    const value = headers.valueAt(i);
    if (name === "te" && value !== "trailers") continue;
    fields.push(name, value);
  }
  return fields;
}

/** A response head from an upstream's (validated) HTTP/2 fields: `:status`, then the regular fields. */
export function responseHeadersFromHttp2(fields: readonly string[]): ResponseHeaders {
  let status = 0;
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === ":status") {
      status = Number(fields[i + 1]);
      break;
    }
  }
  const headers = new ResponseHeaders(status);
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (name.charCodeAt(0) !== 0x3a) headers.add(name, fields[i + 1]!);
  }
  return headers;
}
