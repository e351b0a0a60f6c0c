/**
 * A user's HTTP filter in the filter manager's chain: the StreamFilter that drives the
 * callbacks of http-filter-api.ts. It is what Envoy's Lua filter is to a Lua script
 * (source/extensions/filters/http/lua/lua_filter.cc): it turns the script's answers into
 * filter statuses, keeps the stream waiting while the script awaits, and keeps a script's
 * failure to its own stream — a throw or a rejection answers 500 (details
 * `user_filter_error`), is logged and counted (`http.<stat_prefix>.<filter name>.errors`).
 *
 * Async: a callback returning a promise stops its direction (headers with
 * StopAllIterationAndWatermark, so the body waits in front of the filter and the client is
 * paused past the buffer limit; body with StopIterationAndWatermark). Body and trailers
 * that reach this filter meanwhile are buffered by the filter manager and queued here,
 * then given to the script in order once the promise settles; the last answer decides
 * whether the stream goes on.
 */
import { routeCluster } from "../route/route-cluster.ts";
import type { UserPerRouteConfig } from "../../config/bootstrap.ts";
import type { Logger } from "../../log.ts";
import type { SocketAddress } from "../../port.ts";
import type { Counter } from "../../stats/counter.ts";
import type { BodyBuffer } from "../body-buffer.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type EncoderFilterCallbacks,
  type StreamFilter,
} from "../filter.ts";
import type { HeaderMap } from "../header-map.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import type { StreamInfo } from "../stream-info.ts";
import type { ServerContext } from "../../server-context.ts";
import type { AsyncClient } from "../async-client.ts";
import { HttpCallError, HttpCalls, type HttpCallOptions, type HttpCallRequest, type HttpCallResponse } from "./http-call.ts";
import { parsedPerRouteConfig } from "./resolve-user-filters.ts";
import type { HttpFilterStats } from "./user-filter-stats.ts";
import type { HttpFilterDefinition, HttpFilterHandlers, HttpFilterLog, HttpFilterStream } from "./http-filter-api.ts";

/** Envoy's text for 500 (CodeUtility::toString), the body of the reply to a failed filter. */
const INTERNAL_SERVER_ERROR = "Internal Server Error";
const USER_FILTER_ERROR = "user_filter_error";
const DEFAULT_LOCAL_REPLY_DETAILS = "via_user_filter";

/** What one user filter config shares across its streams. */
export class UserFilterConfig {
  readonly log: HttpFilterLog;

  constructor(
    readonly name: string,
    readonly definition: HttpFilterDefinition,
    readonly config: unknown,
    readonly errors: Counter,
    readonly serverLog: Logger,
    /** The filter's stats (`stream.stats`) and what `stream.httpCall` sends through. */
    readonly services: { readonly stats: HttpFilterStats; readonly server: ServerContext; readonly client: AsyncClient },
  ) {
    const prefix = `${name}: `;
    this.log = {
      debug: (message) => serverLog.debug(prefix + message),
      info: (message) => serverLog.info(prefix + message),
      warn: (message) => serverLog.warn(prefix + message),
      error: (message) => serverLog.error(prefix + message),
    };
  }
}

/** A call that reached the filter while one of its direction was pending. */
type QueuedCall = { kind: "data"; data: Uint8Array; endStream: boolean } | { kind: "trailers"; trailers: HeaderMap };

const NO_HANDLERS: HttpFilterHandlers = {};

/** Direction indices for the pending/queue arrays. */
const DECODE = 0;
const ENCODE = 1;
type Direction = typeof DECODE | typeof ENCODE;

export class UserFilter implements StreamFilter, HttpFilterStream<unknown> {
  private decoder: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private encoder: EncoderFilterCallbacks | undefined;
  private handlers: HttpFilterHandlers | undefined;
  private destroyed = false;
  /** A local reply was sent by this filter (or for its failure): nothing of it continues the stream. */
  private replied = false;
  private failed = false;
  /** A promise of the request's / the response's direction is pending (fields, not arrays: no allocation per stream). */
  private decodePending = false;
  private encodePending = false;
  /** Calls that came while one was pending, per direction. */
  private decodeQueue: QueuedCall[] | undefined;
  private encodeQueue: QueuedCall[] | undefined;
  responseHeaders: ResponseHeaders | undefined;
  /** The stream's httpCalls, made on the first. */
  private calls: HttpCalls | undefined;

  constructor(private readonly shared: UserFilterConfig) {}

  // ---- StreamFilter ----

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.decoder = callbacks;
  }

  setEncoderFilterCallbacks(callbacks: EncoderFilterCallbacks): void {
    this.encoder = callbacks;
  }

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    const handler = this.start().decodeHeaders;
    if (handler === undefined) return FilterHeadersStatus.Continue;
    let result;
    try {
      result = handler.call(this.handlers, headers, endStream, this);
    } catch (err) {
      this.fail(err, "decodeHeaders");
      return FilterHeadersStatus.StopIteration;
    }
    return this.headersStatus(result, DECODE, "decodeHeaders");
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (this.decodePending) return this.queue(DECODE, { kind: "data", data: data.slice(), endStream });
    return this.callData(DECODE, data, endStream);
  }

  decodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    if (this.decodePending) {
      this.queue(DECODE, { kind: "trailers", trailers });
      return FilterTrailersStatus.StopIteration;
    }
    return this.callTrailers(DECODE, trailers);
  }

  encodeHeaders(headers: ResponseHeaders, endStream: boolean): FilterHeadersStatus {
    this.responseHeaders = headers;
    // A stream this filter failed or answered: its own reply passes.
    if (this.replied) return FilterHeadersStatus.Continue;
    const handler = this.start().encodeHeaders;
    if (handler === undefined) return FilterHeadersStatus.Continue;
    let result;
    try {
      result = handler.call(this.handlers, headers, endStream, this);
    } catch (err) {
      this.fail(err, "encodeHeaders");
      return FilterHeadersStatus.StopIteration;
    }
    return this.headersStatus(result, ENCODE, "encodeHeaders");
  }

  encodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (this.replied) return FilterDataStatus.Continue;
    if (this.encodePending) return this.queue(ENCODE, { kind: "data", data: data.slice(), endStream });
    return this.callData(ENCODE, data, endStream);
  }

  encodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    if (this.replied) return FilterTrailersStatus.Continue;
    if (this.encodePending) {
      this.queue(ENCODE, { kind: "trailers", trailers });
      return FilterTrailersStatus.StopIteration;
    }
    return this.callTrailers(ENCODE, trailers);
  }

  onDestroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.decodeQueue = this.encodeQueue = undefined;
    this.calls?.cancelAll();
    const handler = this.handlers?.onDestroy;
    if (handler === undefined) return;
    try {
      handler.call(this.handlers, this);
    } catch (err) {
      this.logFailure(err, "onDestroy");
    }
  }

  // ---- HttpFilterStream ----

  get filterName(): string {
    return this.shared.name;
  }
  get requestHeaders(): RequestHeaders {
    return this.decoder.requestHeaders;
  }
  get routeName(): string | undefined {
    return this.decoder.route?.route.name;
  }
  get virtualHostName(): string | undefined {
    return this.decoder.route?.virtualHost.name;
  }
  get clusterName(): string | undefined {
    const cluster = routeCluster(this.decoder, this.shared.services.server.runtime);
    return cluster === "" ? undefined : cluster;
  }
  get perRouteConfig(): unknown {
    const perRoute = this.decoder.mostSpecificPerFilterConfig<UserPerRouteConfig>();
    return perRoute === undefined ? undefined : parsedPerRouteConfig(perRoute);
  }
  get streamInfo(): StreamInfo {
    return this.decoder.streamInfo;
  }
  get downstreamRemoteAddress(): SocketAddress | undefined {
    return this.decoder.downstreamRemoteAddress;
  }
  get downstreamLocalAddress(): SocketAddress | undefined {
    return this.decoder.downstreamLocalAddress;
  }
  get log(): HttpFilterLog {
    return this.shared.log;
  }
  get stats(): HttpFilterStats {
    return this.shared.services.stats;
  }

  httpCall(cluster: string, request: HttpCallRequest, options?: HttpCallOptions): Promise<HttpCallResponse> {
    if (this.destroyed) return Promise.reject(new HttpCallError("cancelled", `httpCall to '${cluster}': the stream has ended`));
    const services = this.shared.services;
    this.calls ??= new HttpCalls(services.server, services.client);
    return this.calls.call(cluster, request, options);
  }

  sendLocalReply(status: number, body = "", options?: { headers?: Record<string, string> | [string, string][]; details?: string }): void {
    if (this.destroyed) return;
    this.replied = true;
    const headers = options?.headers;
    const extra = headers === undefined ? undefined : Array.isArray(headers) ? headers : Object.entries(headers);
    this.decoder.sendLocalReply(status, body, options?.details ?? DEFAULT_LOCAL_REPLY_DETAILS, undefined, extra);
  }

  continueDecoding(): void {
    if (!this.destroyed && !this.decodePending) this.decoder.continueDecoding();
  }

  continueEncoding(): void {
    if (!this.destroyed && !this.encodePending) this.encoder?.continueEncoding();
  }

  decodingBuffer(): BodyBuffer | undefined {
    return this.decoder.decodingBuffer();
  }

  encodingBuffer(): BodyBuffer | undefined {
    return this.encoder?.encodingBuffer();
  }

  resetStream(): void {
    if (!this.destroyed) this.decoder.resetStream();
  }

  // ---- Driving the script ----

  /** The script's callbacks for this stream, made on the first call (a route disabling the filter gives none). */
  private start(): HttpFilterHandlers {
    if (this.handlers !== undefined) return this.handlers;
    const perRoute = this.decoder.mostSpecificPerFilterConfig<UserPerRouteConfig>();
    if (perRoute?.disabled === true) return (this.handlers = NO_HANDLERS);
    try {
      const handlers = this.shared.definition.create(this.shared.config, this);
      if (typeof handlers !== "object" || handlers === null) throw new TypeError(`create() returned ${handlers === null ? "null" : typeof handlers}, not an object of callbacks`);
      this.handlers = handlers;
    } catch (err) {
      this.handlers = NO_HANDLERS;
      this.fail(err, "create");
    }
    return this.handlers;
  }

  private headersStatus(result: unknown, direction: Direction, where: string): FilterHeadersStatus {
    if (isThenable(result)) {
      this.await(result, direction, where);
      return FilterHeadersStatus.StopAllIterationAndWatermark;
    }
    if (this.replied) return FilterHeadersStatus.StopIteration;
    if (result === undefined) return FilterHeadersStatus.Continue;
    if (!isStatus(result, FilterHeadersStatus.StopAllIterationAndWatermark)) {
      this.fail(new TypeError(`returned ${describe(result)}, not a FilterHeadersStatus`), where);
      return FilterHeadersStatus.StopIteration;
    }
    return result;
  }

  private callData(direction: Direction, data: Uint8Array, endStream: boolean): FilterDataStatus {
    const handlers = this.start();
    const handler = direction === DECODE ? handlers.decodeData : handlers.encodeData;
    if (handler === undefined) return FilterDataStatus.Continue;
    const where = direction === DECODE ? "decodeData" : "encodeData";
    let result;
    try {
      result = handler.call(handlers, data, endStream, this);
    } catch (err) {
      this.fail(err, where);
      return FilterDataStatus.StopIterationNoBuffer;
    }
    if (isThenable(result)) {
      this.await(result, direction, where);
      return FilterDataStatus.StopIterationAndWatermark;
    }
    if (this.replied) return FilterDataStatus.StopIterationNoBuffer;
    if (result === undefined) return FilterDataStatus.Continue;
    if (!isStatus(result, FilterDataStatus.StopIterationNoBuffer)) {
      this.fail(new TypeError(`returned ${describe(result)}, not a FilterDataStatus`), where);
      return FilterDataStatus.StopIterationNoBuffer;
    }
    return result;
  }

  private callTrailers(direction: Direction, trailers: HeaderMap): FilterTrailersStatus {
    const handlers = this.start();
    const handler = direction === DECODE ? handlers.decodeTrailers : handlers.encodeTrailers;
    if (handler === undefined) return FilterTrailersStatus.Continue;
    const where = direction === DECODE ? "decodeTrailers" : "encodeTrailers";
    let result;
    try {
      result = handler.call(handlers, trailers, this);
    } catch (err) {
      this.fail(err, where);
      return FilterTrailersStatus.StopIteration;
    }
    if (isThenable(result)) {
      this.await(result, direction, where);
      return FilterTrailersStatus.StopIteration;
    }
    if (this.replied) return FilterTrailersStatus.StopIteration;
    if (result === undefined) return FilterTrailersStatus.Continue;
    if (!isStatus(result, FilterTrailersStatus.StopIteration)) {
      this.fail(new TypeError(`returned ${describe(result)}, not a FilterTrailersStatus`), where);
      return FilterTrailersStatus.StopIteration;
    }
    return result;
  }

  /** Body or trailers while a call of their direction is pending: held (the filter manager buffers the body too) for after it. */
  private queue(direction: Direction, call: QueuedCall): FilterDataStatus {
    if (direction === DECODE) (this.decodeQueue ??= []).push(call);
    else (this.encodeQueue ??= []).push(call);
    return FilterDataStatus.StopIterationAndWatermark;
  }

  private setPending(direction: Direction, pending: boolean): void {
    if (direction === DECODE) this.decodePending = pending;
    else this.encodePending = pending;
  }

  private isPending(direction: Direction): boolean {
    return direction === DECODE ? this.decodePending : this.encodePending;
  }

  private await(promise: PromiseLike<unknown>, direction: Direction, where: string): void {
    this.setPending(direction, true);
    // Promise.resolve: a script's own thenable whose then() throws (or calls back twice)
    // becomes one rejection (or one settlement), not an exception in the filter chain.
    Promise.resolve(promise).then(
      (status) => this.settled(direction, status, where),
      (err: unknown) => {
        this.setPending(direction, false);
        if (!this.destroyed) this.fail(err, where);
      },
    );
  }

  /** A pending call resolved: give the script what queued meanwhile, then go on unless told to stop. */
  private settled(direction: Direction, status: unknown, where: string): void {
    this.setPending(direction, false);
    if (this.destroyed || this.replied) return;
    if (status !== undefined && !isStatus(status, FilterHeadersStatus.StopAllIterationAndWatermark)) {
      this.fail(new TypeError(`resolved to ${describe(status)}, not a filter status`), where);
      return;
    }
    let goOn = status === undefined || status === 0;
    try {
      const queue = direction === DECODE ? this.decodeQueue : this.encodeQueue;
      while (queue !== undefined && queue.length > 0) {
        const call = queue.shift()!;
        const result = call.kind === "data" ? this.callData(direction, call.data, call.endStream) : this.callTrailers(direction, call.trailers);
        if (this.isPending(direction) || this.destroyed || this.replied) return;
        goOn = result === 0;
      }
      if (!goOn) return;
      if (direction === DECODE) this.decoder.continueDecoding();
      else this.encoder?.continueEncoding();
    } catch (err) {
      // Not the script's (its calls catch their own): the stream cannot go on sanely.
      this.logFailure(err, `continuing after ${where}`);
      this.resetStream();
    }
  }

  /** The script failed: the stream ends with a 500 (a reset once the response started), logged and counted once. */
  private fail(err: unknown, where: string): void {
    if (this.failed || this.destroyed) return;
    this.failed = true;
    this.shared.errors.inc();
    this.logFailure(err, where);
    if (this.replied) return;
    this.replied = true;
    this.decoder.sendLocalReply(500, INTERNAL_SERVER_ERROR, USER_FILTER_ERROR);
  }

  /** One line at error; the stack, when there is one, at debug. */
  private logFailure(err: unknown, where: string): void {
    const log = this.shared.serverLog;
    log.error(`${this.shared.name}: ${where} failed: ${describeError(err)}`);
    if (err instanceof Error && err.stack !== undefined) log.debug(`${this.shared.name}: ${err.stack}`);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null && typeof (value as PromiseLike<unknown>).then === "function";
}

function isStatus(value: unknown, max: number): value is 0 | 1 | 2 | 3 | 4 {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= max;
}

function describe(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : `threw ${describe(err)}`;
}
