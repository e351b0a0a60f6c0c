/**
 * Envoy's `FilterManager` (source/common/http/filter_manager.cc): runs one stream's HTTP
 * filters. The request goes through the decoder filters in order, the response through
 * the encoder filters in reverse order; each filter's status decides whether the next
 * one is called, and what happens to body and trailers meanwhile:
 *
 * - headers `StopIteration`: body and trailers still reach the stopped filter; its data
 *   call returning Continue, or continueDecoding()/continueEncoding(), resumes.
 * - headers `StopAllIterationAndBuffer|Watermark`: everything is buffered in front of the
 *   filter until it continues.
 * - data `StopIterationAndBuffer|Watermark`: the data is buffered; `NoBuffer`: the filter
 *   took it.
 * - Buffered body over the buffer limit: 413 on the request path, 500 on the response
 *   path; with a Watermark status the sender is paused instead.
 *
 * A stopped filter is not called again for the frame it stopped, nor are the filters
 * after it until it continues. Local replies go through the encoder filters while no
 * response headers exist, straight to the codec when an encoder filter holds the
 * upstream's headers, and reset the stream once headers went downstream.
 *
 * Each filter gets its own callbacks object (Envoy's ActiveStreamDecoderFilter /
 * ActiveStreamEncoderFilter), which carries its iteration state.
 *
 * Per request this costs no more objects than Envoy's layout does, which is few:
 * - ActiveStream extends FilterManager rather than owning one. Envoy's ActiveStream holds
 *   its DownstreamFilterManager by value, in the stream's own allocation, and passes
 *   itself as the FilterManagerCallbacks (source/common/http/conn_manager_impl.h); a
 *   subclass is how one JavaScript object embeds another.
 * - The wrappers are the chain, each linked to the next, as the
 *   `std::list<ActiveStreamDecoderFilterPtr> decoder_filters_` of Envoy's
 *   source/common/http/filter_manager.h was: no array per stream.
 * - The wrapper itself stays, one per filter: a filter calls continueDecoding() from a
 *   timer or an upstream event, when nothing else says which filter continues, and two
 *   filters of one chain can be stopped at once (one on headers, an earlier one on data).
 *   A router-only stream is three objects: the stream, the router and its wrapper.
 * - Not pooled: a filter may keep its callbacks past onDestroy (a late timer); they must
 *   reach a finished stream, never the connection's next one.
 */
import type { RouteConfiguration, RouteConfig, VirtualHostConfig } from "../../config/bootstrap.ts";
import { EMPTY_BYTES } from "../../util/bytes.ts";
import type { SocketAddress, TlsSession } from "../../port.ts";
import { latin1Encode } from "../../util/latin1.ts";
import { httpToGrpcStatus, isGrpcRequestHeaders, percentEncodeGrpcMessage } from "../grpc-common.ts";
import { BodyBuffer } from "../body-buffer.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  type DecoderFilterCallbacks,
  type DownstreamWatermarkCallbacks,
  type EncoderFilterCallbacks,
  type ResponseFlag,
  type StreamDecoderFilter,
  type StreamEncoderFilter,
  type StreamFilter,
} from "../filter.ts";
import type { HeaderMap } from "../header-map.ts";
import { ResponseHeaders, type RequestHeaders } from "../message.ts";
import type { RouteMatch } from "../route/route-table.ts";
import type { StreamInfo } from "../stream-info.ts";
import type { TraceEventKind } from "../../trace/tracer.ts";
import type { AccessLogContext } from "../../access-log/context.ts";

/** What the filter manager needs from its stream (Envoy's `FilterManagerCallbacks`; ActiveStream implements it). */
export interface FilterManagerCallbacks {
  readonly streamInfo: StreamInfo;
  readonly requestHeaders: RequestHeaders;
  readonly route: RouteMatch | undefined;
  readonly routeConfig: RouteConfiguration;
  /** The downstream connection's addresses (absent for a stream without one, as in tests). */
  readonly downstreamRemoteAddress?: SocketAddress | undefined;
  readonly downstreamLocalAddress?: SocketAddress | undefined;
  readonly downstreamDirectRemoteAddress?: SocketAddress | undefined;
  readonly downstreamTls?: TlsSession | undefined;
  readonly traced: boolean;
  trace(kind: TraceEventKind, detail?: string): void;
  /** The `[C12][S3] ` prefix of this stream's debug lines (absent for a stream without a connection, as in tests). */
  logPrefix?(): string;
  /**
   * local_reply_config: rewrite a local reply made with `headers` (status and added
   * headers may change there) and `body`; undefined when there is no such config.
   */
  rewriteLocalReply?(headers: ResponseHeaders, body: string): { body: string; contentType: string } | undefined;
  /** The stream for the access-log formatter (route header values with %COMMAND% operators). */
  headerFormatterContext(response: ResponseHeaders | undefined): AccessLogContext;
  /** Match the route again (Envoy's clearRouteCache); absent where there is no route table. */
  clearRouteCache?(): void;
  /** Envoy's recreateStream (DecoderFilterCallbacks.recreateStream); absent where a stream cannot be made again. */
  recreateStream?(body: Uint8Array | undefined): boolean;
  /** The response, past the encoder filters, to the codec. */
  encodeHeaders(headers: ResponseHeaders, endStream: boolean): void;
  encodeData(data: Uint8Array, endStream: boolean): void;
  encodeTrailers(trailers: HeaderMap): void;
  encodeUpgradeData(data: Uint8Array, endStream: boolean): void;
  resetStream(): void;
  readDisableDownstream(disable: boolean): void;
  /** Buffered request body went over the limit (stat downstream_rq_too_large). */
  onRequestDataTooLarge(): void;
  /** Buffered response body went over the limit (stat rs_too_large). */
  onResponseDataTooLarge(): void;
}

/** A filter's iteration state (Envoy's ActiveStreamFilterBase::IterationState). */
const CONTINUE = 0;
const STOP_SINGLE = 1;
const STOP_ALL_BUFFER = 2;
const STOP_ALL_WATERMARK = 3;

/** Which filter callback is running (Envoy's FilterCallState): decides how added data and local replies are handled. */
const DECODE_HEADERS = 1;
const DECODE_DATA = 2;
const DECODE_TRAILERS = 4;
const ENCODE_HEADERS = 8;
const ENCODE_DATA = 16;
const ENCODE_TRAILERS = 32;
const IS_DECODING = DECODE_HEADERS | DECODE_DATA | DECODE_TRAILERS;
const IS_ENCODING = ENCODE_HEADERS | ENCODE_DATA | ENCODE_TRAILERS;

/** Envoy's texts (CodeUtility::toString) for the over-limit local replies. */
const PAYLOAD_TOO_LARGE = "Payload Too Large";
const INTERNAL_SERVER_ERROR = "Internal Server Error";

/** A local reply asked for while a decoder filter runs: sent once that filter returns (Envoy's prepareLocalReplyViaFilterChain). */
interface PreparedLocalReply {
  status: number;
  body: string;
  extraHeaders: [string, string][] | undefined;
  grpcStatus: number | undefined;
}

/** State and callbacks common to a filter on either path (Envoy's ActiveStreamFilterBase). */
abstract class ActiveStreamFilterBase {
  iterationState = CONTINUE;
  /** Headers went past this filter. */
  headersContinued = false;
  /** This filter saw the end of its direction's stream. */
  endStream = false;
  /** Continuing after StopAll: this filter's own data/trailers calls are still owed. */
  iterateFromCurrent = false;

  constructor(
    protected readonly parent: FilterManager,
    /** The filter's name in http_filters: the key of its typed_per_filter_config. */
    readonly name: string,
  ) {}

  get streamInfo(): StreamInfo {
    return this.parent.callbacks.streamInfo;
  }
  get requestHeaders(): RequestHeaders {
    return this.parent.callbacks.requestHeaders;
  }
  get route(): RouteMatch | undefined {
    return this.parent.callbacks.route;
  }
  get routeConfig(): RouteConfiguration {
    return this.parent.callbacks.routeConfig;
  }
  get downstreamRemoteAddress(): SocketAddress | undefined {
    return this.parent.callbacks.downstreamRemoteAddress;
  }
  get downstreamLocalAddress(): SocketAddress | undefined {
    return this.parent.callbacks.downstreamLocalAddress;
  }
  get downstreamDirectRemoteAddress(): SocketAddress | undefined {
    return this.parent.callbacks.downstreamDirectRemoteAddress;
  }
  get downstreamTls(): TlsSession | undefined {
    return this.parent.callbacks.downstreamTls;
  }
  get traced(): boolean {
    return this.parent.callbacks.traced;
  }
  trace(kind: TraceEventKind, detail?: string): void {
    this.parent.callbacks.trace(kind, detail);
  }
  headerFormatterContext(response: ResponseHeaders | undefined): AccessLogContext {
    return this.parent.callbacks.headerFormatterContext(response);
  }

  logPrefix(): string {
    return this.parent.callbacks.logPrefix?.() ?? "";
  }

  mostSpecificPerFilterConfig<T = unknown>(): T | undefined {
    const callbacks = this.parent.callbacks;
    return mostSpecificPerFilterConfig(callbacks.route, callbacks.routeConfig, this.name) as T | undefined;
  }

  perFilterConfigs<T = unknown>(): T[] {
    const callbacks = this.parent.callbacks;
    return allPerFilterConfigs(callbacks.route, callbacks.routeConfig, this.name) as T[];
  }

  sendLocalReply(status: number, body: string, details: string, flag?: ResponseFlag, extraHeaders?: [string, string][], grpcStatus?: number): void {
    this.parent.sendLocalReply(status, body, details, flag, extraHeaders, grpcStatus);
  }

  resetStream(): void {
    this.parent.callbacks.resetStream();
  }

  canIterate(): boolean {
    return this.iterationState === CONTINUE;
  }

  stoppedAll(): boolean {
    return this.iterationState >= STOP_ALL_BUFFER;
  }

  /** Resume the chain after this filter (Envoy's commonContinue): held headers, then buffered body, then trailers. */
  protected commonContinue(): void {
    if (!this.canContinue() || this.canIterate()) return;
    if (this.stoppedAll()) this.iterateFromCurrent = true;
    this.iterationState = CONTINUE;
    if (!this.headersContinued) {
      this.headersContinued = true;
      this.doHeaders(this.complete() && !this.hasBufferedData() && !this.hasTrailers());
    }
    // Trailers added while the body is passed on are continued by doData itself.
    const hadTrailers = this.hasTrailers();
    if (this.hasBufferedData()) this.doData(this.complete() && !hadTrailers);
    if (hadTrailers) this.doTrailers();
    this.iterateFromCurrent = false;
  }

  /** After a headers call: true to go on to the next filter. */
  afterHeaders(status: FilterHeadersStatus): boolean {
    switch (status) {
      case FilterHeadersStatus.StopIteration:
        this.iterationState = STOP_SINGLE;
        return false;
      case FilterHeadersStatus.StopAllIterationAndBuffer:
        this.iterationState = STOP_ALL_BUFFER;
        return false;
      case FilterHeadersStatus.StopAllIterationAndWatermark:
        this.iterationState = STOP_ALL_WATERMARK;
        return false;
      default:
        this.headersContinued = true;
        return true;
    }
  }

  /** After a data call: true to go on to the next filter (Envoy's commonHandleAfterDataCallback). */
  afterData(status: FilterDataStatus, data: Uint8Array): boolean {
    if (status === FilterDataStatus.Continue) {
      if (this.iterationState !== STOP_SINGLE) return true;
      // Stopped at headers (or an earlier frame): this data joins what is held, and all goes on.
      this.bufferData(data, this.streaming());
      this.commonContinue();
      return false;
    }
    this.iterationState = STOP_SINGLE;
    if (status === FilterDataStatus.StopIterationAndBuffer || status === FilterDataStatus.StopIterationAndWatermark) {
      this.bufferData(data, status === FilterDataStatus.StopIterationAndWatermark);
    } else if (this.complete() && !this.hasTrailers() && !this.hasBufferedData() && !this.parent.destroyed) {
      // The stream ended on data this filter took: a continue must still pass the end on.
      this.owesEmptyEnd();
    }
    return false;
  }

  /** After a trailers call: true to go on to the next filter. */
  afterTrailers(status: FilterTrailersStatus): boolean {
    if (status === FilterTrailersStatus.Continue) {
      if (this.iterationState !== STOP_SINGLE) return true;
      this.commonContinue();
      return false;
    }
    if (this.canIterate()) this.iterationState = STOP_SINGLE;
    return false;
  }

  protected abstract canContinue(): boolean;
  /** Over the limit, the buffered body pauses its sender (true) or fails the stream. */
  protected abstract streaming(): boolean;
  /** This direction's stream has ended (all of it arrived). */
  protected abstract complete(): boolean;
  protected abstract hasTrailers(): boolean;
  protected abstract hasBufferedData(): boolean;
  abstract bufferData(data: Uint8Array, streaming: boolean): void;
  protected abstract owesEmptyEnd(): void;
  protected abstract doHeaders(endStream: boolean): void;
  protected abstract doData(endStream: boolean): void;
  protected abstract doTrailers(): void;
}

/** A decoder filter in the chain, and the callbacks it is given (Envoy's ActiveStreamDecoderFilter). */
export class ActiveStreamDecoderFilter extends ActiveStreamFilterBase implements DecoderFilterCallbacks {
  /** The filter after this one in config order. */
  next: ActiveStreamDecoderFilter | undefined = undefined;

  constructor(
    parent: FilterManager,
    readonly handle: StreamDecoderFilter,
    name: string,
  ) {
    super(parent, name);
  }

  // ---- DecoderFilterCallbacks ----

  continueDecoding(): void {
    this.commonContinue();
  }

  decodingBuffer(): BodyBuffer | undefined {
    return this.parent.bufferedRequest;
  }

  addDecodedData(data: Uint8Array, streaming: boolean): void {
    this.parent.addDecodedData(this, data, streaming);
  }

  replaceDecodedData(data: Uint8Array): void {
    this.parent.replaceData(data, DECODE_DATA);
  }

  injectDecodedDataToFilterChain(data: Uint8Array, endStream: boolean): void {
    if (!this.headersContinued) {
      this.headersContinued = true;
      this.doHeaders(false);
    }
    this.parent.decodeDataFrom(this, data, endStream, true);
  }

  get decoderBufferLimit(): number {
    return this.parent.bufferLimit;
  }

  setDecoderBufferLimit(limit: number): void {
    this.parent.bufferLimit = limit;
  }

  clearRouteCache(): void {
    this.parent.callbacks.clearRouteCache?.();
  }

  recreateStream(body: Uint8Array | undefined): boolean {
    return this.parent.callbacks.recreateStream?.(body) ?? false;
  }

  encodeHeaders(headers: ResponseHeaders, endStream: boolean): void {
    this.parent.encodeHeadersFromDecoder(headers, endStream);
  }

  encodeData(data: Uint8Array, endStream: boolean): void {
    this.parent.encodeDataFrom(undefined, data, endStream, true);
  }

  encodeTrailers(trailers: HeaderMap): void {
    this.parent.encodeTrailersFromDecoder(trailers);
  }

  encodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.parent.encodeUpgradeDataFromDecoder(data, endStream);
  }

  readDisableDownstream(disable: boolean): void {
    this.parent.readDisableDownstreamFromFilter(disable);
  }

  addDownstreamWatermarkCallbacks(callbacks: DownstreamWatermarkCallbacks): void {
    this.parent.addDownstreamWatermarkCallbacks(callbacks);
  }

  get responseStarted(): boolean {
    return this.parent.responseHeadersEncoded;
  }

  // ---- iteration ----

  protected streaming(): boolean {
    return this.parent.decoderFiltersStreaming;
  }
  protected canContinue(): boolean {
    // A local reply (e.g. the 413 for a body over the limit) ends the request's filtering.
    return !this.parent.localComplete && !this.parent.destroyed;
  }
  protected complete(): boolean {
    return this.parent.remoteDecodeComplete;
  }
  protected hasTrailers(): boolean {
    return this.parent.requestTrailers !== undefined;
  }
  protected hasBufferedData(): boolean {
    return this.parent.bufferedRequest !== undefined || this.parent.requestEndOwed;
  }
  bufferData(data: Uint8Array, streaming: boolean): void {
    this.parent.bufferRequestData(data, streaming);
  }
  protected owesEmptyEnd(): void {
    this.parent.requestEndOwed = true;
  }
  protected doHeaders(endStream: boolean): void {
    this.parent.decodeHeadersFrom(this, this.parent.callbacks.requestHeaders, endStream);
  }
  protected doData(endStream: boolean): void {
    this.parent.decodeDataFrom(this, this.parent.takeBufferedRequest(), endStream, true);
  }
  protected doTrailers(): void {
    this.parent.decodeTrailersFrom(this, this.parent.requestTrailers!);
  }
}

/** An encoder filter in the chain, and the callbacks it is given (Envoy's ActiveStreamEncoderFilter). */
export class ActiveStreamEncoderFilter extends ActiveStreamFilterBase implements EncoderFilterCallbacks {
  constructor(
    parent: FilterManager,
    readonly handle: StreamEncoderFilter,
    name: string,
    /** The encoder side of a dual filter: its onDestroy is the decoder side's. */
    readonly dual: boolean,
    /** The filter after this one in encoding order (the one before it in config order). */
    public next: ActiveStreamEncoderFilter | undefined,
  ) {
    super(parent, name);
  }

  // ---- EncoderFilterCallbacks ----

  continueEncoding(): void {
    this.commonContinue();
  }

  encodingBuffer(): BodyBuffer | undefined {
    return this.parent.bufferedResponse;
  }

  addEncodedData(data: Uint8Array, streaming: boolean): void {
    this.parent.addEncodedData(this, data, streaming);
  }

  replaceEncodedData(data: Uint8Array): void {
    this.parent.replaceData(data, ENCODE_DATA);
  }

  injectEncodedDataToFilterChain(data: Uint8Array, endStream: boolean): void {
    if (!this.headersContinued) {
      this.headersContinued = true;
      this.doHeaders(false);
    }
    this.parent.encodeDataFrom(this, data, endStream, true);
  }

  get encoderBufferLimit(): number {
    return this.parent.bufferLimit;
  }

  onEncoderFilterAboveWriteBufferHighWatermark(): void {
    this.parent.callHighWatermarkCallbacks();
  }

  onEncoderFilterBelowWriteBufferLowWatermark(): void {
    this.parent.callLowWatermarkCallbacks();
  }

  // ---- iteration ----

  protected streaming(): boolean {
    return this.parent.encoderFiltersStreaming;
  }
  protected canContinue(): boolean {
    return !this.parent.remoteEncodeComplete && !this.parent.destroyed;
  }
  protected complete(): boolean {
    return this.parent.localComplete;
  }
  protected hasTrailers(): boolean {
    return this.parent.responseTrailers !== undefined;
  }
  protected hasBufferedData(): boolean {
    return this.parent.bufferedResponse !== undefined || this.parent.responseEndOwed;
  }
  bufferData(data: Uint8Array, streaming: boolean): void {
    this.parent.bufferResponseData(data, streaming);
  }
  protected owesEmptyEnd(): void {
    this.parent.responseEndOwed = true;
  }
  protected doHeaders(endStream: boolean): void {
    this.parent.encodeHeadersFrom(this, this.parent.responseHeaders!, endStream);
  }
  protected doData(endStream: boolean): void {
    this.parent.encodeDataFrom(this, this.parent.takeBufferedResponse(), endStream, true);
  }
  protected doTrailers(): void {
    this.parent.encodeTrailersFrom(this, this.parent.responseTrailers!);
  }
}

export class FilterManager {
  /** The decoder filters in config order, linked by `next`; the last is the terminal filter (the router). */
  private firstDecoder: ActiveStreamDecoderFilter | undefined = undefined;
  private lastDecoder: ActiveStreamDecoderFilter | undefined = undefined;
  /** The encoder filters in encoding order (the reverse of config order), linked by `next`. */
  private firstEncoder: ActiveStreamEncoderFilter | undefined = undefined;

  bufferedRequest: BodyBuffer | undefined;
  bufferedResponse: BodyBuffer | undefined;
  /** A filter took the last (possibly empty) data frame: a continue owes the next filters the end of stream. */
  requestEndOwed = false;
  responseEndOwed = false;
  requestTrailers: HeaderMap | undefined;
  responseHeaders: ResponseHeaders | undefined;
  responseTrailers: HeaderMap | undefined;

  /** The whole request arrived from the codec. */
  remoteDecodeComplete = false;
  /** The response's end entered the encoder filters (Envoy's local_complete_): request filtering is over. */
  localComplete = false;
  /** The response's end went to the codec. */
  remoteEncodeComplete = false;
  /** Non-1xx response headers went to the codec. */
  responseHeadersEncoded = false;
  destroyed = false;

  private filterCallState = 0;
  /** What the running data call's filter put in place of its chunk (replaceData). */
  /**
   * A data call's rewritten chunk, one slot per direction: a local reply sent from inside a
   * decodeData call runs the encoder filters before that call returns, and must not take the
   * request chunk the decoder filter replaced as its own body.
   */
  private replacedDecodedData: Uint8Array | undefined = undefined;
  private replacedEncodedData: Uint8Array | undefined = undefined;
  protected decoderChainAborted = false;
  protected encoderChainAborted = false;
  /** The buffered body's over-limit action: pause the sender (true) or fail the stream (false). */
  decoderFiltersStreaming = false;
  encoderFiltersStreaming = false;
  private requestBufferAboveLimit = false;
  private responseBufferAboveLimit = false;
  /** The buffered body paused its sender (read-disabled the client / raised the upstream's watermark). */
  private requestBufferPausedSender = false;
  private responseBufferPausedSender = false;
  private preparedLocalReply: PreparedLocalReply | undefined;
  /**
   * Whether the request is gRPC, as the codec delivered it (Envoy's state_.is_grpc_request_,
   * set by requestHeadersInitialized before any filter runs): a filter that rewrites the
   * content type (grpc_web to application/grpc, say) does not change how local replies look.
   */
  private grpcRequest: boolean | undefined;

  /** Who hears of downstream watermarks: usually just the router, so no array unless there are more. */
  private watermarkCallbacks: DownstreamWatermarkCallbacks | undefined;
  private moreWatermarkCallbacks: DownstreamWatermarkCallbacks[] | undefined;
  private highWatermarkCount = 0;

  /** Where the response goes past the encoder filters, and what else the stream does. */
  readonly callbacks: FilterManagerCallbacks;

  constructor(
    /** Omitted by a subclass that is its own callbacks (ActiveStream, as Envoy's passes `*this`). */
    callbacks: FilterManagerCallbacks | undefined,
    /** Buffered body beyond this (per direction) is too large; 0: no limit. A filter may change it (setDecoderBufferLimit). */
    public bufferLimit: number,
  ) {
    this.callbacks = callbacks ?? (this as unknown as FilterManagerCallbacks);
  }

  // ---- building the chain (Envoy's FilterChainFactoryCallbacks) ----

  addStreamDecoderFilter(filter: StreamDecoderFilter, name: string): void {
    const entry = new ActiveStreamDecoderFilter(this, filter, name);
    if (this.lastDecoder === undefined) this.firstDecoder = entry;
    else this.lastDecoder.next = entry;
    this.lastDecoder = entry;
    filter.setDecoderFilterCallbacks(entry);
  }

  addStreamEncoderFilter(filter: StreamEncoderFilter, name: string, dual = false): void {
    // Encoder filters run in reverse config order: each new one goes first.
    const entry = new ActiveStreamEncoderFilter(this, filter, name, dual, this.firstEncoder);
    this.firstEncoder = entry;
    filter.setEncoderFilterCallbacks(entry);
  }

  addStreamFilter(filter: StreamFilter, name: string): void {
    this.addStreamDecoderFilter(filter, name);
    this.addStreamEncoderFilter(filter, name, true);
  }

  // ---- the request, from the codec ----

  decodeHeaders(headers: RequestHeaders, endStream: boolean): void {
    this.grpcRequest = isGrpcRequestHeaders(headers);
    if (endStream) this.remoteDecodeComplete = true;
    this.decodeHeadersFrom(undefined, headers, endStream);
  }

  decodeData(data: Uint8Array, endStream: boolean): void {
    if (endStream) this.remoteDecodeComplete = true;
    this.decodeDataFrom(undefined, data, endStream, false);
  }

  decodeTrailers(trailers: HeaderMap): void {
    this.remoteDecodeComplete = true;
    this.requestTrailers = trailers;
    this.decodeTrailersFrom(undefined, trailers);
  }

  /** Upgrade bytes go to the terminal filter only (it tunnels them). */
  decodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    if (this.destroyed) return;
    this.lastDecoder?.handle.decodeUpgradeData?.(data, endStream);
  }

  /**
   * Take the filters `disabled` names out of the chain before any of them ran (Envoy decides
   * it when the chain is made, once the route is known): they see nothing of the stream.
   */
  removeFilters(disabled: (name: string) => boolean): void {
    let previous: ActiveStreamDecoderFilter | undefined;
    // The terminal filter (the router) always stays: without it the request would get no answer.
    for (let entry = this.firstDecoder; entry !== undefined && entry.next !== undefined; entry = entry.next) {
      if (!disabled(entry.name)) {
        previous = entry;
        continue;
      }
      if (previous === undefined) this.firstDecoder = entry.next;
      else previous.next = entry.next;
    }
    let previousEncoder: ActiveStreamEncoderFilter | undefined;
    for (let entry = this.firstEncoder; entry !== undefined; entry = entry.next) {
      if (!disabled(entry.name)) {
        previousEncoder = entry;
        continue;
      }
      if (previousEncoder === undefined) this.firstEncoder = entry.next;
      else previousEncoder.next = entry.next;
    }
  }

  /** The decoder filters in config order (a new array, for inspection: the hot path walks the links). */
  get decoderFilters(): ActiveStreamDecoderFilter[] {
    const filters: ActiveStreamDecoderFilter[] = [];
    for (let entry = this.firstDecoder; entry !== undefined; entry = entry.next) filters.push(entry);
    return filters;
  }

  /** The encoder filters in encoding order (a new array, for inspection). */
  get encoderFilters(): ActiveStreamEncoderFilter[] {
    const filters: ActiveStreamEncoderFilter[] = [];
    for (let entry = this.firstEncoder; entry !== undefined; entry = entry.next) filters.push(entry);
    return filters;
  }

  // ---- decoder iteration ----

  /** @internal Headers to the filters after `from` (all, from the codec). */
  decodeHeadersFrom(from: ActiveStreamDecoderFilter | undefined, headers: RequestHeaders, endStream: boolean): void {
    // A filter that added body to a headers-only request: the filters after it see the body end the stream.
    let continueDataEntry: ActiveStreamDecoderFilter | undefined;
    for (let entry = from === undefined ? this.firstDecoder : from.next; entry !== undefined; entry = entry.next) {
      entry.endStream = endStream && continueDataEntry === undefined;
      this.filterCallState |= DECODE_HEADERS;
      let status = entry.handle.decodeHeaders(headers, entry.endStream);
      this.filterCallState &= ~DECODE_HEADERS;
      if (this.decoderChainAborted) {
        this.executeLocalReplyIfPrepared();
        status = FilterHeadersStatus.StopIteration;
      }
      if (status === FilterHeadersStatus.ContinueAndDontEndStream) endStream = false;
      const goOn = entry.afterHeaders(status);
      if (this.destroyed) return;
      // A local reply ends request filtering; a stop ends it until continue (the terminal filter's stop changes nothing).
      if ((this.localComplete || !goOn) && entry.next !== undefined) {
        this.maybeContinueDecoding(continueDataEntry);
        return;
      }
      if (endStream && this.bufferedRequest !== undefined && continueDataEntry === undefined) continueDataEntry = entry;
    }
    this.maybeContinueDecoding(continueDataEntry);
  }

  /** @internal Data to the filters after `from`, or from it when it stopped all and now continues. */
  decodeDataFrom(from: ActiveStreamDecoderFilter | undefined, data: Uint8Array, endStream: boolean, canStartFromCurrent: boolean): void {
    // A response already ended the request's filtering: the rest of the body is dropped.
    if (this.localComplete || this.destroyed) return;
    for (let entry = startAt(this.firstDecoder, from, canStartFromCurrent); entry !== undefined; entry = entry.next) {
      if (entry.stoppedAll()) {
        entry.bufferData(data, entry.iterationState === STOP_ALL_WATERMARK);
        return;
      }
      // This filter (and so the ones after it) already had the end of the stream: not for them.
      if (entry.endStream) return;
      entry.endStream = endStream && this.requestTrailers === undefined;
      this.filterCallState |= DECODE_DATA;
      const status = entry.handle.decodeData(data, entry.endStream);
      this.filterCallState &= ~DECODE_DATA;
      if (this.replacedDecodedData !== undefined) {
        data = this.replacedDecodedData;
        this.replacedDecodedData = undefined;
      }
      if (this.decoderChainAborted) {
        this.executeLocalReplyIfPrepared();
        return;
      }
      if (!entry.afterData(status, data) && entry.next !== undefined) return;
    }
  }

  /** @internal Trailers to the filters after `from`, or from it when it stopped all and now continues. */
  decodeTrailersFrom(from: ActiveStreamDecoderFilter | undefined, trailers: HeaderMap): void {
    if (this.localComplete || this.destroyed) return;
    for (let entry = startAt(this.firstDecoder, from, true); entry !== undefined; entry = entry.next) {
      // Held with the body until this filter continues.
      if (entry.stoppedAll()) return;
      this.filterCallState |= DECODE_TRAILERS;
      let status = entry.handle.decodeTrailers(trailers);
      this.filterCallState &= ~DECODE_TRAILERS;
      entry.endStream = true;
      if (this.decoderChainAborted) {
        this.executeLocalReplyIfPrepared();
        status = FilterTrailersStatus.StopIteration;
      }
      if (!entry.afterTrailers(status)) return;
    }
  }

  /** A filter added body to a headers-only request: pass it on from that filter, as a continue would. */
  private maybeContinueDecoding(entry: ActiveStreamDecoderFilter | undefined): void {
    if (entry === undefined) return;
    entry.iterationState = STOP_SINGLE;
    entry.continueDecoding();
  }

  private maybeContinueEncoding(entry: ActiveStreamEncoderFilter | undefined): void {
    if (entry === undefined) return;
    entry.iterationState = STOP_SINGLE;
    entry.continueEncoding();
  }

  /** @internal Envoy's FilterManager::addDecodedData. */
  addDecodedData(filter: ActiveStreamDecoderFilter, data: Uint8Array, streaming: boolean): void {
    const state = this.filterCallState;
    if (state === 0 || state & (DECODE_HEADERS | DECODE_DATA) || (state & DECODE_TRAILERS && !filter.canIterate())) {
      // Buffered; passed on when iteration goes past this filter.
      this.bufferRequestData(data, streaming);
    } else if (state & DECODE_TRAILERS) {
      // From decodeTrailers: the body goes on now, ahead of the trailers.
      this.decodeDataFrom(filter, data, false, false);
    } else {
      this.sendLocalReply(502, "Filter error", "filter_added_invalid_request_data");
    }
  }

  /** @internal A data call's filter rewrote its chunk (replaceDecodedData / replaceEncodedData). */
  replaceData(data: Uint8Array, call: number): void {
    if ((this.filterCallState & call) === 0) throw new Error("a filter replaced body data outside its data call");
    if (call === DECODE_DATA) this.replacedDecodedData = data;
    else this.replacedEncodedData = data;
  }

  /** @internal Envoy's FilterManager::addEncodedData. */
  addEncodedData(filter: ActiveStreamEncoderFilter, data: Uint8Array, streaming: boolean): void {
    const state = this.filterCallState;
    if (state === 0 || state & (ENCODE_HEADERS | ENCODE_DATA) || (state & ENCODE_TRAILERS && !filter.canIterate())) {
      this.bufferResponseData(data, streaming);
    } else if (state & ENCODE_TRAILERS) {
      this.encodeDataFrom(filter, data, false, false);
    } else {
      this.sendLocalReply(502, "Filter error", "filter_added_invalid_response_data");
    }
  }

  // ---- buffering and its limit ----

  /** @internal Hold request body; over the limit, pause the client (streaming) or answer 413. */
  bufferRequestData(data: Uint8Array, streaming: boolean): void {
    this.decoderFiltersStreaming = streaming;
    const buffer = (this.bufferedRequest ??= new BodyBuffer());
    buffer.add(data);
    if (this.requestBufferAboveLimit || this.bufferLimit <= 0 || buffer.length <= this.bufferLimit) return;
    this.requestBufferAboveLimit = true;
    if (streaming) {
      this.requestBufferPausedSender = true;
      this.callbacks.readDisableDownstream(true);
      return;
    }
    // Envoy's requestDataTooLarge.
    this.callbacks.onRequestDataTooLarge();
    this.sendLocalReply(413, PAYLOAD_TOO_LARGE, "request_payload_too_large");
  }

  /** @internal Hold response body; over the limit, pause the upstream (streaming) or fail with 500. */
  bufferResponseData(data: Uint8Array, streaming: boolean): void {
    this.encoderFiltersStreaming = streaming;
    const buffer = (this.bufferedResponse ??= new BodyBuffer());
    buffer.add(data);
    if (this.responseBufferAboveLimit || this.bufferLimit <= 0 || buffer.length <= this.bufferLimit) return;
    this.responseBufferAboveLimit = true;
    if (streaming) {
      this.responseBufferPausedSender = true;
      this.callHighWatermarkCallbacks();
      return;
    }
    // Envoy's responseDataTooLarge: response headers exist, so this goes straight to the codec or resets.
    this.callbacks.onResponseDataTooLarge();
    this.sendLocalReply(500, INTERNAL_SERVER_ERROR, "response_payload_too_large");
  }

  /** @internal The held request body, to pass on; the buffer is drained (a paused client resumes). */
  takeBufferedRequest(): Uint8Array {
    const data = this.bufferedRequest?.take() ?? EMPTY_BYTES;
    this.bufferedRequest = undefined;
    this.requestEndOwed = false;
    this.requestBufferAboveLimit = false;
    if (this.requestBufferPausedSender) {
      this.requestBufferPausedSender = false;
      this.readDisableDownstreamFromFilter(false);
    }
    return data;
  }

  /** @internal */
  takeBufferedResponse(): Uint8Array {
    const data = this.bufferedResponse?.take() ?? EMPTY_BYTES;
    this.bufferedResponse = undefined;
    this.responseEndOwed = false;
    this.responseBufferAboveLimit = false;
    if (this.responseBufferPausedSender) {
      this.responseBufferPausedSender = false;
      this.callLowWatermarkCallbacks();
    }
    return data;
  }

  // ---- the response, from the filters ----

  /** @internal A decoder filter (the router) sends response headers: through all encoder filters. */
  encodeHeadersFromDecoder(headers: ResponseHeaders, endStream: boolean): void {
    if (this.destroyed || this.localComplete) return;
    // 1xx other than 101: the HCM already answered Expect: 100-continue itself (proxy_100_continue: false).
    if (headers.status >= 100 && headers.status < 200 && headers.status !== 101) return;
    this.responseHeaders = headers;
    this.encodeHeadersFrom(undefined, headers, endStream);
  }

  /** @internal */
  encodeTrailersFromDecoder(trailers: HeaderMap): void {
    if (this.destroyed || this.localComplete) return;
    this.responseTrailers = trailers;
    this.encodeTrailersFrom(undefined, trailers);
  }

  /** @internal Upgrade bytes bypass the encoder filters (a tunnel, not a body). */
  encodeUpgradeDataFromDecoder(data: Uint8Array, endStream: boolean): void {
    if (!this.destroyed) this.callbacks.encodeUpgradeData(data, endStream);
  }

  /** @internal Headers to the encoder filters after `from` (all when from the router or a local reply), then the codec. */
  encodeHeadersFrom(from: ActiveStreamEncoderFilter | undefined, headers: ResponseHeaders, endStream: boolean): void {
    if (from === undefined) this.localComplete = endStream;
    let continueDataEntry: ActiveStreamEncoderFilter | undefined;
    for (let entry = from === undefined ? this.firstEncoder : from.next; entry !== undefined; entry = entry.next) {
      entry.endStream = endStream && continueDataEntry === undefined;
      this.filterCallState |= ENCODE_HEADERS;
      let status = entry.handle.encodeHeaders(headers, entry.endStream);
      this.filterCallState &= ~ENCODE_HEADERS;
      if (this.encoderChainAborted) status = FilterHeadersStatus.StopIteration;
      if (status === FilterHeadersStatus.ContinueAndDontEndStream) endStream = false;
      if (!entry.afterHeaders(status)) {
        if (!entry.endStream) this.maybeContinueEncoding(continueDataEntry);
        return;
      }
      if (endStream && this.bufferedResponse !== undefined && continueDataEntry === undefined) continueDataEntry = entry;
    }
    const end = endStream && continueDataEntry === undefined;
    this.responseHeadersEncoded = true;
    this.callbacks.encodeHeaders(headers, end);
    this.maybeEndEncode(end);
    if (!end) this.maybeContinueEncoding(continueDataEntry);
  }

  /** @internal Data to the encoder filters after `from` (all when from the router), then the codec. */
  encodeDataFrom(from: ActiveStreamEncoderFilter | undefined, data: Uint8Array, endStream: boolean, canStartFromCurrent: boolean): void {
    if (this.destroyed || this.remoteEncodeComplete) return;
    if (from === undefined) {
      if (this.localComplete) return;
      this.localComplete = endStream;
    }
    for (let entry = startAt(this.firstEncoder, from, canStartFromCurrent); entry !== undefined; entry = entry.next) {
      if (entry.stoppedAll()) {
        entry.bufferData(data, entry.iterationState === STOP_ALL_WATERMARK);
        return;
      }
      if (entry.endStream) return;
      entry.endStream = endStream && this.responseTrailers === undefined;
      this.filterCallState |= ENCODE_DATA;
      let status = entry.handle.encodeData(data, entry.endStream);
      this.filterCallState &= ~ENCODE_DATA;
      if (this.replacedEncodedData !== undefined) {
        data = this.replacedEncodedData;
        this.replacedEncodedData = undefined;
      }
      if (this.encoderChainAborted) status = FilterDataStatus.StopIterationNoBuffer;
      if (!entry.afterData(status, data)) return;
    }
    this.callbacks.encodeData(data, endStream);
    this.maybeEndEncode(endStream);
  }

  /** @internal Trailers to the encoder filters after `from`, then the codec. */
  encodeTrailersFrom(from: ActiveStreamEncoderFilter | undefined, trailers: HeaderMap): void {
    if (this.destroyed || this.remoteEncodeComplete) return;
    if (from === undefined) this.localComplete = true;
    for (let entry = startAt(this.firstEncoder, from, true); entry !== undefined; entry = entry.next) {
      if (entry.stoppedAll()) return;
      this.filterCallState |= ENCODE_TRAILERS;
      const status = entry.handle.encodeTrailers(trailers);
      this.filterCallState &= ~ENCODE_TRAILERS;
      entry.endStream = true;
      if (!entry.afterTrailers(status)) return;
    }
    this.callbacks.encodeTrailers(trailers);
    this.maybeEndEncode(true);
  }

  private maybeEndEncode(endStream: boolean): void {
    if (endStream) this.remoteEncodeComplete = true;
  }

  // ---- local replies ----

  /**
   * Envoy's DownstreamFilterManager::sendLocalReply: through the encoder filters when no
   * response exists yet (deferred until a running decoder filter returns), straight to the
   * codec when an encoder filter holds the response headers, a reset once they went out.
   */
  sendLocalReply(status: number, body: string, details: string, flag?: ResponseFlag, extraHeaders?: [string, string][], grpcStatus?: number): void {
    if (this.destroyed || this.remoteEncodeComplete) return;
    const callbacks = this.callbacks;
    // Whatever filter call is running is the last of its chain.
    if (this.filterCallState & IS_DECODING) this.decoderChainAborted = true;
    else if (this.filterCallState & IS_ENCODING) this.encoderChainAborted = true;
    const info = callbacks.streamInfo;
    info.responseCodeDetails = details;
    if (flag) info.setResponseFlag(flag);
    if (callbacks.traced) callbacks.trace("local_reply", `${status} ${details}`);
    if (this.responseHeaders === undefined) {
      if (this.filterCallState & IS_DECODING) {
        this.preparedLocalReply ??= { status, body, extraHeaders, grpcStatus };
        return;
      }
      this.sendLocalReplyViaFilterChain(status, body, extraHeaders, grpcStatus);
    } else if (!this.responseHeadersEncoded) {
      this.sendDirectLocalReply(status, body, extraHeaders, grpcStatus);
    } else {
      // Headers are out: the only honest way to end is to reset (Envoy aborts the connection).
      callbacks.resetStream();
    }
  }

  private localReply(status: number, body: string, extraHeaders: [string, string][] | undefined, grpcStatus: number | undefined): [ResponseHeaders, Uint8Array] {
    const grpc = this.grpcRequest ?? isGrpcRequestHeaders(this.callbacks.requestHeaders);
    return makeLocalReply(this.callbacks, grpc, status, body, extraHeaders, grpcStatus);
  }

  private executeLocalReplyIfPrepared(): void {
    const reply = this.preparedLocalReply;
    if (reply === undefined) return;
    this.preparedLocalReply = undefined;
    this.sendLocalReplyViaFilterChain(reply.status, reply.body, reply.extraHeaders, reply.grpcStatus);
  }

  private sendLocalReplyViaFilterChain(status: number, body: string, extraHeaders: [string, string][] | undefined, grpcStatus: number | undefined): void {
    if (this.destroyed || this.responseHeaders !== undefined) return;
    const [headers, bytes] = this.localReply(status, body, extraHeaders, grpcStatus);
    this.responseHeaders = headers;
    this.callbacks.streamInfo.localReplyBody = body;
    this.encodeHeadersFrom(undefined, headers, bytes.byteLength === 0);
    if (bytes.byteLength > 0) this.encodeDataFrom(undefined, bytes, true, false);
  }

  /** An encoder filter holds the response headers: the reply bypasses the filters, which would be confused by a second response. */
  private sendDirectLocalReply(status: number, body: string, extraHeaders: [string, string][] | undefined, grpcStatus: number | undefined): void {
    const [headers, bytes] = this.localReply(status, body, extraHeaders, grpcStatus);
    this.responseHeaders = headers;
    this.callbacks.streamInfo.localReplyBody = body;
    this.localComplete = true;
    this.responseHeadersEncoded = true;
    this.remoteEncodeComplete = true;
    this.callbacks.encodeHeaders(headers, bytes.byteLength === 0);
    if (bytes.byteLength > 0) this.callbacks.encodeData(bytes, true);
  }

  // ---- watermarks ----

  /** @internal */
  readDisableDownstreamFromFilter(disable: boolean): void {
    if (!this.destroyed) this.callbacks.readDisableDownstream(disable);
  }

  /** @internal Envoy replays the current high watermarks to a late registration. */
  addDownstreamWatermarkCallbacks(callbacks: DownstreamWatermarkCallbacks): void {
    if (this.watermarkCallbacks === undefined) this.watermarkCallbacks = callbacks;
    else (this.moreWatermarkCallbacks ??= []).push(callbacks);
    for (let i = 0; i < this.highWatermarkCount; i++) callbacks.onAboveWriteBufferHighWatermark();
  }

  /** The downstream (or an encoder filter's buffer) is backed up: the response's sources pause. */
  callHighWatermarkCallbacks(): void {
    this.highWatermarkCount++;
    this.watermarkCallbacks?.onAboveWriteBufferHighWatermark();
    const more = this.moreWatermarkCallbacks;
    if (more !== undefined) for (const cb of more) cb.onAboveWriteBufferHighWatermark();
  }

  callLowWatermarkCallbacks(): void {
    if (this.highWatermarkCount === 0) return;
    this.highWatermarkCount--;
    this.watermarkCallbacks?.onBelowWriteBufferLowWatermark();
    const more = this.moreWatermarkCallbacks;
    if (more !== undefined) for (const cb of more) cb.onBelowWriteBufferLowWatermark();
  }

  // ---- the end ----

  /** The stream is over: every filter's onDestroy, once (a dual filter's once, too). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.destroyFilters();
  }

  /** Each filter's onDestroy; `destroyed` is already set, so nothing they do reaches the stream. */
  protected destroyFilters(): void {
    for (let entry = this.firstDecoder; entry !== undefined; entry = entry.next) entry.handle.onDestroy();
    for (let entry = this.firstEncoder; entry !== undefined; entry = entry.next) if (!entry.dual) entry.handle.onDestroy();
  }
}

/** Where a chain's iteration starts: its first filter, the one after `from`, or `from` itself when it stopped all and now continues. */
function startAt<T extends ActiveStreamFilterBase & { next: T | undefined }>(first: T | undefined, from: T | undefined, canStartFromCurrent: boolean): T | undefined {
  if (from === undefined) return first;
  return canStartFromCurrent && from.iterateFromCurrent ? from : from.next;
}

/**
 * A local reply's head and body (Envoy's Utility::sendLocalReply): what the sender adds
 * (route headers, location…), then local_reply_config's rewrite, then the body's length
 * and type — text/plain, or the body format's when local_reply_config set it; a
 * content-type already there stays unless the rewrite changed the body and added none.
 */
function makeLocalReply(
  callbacks: FilterManagerCallbacks,
  grpcRequest: boolean,
  status: number,
  body: string,
  extraHeaders: [string, string][] | undefined,
  grpcStatus: number | undefined,
): [ResponseHeaders, Uint8Array] {
  const headers = new ResponseHeaders(status);
  if (extraHeaders !== undefined) for (const [name, value] of extraHeaders) headers.add(name, value);
  let contentType = "text/plain";
  let rewritten = false;
  let customContentType = false;
  if (callbacks.rewriteLocalReply !== undefined) {
    const before = headers.get("content-type");
    const reply = callbacks.rewriteLocalReply(headers, body);
    if (reply !== undefined) {
      rewritten = reply.body !== body;
      customContentType = headers.get("content-type") !== before;
      body = reply.body;
      contentType = reply.contentType;
    }
  }
  const request = callbacks.requestHeaders;
  if (grpcRequest) return [grpcLocalReply(headers, body, contentType, request.method === "HEAD", grpcStatus), EMPTY_BYTES];
  // A 204 or 304 has no content (RFC 9110 §15.3.5, §15.4.5): its reply ends at the head,
  // without the body's length or type (Envoy's HTTP/1 codec sends no framing headers on a
  // 204 and asserts it ends there; a local_response policy or mapper may still pick 204 with a body).
  const noContent = headers.status === 204 || headers.status === 304;
  if (noContent) {
    // Also what response_headers_to_add or a mapper put there: no length for a body it has not.
    headers.remove("content-length");
    headers.remove("content-type");
  }
  const bytes = noContent ? EMPTY_BYTES : latin1Encode(body);
  if (bytes.byteLength > 0) {
    headers.set("content-length", String(bytes.byteLength));
    if (!headers.has("content-type") || (rewritten && !customContentType)) headers.set("content-type", contentType);
  }
  // A HEAD's reply ends at its headers (content-length kept), so no filter sees a body the
  // client will not get (Envoy's Utility::sendLocalReply, is_head_request).
  if (request.method === "HEAD") return [headers, EMPTY_BYTES];
  return [headers, bytes];
}

/**
 * The local reply to a gRPC request (Envoy's Utility::prepareLocalReply with is_grpc): a
 * trailers-only response — HTTP 200, application/grpc, `grpc-status` (the filter's, one
 * local_reply_config added, or the HTTP status mapped by httpToGrpcStatus) and the body as
 * `grpc-message` — since a gRPC client reads the outcome from grpc-status alone.
 */
function grpcLocalReply(headers: ResponseHeaders, body: string, contentType: string, isHead: boolean, grpcStatus: number | undefined): ResponseHeaders {
  const httpStatus = headers.status;
  headers.status = 200;
  headers.set("content-type", "application/grpc");
  if (!headers.get("grpc-status")) headers.set("grpc-status", String(grpcStatus ?? httpToGrpcStatus(httpStatus)));
  if (body !== "" && !isHead) {
    // A JSON body format ends in a newline, which a header value cannot carry.
    if (contentType === "application/json" && body.endsWith("\n")) body = body.slice(0, -1);
    headers.set("grpc-message", percentEncodeGrpcMessage(body));
  }
  headers.remove("content-length");
  return headers;
}

/**
 * Envoy's RouteEntryImpl::mostSpecificPerFilterConfig: the route's typed_per_filter_config
 * for `name`, else its virtual host's, else the route configuration's.
 */
export function mostSpecificPerFilterConfig(match: RouteMatch | undefined, routeConfig: RouteConfiguration, name: string): unknown {
  if (match === undefined) return undefined;
  return perFilterConfig(match.route, name) ?? perFilterConfig(match.virtualHost, name) ?? perFilterConfig(routeConfig, name);
}

/** Envoy's Http::Utility::getAllPerFilterConfig: each level's config for `name`, the least specific first. */
export function allPerFilterConfigs(match: RouteMatch | undefined, routeConfig: RouteConfiguration, name: string): unknown[] {
  if (match === undefined) return [];
  const configs: unknown[] = [];
  for (const level of [routeConfig, match.virtualHost, match.route]) {
    const config = perFilterConfig(level, name);
    if (config !== undefined) configs.push(config);
  }
  return configs;
}

function perFilterConfig(level: RouteConfig | VirtualHostConfig | RouteConfiguration, name: string): unknown {
  return level.typedPerFilterConfig?.get(name);
}

/**
 * Envoy's RouteEntryImplBase::filterDisabled: the `disabled` of the most specific
 * FilterConfig for `name` (route, then virtual host, then route configuration); undefined
 * when no level has one.
 */
export function filterDisabled(match: RouteMatch, routeConfig: RouteConfiguration, name: string): boolean | undefined {
  return match.route.filterDisabled?.get(name) ?? match.virtualHost.filterDisabled?.get(name) ?? routeConfig.filterDisabled?.get(name);
}

/** Whether any level of the match disables some filter (the common case, none, costs three checks). */
export function anyFilterDisabling(match: RouteMatch, routeConfig: RouteConfiguration): boolean {
  return match.route.filterDisabled !== undefined || match.virtualHost.filterDisabled !== undefined || routeConfig.filterDisabled !== undefined;
}
