/**
 * HTTP filters, as Envoy's `Http::StreamDecoderFilter` / `StreamEncoderFilter`:
 * decoder filters see the request in order, encoder filters see the response in
 * reverse order. Each call returns Continue or a StopIteration variant; a stopped
 * filter resumes the chain with continueDecoding()/continueEncoding().
 */
import type { RouteConfiguration } from "../config/bootstrap.ts";
import type { HeaderMap } from "./header-map.ts";
import type { RequestHeaders, ResponseHeaders } from "./message.ts";
import type { StreamInfo } from "./stream-info.ts";
import type { RouteMatch } from "./router/route-table.ts";
import type { TraceEventKind } from "../trace/tracer.ts";

export const FilterHeadersStatus = {
  Continue: 0,
  /** Stop this headers call; data may still pass (buffered by the manager until continue). */
  StopIteration: 1,
  /** Stop headers and buffer all following data and trailers until continue. */
  StopAllIterationAndBuffer: 2,
} as const;
export type FilterHeadersStatus = (typeof FilterHeadersStatus)[keyof typeof FilterHeadersStatus];

export const FilterDataStatus = {
  Continue: 0,
  /** Keep this data in the manager's buffer; pass it on at continue. */
  StopIterationAndBuffer: 1,
  /** The filter took the data itself (e.g. the router sending it upstream). */
  StopIterationNoBuffer: 2,
} as const;
export type FilterDataStatus = (typeof FilterDataStatus)[keyof typeof FilterDataStatus];

export const FilterTrailersStatus = { Continue: 0, StopIteration: 1 } as const;
export type FilterTrailersStatus = (typeof FilterTrailersStatus)[keyof typeof FilterTrailersStatus];

/** Why a stream ended early, in Envoy's response-flag vocabulary (used by local replies and logs). */
export type ResponseFlag = "NR" | "NC" | "UH" | "UF" | "UC" | "UR" | "UT" | "UO" | "UPE" | "DC" | "LR" | "DPE" | "SI" | "URX";

/** What a decoder filter may ask of its stream (Envoy's `StreamDecoderFilterCallbacks`). */
export interface DecoderFilterCallbacks {
  readonly streamInfo: StreamInfo;
  readonly requestHeaders: RequestHeaders;
  /** The route the HCM matched for this request, if any. */
  readonly route: RouteMatch | undefined;
  /** The route configuration the match came from (for its header mutations). */
  readonly routeConfig: RouteConfiguration;
  continueDecoding(): void;
  /** Answer the request from here: status, body, Envoy's response code details and flag. */
  sendLocalReply(status: number, body: string, details: string, flag?: ResponseFlag, extraHeaders?: [string, string][]): void;
  /** Send the response (the router does, with what the upstream said). */
  encodeHeaders(headers: ResponseHeaders, endStream: boolean): void;
  encodeData(data: Uint8Array, endStream: boolean): void;
  encodeTrailers(trailers: HeaderMap): void;
  encodeUpgradeData(data: Uint8Array, endStream: boolean): void;
  /** Abort the stream: if the response already started, the downstream connection is reset. */
  resetStream(): void;
  /** Flow control: stop/start reading the downstream (counted). */
  readDisableDownstream(disable: boolean): void;
  /** Bytes of the response the downstream has not taken yet exceed the limit → the router pauses the upstream. */
  addDownstreamWatermarkCallbacks(callbacks: DownstreamWatermarkCallbacks): void;
  readonly responseStarted: boolean;
  /** Record a request-lifecycle trace event for this stream (a no-op unless it is traced). */
  trace(kind: TraceEventKind, detail?: string): void;
  /** This stream is being traced: worth building trace details for. */
  readonly traced: boolean;
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
  /** Upgrade (websocket) bytes from the client after the 101. */
  decodeUpgradeData?(data: Uint8Array, endStream: boolean): void;
  /** The stream is over (completed or reset): release everything. */
  onDestroy(): void;
}

export interface EncoderFilterCallbacks {
  readonly streamInfo: StreamInfo;
  continueEncoding(): void;
}

export interface StreamEncoderFilter {
  setEncoderFilterCallbacks(callbacks: EncoderFilterCallbacks): void;
  encodeHeaders(headers: ResponseHeaders, endStream: boolean): FilterHeadersStatus;
  encodeData(data: Uint8Array, endStream: boolean): FilterDataStatus;
  encodeTrailers(trailers: HeaderMap): FilterTrailersStatus;
  onDestroy(): void;
}
