/**
 * HTTP filters, as Envoy's envoy/http/filter.h: decoder filters see the request in
 * order, encoder filters see the response in reverse order, and a dual filter
 * (`StreamFilter`) is both. Each call returns a status that tells the filter manager
 * (conn-manager/filter-manager.ts) whether to go on to the next filter, stop, and what
 * to do with the body meanwhile; a stopped filter resumes the chain with
 * continueDecoding()/continueEncoding().
 */
import type { RouteConfiguration } from "../config/bootstrap.ts";
import type { AccessLogContext } from "../access-log/context.ts";
import type { HeaderMap } from "./header-map.ts";
import type { RequestHeaders, ResponseHeaders } from "./message.ts";
import type { StreamInfo } from "./stream-info.ts";
import type { RouteMatch } from "./route/route-table.ts";
import type { TraceEventKind } from "../trace/tracer.ts";
import type { BodyBuffer } from "./body-buffer.ts";
import type { ResponseFlag } from "../stream-info/response-flags.ts";
import type { SocketAddress, TlsSession } from "../port.ts";

export const FilterHeadersStatus = {
  /** Go on to the next filter. */
  Continue: 0,
  /**
   * Stop headers here. Body and trailers still reach this filter (not the ones after
   * it): its decodeData()/encodeData() returning Continue, or continueDecoding()/
   * continueEncoding(), resumes the chain.
   */
  StopIteration: 1,
  /**
   * Go on with the headers, but tell the filters after this one the stream is not over:
   * this filter adds a body later with injectDecodedDataToFilterChain()/
   * injectEncodedDataToFilterChain(), the last call with endStream. Only when endStream was true.
   */
  ContinueAndDontEndStream: 2,
  /** Stop headers, body and trailers here; buffer the body (over the buffer limit: 413 / 500) until continue. */
  StopAllIterationAndBuffer: 3,
  /** As StopAllIterationAndBuffer, but over the buffer limit the sender is paused (watermarks) instead. */
  StopAllIterationAndWatermark: 4,
} as const;
export type FilterHeadersStatus = (typeof FilterHeadersStatus)[keyof typeof FilterHeadersStatus];

export const FilterDataStatus = {
  /** Go on to the next filter (with whatever this filter buffered before, then this data). */
  Continue: 0,
  /** Stop; keep this data in the stream's buffer until continue (over the buffer limit: 413 / 500). */
  StopIterationAndBuffer: 1,
  /** Stop and buffer; over the buffer limit the sender is paused (watermarks) instead of failing. */
  StopIterationAndWatermark: 2,
  /** Stop; the filter took the data itself (e.g. the router sending it upstream). */
  StopIterationNoBuffer: 3,
} as const;
export type FilterDataStatus = (typeof FilterDataStatus)[keyof typeof FilterDataStatus];

export const FilterTrailersStatus = {
  Continue: 0,
  /** Stop; continueDecoding()/continueEncoding() resumes. */
  StopIteration: 1,
} as const;
export type FilterTrailersStatus = (typeof FilterTrailersStatus)[keyof typeof FilterTrailersStatus];

/** Why a stream ended early: Envoy's response flags, re-exported for the filters that import them from here. */
export type { ResponseFlag } from "../stream-info/response-flags.ts";

/** What every filter may ask of its stream (Envoy's `StreamFilterCallbacks`). */
export interface StreamFilterCallbacks {
  readonly streamInfo: StreamInfo;
  readonly requestHeaders: RequestHeaders;
  /** The route the HCM matched for this request, if any. */
  readonly route: RouteMatch | undefined;
  /** The route configuration the match came from (for its header mutations). */
  readonly routeConfig: RouteConfiguration;
  /** Envoy's ENVOY_STREAM_LOG prefix, `[C12][S3] `: call it only for a debug line that is written. */
  logPrefix(): string;
  /** The downstream connection's peer and local addresses (Envoy's downstreamAddressProvider). */
  readonly downstreamRemoteAddress: SocketAddress | undefined;
  readonly downstreamLocalAddress: SocketAddress | undefined;
  /** The peer the downstream socket is connected to, whatever a PROXY protocol header said (Envoy's directRemoteAddress). */
  readonly downstreamDirectRemoteAddress: SocketAddress | undefined;
  /** The downstream connection's TLS session, undefined over plain TCP (Envoy's connection()->ssl()). */
  readonly downstreamTls: TlsSession | undefined;
  /**
   * This filter's typed_per_filter_config (keyed by its name in http_filters): the
   * route's, else the virtual host's, else the route configuration's (Envoy's
   * `mostSpecificPerFilterConfig`). Undefined without a route or config.
   */
  mostSpecificPerFilterConfig<T = unknown>(): T | undefined;
  /**
   * Every level's typed_per_filter_config for this filter, the least specific first (route
   * configuration, virtual host, route): Envoy's getAllPerFilterConfig, for a filter that
   * merges them (ext_proc). Empty without a route.
   */
  perFilterConfigs<T = unknown>(): T[];
  /**
   * Answer the request from here: status, body, Envoy's response code details and flag.
   * The reply goes through the encoder filters; once response headers went downstream,
   * the stream is reset instead. To a gRPC request the reply is a trailers-only gRPC
   * response whose grpc-status is `grpcStatus`, or the status mapped (httpToGrpcStatus).
   */
  sendLocalReply(status: number, body: string, details: string, flag?: ResponseFlag, extraHeaders?: [string, string][], grpcStatus?: number): void;
  /** Abort the stream: if the response already started, the downstream connection is reset. */
  resetStream(): void;
  /** Record a request-lifecycle trace event for this stream (a no-op unless it is traced). */
  trace(kind: TraceEventKind, detail?: string): void;
  /** This stream is being traced: worth building trace details for. */
  readonly traced: boolean;
  /**
   * The stream as the access-log formatter sees it now, `response` as its response
   * headers: for header values with %COMMAND% operators (route header mutations).
   */
  headerFormatterContext(response: ResponseHeaders | undefined): AccessLogContext;
}

/** What a decoder filter may ask of its stream (Envoy's `StreamDecoderFilterCallbacks`). */
export interface DecoderFilterCallbacks extends StreamFilterCallbacks {
  /** Resume the request's filters after this filter stopped them. */
  continueDecoding(): void;
  /** The request body buffered by the filters so far (undefined when nothing was). */
  decodingBuffer(): BodyBuffer | undefined;
  /**
   * Add body to the request: buffered while this filter's headers or data call runs (or
   * when no call runs), passed on to the next filters when called from decodeTrailers.
   * `streaming`: over the buffer limit, pause the client rather than answer 413.
   */
  addDecodedData(data: Uint8Array, streaming: boolean): void;
  /** After ContinueAndDontEndStream: send body to the filters after this one (the last call with endStream). */
  injectDecodedDataToFilterChain(data: Uint8Array, endStream: boolean): void;
  /**
   * Only within decodeData: the filters after this one (or the buffer, if this filter
   * stops) get `data` in place of the chunk the call was given — what an Envoy filter does
   * by rewriting the Buffer::Instance it is passed (the decompressor, the compressor).
   */
  replaceDecodedData(data: Uint8Array): void;
  /** The stream's buffer limit (the listener's per_connection_buffer_limit_bytes). */
  readonly decoderBufferLimit: number;
  /**
   * Change the stream's buffer limit, both directions (Envoy's setDecoderBufferLimit):
   * the buffer filter's max_request_bytes. 0: no limit.
   */
  setDecoderBufferLimit(limit: number): void;
  /**
   * Match the route again with the request headers as they are now (Envoy's
   * clearRouteCache): for a filter that changed what routing looks at.
   */
  clearRouteCache(): void;
  /**
   * End this stream without a response and run the request as its headers are now through
   * a new stream's filter chain on the same downstream stream, with `body` as its complete
   * body (Envoy's recreateStream, for internal redirects). False where the stream cannot.
   */
  recreateStream(body: Uint8Array | undefined): boolean;
  /** Send the response (the router does, with what the upstream said): it goes through the encoder filters. */
  encodeHeaders(headers: ResponseHeaders, endStream: boolean): void;
  encodeData(data: Uint8Array, endStream: boolean): void;
  encodeTrailers(trailers: HeaderMap): void;
  encodeUpgradeData(data: Uint8Array, endStream: boolean): void;
  /** Flow control: stop/start reading the downstream (counted). */
  readDisableDownstream(disable: boolean): void;
  /** Bytes of the response the downstream has not taken yet exceed the limit → the router pauses the upstream. */
  addDownstreamWatermarkCallbacks(callbacks: DownstreamWatermarkCallbacks): void;
  /** Response headers went downstream. */
  readonly responseStarted: boolean;
}

/**
 * What a decoder filter holds until the filter manager hands it its callbacks
 * (setDecoderFilterCallbacks, right after the filter is made — Envoy's order too): a use
 * before then is a bug, and fails saying so instead of on `undefined`. A filter keeps no
 * `callbacks!` and no per-call check for it.
 */
export const UNBOUND_DECODER_FILTER_CALLBACKS: DecoderFilterCallbacks = new Proxy({} as DecoderFilterCallbacks, {
  get(_target, name) {
    throw new Error(`decoder filter callbacks used before setDecoderFilterCallbacks (${String(name)})`);
  },
});

/** What an encoder filter may ask of its stream (Envoy's `StreamEncoderFilterCallbacks`). */
export interface EncoderFilterCallbacks extends StreamFilterCallbacks {
  /** Resume the response's filters after this filter stopped them. */
  continueEncoding(): void;
  /** The response body buffered by the filters so far (undefined when nothing was). */
  encodingBuffer(): BodyBuffer | undefined;
  /** As addDecodedData, for the response; over the limit without `streaming`: 500. */
  addEncodedData(data: Uint8Array, streaming: boolean): void;
  /** After ContinueAndDontEndStream: send body to the filters after this one (the last call with endStream). */
  injectEncodedDataToFilterChain(data: Uint8Array, endStream: boolean): void;
  /** As replaceDecodedData, within encodeData. */
  replaceEncodedData(data: Uint8Array): void;
  readonly encoderBufferLimit: number;
  /** Pause / resume the response's source (the router's upstream), e.g. while this filter is backed up. */
  onEncoderFilterAboveWriteBufferHighWatermark(): void;
  onEncoderFilterBelowWriteBufferLowWatermark(): void;
}

export interface DownstreamWatermarkCallbacks {
  onAboveWriteBufferHighWatermark(): void;
  onBelowWriteBufferLowWatermark(): void;
}

export interface StreamDecoderFilter {
  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void;
  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus;
  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus;
  decodeTrailers(trailers: HeaderMap): FilterTrailersStatus;
  /** Upgrade (websocket) bytes from the client after the 101: the terminal filter's only. */
  decodeUpgradeData?(data: Uint8Array, endStream: boolean): void;
  /** The stream is over (completed or reset): release everything. Called once per filter. */
  onDestroy(): void;
}

export interface StreamEncoderFilter {
  setEncoderFilterCallbacks(callbacks: EncoderFilterCallbacks): void;
  encodeHeaders(headers: ResponseHeaders, endStream: boolean): FilterHeadersStatus;
  encodeData(data: Uint8Array, endStream: boolean): FilterDataStatus;
  encodeTrailers(trailers: HeaderMap): FilterTrailersStatus;
  /** Called once per filter, also for a dual filter. */
  onDestroy(): void;
}

/** A filter on both paths (Envoy's `StreamFilter`): onDestroy is called once. */
export interface StreamFilter extends StreamDecoderFilter, StreamEncoderFilter {}
