/**
 * The upstream codec filter is its chain's DownstreamWatermarkCallbacks, as Envoy's
 * UpstreamCodecFilter (upstream_codec_filter.cc): an encoder filter of the upstream chain
 * that buffers too much of the response (ext_proc's queue) pauses the attempt's connection,
 * and resumes it below the low watermark — only while the connection is still the
 * attempt's (Envoy's `if (!callbacks_->upstreamCallbacks()->upstream()) return;`): once the
 * response ended the connection went back to the pool, its disables balanced.
 */
import { expect, test } from "vitest";
import { UpstreamCodecFilter } from "../../../../core/http/filters/upstream-codec.ts";
import { UpstreamFilterManager, type UpstreamFilterChainSink } from "../../../../core/http/filters/upstream-filter-manager.ts";
import { FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, type DecoderFilterCallbacks, type DownstreamWatermarkCallbacks, type EncoderFilterCallbacks, type StreamEncoderFilter } from "../../../../core/http/filter.ts";
import type { UpstreamStream } from "../../../../core/upstream/http1-conn-pool.ts";
import type { ServerContext } from "../../../../core/server-context.ts";
import { RequestHeaders, ResponseHeaders } from "../../../../core/http/message.ts";

test("the chain's high and low watermarks read-disable and re-enable the attempt's connection", () => {
  const calls: boolean[] = [];
  const connection = { readDisable: (disable: boolean) => calls.push(disable) } as unknown as UpstreamStream;
  let registered: DownstreamWatermarkCallbacks | undefined;
  const callbacks = { addDownstreamWatermarkCallbacks: (cb: DownstreamWatermarkCallbacks) => (registered = cb) } as unknown as DecoderFilterCallbacks;
  new UpstreamCodecFilter(connection, { upstream: () => connection }).setDecoderFilterCallbacks(callbacks);
  expect(registered).toBeDefined();
  registered!.onAboveWriteBufferHighWatermark();
  registered!.onBelowWriteBufferLowWatermark();
  expect(calls).toEqual([true, false]);
});

/** An encoder filter that holds the response and goes above the high watermark on its last chunk, as ext_proc's queue can. */
class HoldingFilter implements StreamEncoderFilter {
  callbacks!: EncoderFilterCallbacks;
  setEncoderFilterCallbacks(callbacks: EncoderFilterCallbacks): void {
    this.callbacks = callbacks;
  }
  encodeHeaders(): FilterHeadersStatus {
    return FilterHeadersStatus.StopIteration;
  }
  encodeData(_data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (endStream) this.callbacks.onEncoderFilterAboveWriteBufferHighWatermark();
    return FilterDataStatus.StopIterationAndBuffer;
  }
  encodeTrailers(): FilterTrailersStatus {
    return FilterTrailersStatus.StopIteration;
  }
  onDestroy(): void {}
}

test("once the connection's response ended, the chain's watermarks leave the connection alone (it is back in the pool)", () => {
  const calls: boolean[] = [];
  const connection = { readDisable: (disable: boolean) => calls.push(disable), encodeHeaders: () => {} } as unknown as UpstreamStream;
  const downstream = { requestHeaders: undefined, decoderBufferLimit: 1024 } as unknown as DecoderFilterCallbacks;
  const sink = { onFilteredHeaders() {}, onFilteredData() {}, onFilteredTrailers() {}, onFilteredUpgradeData() {} } as UpstreamFilterChainSink;
  const manager = new UpstreamFilterManager({ filters: [], chain: { statPrefix: "", upstream: true } }, {} as ServerContext, downstream, connection, sink);
  const holding = new HoldingFilter();
  manager.addStreamEncoderFilter(holding, "holding");
  manager.encodeHeaders(new RequestHeaders(), true);
  manager.onResponseHeaders(new ResponseHeaders(200), false);
  manager.onResponseData(new Uint8Array(8), true);
  // The pool released the connection as the last byte arrived; the filter drains later.
  holding.callbacks.onEncoderFilterBelowWriteBufferLowWatermark();
  expect(calls).toEqual([]);
});
