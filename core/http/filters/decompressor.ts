/**
 * Envoy's decompressor HTTP filter (source/extensions/filters/http/decompressor/decompressor_filter.cc)
 * with the gzip and brotli libraries: a request or response whose Content-Encoding starts
 * with the library's coding is decompressed chunk by chunk (the runtime's library, through
 * the port's `compression`), that coding is taken off Content-Encoding and the
 * content-length removed. With response decompression on, requests advertise the coding
 * in Accept-Encoding (advertise_accept_encoding).
 *
 * Compression bombs: each chunk may inflate to at most max_inflate_ratio times its size
 * (gzip's max_inflate_ratio, default 100; brotli's fixed 100), as Envoy's zlib and brotli
 * decompressors check (counted as zlib_data_error, or brotli_error and
 * brotli_output_overflow). On that or corrupt input Envoy's decompressor stops where it
 * is and the body ends short; here too, and the rest of that body is dropped.
 *
 * Stats: http.<stat_prefix>.decompressor.<library name>.<gzip|brotli>.{request,response}.*
 * and the library's own under .decompressor_library.
 */
import type { DecompressorConfig, DecompressorDirectionConfig } from "../../config/bootstrap.ts";
import type { DecompressError, StreamDecompressor } from "../../port-compression.ts";
import type { ServerContext } from "../../server-context.ts";
import { counterSet, type CounterSet } from "../../stats/counter-set.ts";
import type { StatsStore } from "../../stats/stats-store.ts";
import { PerConfig } from "../../util/per-config.ts";
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
import type { HttpFilterChainContext } from "./http-filter-registry.ts";

/** ALL_DECOMPRESSOR_STATS. */
const DECOMPRESSOR_STATS = ["decompressed", "not_decompressed", "total_uncompressed_bytes", "total_compressed_bytes"] as const;

/** The library's error counters (ALL_ZLIB_DECOMPRESSOR_STATS, ALL_BROTLI_DECOMPRESSOR_STATS). */
const ZLIB_STATS = ["zlib_errno", "zlib_stream_error", "zlib_data_error", "zlib_mem_error", "zlib_buf_error", "zlib_version_error"] as const;
const BROTLI_STATS = ["brotli_error", "brotli_output_overflow", "brotli_redundant_input"] as const;

class Direction {
  readonly stats: CounterSet<(typeof DECOMPRESSOR_STATS)[number]>;

  constructor(
    readonly config: DecompressorDirectionConfig,
    stats: StatsStore,
    prefix: string,
  ) {
    this.stats = counterSet(stats, prefix, DECOMPRESSOR_STATS);
  }
}

/** What the streams of one decompressor filter share (Envoy's DecompressorFilterConfig). */
export class DecompressorFilterConfig {
  readonly contentEncoding: string;
  readonly request: Direction;
  readonly response: Direction;
  private readonly libraryStats: Partial<CounterSet<(typeof ZLIB_STATS)[number] | (typeof BROTLI_STATS)[number]>>;

  constructor(
    readonly config: DecompressorConfig,
    private readonly server: ServerContext,
    chain: HttpFilterChainContext,
  ) {
    const gzip = config.library.algorithm === "gzip";
    this.contentEncoding = gzip ? "gzip" : "br";
    const prefix = `http.${chain.statPrefix}.decompressor.${config.libraryName}.${gzip ? "gzip" : "brotli"}.`;
    const stats = server.stats;
    this.request = new Direction(config.request, stats, prefix + "request.");
    this.response = new Direction(config.response, stats, prefix + "response.");
    this.libraryStats = counterSet(stats, `${prefix}decompressor_library.`, gzip ? ZLIB_STATS : BROTLI_STATS);
  }

  /** A direction's `enabled` (Envoy's Runtime::FeatureFlag): its runtime key's value, read per request. */
  enabled(direction: Direction): boolean {
    return this.server.layeredRuntime.getBoolean(direction.config.enabledRuntimeKey, direction.config.enabled);
  }

  makeDecompressor(): StreamDecompressor {
    // The filter is refused at start where the runtime lacks the library (checkCompressionSupported).
    return this.server.runtime.compression!.createDecompressor(this.config.library);
  }

  /** Count a library error under Envoy's names. */
  chargeError(error: DecompressError): void {
    if (this.config.library.algorithm === "gzip") {
      // Envoy's zlib decompressor counts the inflate-ratio guard as a data error.
      const name = error === "output_overflow" || error === "redundant_input" || error === "brotli_error" ? "zlib_data_error" : (`zlib_${error}` as const);
      this.libraryStats[name]?.inc();
    } else {
      this.libraryStats.brotli_error!.inc();
      if (error === "output_overflow") this.libraryStats.brotli_output_overflow!.inc();
      else if (error === "redundant_input") this.libraryStats.brotli_redundant_input!.inc();
    }
  }
}

const CONFIGS = new PerConfig(
  (config: DecompressorConfig, server: ServerContext, chain: HttpFilterChainContext) => new DecompressorFilterConfig(config, server, chain),
);

export function decompressorFilterConfig(config: DecompressorConfig, server: ServerContext, chain: HttpFilterChainContext): DecompressorFilterConfig {
  return CONFIGS.get(config, server, chain);
}

/** HeaderUtility::addEncodingToAcceptEncoding: the coding once, last, without a q-value. */
export function addEncodingToAcceptEncoding(header: string | undefined, encoding: string): string {
  const codings: string[] = [];
  for (const part of (header ?? "").split(",")) {
    const token = part.trim();
    if (token === "") continue;
    const at = token.indexOf(";");
    if ((at < 0 ? token : token.slice(0, at)).trim() !== encoding) codings.push(token);
  }
  codings.push(encoding);
  return codings.join(",");
}

export class DecompressorFilter implements StreamFilter {
  private decoderCallbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private encoderCallbacks: EncoderFilterCallbacks | undefined;
  private requestDecompressor: StreamDecompressor | undefined;
  private responseDecompressor: StreamDecompressor | undefined;

  constructor(private readonly config: DecompressorFilterConfig) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.decoderCallbacks = callbacks;
  }

  setEncoderFilterCallbacks(callbacks: EncoderFilterCallbacks): void {
    this.encoderCallbacks = callbacks;
  }

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    const config = this.config;
    // Tell the upstream this hop can decompress responses.
    if (config.enabled(config.response) && config.config.request.advertiseAcceptEncoding) {
      headers.set("accept-encoding", addEncodingToAcceptEncoding(headers.getJoined("accept-encoding", ","), config.contentEncoding));
    }
    // A headers-only request has nothing to decompress.
    if (endStream) return FilterHeadersStatus.Continue;
    this.requestDecompressor = this.maybeInitDecompress(config.request, headers);
    return FilterHeadersStatus.Continue;
  }

  decodeData(data: Uint8Array, _endStream: boolean): FilterDataStatus {
    const decompressor = this.requestDecompressor;
    if (decompressor !== undefined) this.decoderCallbacks.replaceDecodedData(this.decompress(decompressor, this.config.request, data));
    return FilterDataStatus.Continue;
  }

  decodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  encodeHeaders(headers: ResponseHeaders, endStream: boolean): FilterHeadersStatus {
    if (endStream) return FilterHeadersStatus.Continue;
    this.responseDecompressor = this.maybeInitDecompress(this.config.response, headers);
    return FilterHeadersStatus.Continue;
  }

  encodeData(data: Uint8Array, _endStream: boolean): FilterDataStatus {
    const decompressor = this.responseDecompressor;
    if (decompressor !== undefined) this.encoderCallbacks!.replaceEncodedData(this.decompress(decompressor, this.config.response, data));
    return FilterDataStatus.Continue;
  }

  encodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  onDestroy(): void {
    this.requestDecompressor?.close();
    this.requestDecompressor = undefined;
    this.responseDecompressor?.close();
    this.responseDecompressor = undefined;
  }

  private maybeInitDecompress(direction: Direction, headers: HeaderMap): StreamDecompressor | undefined {
    if (this.config.enabled(direction) && (direction.config.ignoreNoTransformHeader || !hasNoTransform(headers)) && this.contentEncodingMatches(headers)) {
      direction.stats.decompressed.inc();
      headers.remove("content-length");
      removeFirstCoding(headers);
      return this.config.makeDecompressor();
    }
    direction.stats.not_decompressed.inc();
    return undefined;
  }

  /** The configured coding is the first of Content-Encoding, whatever its case and spacing. */
  private contentEncodingMatches(headers: HeaderMap): boolean {
    const value = headers.getJoined("content-encoding", ",");
    if (value === undefined) return false;
    const at = value.indexOf(",");
    return (at < 0 ? value : value.slice(0, at)).trim().toLowerCase() === this.config.contentEncoding;
  }

  private decompress(decompressor: StreamDecompressor, direction: Direction, data: Uint8Array): Uint8Array {
    const hadError = decompressor.error !== undefined;
    const out = decompressor.decompress(data, this.config.config.maxInflateRatio * data.byteLength);
    if (!hadError && decompressor.error !== undefined) this.config.chargeError(decompressor.error);
    direction.stats.total_compressed_bytes.inc(data.byteLength);
    direction.stats.total_uncompressed_bytes.inc(out.byteLength);
    return out;
  }
}

/** StringUtil::caseFindToken(cache-control, ",", "no-transform"). */
function hasNoTransform(headers: HeaderMap): boolean {
  const value = headers.getJoined("cache-control", ",");
  if (value === undefined) return false;
  for (const part of value.split(",")) if (part.trim().toLowerCase() === "no-transform") return true;
  return false;
}

/** Envoy's modifyContentEncoding: the first coding goes; the header goes with the last one. */
function removeFirstCoding(headers: HeaderMap): void {
  const all = headers.getJoined("content-encoding", ",")!.trim();
  const at = all.indexOf(",");
  if (at < 0) headers.remove("content-encoding");
  else headers.set("content-encoding", all.slice(at + 1).trim());
}
