/**
 * The HCM's path rules, applied to `:path` before routing (Envoy's
 * ConnectionManagerUtility::maybeNormalizePath in source/common/http/conn_manager_utility.cc,
 * with PathUtil in source/common/http/path_utility.cc): escaped slashes per
 * `path_with_escaped_slashes_action`, then RFC 3986 §6 normalization (`normalize_path`),
 * then `merge_slashes`. Routing and the upstream see the result. Paths are latin1
 * strings here (one char per byte, as the codec decodes them).
 */
import { hasGrpcContentType } from "../grpc-common.ts";
import type { PathNormalizationConfig } from "../../config/bootstrap.ts";
import type { RequestHeaders } from "../message.ts";
import type { ConnectionManagerStats } from "./connection-manager-stats.ts";

/** Envoy's NormalizePathAction. */
export const enum NormalizePathAction {
  Continue,
  Reject,
  Redirect,
}

/** The outcome: the action and the path to use (unchanged when no rule applied). */
export interface NormalizedPath {
  action: NormalizePathAction;
  path: string;
}

/** ConnectionManagerUtility::maybeNormalizePath. */
export function normalizeRequestPath(path: string, config: PathNormalizationConfig): NormalizedPath {
  let action = NormalizePathAction.Continue;
  if (config.escapedSlashesAction !== "KEEP_UNCHANGED") {
    const unescaped = unescapeSlashes(path);
    if (unescaped !== undefined) {
      if (config.escapedSlashesAction === "REJECT_REQUEST") return { action: NormalizePathAction.Reject, path };
      if (config.escapedSlashesAction === "UNESCAPE_AND_REDIRECT") action = NormalizePathAction.Redirect;
      path = unescaped;
    }
  }
  if (config.normalizePath) {
    const canonical = canonicalPath(path);
    if (canonical === undefined) return { action: NormalizePathAction.Reject, path };
    path = canonical;
  }
  // Envoy merges after normalizing, "to catch potential edge cases with percent encoding".
  if (config.mergeSlashes) path = mergeSlashes(path);
  return { action, path };
}

/**
 * PathUtil::unescapeSlashes: %2F and %5C (either case) in the path part become `/` and
 * `\`; undefined when there were none.
 */
export function unescapeSlashes(path: string): string | undefined {
  const queryAt = path.indexOf("?");
  const end = queryAt < 0 ? path.length : queryAt;
  let out: string | undefined;
  let copied = 0;
  for (let i = path.indexOf("%"); i >= 0 && i + 2 < end; i = path.indexOf("%", i + 1)) {
    const c1 = path.charCodeAt(i + 1);
    const c2 = path.charCodeAt(i + 2) | 0x20;
    const slash = c1 === 0x32 /* 2 */ && c2 === 0x66; /* f */
    const backslash = c1 === 0x35 /* 5 */ && c2 === 0x63; /* c */
    if (!slash && !backslash) continue;
    out = (out ?? "") + path.slice(copied, i) + (slash ? "/" : "\\");
    copied = i + 3;
    i += 2;
  }
  return out === undefined ? undefined : out + path.slice(copied);
}

/**
 * PathUtil::canonicalPath: the path part (before `?`) canonicalized as Chromium's
 * url::CanonicalizePath does (Envoy links it from googleurl), the query kept as is.
 * Undefined when the path cannot be normalized (an escaped or raw NUL).
 */
export function canonicalPath(path: string): string | undefined {
  const queryAt = path.indexOf("?");
  const canonical = canonicalizePathPart(queryAt < 0 ? path : path.slice(0, queryAt));
  if (canonical === undefined) return undefined;
  return queryAt < 0 ? canonical : canonical + path.slice(queryAt);
}

/**
 * PathUtil::mergeSlashes: runs of `/` in the path part become one; a leading and a
 * trailing slash are kept, the query is left alone.
 */
export function mergeSlashes(path: string): string {
  const queryAt = path.indexOf("?");
  const part = queryAt < 0 ? path : path.slice(0, queryAt);
  if (!part.includes("//")) return path;
  const prefix = part.startsWith("/") ? "/" : "";
  const suffix = part.endsWith("/") ? "/" : "";
  const segments = part.split("/").filter((s) => s !== "");
  return prefix + segments.join("/") + suffix + (queryAt < 0 ? "" : path.slice(queryAt));
}

// ---- Chromium's url_canon_path.cc, for 8-bit input ----

const PASS = 0;
/** Needs handling beyond copying. */
const SPECIAL = 1;
/** Percent-encoded in the output. */
const ESCAPE = 2 | SPECIAL;
/** Decoded when found percent-encoded (RFC 3986 §2.3 unreserved characters). */
const UNESCAPE = 4;
/** Not allowed: the path cannot be normalized. */
const INVALID = 8 | SPECIAL;

/** kPathCharLookup: what each byte is in a path. */
const PATH_CHAR = buildPathCharTable();

function buildPathCharTable(): Uint8Array {
  const table = new Uint8Array(256).fill(ESCAPE);
  table[0] = INVALID;
  for (let c = 0x21; c < 0x7f; c++) table[c] = PASS;
  for (const c of ' "#%<>?\\^`{|}') table[c.charCodeAt(0)] = ESCAPE;
  for (let c = 0x30; c <= 0x39; c++) table[c] = UNESCAPE;
  for (let c = 0x41; c <= 0x5a; c++) table[c] = UNESCAPE;
  for (let c = 0x61; c <= 0x7a; c++) table[c] = UNESCAPE;
  for (const c of "-_~") table[c.charCodeAt(0)] = UNESCAPE;
  table[0x2e /* . */] = SPECIAL;
  // `\` is a slash in a URL path; `%` starts an escape (both handled before the table's flags).
  return table;
}

const HEX = "0123456789ABCDEF";

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** IsDot: 1 for `.`, 3 for `%2e`/`%2E`, else 0. */
function dotLength(s: string, i: number, end: number): number {
  const c = s.charCodeAt(i);
  if (c === 0x2e) return 1;
  if (c === 0x25 && i + 2 < end && s.charCodeAt(i + 1) === 0x32 && (s.charCodeAt(i + 2) | 0x20) === 0x65) return 3;
  return 0;
}

function isSlash(c: number): boolean {
  return c === 0x2f || c === 0x5c;
}

/** DoPath + DoPartialPath: dot segments removed, unreserved escapes decoded, unsafe bytes escaped. */
function canonicalizePathPart(s: string): string | undefined {
  const end = s.length;
  if (end === 0) return "/";
  let out = isSlash(s.charCodeAt(0)) ? "" : "/";
  let ok = true;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    const flags = PATH_CHAR[c]!;
    if ((flags & SPECIAL) === 0) {
      out += s[i];
      continue;
    }
    const dot = dotLength(s, i, end);
    if (dot > 0) {
      if (!out.endsWith("/")) {
        // Part of a name ("a.b", "a%2Eb").
        out += ".";
        i += dot - 1;
        continue;
      }
      const after = i + dot;
      if (after === end) {
        i = end; // "." at the end: the current directory.
      } else if (isSlash(s.charCodeAt(after))) {
        i = after; // "./"
      } else {
        const second = dotLength(s, after, end);
        const afterSecond = after + second;
        if (second > 0 && (afterSecond === end || isSlash(s.charCodeAt(afterSecond)))) {
          // "..": back up to the previous slash, never above the root.
          out = out.slice(0, out.lastIndexOf("/", out.length - 2) + 1) || "/";
          i = afterSecond === end ? end : afterSecond;
        } else {
          out += ".";
          i += dot - 1;
        }
      }
      continue;
    }
    if (c === 0x5c) {
      out += "/";
    } else if (c === 0x25) {
      const hi = i + 2 < end ? hexValue(s.charCodeAt(i + 1)) : -1;
      const lo = hi >= 0 ? hexValue(s.charCodeAt(i + 2)) : -1;
      if (lo < 0) {
        // Not an escape: Chromium passes the `%` through.
        out += "%";
        continue;
      }
      const value = hi * 16 + lo;
      const decodedFlags = PATH_CHAR[value]!;
      if (decodedFlags & UNESCAPE) out += String.fromCharCode(value);
      else {
        // Kept escaped, in the client's letter case (servers may care).
        out += s.slice(i, i + 3);
        if ((decodedFlags & INVALID) === INVALID) ok = false;
      }
      i += 2;
    } else if ((flags & INVALID) === INVALID) {
      out += "%" + HEX[c >> 4] + HEX[c & 15];
      ok = false;
    } else {
      out += "%" + HEX[c >> 4] + HEX[c & 15];
    }
  }
  return ok ? out : undefined;
}

/** Envoy's details for both the 400 and the 307 (ResponseCodeDetails::PathNormalizationFailed). */
export const PATH_NORMALIZATION_FAILED = "path_normalization_failed";

/** What applying the rules needs from a stream. */
export interface PathRulesStream {
  sendLocalReply(status: number, body: string, details: string, flag?: undefined, extraHeaders?: [string, string][]): void;
}

/**
 * The rules applied to a request, as ActiveStream::decodeHeaders does in Envoy
 * (conn_manager_impl.cc): a refused path is 400; a redirect is 307 to the unescaped
 * path, except for gRPC, whose clients do not follow redirects (400 too). Otherwise the
 * request goes on with the new path. Returns false when the stream was answered.
 */
export function applyPathRules(
  headers: RequestHeaders,
  config: PathNormalizationConfig,
  stats: ConnectionManagerStats,
  stream: PathRulesStream,
): boolean {
  const { action, path } = normalizeRequestPath(headers.path, config);
  if (action === NormalizePathAction.Reject || (action === NormalizePathAction.Redirect && hasGrpcContentType(headers))) {
    stats.downstreamRqFailedPathNormalization.inc();
    stream.sendLocalReply(400, "", PATH_NORMALIZATION_FAILED);
    return false;
  }
  headers.path = path;
  if (action === NormalizePathAction.Redirect) {
    stats.downstreamRqRedirectedWithNormalizedPath.inc();
    stream.sendLocalReply(307, "", PATH_NORMALIZATION_FAILED, undefined, [["location", path]]);
    return false;
  }
  return true;
}

