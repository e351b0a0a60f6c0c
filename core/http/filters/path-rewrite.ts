import type { ForwardAction, RouteMatchConfig } from "../../config/bootstrap.ts";
import type { RequestHeaders } from "../message.ts";
import { type CompiledRegex, compileRegex } from "../../config/regex.ts";

const compiled = new Map<string, CompiledRegex>();

/**
 * The path the upstream gets (Envoy's route rewrites): prefix_rewrite replaces the
 * matched prefix (or the whole matched path); regex_rewrite substitutes every match in
 * the path (not the query), as RE2::GlobalReplace (core/config/regex.ts).
 */
export function rewritePath(path: string, match: RouteMatchConfig, action: ForwardAction): string {
  if (action.prefixRewrite !== undefined) return rewriteMatchedPrefix(path, match, action.prefixRewrite);
  if (action.regexRewrite !== undefined) {
    const q = path.indexOf("?");
    const bare = q < 0 ? path : path.slice(0, q);
    const query = q < 0 ? "" : path.slice(q);
    const regex = compiledRegex(action.regexRewrite.pattern);
    return regex ? regex.replaceAll(bare, action.regexRewrite.substitution) + query : path;
  }
  return path;
}

/**
 * prefix_rewrite (a route's, or a redirect's): `rewrite` in place of the matched prefix, the
 * whole matched path, or — for a safe_regex match — the whole path before its query or
 * fragment (Envoy's RegexRouteEntryImpl: the matched path is removeQueryAndFragment(path)).
 */
export function rewriteMatchedPrefix(path: string, match: RouteMatchConfig, rewrite: string): string {
  if (match.safeRegex !== undefined) {
    const end = pathEnd(path);
    return end < 0 ? rewrite : rewrite + path.slice(end);
  }
  const matched = match.prefix ?? match.path;
  if (matched !== undefined) {
    const head = match.caseSensitive ? path.slice(0, matched.length) : path.slice(0, matched.length).toLowerCase();
    const want = match.caseSensitive ? matched : matched.toLowerCase();
    if (head === want) return rewrite + path.slice(matched.length);
  }
  return path;
}

/**
 * Envoy's Http::Utility::updateAuthority: Host becomes `hostname`; with the route's
 * append_x_forwarded_host the Host it replaces is appended to x-forwarded-host (`,`
 * between values), unless it is already the last value there (append_xfh_idempotent).
 */
export function updateAuthority(headers: RequestHeaders, hostname: string, appendXfh: boolean): void {
  const host = headers.authority;
  if (appendXfh && host !== "") {
    const xfh = headers.getJoined("x-forwarded-host", ",");
    if (!xfh) headers.set("x-forwarded-host", host);
    else if (xfh.slice(xfh.lastIndexOf(",") + 1) !== host) headers.set("x-forwarded-host", `${xfh},${host}`);
  }
  headers.authority = hostname;
}

/**
 * The upstream Host from the route, or undefined to keep it (Envoy's
 * finalizeRequestHeaders): host_rewrite_literal; host_rewrite_header's first value when
 * it is not empty; host_rewrite_path_regex applied to the path without query or
 * fragment. auto_host_rewrite is applied by the router once it has chosen the host,
 * whose name it takes (router.ts, startAttempt).
 */
export function rewriteHost(headers: RequestHeaders, action: ForwardAction): string | undefined {
  if (action.hostRewriteLiteral !== undefined) return action.hostRewriteLiteral;
  if (action.hostRewriteHeader !== undefined) return headers.get(action.hostRewriteHeader) || undefined;
  const rewrite = action.hostRewritePathRegex;
  if (rewrite === undefined) return undefined;
  const path = headers.path;
  const end = pathEnd(path);
  const regex = compiledRegex(rewrite.pattern);
  return regex ? regex.replaceAll(end < 0 ? path : path.slice(0, end), rewrite.substitution) : undefined;
}

/** Where the query or fragment starts (Http::PathUtil::removeQueryAndFragment), or -1. */
function pathEnd(path: string): number {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 63 || c === 35) return i;
  }
  return -1;
}

function compiledRegex(pattern: string): CompiledRegex | undefined {
  let regex = compiled.get(pattern);
  if (!regex) {
    // Validated at config load.
    const result = compileRegex(pattern);
    if (!result.ok) return undefined;
    regex = result.regex;
    compiled.set(pattern, regex);
  }
  return regex;
}
