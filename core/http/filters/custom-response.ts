/**
 * Envoy's custom_response HTTP filter (source/extensions/filters/http/custom_response/
 * custom_response_filter.cc, with the policies of source/extensions/http/custom_response/):
 * when a response's headers match custom_response_matcher (status code, its class, a
 * response header, whether it is a local reply), its policy replaces the response.
 * - LocalResponsePolicy: a local reply — status_code (else the response's), body /
 *   body_format (%LOCAL_REPLY_BODY% is body), response_headers_to_add.
 * - RedirectPolicy: the request goes again, as a GET without body, to `uri` (or the URL
 *   redirect_action makes of the request) through a recreated stream — an internal
 *   redirect; that stream's response gets response_headers_to_add and status_code (else the
 *   first response's code). request_headers_to_add are applied to the redirected request.
 * Per-route CustomResponse configs are read from the least specific level to the most; the
 * most specific one whose matcher matches wins, else the filter's own (Envoy's
 * getAllPerFilterConfig loop).
 */
import type { CustomResponseConfig, CustomResponseInput, CustomResponseMatcherConfig, CustomResponsePolicyConfig, CustomResponsePredicate, LocalResponsePolicyConfig, RedirectPolicyConfig } from "../../config/custom-response-schema.ts";
import type { RouteMatchConfig } from "../../config/bootstrap.ts";
import type { ServerContext } from "../../server-context.ts";
import type { Counter } from "../../stats/counter.ts";
import { compileFormat, type AccessLogFormatter } from "../../access-log/format.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type EncoderFilterCallbacks,
  type StreamFilter,
} from "../filter.ts";
import { RequestHeaders, ResponseHeaders } from "../message.ts";
import { compileStringMatch } from "../route/header-matcher.ts";
import { applyHeaderValueOptions } from "../route/custom-headers.ts";
import { parseAbsoluteUrl } from "../codec/absolute-url.ts";
import { redirectLocation } from "./redirect.ts";
import type { HttpFilterChainContext } from "./http-filter-registry.ts";
import { PerConfig } from "../../util/per-config.ts";
import { sanitizeStatsPrefix } from "../../stats/sanitize-stats-name.ts";

/** The filter state a redirect leaves for the recreated stream (Envoy's CustomResponseFilterState). */
const FILTER_STATE_NAME = "envoy.filters.http.custom_response";
const NO_REMOVALS: readonly string[] = [];

interface CustomResponseFilterState {
  policy: RedirectPolicy;
  originalResponseCode: number;
}

/** What the inputs read: the response's headers, and whether it is a local reply. */
type Read = (headers: ResponseHeaders, localReply: boolean) => string | undefined;
type Predicate = (headers: ResponseHeaders, localReply: boolean) => boolean;

/** The data an input gives: undefined when there is none (no such header, a code outside 1xx–5xx). */
function compileInput(input: CustomResponseInput): Read {
  switch (input.type) {
    case "status_code":
      return (headers) => String(headers.status);
    case "status_code_class":
      // Envoy's HttpResponseStatusCodeClassMatchInput: "1xx" … "5xx", nothing otherwise.
      return (headers) => (headers.status >= 100 && headers.status < 600 ? `${Math.floor(headers.status / 100)}xx` : undefined);
    case "response_header": {
      const name = input.name;
      // Envoy's HttpResponseHeaderMatchInput: the values joined with "," (getAllOfHeaderAsString);
      // ":status" is a header there too; here it is the status field (header() reads it, getJoined not).
      if (name === ":status") return (headers) => headers.header(name);
      return (headers) => headers.getJoined(name, ",");
    }
    case "local_reply":
      // Envoy 1.38's HttpResponseLocalReplyMatchInput: "true" for a reply Envoy made
      // (sendLocalReply, direct_response included), "false" for the upstream's.
      return (_headers, localReply) => (localReply ? "true" : "false");
  }
}

function compilePredicate(predicate: CustomResponsePredicate): Predicate {
  switch (predicate.type) {
    case "single": {
      const read = compileInput(predicate.input);
      const matches = compileStringMatch(predicate.value);
      return (headers, localReply) => {
        const value = read(headers, localReply);
        return value !== undefined && matches(value);
      };
    }
    case "and": {
      const all = predicate.predicates.map(compilePredicate);
      return (headers, localReply) => all.every((p) => p(headers, localReply));
    }
    case "or": {
      const any = predicate.predicates.map(compilePredicate);
      return (headers, localReply) => any.some((p) => p(headers, localReply));
    }
    case "not": {
      const inner = compilePredicate(predicate.predicate);
      return (headers, localReply) => !inner(headers, localReply);
    }
  }
}

/**
 * Statistics of the redirect policy (Envoy's ALL_CUSTOM_RESPONSE_REDIRECT_STATS): under
 * http.<stat_prefix>. for the filter's config, in the server's root scope for a per-route
 * config (factory.cc createRouteSpecificFilterConfigTyped: context.scope().prefix()).
 */
interface RedirectStats {
  noRoute: Counter;
  invalidUri: Counter;
}

export type Policy = LocalResponsePolicy | RedirectPolicy;

/** One LocalResponsePolicy, its body format compiled. */
export class LocalResponsePolicy {
  private readonly formatter: AccessLogFormatter | undefined;

  constructor(readonly config: LocalResponsePolicyConfig) {
    this.formatter = config.bodyFormat === undefined ? undefined : compileFormat(config.bodyFormat.format);
  }

  /** Envoy's LocalResponsePolicy::encodeHeaders: a local reply in place of the response. */
  encodeHeaders(headers: ResponseHeaders, callbacks: DecoderFilterCallbacks): FilterHeadersStatus {
    const config = this.config;
    // status_code, else the response's own.
    const status = config.statusCode ?? headers.status;
    let body = config.body ?? "";
    if (this.formatter !== undefined) {
      // %RESPONSE_CODE% is the replaced response's: Envoy's router set it on the stream with its headers.
      callbacks.streamInfo.responseCode = headers.status;
      const context = callbacks.headerFormatterContext(headers) as ReturnType<DecoderFilterCallbacks["headerFormatterContext"]> & { localReplyBody?: string };
      // Without `body`, a local reply's own body (envoyproxy/envoy#46555: the body given to
      // sendLocalReply, e.g. a direct_response's); "" for the upstream's response. The reply
      // itself stays empty without a body_format, as in Envoy.
      context.localReplyBody = config.body ?? callbacks.streamInfo.localReplyBody ?? "";
      body = this.formatter.format(context);
    }
    // Envoy's mutate_headers runs on the reply's head before anything else is in it.
    let extra: [string, string][] | undefined;
    if (config.responseHeadersToAdd.length > 0) {
      // Envoy's sendLocalReply sets the stream's code before mutate_headers: %RESPONSE_CODE% is the reply's.
      callbacks.streamInfo.responseCode = status;
      const reply = new ResponseHeaders(status);
      applyHeaderValueOptions(reply, NO_REMOVALS, config.responseHeadersToAdd, callbacks, reply);
      extra = reply.entries();
    }
    callbacks.sendLocalReply(status, body, "", undefined, extra);
    return FilterHeadersStatus.StopIteration;
  }
}

/** Only path_redirect's prefix_rewrite reads the route's match, and the schema refuses prefix_rewrite. */
const NO_ROUTE_MATCH = {} as RouteMatchConfig;

/** One RedirectPolicy (Envoy's RedirectPolicy, redirect_policy.cc). */
export class RedirectPolicy {
  constructor(
    readonly config: RedirectPolicyConfig,
    private readonly stats: RedirectStats,
  ) {}

  /**
   * The first pass: send the request again to the new URL through a recreated stream
   * (Envoy's recreateStream), remembering this policy and the response's code for the
   * second pass. When that cannot be done the response goes on as it is.
   */
  redirect(headers: ResponseHeaders, filter: CustomResponseFilter): FilterHeadersStatus {
    const callbacks = filter.decoderCallbacks;
    const request = filter.downstreamHeaders;
    // Envoy's recreateStream refuses a stream whose request is not complete.
    if (request === undefined || !filter.requestComplete) return FilterHeadersStatus.Continue;
    const config = this.config;
    const uri = config.uri ?? redirectLocation(config.redirectAction!, request, NO_ROUTE_MATCH);
    const url = parseAbsoluteUrl(uri);
    if (url === undefined) {
      this.stats.invalidUri.inc();
      return FilterHeadersStatus.Continue;
    }
    const saved = { scheme: request.scheme, authority: request.authority, path: request.path };
    request.scheme = url.scheme;
    request.authority = url.authority;
    // A #fragment is not sent (Envoy strips it: the new request would be refused with it).
    const fragment = url.path.indexOf("#");
    request.path = fragment < 0 ? url.path : url.path.slice(0, fragment);
    // Envoy applies request_headers_to_add before it looks for the new route (redirect_policy.cc):
    // our clearRouteCache routes again at once, so the headers go in first.
    applyHeaderValueOptions(request, NO_REMOVALS, config.requestHeadersToAdd, callbacks, undefined);
    callbacks.clearRouteCache();
    // Envoy puts back the URL (not request_headers_to_add) when the redirect is not made.
    const restore = (): FilterHeadersStatus => {
      Object.assign(request, saved);
      callbacks.clearRouteCache();
      return FilterHeadersStatus.Continue;
    };
    if (callbacks.route === undefined) {
      this.stats.noRoute.inc();
      return restore();
    }
    const { method } = request;
    request.method = "GET";
    const framing = [request.get("content-length"), request.get("transfer-encoding")] as const;
    request.remove("content-length");
    request.remove("transfer-encoding");
    // Request lifespan (as in Envoy): the recreated stream keeps it, and only it of this stream's state.
    const state: CustomResponseFilterState = { policy: this, originalResponseCode: headers.status };
    callbacks.streamInfo.setRequestLifespanFilterState(FILTER_STATE_NAME, state);
    // This stream (and this filter) ends in there; the new one has its own filters.
    if (callbacks.recreateStream(undefined)) return FilterHeadersStatus.StopIteration;
    callbacks.streamInfo.filterState!.delete(FILTER_STATE_NAME);
    request.method = method;
    if (framing[0] !== undefined) request.set("content-length", framing[0]);
    if (framing[1] !== undefined) request.set("transfer-encoding", framing[1]);
    return restore();
  }

  /** The second pass, on the redirected request's response: its headers and status. */
  encodeRedirectedResponse(headers: ResponseHeaders, state: CustomResponseFilterState, callbacks: DecoderFilterCallbacks): FilterHeadersStatus {
    // %RESPONSE_CODE% in the headers is the redirected response's (the router's code for this stream).
    callbacks.streamInfo.responseCode = headers.status;
    applyHeaderValueOptions(headers, NO_REMOVALS, this.config.responseHeadersToAdd, callbacks, headers);
    headers.status = this.config.statusCode ?? state.originalResponseCode;
    return FilterHeadersStatus.Continue;
  }
}

/** A matcher compiled: the policy for a response, or undefined (Envoy's FilterConfig::getPolicy). */
class CompiledMatcher {
  private readonly list: { matches: Predicate; policy: Policy }[] | undefined;
  private readonly tree: { read: Read; exact?: Map<string, Policy>; prefix?: [string, Policy][] } | undefined;
  private readonly onNoMatch: Policy | undefined;

  constructor(config: CustomResponseMatcherConfig, makePolicy: (config: CustomResponsePolicyConfig) => Policy) {
    this.list = config.list?.map((m) => ({ matches: compilePredicate(m.predicate), policy: makePolicy(m.action) }));
    if (config.tree !== undefined) {
      const { input, exact, prefix } = config.tree;
      this.tree = { read: compileInput(input) };
      if (exact !== undefined) this.tree.exact = new Map([...exact].map(([key, action]) => [key, makePolicy(action)]));
      // Longest prefix first: Envoy's prefix map matcher takes the longest matching prefix.
      if (prefix !== undefined) this.tree.prefix = [...prefix].map(([key, action]): [string, Policy] => [key, makePolicy(action)]).sort((a, b) => b[0].length - a[0].length);
    }
    this.onNoMatch = config.onNoMatch === undefined ? undefined : makePolicy(config.onNoMatch);
  }

  policyFor(headers: ResponseHeaders, localReply: boolean): Policy | undefined {
    if (this.list !== undefined) {
      for (const matcher of this.list) if (matcher.matches(headers, localReply)) return matcher.policy;
    } else if (this.tree !== undefined) {
      const value = this.tree.read(headers, localReply);
      if (value !== undefined) {
        const exact = this.tree.exact?.get(value);
        if (exact !== undefined) return exact;
        for (const [prefix, policy] of this.tree.prefix ?? []) if (value.startsWith(prefix)) return policy;
      }
    }
    return this.onNoMatch;
  }
}

/** What one custom_response config compiles to, shared by the streams (Envoy's FilterConfig). */
export class CustomResponseFilterConfig {
  private readonly matcher: CompiledMatcher | undefined;

  constructor(
    config: CustomResponseConfig,
    /** The server, for the per-route configs' stats. */
    readonly server: ServerContext,
    statPrefix: string,
  ) {
    const stats = redirectStats(server, statPrefix);
    const makePolicy = (policy: CustomResponsePolicyConfig): Policy => (policy.type === "local_response" ? new LocalResponsePolicy(policy) : new RedirectPolicy(policy, stats));
    this.matcher = config.matcher === undefined ? undefined : new CompiledMatcher(config.matcher, makePolicy);
  }

  policyFor(headers: ResponseHeaders, localReply: boolean): Policy | undefined {
    return this.matcher?.policyFor(headers, localReply);
  }
}

function redirectStats(server: ServerContext, prefix: string): RedirectStats {
  return {
    noRoute: server.stats.counter(prefix + "custom_response_redirect_no_route"),
    invalidUri: server.stats.counter(prefix + "custom_response_invalid_uri"),
  };
}

const CONFIGS = new PerConfig((config: CustomResponseConfig, server: ServerContext, chain: HttpFilterChainContext) => new CustomResponseFilterConfig(config, server, sanitizeStatsPrefix(`http.${chain.statPrefix}.`)));

export function customResponseFilterConfig(config: CustomResponseConfig, server: ServerContext, chain: HttpFilterChainContext): CustomResponseFilterConfig {
  return CONFIGS.get(config, server, chain);
}

/** Per-route configs compiled once each, their redirect stats in the root scope whichever HCM compiles them. */
const PER_ROUTE = new PerConfig((config: CustomResponseConfig, server: ServerContext) => new CustomResponseFilterConfig(config, server, ""));

export class CustomResponseFilter implements StreamFilter {
  /** @internal The policies read these. */
  decoderCallbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  /** @internal The downstream request, unless this stream is a redirect's (Envoy's downstream_headers_). */
  downstreamHeaders: RequestHeaders | undefined = undefined;
  /** @internal */
  requestComplete = false;

  constructor(
    private readonly config: CustomResponseFilterConfig,
    private readonly name: string,
  ) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.decoderCallbacks = callbacks;
  }

  setEncoderFilterCallbacks(_callbacks: EncoderFilterCallbacks): void {}

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    // A redirect's request does not take part: its response gets the policy's mutations only.
    if (this.filterState() === undefined) this.downstreamHeaders = headers;
    this.requestComplete = endStream;
    return FilterHeadersStatus.Continue;
  }

  decodeData(_data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (endStream) this.requestComplete = true;
    return FilterDataStatus.Continue;
  }

  decodeTrailers(): FilterTrailersStatus {
    this.requestComplete = true;
    return FilterTrailersStatus.Continue;
  }

  encodeHeaders(headers: ResponseHeaders, _endStream: boolean): FilterHeadersStatus {
    const state = this.filterState();
    if (state !== undefined) return state.policy.encodeRedirectedResponse(headers, state, this.decoderCallbacks);
    const localReply = this.decoderCallbacks.streamInfo.localReplyBody !== undefined;
    const policy = this.routePolicy(headers, localReply) ?? this.config.policyFor(headers, localReply);
    if (policy === undefined) return FilterHeadersStatus.Continue;
    return policy instanceof LocalResponsePolicy ? policy.encodeHeaders(headers, this.decoderCallbacks) : policy.redirect(headers, this);
  }

  encodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  encodeTrailers(): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  onDestroy(): void {
    this.downstreamHeaders = undefined;
  }

  private filterState(): CustomResponseFilterState | undefined {
    return this.decoderCallbacks.streamInfo.filterState?.get(FILTER_STATE_NAME) as CustomResponseFilterState | undefined;
  }

  /** The route configuration's, the virtual host's, then the route's config: the most specific that matches wins. */
  private routePolicy(headers: ResponseHeaders, localReply: boolean): Policy | undefined {
    const callbacks = this.decoderCallbacks;
    const match = callbacks.route;
    if (match === undefined) return undefined;
    let policy: Policy | undefined;
    for (const level of [callbacks.routeConfig, match.virtualHost, match.route]) {
      const config = level.typedPerFilterConfig?.get(this.name) as CustomResponseConfig | undefined;
      if (config === undefined) continue;
      policy = PER_ROUTE.get(config, this.config.server).policyFor(headers, localReply) ?? policy;
    }
    return policy;
  }
}
