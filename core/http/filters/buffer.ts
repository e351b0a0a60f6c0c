/**
 * Envoy's buffer HTTP filter (source/extensions/filters/http/buffer/buffer_filter.cc): the
 * whole request body is buffered before the request goes on, so the upstream gets it in
 * one piece with a content-length; a body over max_request_bytes is answered by the
 * filter manager's 413 "Payload Too Large" (details request_payload_too_large) — the
 * filter sets the stream's buffer limit and buffers. A route's BufferPerRoute may
 * disable it or set another limit.
 */
import type { BufferConfig } from "../../config/bootstrap.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type StreamDecoderFilter,
} from "../filter.ts";
import type { RequestHeaders } from "../message.ts";

export class BufferFilter implements StreamDecoderFilter {
  private callbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  /** Set when this filter buffers the request (to add its content-length at the end). */
  private requestHeaders: RequestHeaders | undefined;
  private contentLength = 0;

  constructor(private readonly config: BufferConfig) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.callbacks = callbacks;
  }

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    // A header-only request needs no buffering.
    if (endStream) return FilterHeadersStatus.Continue;
    const settings = this.callbacks.mostSpecificPerFilterConfig<BufferConfig>() ?? this.config;
    if (settings.disabled) return FilterHeadersStatus.Continue;
    this.callbacks.setDecoderBufferLimit(settings.maxRequestBytes);
    this.requestHeaders = headers;
    return FilterHeadersStatus.StopIteration;
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (this.requestHeaders === undefined) return FilterDataStatus.Continue;
    this.contentLength += data.byteLength;
    if (endStream) {
      this.maybeAddContentLength();
      return FilterDataStatus.Continue;
    }
    // Buffer until the whole request is here, or the filter manager answers 413.
    return FilterDataStatus.StopIterationAndBuffer;
  }

  decodeTrailers(): FilterTrailersStatus {
    this.maybeAddContentLength();
    return FilterTrailersStatus.Continue;
  }

  onDestroy(): void {}

  /** Envoy (buffer_filter_populate_content_length): the buffered length, unless the request had one. */
  private maybeAddContentLength(): void {
    const headers = this.requestHeaders;
    if (headers !== undefined && !headers.has("content-length")) headers.set("content-length", String(this.contentLength));
  }
}
