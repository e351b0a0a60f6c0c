import type { RedirectAction, RouteMatchConfig } from "../../config/bootstrap.ts";
import type { RequestHeaders } from "../message.ts";

/**
 * The Location of a route redirect (Envoy's RedirectAction): scheme, host, port and
 * path each replaced when configured, otherwise kept from the request; switching
 * scheme without a port_redirect drops the port; strip_query drops the query.
 */
export function redirectLocation(redirect: RedirectAction, request: RequestHeaders, match: RouteMatchConfig): string {
  const scheme = redirect.httpsRedirect ? "https" : (redirect.schemeRedirect ?? request.scheme);
  const [requestHost, requestPort] = splitAuthority(request.authority);
  const host = redirect.hostRedirect ?? requestHost;
  let port = redirect.portRedirect !== undefined ? String(redirect.portRedirect) : requestPort;
  if (redirect.portRedirect === undefined && scheme !== request.scheme) port = undefined;
  if ((scheme === "http" && port === "80") || (scheme === "https" && port === "443")) port = undefined;
  const q = request.path.indexOf("?");
  let path = q < 0 ? request.path : request.path.slice(0, q);
  let query = q < 0 ? "" : request.path.slice(q);
  if (redirect.pathRedirect !== undefined) {
    const pq = redirect.pathRedirect.indexOf("?");
    path = pq < 0 ? redirect.pathRedirect : redirect.pathRedirect.slice(0, pq);
    if (pq >= 0) query = redirect.pathRedirect.slice(pq);
  } else if (redirect.prefixRewrite !== undefined && match.prefix !== undefined) {
    path = redirect.prefixRewrite + path.slice(match.prefix.length);
  }
  if (redirect.stripQuery) query = "";
  return `${scheme}://${host}${port ? `:${port}` : ""}${path}${query}`;
}

function splitAuthority(authority: string): [string, string | undefined] {
  const m = authority.match(/^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/);
  return m ? [m[1]!, m[2]] : [authority, undefined];
}
