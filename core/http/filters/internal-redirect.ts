import type { InternalRedirectPolicyConfig, InternalRedirectPredicateConfig } from "../../config/bootstrap.ts";
import type { StreamInfo } from "../stream-info.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import { parseAbsoluteUrl } from "../codec/absolute-url.ts";
import type { PassthroughReason } from "./router-stats.ts";

/** Envoy's NumInternalRedirectsFilterStateName: redirects this downstream request followed, carried into each recreated stream. */
const NUM_INTERNAL_REDIRECTS = "num_internal_redirects";
/** Envoy's PreviousRoutesPredicateStateNamePrefix, one set of target route names per route the policy sits on. */
const PREVIOUS_ROUTES = "envoy.internal_redirect.previous_routes";

/** What the router needs of its stream to convert a request for an internal redirect. */
export interface InternalRedirectTarget {
  readonly streamInfo: StreamInfo;
  /** Route again with the headers as they are now; returns the route's name, or undefined when none matches. */
  reroute(): string | undefined;
}

/**
 * Envoy's Router::Filter::convertRequestHeadersForInternalRedirect (router.cc): turn the
 * request into the one the upstream's Location asks for — scheme, Host and path from the
 * absolute URL (its #fragment dropped), the policy's response_headers_to_copy, GET without
 * a body after a 303 (RFC 9110 §15.4.4) — if the policy allows it: an absolute Location,
 * the same scheme unless allow_cross_scheme_redirect, fewer than max_internal_redirects
 * so far, a route for the new request, and every predicate accepting that route. On
 * success x-envoy-original-url says what the request was; on failure the headers are as
 * they were and the reason is returned. `dropBody` is set when the body must go.
 */
export function convertRequestHeadersForInternalRedirect(
  policy: InternalRedirectPolicyConfig,
  currentRouteName: string,
  request: RequestHeaders,
  response: ResponseHeaders,
  location: string,
  target: InternalRedirectTarget,
): { ok: true; dropBody: boolean } | { ok: false; reason: PassthroughReason | undefined } {
  if (!request.path) return { ok: false, reason: undefined };
  if (location === "") return { ok: false, reason: "bad_location" };
  const url = parseAbsoluteUrl(location);
  if (url === undefined) return { ok: false, reason: "bad_location" };
  const schemeIsHttp = request.scheme !== "https";
  const targetIsHttp = url.scheme === "http";
  if (!policy.allowCrossSchemeRedirect && schemeIsHttp !== targetIsHttp) return { ok: false, reason: "unsafe_scheme" };
  const followed = (target.streamInfo.filterState?.get(NUM_INTERNAL_REDIRECTS) as number | undefined) ?? 0;
  if (followed >= policy.maxInternalRedirects) return { ok: false, reason: "too_many_redirects" };

  // Kept to put back if the redirect fails after all (Envoy's restore_original_headers).
  const savedFields = request.entries();
  const saved = { scheme: request.scheme, authority: request.authority, path: request.path, method: request.method };
  const restore = (): void => {
    for (const [name] of request.entries()) request.remove(name);
    for (const [name, value] of savedFields) request.add(name, value);
    Object.assign(request, saved);
    target.reroute();
  };
  for (const name of policy.responseHeadersToCopy) {
    const values: string[] = [];
    response.forEach((field, value) => {
      if (field === name) values.push(value);
    });
    request.remove(name);
    for (const value of values) request.add(name, value);
  }
  request.scheme = url.scheme;
  request.authority = url.authority;
  const fragment = url.path.indexOf("#");
  request.path = fragment < 0 ? url.path : url.path.slice(0, fragment);
  const routeName = target.reroute();
  if (routeName === undefined) {
    restore();
    return { ok: false, reason: "no_route" };
  }
  for (const predicate of policy.predicates) {
    if (!acceptTargetRoute(predicate, target.streamInfo, currentRouteName, routeName, !schemeIsHttp, !targetIsHttp)) {
      restore();
      return { ok: false, reason: "predicate" };
    }
  }
  let dropBody = false;
  if (response.status === 303 && request.method !== "GET" && request.method !== "HEAD") {
    request.method = "GET";
    request.remove("content-length");
    dropBody = true;
  }
  target.streamInfo.setRequestLifespanFilterState(NUM_INTERNAL_REDIRECTS, followed + 1);
  request.set("x-envoy-original-url", `${schemeIsHttp ? "http" : "https"}://${saved.authority}${saved.path}`);
  return { ok: true, dropBody };
}

/** Envoy's InternalRedirectPredicate::acceptTargetRoute, for the three predicates it ships. */
function acceptTargetRoute(
  predicate: InternalRedirectPredicateConfig,
  info: StreamInfo,
  currentRouteName: string,
  targetRouteName: string,
  downstreamIsHttps: boolean,
  targetIsHttps: boolean,
): boolean {
  switch (predicate.type) {
    case "allow_listed_routes":
      return predicate.allowedRouteNames.has(targetRouteName);
    case "safe_cross_scheme":
      // HTTPS may go to HTTP only when the downstream was HTTP already; HTTP to HTTPS is fine.
      return !downstreamIsHttps || targetIsHttps;
    case "previous_routes": {
      // Each route the policy sits on remembers the routes it sent the request to: never one twice (a loop).
      const key = `${PREVIOUS_ROUTES}.${currentRouteName}`;
      // Request lifespan (Envoy's PreviousRoutesPredicate), so the recreated stream keeps it.
      let visited = info.filterState?.get(key) as Set<string> | undefined;
      if (visited === undefined) info.setRequestLifespanFilterState(key, (visited = new Set()));
      if (visited.has(targetRouteName)) return false;
      visited.add(targetRouteName);
      return true;
    }
  }
}
