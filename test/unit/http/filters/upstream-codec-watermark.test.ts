/**
 * The upstream codec filter is its chain's DownstreamWatermarkCallbacks, as Envoy's
 * UpstreamCodecFilter (upstream_codec_filter.cc): an encoder filter of the upstream chain
 * that buffers too much of the response (ext_proc's queue) pauses the attempt's connection,
 * and resumes it below the low watermark.
 */
import { expect, test } from "vitest";
import { UpstreamCodecFilter } from "../../../../core/http/filters/upstream-codec.ts";
import type { DecoderFilterCallbacks, DownstreamWatermarkCallbacks } from "../../../../core/http/filter.ts";
import type { UpstreamStream } from "../../../../core/upstream/http1-conn-pool.ts";

test("the chain's high and low watermarks read-disable and re-enable the attempt's connection", () => {
  const calls: boolean[] = [];
  const connection = { readDisable: (disable: boolean) => calls.push(disable) } as unknown as UpstreamStream;
  let registered: DownstreamWatermarkCallbacks | undefined;
  const callbacks = { addDownstreamWatermarkCallbacks: (cb: DownstreamWatermarkCallbacks) => (registered = cb) } as unknown as DecoderFilterCallbacks;
  new UpstreamCodecFilter(connection).setDecoderFilterCallbacks(callbacks);
  expect(registered).toBeDefined();
  registered!.onAboveWriteBufferHighWatermark();
  registered!.onBelowWriteBufferLowWatermark();
  expect(calls).toEqual([true, false]);
});
