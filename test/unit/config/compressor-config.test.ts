/** The compressor and decompressor filters' typed_config and CompressorPerRoute: Envoy's defaults and refusals. */
import { describe, expect, test } from "vitest";
import { filterConfig, load, problems } from "./http-filter-config.ts";

const COMPRESSOR = "type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor";
const DECOMPRESSOR = "type.googleapis.com/envoy.extensions.filters.http.decompressor.v3.Decompressor";
const GZIP = "type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip";
const BROTLI = "type.googleapis.com/envoy.extensions.compression.brotli.compressor.v3.Brotli";
const PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.compressor.v3.CompressorPerRoute";

const compressor = (fields: Record<string, unknown>, library: Record<string, unknown> = { "@type": GZIP }) => ({
  name: "envoy.filters.http.compressor",
  typed_config: { "@type": COMPRESSOR, compressor_library: { name: "lib", typed_config: library }, ...fields },
});

describe("compressor", () => {
  test("Envoy's defaults: gzip level 6 (zlib's default), window 12, memory 5, chunk 4096; min length 30; the default content types", () => {
    const config = filterConfig(compressor({}));
    expect(config.library).toEqual({ algorithm: "gzip", level: -1, windowBits: 12, memoryLevel: 5, strategy: 0, chunkSize: 4096 });
    expect(config.request).toBeUndefined();
    const response = config.response as { enabled: boolean; minContentLength: number; contentTypes: string[]; directionStats: boolean };
    expect(response.enabled).toBe(true);
    expect(response.minContentLength).toBe(30);
    expect(response.contentTypes).toContain("application/json");
    expect(response.contentTypes).toHaveLength(20);
    expect(response.directionStats).toBe(false);
  });

  test("brotli: quality 3, window 18, input block 24; enum names in any case", () => {
    expect(filterConfig(compressor({}, { "@type": BROTLI, encoder_mode: "text" })).library).toEqual({
      algorithm: "brotli",
      quality: 3,
      windowBits: 18,
      inputBlockBits: 24,
      mode: 1,
      disableLiteralContextModeling: false,
      chunkSize: 4096,
    });
    expect((filterConfig(compressor({}, { "@type": GZIP, compressionLevel: "best_compression", compression_strategy: "RLE" })).library as { level: number; strategy: number })).toMatchObject({ level: 9, strategy: 3 });
  });

  test("the legacy fields stand in for response_direction_config; min_content_length 0 is the default", () => {
    const legacy = filterConfig(compressor({ content_length: 100, content_type: ["Text/HTML"], disable_on_etag_header: true }));
    expect(legacy.response).toMatchObject({ minContentLength: 100, contentTypes: ["text/html"], disableOnEtagHeader: true, directionStats: false });
    const direction = filterConfig(compressor({ content_length: 100, response_direction_config: { common_config: { min_content_length: 0 } } }));
    expect(direction.response).toMatchObject({ minContentLength: 30, directionStats: true });
  });

  test("refused: no library, an unknown library, zstd, out-of-range settings, unknown fields", () => {
    expect(problems({ name: "envoy.filters.http.compressor", typed_config: { "@type": COMPRESSOR } }).join()).toMatch(/compressor_library/);
    expect(problems(compressor({}, { "@type": "type.googleapis.com/envoy.extensions.compression.zstd.compressor.v3.Zstd" })).join()).toMatch(/compression\.zstd\.compressor\.v3\.Zstd is an Envoy compression library that polyvoy does not support yet \(no runtime polyvoy runs on has zstd: use gzip or brotli\)/);
    expect(problems(compressor({}, { "@type": GZIP, window_bits: 16 })).join()).toMatch(/window_bits/);
    expect(problems(compressor({}, { "@type": GZIP, chunk_size: 100 })).join()).toMatch(/chunk_size/);
    expect(problems(compressor({}, { "@type": BROTLI, quality: 12 })).join()).toMatch(/quality/);
    expect(problems(compressor({ uncompressible: true })).join()).toMatch(/uncompressible/);
    expect(problems(compressor({ response_direction_config: { common_config: { enabled: { default_value: true } } } })).join()).toMatch(/runtime_key/);
  });

  test("CompressorPerRoute: disabled or overrides, exactly one", () => {
    const perRoute = (value: object) => ({ typed_per_filter_config: { "envoy.filters.http.compressor": { "@type": PER_ROUTE, ...value } } });
    expect(() => load(compressor({}), perRoute({ disabled: true }))).not.toThrow();
    expect(() => load(compressor({}), perRoute({ overrides: { response_direction_config: {} } }))).not.toThrow();
    expect(problems(compressor({}), perRoute({})).join()).toMatch(/must set one of disabled, overrides/);
    expect(problems(compressor({}), perRoute({ disabled: false })).join()).toMatch(/disabled/);
  });
});

describe("decompressor", () => {
  const decompressor = (library: Record<string, unknown>, fields: Record<string, unknown> = {}) => ({
    name: "envoy.filters.http.decompressor",
    typed_config: { "@type": DECOMPRESSOR, decompressor_library: { name: "d", typed_config: library }, ...fields },
  });

  test("Envoy's defaults: window 15, chunk 4096, max_inflate_ratio 100; both directions on; Accept-Encoding advertised", () => {
    const config = filterConfig(decompressor({ "@type": "type.googleapis.com/envoy.extensions.compression.gzip.decompressor.v3.Gzip" }));
    expect(config).toEqual({
      libraryName: "d",
      library: { algorithm: "gzip", windowBits: 15, chunkSize: 4096, disableRingBufferReallocation: false },
      maxInflateRatio: 100,
      request: { enabled: true, ignoreNoTransformHeader: false, advertiseAcceptEncoding: true },
      response: { enabled: true, ignoreNoTransformHeader: false },
    });
  });

  test("refused: max_inflate_ratio over 1032, an unknown library", () => {
    expect(problems(decompressor({ "@type": "type.googleapis.com/envoy.extensions.compression.gzip.decompressor.v3.Gzip", max_inflate_ratio: 2000 })).join()).toMatch(/max_inflate_ratio/);
    expect(problems(decompressor({ "@type": "type.googleapis.com/x.Y" })).join()).toMatch(/"type\.googleapis\.com\/x\.Y" is not an Envoy decompression library \(supported: /);
  });
});
