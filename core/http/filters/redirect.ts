import type { RedirectAction, RouteMatchConfig } from "../../config/bootstrap.ts";
import type { RequestHeaders } from "../message.ts";
import { rewriteMatchedPrefix } from "./path-rewrite.ts";

/**
 * The Location of a route redirect, as Envoy's Http::Utility::newUri
 * (source/common/http/utility.cc) builds it from the RedirectAction:
 * - scheme: scheme_redirect, else https for https_redirect, else the request's;
 * - host: host_redirect as written (the request's port is not carried over), else the
 *   request's Host, its port kept unless port_redirect is set, or the scheme changes from
 *   the one x-forwarded-proto names and the port is that scheme's default (processRequestHost);
 * - path: path_redirect — its own query, if it has one, wins and is never stripped, else the
 *   request's query follows it — or the request's path after the redirect's prefix_rewrite;
 *   strip_query drops the query unless path_redirect brought one.
 * No default port is removed otherwise: `Host: a:80` stays `http://a:80/…`, as in Envoy.
 */
export function redirectLocation(redirect: RedirectAction, request: RequestHeaders, match: RouteMatchConfig): string {
  const scheme = redirect.schemeRedirect ?? (redirect.httpsRedirect ? "https" : request.scheme);
  const port = redirect.portRedirect ? `:${redirect.portRedirect}` : "";
  const host = redirect.hostRedirect ?? requestHost(request, scheme, port);
  const pathRedirect = redirect.pathRedirect;
  const pathRedirectHasQuery = pathRedirect !== undefined && pathRedirect.includes("?");
  let path: string;
  if (pathRedirect === undefined) {
    path = redirect.prefixRewrite !== undefined ? rewriteMatchedPrefix(request.path, match, redirect.prefixRewrite) : request.path;
  } else if (pathRedirectHasQuery) {
    path = pathRedirect;
  } else {
    const q = request.path.indexOf("?");
    path = q < 0 ? pathRedirect : pathRedirect + request.path.slice(q);
  }
  if (!path.startsWith("/")) path = "/" + path;
  if (redirect.stripQuery && !pathRedirectHasQuery) {
    const q = path.indexOf("?");
    if (q >= 0) path = path.slice(0, q);
  }
  return `${scheme}://${host}${port}${path}`;
}

/**
 * Envoy's processRequestHost: the request's Host, without its port when the redirect sets
 * one, or when the scheme changes and the port is the default of the scheme the request
 * came with (x-forwarded-proto, which the connection manager has set by now: an http URL
 * sent over TLS keeps its :80).
 */
function requestHost(request: RequestHeaders, scheme: string, port: string): string {
  const host = request.authority;
  const end = host.startsWith("[") ? portStartAfterBracket(host) : host.lastIndexOf(":");
  if (end < 0) return host;
  const requestPort = host.slice(end);
  const forwardedProto = request.get("x-forwarded-proto") ?? "";
  let removePort = port !== "";
  if (scheme !== forwardedProto) {
    // Http::Utility::schemeIsHttps / schemeIsHttp compare without case.
    const proto = forwardedProto.toLowerCase();
    removePort ||= (proto === "https" && requestPort === ":443") || (proto === "http" && requestPort === ":80");
  }
  return removePort ? host.slice(0, end) : host;
}

/** Where an IPv6 literal's port starts (at its ':'), or -1. */
function portStartAfterBracket(host: string): number {
  const i = host.lastIndexOf("]:");
  return i < 0 ? -1 : i + 1;
}
