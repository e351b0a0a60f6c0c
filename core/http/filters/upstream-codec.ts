/**
 * Envoy's upstream codec filter (source/extensions/filters/http/upstream_codec/
 * upstream_codec.cc): the terminal filter of a cluster's upstream HTTP filters. What the
 * filters before it let through goes to the attempt's connection; the response comes back
 * into the chain from the attempt (UpstreamFilterManager.onResponse…, Envoy's CodecBridge).
 * polyvoy builds the chain once the connection is ready, so the codec never waits for one
 * (Envoy's returns StopAllIterationAndWatermark until onUpstreamConnectionEstablished).
 */
import { FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, type DecoderFilterCallbacks, type StreamDecoderFilter } from "../filter.ts";
import type { HeaderMap } from "../header-map.ts";
import type { RequestHeaders } from "../message.ts";
import type { UpstreamStream } from "../../upstream/http1-conn-pool.ts";

/** What the codec filter asks of its attempt: Envoy's UpstreamStreamFilterCallbacks::upstream(). */
export interface UpstreamCodecCallbacks {
  /** The attempt's connection while it still serves this attempt; undefined once its response ended or it was reset (it may be back in the pool, serving another). */
  upstream(): UpstreamStream | undefined;
}

export class UpstreamCodecFilter implements StreamDecoderFilter {
  constructor(
    private readonly connection: UpstreamStream,
    private readonly attempt: UpstreamCodecCallbacks,
  ) {}

  /**
   * The chain's encoder filters buffering too much of the response (ext_proc's queue)
   * pause the attempt's connection, as Envoy's UpstreamCodecFilter is the chain's
   * DownstreamWatermarkCallbacks (upstream_codec_filter.cc: readDisable on the upstream) —
   * only while the connection is still the attempt's: Envoy's callbacks return early when
   * `!callbacks_->upstreamCallbacks()->upstream()`. A connection whose response ended went
   * back to the pool with its disables balanced (http1-conn-pool.ts maybeRelease); a late
   * readDisable(false) would unbalance it, a readDisable(true) stall its next request.
   */
  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    const attempt = this.attempt;
    callbacks.addDownstreamWatermarkCallbacks({
      onAboveWriteBufferHighWatermark: () => attempt.upstream()?.readDisable(true),
      onBelowWriteBufferLowWatermark: () => attempt.upstream()?.readDisable(false),
    });
  }

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    this.connection.encodeHeaders(headers, endStream);
    return FilterHeadersStatus.StopIteration;
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    this.connection.encodeData(data, endStream);
    return FilterDataStatus.StopIterationNoBuffer;
  }

  decodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    this.connection.encodeTrailers(trailers);
    return FilterTrailersStatus.StopIteration;
  }

  onDestroy(): void {}
}
