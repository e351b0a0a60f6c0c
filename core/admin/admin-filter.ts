import type { AdminRequestHandler } from "../config/bootstrap.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type StreamDecoderFilter,
} from "../http/filter.ts";
import { ResponseHeaders, type RequestHeaders } from "../http/message.ts";
import { utf8ByteString } from "../access-log/byte-string.ts";
import { latin1Encode } from "../util/latin1.ts";

/**
 * Envoy's `AdminFilter`: the only HTTP filter of the admin listener's connection
 * manager, terminal. It waits for the whole request (a body is read and ignored), has
 * the admin answer it, and sends the answer with Envoy's admin response headers.
 */
export class AdminFilter implements StreamDecoderFilter {
  /** Set by the filter manager when it adds the filter, before any decode call. */
  private callbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private headers: RequestHeaders | undefined;
  private answered = false;

  constructor(private readonly handler: AdminRequestHandler) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.callbacks = callbacks;
  }

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    this.headers = headers;
    if (endStream) this.onComplete();
    return FilterHeadersStatus.StopIteration;
  }

  decodeData(_data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (endStream) this.onComplete();
    return FilterDataStatus.StopIterationNoBuffer;
  }

  decodeTrailers(): FilterTrailersStatus {
    this.onComplete();
    return FilterTrailersStatus.StopIteration;
  }

  onDestroy(): void {}

  private onComplete(): void {
    if (this.answered || !this.headers) return;
    this.answered = true;
    let response: { status: number; contentType: string; body: string };
    try {
      response = this.handler.handle({ method: this.headers.method, path: this.headers.path });
    } catch (err) {
      response = { status: 500, contentType: TEXT, body: `admin error: ${err instanceof Error ? err.message : String(err)}\n` };
    }
    const body = latin1Encode(utf8ByteString(response.body));
    const headers = new ResponseHeaders(response.status);
    // Envoy's populateFallbackResponseHeaders.
    headers.set("content-type", response.contentType);
    headers.set("cache-control", "no-cache, max-age=0");
    headers.set("x-content-type-options", "nosniff");
    headers.set("content-length", String(body.byteLength));
    const callbacks = this.callbacks;
    callbacks.encodeHeaders(headers, body.byteLength === 0);
    if (body.byteLength > 0) callbacks.encodeData(body, true);
  }
}

const TEXT = "text/plain; charset=UTF-8";
