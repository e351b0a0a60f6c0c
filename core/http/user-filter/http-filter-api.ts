/**
 * The API for HTTP filters users write in TypeScript or JavaScript: what a filter module
 * exports, and what its callbacks are given. It is the filter manager's own contract
 * (http/filter.ts, Envoy's envoy/http/filter.h) with two additions for user code: a
 * callback may return a promise (the stream waits for it, the connection does not), and
 * a throw or a rejection ends that stream with a 500 local reply instead of the process.
 *
 * A module that only imports types from here runs the same from source and from the
 * package: statuses are plain numbers, and defineHttpFilter only gives type inference.
 */
import type { BodyBuffer } from "../body-buffer.ts";
import type { FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus } from "../filter.ts";
import type { HeaderMap } from "../header-map.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import type { StreamInfo } from "../stream-info.ts";
import type { SocketAddress } from "../../port.ts";
import type { HttpCallOptions, HttpCallRequest, HttpCallResponse } from "./http-call.ts";
import type { HttpFilterStats } from "./user-filter-stats.ts";

/**
 * How a filter's config (and per-route config) is checked and turned into what `create`
 * gets: a zod schema (anything with `safeParse`, or `parse` that throws), or a function
 * that returns the value and throws on a bad one. Its error becomes a config error at the
 * config field's path.
 */
export type ConfigParser<T> =
  | { safeParse(input: unknown): { success: true; data: T } | { success: false; error: { issues: readonly ConfigIssue[] } } }
  | { parse(input: unknown): T }
  | ((input: unknown) => T);

/** One problem a parser reports (zod's issue shape: only these fields are read). */
export interface ConfigIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** The value a parser gives (the parser's output type). */
export type ParsedConfig<P> = P extends { safeParse(input: unknown): { success: true; data: infer T } | { success: false } }
  ? T
  : P extends { parse(input: unknown): infer T }
    ? T
    : P extends (input: unknown) => infer T
      ? T
      : unknown;

/** A headers callback's result: a FilterHeadersStatus, nothing for Continue, or a promise of either. */
export type HeadersResult = FilterHeadersStatus | void | Promise<FilterHeadersStatus | void>;
/** A data callback's result: a FilterDataStatus, nothing for Continue, or a promise of either. */
export type DataResult = FilterDataStatus | void | Promise<FilterDataStatus | void>;
/** A trailers callback's result: a FilterTrailersStatus, nothing for Continue, or a promise of either. */
export type TrailersResult = FilterTrailersStatus | void | Promise<FilterTrailersStatus | void>;

/**
 * One stream's filter: the callbacks it needs, all optional. Requests go through the
 * decode callbacks in http_filters order, responses through the encode callbacks in
 * reverse order. Each callback's status means what it means for Envoy's filters
 * (http/filter.ts); nothing returned is Continue. A callback returning a promise stops
 * its direction until the promise settles (the request body meanwhile is buffered up to
 * the listener's buffer limit, then the client is paused); resolved to Continue (or
 * nothing), the stream goes on; resolved to a Stop status, it waits for
 * `stream.continueDecoding()` / `continueEncoding()`. Callbacks for one direction never
 * overlap: body and trailers that arrive during a pending call are given after it.
 */
export interface HttpFilterHandlers<PerRoute = unknown> {
  decodeHeaders?(headers: RequestHeaders, endStream: boolean, stream: HttpFilterStream<PerRoute>): HeadersResult;
  decodeData?(data: Uint8Array, endStream: boolean, stream: HttpFilterStream<PerRoute>): DataResult;
  decodeTrailers?(trailers: HeaderMap, stream: HttpFilterStream<PerRoute>): TrailersResult;
  encodeHeaders?(headers: ResponseHeaders, endStream: boolean, stream: HttpFilterStream<PerRoute>): HeadersResult;
  encodeData?(data: Uint8Array, endStream: boolean, stream: HttpFilterStream<PerRoute>): DataResult;
  encodeTrailers?(trailers: HeaderMap, stream: HttpFilterStream<PerRoute>): TrailersResult;
  /**
   * The stream is over (complete or reset): called once. Abort work still running for it
   * here (an AbortController made in create(), its signal given to fetch()): whatever a
   * pending callback resolves to after this is ignored.
   */
  onDestroy?(stream: HttpFilterStream<PerRoute>): void;
}

/** What a user filter's callbacks may ask of their stream. */
export interface HttpFilterStream<PerRoute = unknown> {
  /** The filter's name in http_filters (the key of its typed_per_filter_config). */
  readonly filterName: string;
  readonly requestHeaders: RequestHeaders;
  /** The response's headers once they reached this filter (undefined before). */
  readonly responseHeaders: ResponseHeaders | undefined;
  /** The matched route's name, its virtual host's name, its cluster (undefined without a route, or for a redirect / direct response). */
  readonly routeName: string | undefined;
  readonly virtualHostName: string | undefined;
  readonly clusterName: string | undefined;
  /**
   * This filter's per-route config, parsed by the definition's perRouteConfig: the
   * route's, else its virtual host's, else the route configuration's (Envoy's
   * mostSpecificPerFilterConfig). Undefined when none applies.
   */
  readonly perRouteConfig: PerRoute | undefined;
  readonly streamInfo: StreamInfo;
  readonly downstreamRemoteAddress: SocketAddress | undefined;
  readonly downstreamLocalAddress: SocketAddress | undefined;
  /**
   * Answer the request here (goes through the encoder filters, as Envoy's local replies
   * do). `details` is the response code details (%RESPONSE_CODE_DETAILS%), default
   * "via_user_filter". Once response headers went downstream, the stream is reset instead.
   */
  sendLocalReply(status: number, body?: string, options?: { headers?: Record<string, string> | [string, string][]; details?: string }): void;
  /** Resume the request after this filter stopped it. */
  continueDecoding(): void;
  /** Resume the response after this filter stopped it. */
  continueEncoding(): void;
  /** The request / response body buffered so far (after a StopIterationAndBuffer), if any. */
  decodingBuffer(): BodyBuffer | undefined;
  encodingBuffer(): BodyBuffer | undefined;
  /** Abort the stream (the downstream connection is reset if the response had started). */
  resetStream(): void;
  /** The proxy's log, each line prefixed with the filter's name. */
  readonly log: HttpFilterLog;
  /**
   * Send a request to a cluster of the config through the proxy's async HTTP client (its
   * load balancer, connection pools, circuit breakers) and get the complete response, as
   * Envoy's Lua httpCall does. What the router would answer itself is a response (503 no
   * healthy upstream or a failed connection, 504 after `timeout`, default 5 s); the
   * promise rejects with an HttpCallError (its `reason`: "unknown_cluster", "reset",
   * "exceed_response_buffer_limit" past `maxResponseBytes` (default 1 MiB),
   * "too_many_calls" past 64 in flight, "cancelled" when the stream ended first — every
   * call in flight is cancelled then).
   */
  httpCall(cluster: string, request: HttpCallRequest, options?: HttpCallOptions): Promise<HttpCallResponse>;
  /** Counters, gauges and histograms under `http.<stat_prefix>.<filter name>.<name>`, shared by the filter's streams. */
  readonly stats: HttpFilterStats;
}

export interface HttpFilterLog {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * A user HTTP filter: what a filter module exports (as `default`, or as `filter`), or
 * what an embedding program passes to registerHttpFilter.
 */
export interface HttpFilterDefinition<Config = unknown, PerRoute = unknown> {
  /**
   * The filter's extension name, as Envoy names its extensions (e.g. "acme.filters.http.api_key").
   * Required to register it; a module named by a Script config needs none.
   */
  readonly name?: string;
  /** typed_config's "@type" that selects a registered filter (default: "type.googleapis.com/" + name). */
  readonly typeUrl?: string;
  /** Checks and converts the filter's config (a Script's `config`, a registered filter's typed_config fields). Without it, the config is given as written. */
  readonly config?: ConfigParser<Config>;
  /** Checks and converts per-route config (typed_per_filter_config). Without it, per-route config is refused. */
  readonly perRouteConfig?: ConfigParser<PerRoute>;
  /**
   * Called for each stream, with the config as parsed once at start-up: the callbacks for
   * this stream. Returning the same object for every stream is fine when it keeps no
   * per-stream state (each callback gets the stream).
   */
  create(config: Config, stream: HttpFilterStream<PerRoute>): HttpFilterHandlers<PerRoute>;
}

/**
 * Identity: gives a definition its types (the config's type inferred from the parser).
 * A module may as well export a plain object.
 */
export function defineHttpFilter<P extends ConfigParser<unknown> | undefined = undefined, R extends ConfigParser<unknown> | undefined = undefined>(
  definition: {
    readonly name?: string;
    readonly typeUrl?: string;
    readonly config?: P;
    readonly perRouteConfig?: R;
    create(config: ParsedConfig<P>, stream: HttpFilterStream<ParsedConfig<R>>): HttpFilterHandlers<ParsedConfig<R>>;
  },
): HttpFilterDefinition<ParsedConfig<P>, ParsedConfig<R>> {
  return definition as HttpFilterDefinition<ParsedConfig<P>, ParsedConfig<R>>;
}
