/**
 * HTTP/2 header lists (flat name, value lists, as core/http2 decodes and encodes them) to and
 * from the HCM's header maps, as Envoy's HTTP/2 codec does (source/common/http/http2/codec_impl.cc):
 * `:authority` is the request's authority (a `host` field stands in when it is absent,
 * RFC 9113 §8.3.1), `cookie` fields are joined with "; " (§8.2.3), and on the way out the
 * connection-specific fields an HTTP/1 upstream may have sent are dropped (§8.2.2).
 * An extended CONNECT (RFC 8441) is an upgrade, as HTTP/1 spells it, inside the proxy:
 * Envoy's Utility::transformUpgradeRequestFromH2toH1 and its three siblings
 * (source/common/http/utility.cc), applied by its HTTP/2 codec (codec_impl.cc) on the way
 * in and out, so the HCM, the filters and the HTTP/1 codec see only HTTP/1 upgrades.
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
  let protocol: string | undefined;
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
      } else if (name === ":protocol") protocol = value;
      continue;
    }
    if (name === "host") host = value;
    else if (name === "cookie") cookie = cookie === undefined ? value : `${cookie}; ${value}`;
    else headers.add(name, value);
  }
  if (!authority && host !== undefined) headers.authority = host;
  if (cookie !== undefined) headers.add("cookie", cookie);
  // The codec accepted :protocol only with allow_connect, and only on CONNECT (header-validation.ts).
  if (protocol !== undefined && isH2UpgradeProtocol(protocol)) transformUpgradeRequestFromH2toH1(headers, protocol);
  return headers;
}

/**
 * Envoy's Utility::isH2UpgradeRequest: CONNECT with a :protocol other than "bytestream"
 * (a bytestream CONNECT is a plain tunnel, RFC 8441 §4 leaves it to the :protocol registry).
 */
function isH2UpgradeProtocol(protocol: string): boolean {
  return protocol !== "" && protocol !== "bytestream";
}

/** Envoy's transformUpgradeRequestFromH2toH1: CONNECT + `:protocol X` becomes GET + `upgrade: X` + `connection: upgrade`. */
function transformUpgradeRequestFromH2toH1(headers: RequestHeaders, protocol: string): void {
  headers.method = "GET";
  headers.set("upgrade", protocol);
  headers.set("connection", "upgrade");
  headers.upgrade = true;
}

/**
 * A response that opens the tunnel of an upgrade (101 with `upgrade`, Envoy's
 * Utility::isUpgrade on the response) goes to an HTTP/2 client as the 200 that answers its
 * extended CONNECT (transformUpgradeResponseFromH1toH2); the upgrade fields go with the
 * other connection-specific ones, and a `content-length: 0` too, which RFC 8441's 200 has not.
 */
export function responseFieldsToHttp2ForUpgrade(headers: ResponseHeaders): string[] {
  if (headers.status !== 101 || !headers.has("upgrade")) return responseFieldsToHttp2(headers);
  const fields: string[] = [":status", "200"];
  appendFields(fields, headers, true);
  return fields;
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

function appendFields(fields: string[], map: HeaderMap, dropZeroLength = false): void {
  const n = map.size;
  for (let i = 0; i < n; i++) {
    // Header maps hold lowercase names; HTTP/2 requires them (§8.2), so a filter's mixed case is folded.
    const name = map.nameAt(i).toLowerCase();
    if (isConnectionSpecific(name)) continue;
    // te is only ever "trailers" in HTTP/2 (§8.2.2).
    const value = map.valueAt(i);
    if (name === "te" && value !== "trailers") continue;
    if (dropZeroLength && name === "content-length" && value === "0") continue;
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
  appendRequestFields(fields, headers, false);
  return fields;
}

/**
 * The upgrade a request asks for, as Envoy's Utility::isUpgrade decides it (an `upgrade`
 * field and `connection` naming it; the HTTP/1 codec set `upgrade` for those, and for
 * CONNECT, which is no upgrade here); undefined otherwise.
 */
export function upgradeOf(headers: RequestHeaders): string | undefined {
  if (!headers.upgrade || headers.method === "CONNECT") return undefined;
  return headers.get("upgrade");
}

/**
 * An upgrade request as the extended CONNECT (RFC 8441 §4) that carries it over HTTP/2
 * (Envoy's ClientStreamImpl::encodeHeaders with transformUpgradeRequestFromH1toH2):
 * `:method CONNECT`, `:protocol` the upgrade token, :scheme and :path kept; the upgrade
 * fields go (connection-specific), and a `content-length: 0`, which nghttp2 refuses on it.
 */
export function upgradeRequestFieldsToHttp2(headers: RequestHeaders, upgrade: string): string[] {
  const fields: string[] = [":method", "CONNECT", ":protocol", upgrade, ":scheme", headers.scheme, ":authority", headers.authority, ":path", headers.path];
  appendRequestFields(fields, headers, true);
  return fields;
}

/** A plain CONNECT (RFC 9113 §8.5): `:method` and `:authority` only, then its fields. */
export function connectRequestFieldsToHttp2(headers: RequestHeaders): string[] {
  const fields: string[] = [":method", "CONNECT", ":authority", headers.authority];
  appendRequestFields(fields, headers, true);
  return fields;
}

function appendRequestFields(fields: string[], headers: RequestHeaders, dropZeroLength: boolean): void {
  const n = headers.size;
  for (let i = 0; i < n; i++) {
    const name = headers.nameAt(i).toLowerCase();
    if (isConnectionSpecific(name) || name === "host") continue;
    const value = headers.valueAt(i);
    if (name === "te" && value !== "trailers") continue;
    if (dropZeroLength && name === "content-length" && value === "0") continue;
    fields.push(name, value);
  }
}

/**
 * The 200 an upstream's extended CONNECT got, as the 101 the HTTP/1 side expects
 * (Envoy's transformUpgradeResponseFromH2toH1): `upgrade` and `connection: upgrade` set.
 * Any other status goes as it is (the upgrade was refused).
 */
export function transformUpgradeResponseFromH2toH1(headers: ResponseHeaders, upgrade: string): void {
  if (headers.status !== 200) return;
  headers.status = 101;
  headers.set("upgrade", upgrade);
  headers.set("connection", "upgrade");
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
