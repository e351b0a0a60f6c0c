/** An absolute-form request target split for forwarding (Envoy's `Http::Utility::Url`). */
export interface AbsoluteUrl {
  /** `host[:port]` as written, without userinfo: the request's new :authority. */
  authority: string;
  /** The origin-form target: path and query, "/" when the URL has no path. */
  path: string;
  /** The scheme is http or https (any case): the only ones Envoy accepts (`Utility::schemeIsValid`). */
  httpScheme: boolean;
  /** The scheme, lowercased. */
  scheme: string;
}

/**
 * Parse `scheme "://" [userinfo "@"] host [":" port] [path-abempty] ["?" query]`
 * (RFC 9112 §3.2.2, RFC 3986 §3) with the rules of http_parser's `http_parser_parse_url`,
 * which Envoy's Utility::Url uses: a host is required, host names are letters, digits,
 * "-", "." and "_", IPv6 literals are bracketed, and a port is 1–5 digits up to 65535.
 * Undefined when the target does not parse (Envoy answers 400 `http1.invalid_url`).
 */
export function parseAbsoluteUrl(url: string): AbsoluteUrl | undefined {
  // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ): http_parser takes letters only.
  let at = 0;
  while (at < url.length && isAlpha(url.charCodeAt(at))) at++;
  if (at === 0 || !url.startsWith("://", at)) return undefined;
  const scheme = url.slice(0, at).toLowerCase();
  const authorityStart = at + 3;
  let end = authorityStart;
  while (end < url.length) {
    const c = url.charCodeAt(end);
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */) break;
    end++;
  }
  let hostStart = url.lastIndexOf("@", end - 1) + 1;
  if (hostStart <= authorityStart) hostStart = authorityStart;
  else if (!validUserinfo(url, authorityStart, hostStart - 1)) return undefined;
  if (!validHostAndPort(url, hostStart, end)) return undefined;
  const rest = end < url.length ? url.slice(end) : "";
  return {
    authority: url.slice(hostStart, end),
    path: rest === "" ? "/" : rest.charCodeAt(0) === 47 ? rest : `/${rest}`,
    httpScheme: scheme === "http" || scheme === "https",
    scheme,
  };
}

/** `host [":" port]` in url[start, end): a reg-name or a bracketed IPv6 literal, and an optional port. */
function validHostAndPort(url: string, start: number, end: number): boolean {
  let at = start;
  if (url.charCodeAt(at) === 91 /* [ */) {
    const close = url.indexOf("]", at);
    if (close < 0 || close >= end || close === at + 1) return false;
    for (let i = at + 1; i < close; i++) {
      const c = url.charCodeAt(i);
      if (!(isHex(c) || c === 58 /* : */ || c === 46 /* . */)) return false;
    }
    at = close + 1;
  } else {
    while (at < end && isHostChar(url.charCodeAt(at))) at++;
    if (at === start) return false;
  }
  if (at === end) return true;
  if (url.charCodeAt(at) !== 58 /* : */) return false;
  // A port: 1 to 5 digits, at most 65535.
  const digits = end - at - 1;
  if (digits < 1 || digits > 5) return false;
  let port = 0;
  for (let i = at + 1; i < end; i++) {
    const c = url.charCodeAt(i);
    if (c < 48 || c > 57) return false;
    port = port * 10 + (c - 48);
  }
  return port <= 65535;
}

/** userinfo = *( unreserved / pct-encoded / sub-delims / ":" ) (RFC 3986 §3.2.1). */
function validUserinfo(url: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = url.charCodeAt(i);
    if (!(isAlpha(c) || (c >= 48 && c <= 57) || USERINFO_MARKS.includes(url[i]!))) return false;
  }
  return true;
}

const USERINFO_MARKS = "-._~%!$&'()*+,;=:";

function isAlpha(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** http_parser's IS_HOST_CHAR: letters, digits, "." "-" "_". */
function isHostChar(c: number): boolean {
  return isAlpha(c) || (c >= 48 && c <= 57) || c === 46 || c === 45 || c === 95;
}
