/**
 * HTTP/2 message checks on a decoded header list (RFC 9113 §8.2, §8.3): lowercase names,
 * pseudo-headers known, once each and before the regular fields, none of the
 * connection-specific fields, `te` only "trailers", and the pseudo-headers a request or a
 * response needs. A failure makes the message malformed (§8.1.1): a stream error of type
 * PROTOCOL_ERROR, which Envoy widens to the connection unless
 * `override_stream_error_on_invalid_http_message` is set.
 *
 * Fields are a flat list, name then value.
 */
import { authorityIsValid } from "../http/headers-util.ts";

const CONNECTION_SPECIFIC = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);
const REQUEST_PSEUDO = new Set([":method", ":scheme", ":path", ":authority"]);

/**
 * Field name characters: RFC 9110 §5.6.2's token, lowercase (RFC 9113 §8.2). Envoy's default
 * codec, oghttp2, refuses any other (quiche http2/adapter/header_validator.cc,
 * kHttp2HeaderNameAllowedChars); RFC 9113 §8.2.1 only requires refusing controls, space,
 * uppercase and non-ASCII, so a name like `a=b` would otherwise pass on to the upstream.
 */
const NAME_CHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") NAME_CHAR[c.charCodeAt(0)] = 1;

/**
 * Request pseudo-header values go into an HTTP/1 request line upstream, where whitespace would
 * split or shift it (`:method "GET /admin HTTP/1.1"`): the leniency above is for regular
 * fields only. As oghttp2 (header_validator.cc): `:method` a token (RFC 9110 §9.1), `:scheme`
 * RFC 3986 §3.1's characters, `:path` visible ASCII without space.
 */
const SCHEME_CHAR = /^[A-Za-z][A-Za-z0-9+.-]*$/;
function pseudoValueProblem(name: string, value: string): string | undefined {
  if (name === ":method") {
    if (value.length === 0) return "empty :method";
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      // Token characters: NAME_CHAR's, in either case.
      const lower = c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
      if (lower >= 0x80 || NAME_CHAR[lower] !== 1) return "invalid :method";
    }
  } else if (name === ":scheme") {
    if (!SCHEME_CHAR.test(value)) return "invalid :scheme";
  } else if (name === ":path") {
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c <= 0x20 || c >= 0x7f) return "invalid :path";
    }
  }
  return undefined;
}

/** A problem with a field name or value (§8.2.1), or undefined. */
function fieldProblem(name: string, value: string): string | undefined {
  if (name.length === 0) return "empty header name";
  // A pseudo-header's leading ':' is its only one (§8.3).
  for (let i = name.charCodeAt(0) === 0x3a ? 1 : 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x80 || NAME_CHAR[c] !== 1) return `invalid header name "${name}"`;
  }
  // Values: HTAB, SP, VCHAR and obs-text, as oghttp2's kHttp2HeaderValueAllowedChars (RFC 9113
  // §8.2.1 requires refusing NUL, CR and LF). Leading or trailing whitespace is let through, as
  // Envoy does with either codec (codec_impl.cc turns nghttp2's RFC 9113 check off: "can break
  // existing deployments"; oghttp2 has none).
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return `invalid value for "${name}"`;
  }
  if (CONNECTION_SPECIFIC.has(name)) return `connection-specific header "${name}"`;
  if (name === "te" && value !== "trailers") return `te other than "trailers"`;
  return undefined;
}

/** Checks a request's header list; returns what is wrong, or undefined. */
export function requestHeadersProblem(fields: readonly string[], allowConnectProtocol: boolean): string | undefined {
  let method: string | undefined;
  let scheme = false;
  let path: string | undefined;
  let authority = false;
  let protocol = false;
  let regular = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name.charCodeAt(0) === 0x3a) {
      if (regular) return `pseudo-header "${name}" after a regular header`;
      if (!REQUEST_PSEUDO.has(name) && !(name === ":protocol" && allowConnectProtocol)) return `unknown pseudo-header "${name}"`;
      const seen = name === ":method" ? method !== undefined : name === ":scheme" ? scheme : name === ":path" ? path !== undefined : name === ":authority" ? authority : protocol;
      if (seen) return `duplicate "${name}"`;
      if (name === ":method") method = value;
      else if (name === ":scheme") scheme = true;
      else if (name === ":path") path = value;
      else if (name === ":authority") authority = true;
      else protocol = true;
      const problem = fieldProblem(name, value) ?? pseudoValueProblem(name, value);
      if (problem) return problem;
      // nghttp2 checks the authority (nghttp2_check_authority) as Envoy's HTTP/1 codec does.
      if (name === ":authority" && !authorityIsValid(value)) return "invalid :authority";
      continue;
    }
    regular = true;
    const problem = fieldProblem(name, value);
    if (problem) return problem;
    if (name === "host" && !authorityIsValid(value)) return "invalid host";
  }
  if (method === undefined) return "missing :method";
  if (method === "CONNECT" && !protocol) {
    // §8.5: only :method and :authority.
    if (!authority) return "CONNECT without :authority";
    if (scheme || path !== undefined) return "CONNECT with :scheme or :path";
    return undefined;
  }
  if (protocol && method !== "CONNECT") return ":protocol on a method other than CONNECT";
  if (!scheme) return "missing :scheme";
  if (path === undefined || path.length === 0) return "missing :path";
  return undefined;
}

/** Checks a response's header list (one :status of three digits, nothing else pseudo). */
export function responseHeadersProblem(fields: readonly string[]): string | undefined {
  let status: string | undefined;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name.charCodeAt(0) === 0x3a) {
      if (i !== 0 || name !== ":status") return `unexpected pseudo-header "${name}"`;
      status = value;
      continue;
    }
    const problem = fieldProblem(name, value);
    if (problem) return problem;
  }
  if (status === undefined || !/^[1-9][0-9][0-9]$/.test(status)) return "missing or invalid :status";
  // HTTP/2 has no 101 (RFC 9113 §8.6); nghttp2 and oghttp2 both refuse it.
  if (status === "101") return "101 Switching Protocols on HTTP/2";
  return undefined;
}

/** Checks trailers (no pseudo-headers, §8.1). */
export function trailersProblem(fields: readonly string[]): string | undefined {
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i]!.charCodeAt(0) === 0x3a) return `pseudo-header "${fields[i]}" in trailers`;
    const problem = fieldProblem(fields[i]!, fields[i + 1]!);
    if (problem) return problem;
  }
  return undefined;
}

/** The value of `content-length` in a field list, -1 if absent, -2 if invalid or conflicting. */
export function contentLengthOf(fields: readonly string[]): number {
  let length = -1;
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] !== "content-length") continue;
    const value = fields[i + 1]!;
    if (!/^[0-9]{1,15}$/.test(value)) return -2;
    const n = Number(value);
    if (length !== -1 && length !== n) return -2;
    length = n;
  }
  return length;
}
