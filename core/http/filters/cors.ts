/**
 * Envoy's cors HTTP filter (source/extensions/filters/http/cors/cors_filter.cc). The
 * policies come from typed_per_filter_config (route, then virtual host, then route
 * configuration), or when none has one, from the deprecated `cors` of the route action
 * and the virtual host; each field is taken from the most specific policy that sets it.
 * A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered here,
 * 200 with the access-control-allow-* headers (details cors_response); other requests
 * from an allowed origin get access-control-allow-origin (and -credentials,
 * -expose-headers) on their response. Stats: http.<stat_prefix>.cors.{origin_valid,origin_invalid}.
 */
import type { CorsPolicyConfig, FractionalPercent, RouteConfig, RouteConfiguration } from "../../config/bootstrap.ts";
import type { ServerContext } from "../../server-context.ts";
import type { Counter } from "../../stats/counter.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type EncoderFilterCallbacks,
  type StreamFilter,
} from "../filter.ts";
import { ResponseHeaders, type RequestHeaders } from "../message.ts";
import { compileStringMatch } from "../route/header-matcher.ts";
import type { RouteMatch } from "../route/route-table.ts";
import type { HttpFilterChainContext } from "./http-filter-registry.ts";
import { sanitizeStatsPrefix } from "../../stats/sanitize-stats-name.ts";

const CORS_RESPONSE = "cors_response";

/** The policies of one route merged field by field, most specific first (what Envoy's CorsFilter getters compute per request). */
export class EffectiveCorsPolicy {
  readonly allowOrigins: ((value: string) => boolean)[];
  readonly allowMethods: string;
  readonly allowHeaders: string;
  readonly exposeHeaders: string;
  readonly maxAge: string;
  readonly allowCredentials: boolean;
  readonly allowPrivateNetworkAccess: boolean;
  readonly forwardNotMatchingPreflights: boolean;
  /** The first policy's (Envoy: enabled() and shadowEnabled() look at the first policy only). */
  readonly filterEnabled: FractionalPercent | undefined;
  readonly shadowEnabled: FractionalPercent | undefined;

  constructor(policies: readonly CorsPolicyConfig[]) {
    const first = <T>(pick: (p: CorsPolicyConfig) => T | undefined, isSet: (v: T) => boolean = () => true): T | undefined => {
      for (const policy of policies) {
        const value = pick(policy);
        if (value !== undefined && isSet(value)) return value;
      }
      return undefined;
    };
    const nonEmpty = (v: string) => v !== "";
    this.allowOrigins = (first((p) => p.allowOrigins, (v) => v.length > 0) ?? []).map(compileStringMatch);
    this.allowMethods = first((p) => p.allowMethods, nonEmpty) ?? "";
    this.allowHeaders = first((p) => p.allowHeaders, nonEmpty) ?? "";
    this.exposeHeaders = first((p) => p.exposeHeaders, nonEmpty) ?? "";
    this.maxAge = first((p) => p.maxAge, nonEmpty) ?? "";
    this.allowCredentials = first((p) => p.allowCredentials) ?? false;
    this.allowPrivateNetworkAccess = first((p) => p.allowPrivateNetworkAccess) ?? false;
    this.forwardNotMatchingPreflights = first((p) => p.forwardNotMatchingPreflights) ?? true;
    this.filterEnabled = policies[0]!.filterEnabled;
    this.shadowEnabled = policies[0]!.shadowEnabled;
  }

  /** Envoy's isOriginAllowed: a matcher that matches "*" allows any origin. */
  isOriginAllowed(origin: string): boolean {
    for (const matches of this.allowOrigins) if (matches("*") || matches(origin)) return true;
    return false;
  }
}

/** What the streams of one cors filter share: its stats, and each route's merged policy (routes live as long as their config). */
export class CorsFilterConfig {
  readonly originValid: Counter;
  readonly originInvalid: Counter;
  private readonly policies = new WeakMap<RouteConfig, EffectiveCorsPolicy | null>();

  constructor(
    server: ServerContext,
    chain: HttpFilterChainContext,
    /** The filter's name in http_filters: the key of its typed_per_filter_config. */
    private readonly name: string,
  ) {
    const prefix = sanitizeStatsPrefix(`http.${chain.statPrefix}.cors.`);
    this.originValid = server.stats.counter(prefix + "origin_valid");
    this.originInvalid = server.stats.counter(prefix + "origin_invalid");
  }

  policyFor(match: RouteMatch, routeConfig: RouteConfiguration): EffectiveCorsPolicy | null {
    let policy = this.policies.get(match.route);
    if (policy === undefined) {
      const found = this.collect(match, routeConfig);
      policy = found.length === 0 ? null : new EffectiveCorsPolicy(found);
      this.policies.set(match.route, policy);
    }
    return policy;
  }

  /** Envoy's initializeCorsPolicies: typed per-filter policies, else the route's and virtual host's `cors`. */
  private collect(match: RouteMatch, routeConfig: RouteConfiguration): CorsPolicyConfig[] {
    const policies: CorsPolicyConfig[] = [];
    for (const level of [match.route, match.virtualHost, routeConfig]) {
      const policy = level.typedPerFilterConfig?.get(this.name) as CorsPolicyConfig | undefined;
      if (policy !== undefined) policies.push(policy);
    }
    if (policies.length > 0) return policies;
    const action = match.route.action;
    if (action.type === "route" && action.route.cors !== undefined) policies.push(action.route.cors);
    if (match.virtualHost.cors !== undefined) policies.push(match.virtualHost.cors);
    return policies;
  }
}

const CONFIGS = new WeakMap<object, CorsFilterConfig>();

export function corsFilterConfig(config: object, server: ServerContext, chain: HttpFilterChainContext, name: string): CorsFilterConfig {
  let shared = CONFIGS.get(config);
  if (!shared) {
    shared = new CorsFilterConfig(server, chain, name);
    CONFIGS.set(config, shared);
  }
  return shared;
}

export class CorsFilter implements StreamFilter {
  private callbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private policy: EffectiveCorsPolicy | null = null;
  private isCorsRequest = false;
  /** The Origin, when allowed (Envoy's latched_origin_). */
  private latchedOrigin = "";
  private answered = false;

  constructor(
    private readonly config: CorsFilterConfig,
    private readonly server: ServerContext,
  ) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.callbacks = callbacks;
  }

  setEncoderFilterCallbacks(_callbacks: EncoderFilterCallbacks): void {}

  decodeHeaders(headers: RequestHeaders, _endStream: boolean): FilterHeadersStatus {
    const callbacks = this.callbacks;
    const match = callbacks.route;
    // No route entry (cors_filter.cc decodeHeaders): a direct_response or redirect route,
    // answered by the router without an upstream, gets no CORS handling at all.
    if (match === undefined || match.route.action.type !== "route") return FilterHeadersStatus.Continue;
    const policy = this.config.policyFor(match, callbacks.routeConfig);
    if (policy === null) return FilterHeadersStatus.Continue;
    this.policy = policy;
    // filter_enabled unset: enabled; shadow_enabled unset: off.
    const enabled = policy.filterEnabled === undefined || this.server.layeredRuntime.featureEnabled(policy.filterEnabled);
    const shadowEnabled = policy.shadowEnabled !== undefined && this.server.layeredRuntime.featureEnabled(policy.shadowEnabled);
    if (!enabled && !shadowEnabled) return FilterHeadersStatus.Continue;
    const origin = headers.get("origin");
    if (origin === undefined || origin === "") return FilterHeadersStatus.Continue;
    const originAllowed = policy.isOriginAllowed(origin);
    if (originAllowed) {
      this.config.originValid.inc();
      this.latchedOrigin = origin;
    } else {
      this.config.originInvalid.inc();
    }
    // Shadow mode only counts.
    if (!enabled) return FilterHeadersStatus.Continue;
    this.isCorsRequest = true;
    if (headers.method !== "OPTIONS") return FilterHeadersStatus.Continue;
    const requestMethod = headers.get("access-control-request-method");
    if (requestMethod === undefined || requestMethod === "") return FilterHeadersStatus.Continue;
    // A preflight; one from an origin not allowed goes upstream unless forward_not_matching_preflights is false.
    if (!originAllowed && policy.forwardNotMatchingPreflights) return FilterHeadersStatus.Continue;
    this.answerPreflight(policy, headers, originAllowed ? origin : undefined, requestMethod);
    return FilterHeadersStatus.StopIteration;
  }

  decodeData(): FilterDataStatus {
    return this.answered ? FilterDataStatus.StopIterationNoBuffer : FilterDataStatus.Continue;
  }

  decodeTrailers(): FilterTrailersStatus {
    return this.answered ? FilterTrailersStatus.StopIteration : FilterTrailersStatus.Continue;
  }

  /** A simple request's response (and the preflight answer, which passes here too). */
  encodeHeaders(headers: ResponseHeaders, _endStream: boolean): FilterHeadersStatus {
    const policy = this.policy;
    // Origin not allowed: the response is left alone.
    if (!this.isCorsRequest || this.latchedOrigin === "" || policy === null) return FilterHeadersStatus.Continue;
    headers.set("access-control-allow-origin", this.latchedOrigin);
    if (policy.allowCredentials) headers.set("access-control-allow-credentials", "true");
    if (policy.exposeHeaders !== "") headers.set("access-control-expose-headers", policy.exposeHeaders);
    return FilterHeadersStatus.Continue;
  }

  encodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  encodeTrailers(): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  onDestroy(): void {}

  private answerPreflight(policy: EffectiveCorsPolicy, request: RequestHeaders, origin: string | undefined, requestMethod: string): void {
    const headers = new ResponseHeaders(200);
    if (origin !== undefined) headers.set("access-control-allow-origin", origin);
    if (policy.allowCredentials) headers.set("access-control-allow-credentials", "true");
    // "*" echoes what the preflight asks for.
    if (policy.allowMethods !== "") headers.set("access-control-allow-methods", policy.allowMethods === "*" ? requestMethod : policy.allowMethods);
    if (policy.allowHeaders !== "") {
      const value = policy.allowHeaders === "*" ? (request.get("access-control-request-headers") ?? "") : policy.allowHeaders;
      headers.set("access-control-allow-headers", value);
    }
    if (policy.maxAge !== "") headers.set("access-control-max-age", policy.maxAge);
    // https://developer.chrome.com/blog/private-network-access-preflight
    if (policy.allowPrivateNetworkAccess && request.get("access-control-request-private-network") === "true") {
      headers.set("access-control-allow-private-network", "true");
    }
    this.answered = true;
    this.callbacks.streamInfo.responseCodeDetails = CORS_RESPONSE;
    this.callbacks.encodeHeaders(headers, true);
  }
}
