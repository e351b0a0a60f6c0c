/**
 * Envoy's compressor HTTP filter (source/extensions/filters/http/compressor/compressor_filter.cc)
 * with the gzip and brotli libraries: compresses responses (and, with
 * request_direction_config, requests) chunk by chunk through the runtime's own library
 * (the port's `compression`). Each chunk is flushed as it passes, as Envoy's State::Flush
 * does, so a streamed response is never held back and the filter holds no body: flow
 * control is the stream's usual watermarks. The Accept-Encoding negotiation is
 * encoding-decision.ts; a route's CompressorPerRoute may disable response compression or
 * override remove_accept_encoding_header.
 *
 * Stats: http.<stat_prefix>.compressor.<library name>.<gzip|brotli>.{request.,response.}*
 * (without response_direction_config the response's are in the legacy tree, without
 * `response.`), and the Accept-Encoding stats beside them.
 */
import type { CompressorConfig, CompressorDirectionConfig, CompressorPerRouteConfig } from "../../config/bootstrap.ts";
import type { StreamCompressor } from "../../port-compression.ts";
import type { ServerContext } from "../../server-context.ts";
import { counterSet, type CounterSet } from "../../stats/counter-set.ts";
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
import { chooseEncoding, HeaderStat, mediaType, type CompressorInChainConfig, type EncodingDecision } from "./encoding-decision.ts";
import type { HttpFilterChainContext } from "./http-filter-registry.ts";

const EMPTY = new Uint8Array(0);

/** Envoy's filter state keys: the chain's compressor configs, and the decision they share. */
const REGISTRY_KEY = "compressors";
const DECISION_KEY = "encoding_decision";

/** Transfer codings that mean the body is compressed already (isTransferEncodingAllowed). */
const COMPRESSED_TRANSFER_CODINGS = new Set(["gzip", "br", "deflate", "compress", "zstd"]);

/** COMMON_COMPRESSOR_STATS. */
const COMPRESSOR_STATS = ["compressed", "not_compressed", "total_uncompressed_bytes", "total_compressed_bytes", "content_length_too_small"] as const;
type CompressorStats = CounterSet<(typeof COMPRESSOR_STATS)[number]>;

/** RESPONSE_COMPRESSOR_STATS. */
const RESPONSE_COMPRESSOR_STATS = [
  "no_accept_header",
  "header_identity",
  "header_compressor_used",
  "header_compressor_overshadowed",
  "header_wildcard",
  "header_not_valid",
  "not_compressed_etag",
] as const;
type ResponseCompressorStats = CounterSet<(typeof RESPONSE_COMPRESSOR_STATS)[number]>;

/** CompressorFilterConfig::DirectionConfig. */
class DirectionConfig {
  readonly contentTypes: ReadonlySet<string>;

  constructor(
    readonly config: CompressorDirectionConfig,
    readonly stats: CompressorStats,
  ) {
    this.contentTypes = new Set(config.contentTypes);
  }

  /** Without a content-length any size may be compressed; with one, at least min_content_length. */
  isMinimumContentLength(headers: HeaderMap): boolean {
    const value = headers.get("content-length");
    if (value === undefined) return true;
    // absl::SimpleAtoi: an unsigned decimal, surrounding whitespace allowed.
    const trimmed = value.trim();
    const ok = /^\+?\d+$/.test(trimmed) && Number(trimmed) >= this.config.minContentLength;
    if (!ok) this.stats.content_length_too_small.inc();
    return ok;
  }

  isContentTypeAllowed(headers: HeaderMap): boolean {
    const value = headers.get("content-type");
    return value === undefined || this.contentTypes.has(mediaType(value));
  }
}

/** What the streams of one compressor filter share (Envoy's CompressorFilterConfig). */
export class CompressorFilterConfig implements CompressorInChainConfig {
  readonly contentEncoding: string;
  readonly chooseFirst: boolean;
  readonly request: DirectionConfig;
  /** request_direction_config, when given (RequestDirectionConfig::compressionEnabled is false without it). */
  private readonly requestDirection: CompressorDirectionConfig | undefined;
  readonly response: DirectionConfig;
  readonly responseStats: ResponseCompressorStats;

  constructor(
    readonly config: CompressorConfig,
    private readonly server: ServerContext,
    chain: HttpFilterChainContext,
  ) {
    const gzip = config.library.algorithm === "gzip";
    this.contentEncoding = gzip ? "gzip" : "br";
    this.chooseFirst = config.chooseFirst;
    const prefix = `http.${chain.statPrefix}.compressor.${config.libraryName}.${gzip ? "gzip" : "brotli"}.`;
    const stats = server.stats;
    this.request = new DirectionConfig(config.request ?? DISABLED_DIRECTION, counterSet(stats, prefix + "request.", COMPRESSOR_STATS));
    // RequestDirectionConfig::compressionEnabled: only when request_direction_config is given.
    this.requestDirection = config.request;
    this.response = new DirectionConfig(config.response, counterSet(stats, config.response.directionStats ? prefix + "response." : prefix, COMPRESSOR_STATS));
    this.responseStats = counterSet(stats, prefix, RESPONSE_COMPRESSOR_STATS);
  }

  /** Envoy's Runtime::FeatureFlag::enabled: the runtime key's value, read per request. */
  requestEnabled(): boolean {
    const direction = this.requestDirection;
    return direction !== undefined && this.server.layeredRuntime.getBoolean(direction.enabledRuntimeKey, direction.enabled);
  }

  responseEnabled(): boolean {
    const direction = this.config.response;
    return this.server.layeredRuntime.getBoolean(direction.enabledRuntimeKey, direction.enabled);
  }

  get responseContentTypes(): ReadonlySet<string> {
    return this.response.contentTypes;
  }

  makeCompressor(): StreamCompressor {
    // The filter is refused at start where the runtime lacks the library (checkCompressionSupported).
    return this.server.runtime.compression!.createCompressor(this.config.library);
  }
}

const DISABLED_DIRECTION: CompressorDirectionConfig = { enabled: false, minContentLength: 30, contentTypes: [] };

const CONFIGS = new PerConfig(
  (config: CompressorConfig, server: ServerContext, chain: HttpFilterChainContext) => new CompressorFilterConfig(config, server, chain),
);

export function compressorFilterConfig(config: CompressorConfig, server: ServerContext, chain: HttpFilterChainContext): CompressorFilterConfig {
  return CONFIGS.get(config, server, chain);
}

/** At start: the runtime must have the library the config names (Envoy has every one built in; a runtime may not). */
export function checkCompressionSupported(filter: string, algorithm: "gzip" | "brotli", server: ServerContext): void {
  const compression = server.runtime.compression;
  const reason = compression === undefined ? `the ${server.runtime.name} runtime has no compression` : compression.unsupported(algorithm);
  if (reason !== undefined) throw new Error(`HTTP filter ${filter}: ${algorithm} is not available on the ${server.runtime.name} runtime: ${reason}`);
}

/** Envoy's Utility::isUpgrade: a Connection header with the token "upgrade", and an Upgrade header. */
function isUpgrade(headers: HeaderMap): boolean {
  const connection = headers.getJoined("connection", ",");
  return connection !== undefined && headers.has("upgrade") && hasToken(connection, "upgrade");
}

/** StringUtil::caseFindToken with "," and trimming. */
function hasToken(value: string, token: string): boolean {
  for (const part of value.split(",")) if (part.trim().toLowerCase() === token) return true;
  return false;
}

export class CompressorFilter implements StreamFilter {
  private decoderCallbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private encoderCallbacks: EncoderFilterCallbacks | undefined;
  private acceptEncoding: string | undefined;
  private requestCompressor: StreamCompressor | undefined;
  private responseCompressor: StreamCompressor | undefined;

  constructor(private readonly config: CompressorFilterConfig) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.decoderCallbacks = callbacks;
    // Register in the stream's filter state, so the first filter to decide knows the whole chain.
    const info = callbacks.streamInfo;
    const state = (info.filterState ??= new Map());
    let registry = state.get(REGISTRY_KEY) as CompressorFilterConfig[] | undefined;
    if (registry === undefined) state.set(REGISTRY_KEY, (registry = []));
    registry.push(this.config);
  }

  setEncoderFilterCallbacks(callbacks: EncoderFilterCallbacks): void {
    this.encoderCallbacks = callbacks;
  }

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    this.acceptEncoding = headers.getJoined("accept-encoding", ",");
    const perRoute = this.decoderCallbacks.mostSpecificPerFilterConfig<CompressorPerRouteConfig>();
    if (this.responseCompressionEnabled(perRoute) && this.removeAcceptEncodingHeader(perRoute)) headers.remove("accept-encoding");

    const config = this.config;
    const request = config.request;
    if (
      !endStream &&
      config.requestEnabled() &&
      !isUpgrade(headers) &&
      request.isMinimumContentLength(headers) &&
      request.isContentTypeAllowed(headers) &&
      !headers.has("content-encoding") &&
      this.isTransferEncodingAllowed(headers)
    ) {
      headers.remove("content-length");
      headers.set("content-encoding", config.contentEncoding);
      request.stats.compressed.inc();
      this.requestCompressor = config.makeCompressor();
    } else {
      request.stats.not_compressed.inc();
    }
    return FilterHeadersStatus.Continue;
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    const compressor = this.requestCompressor;
    if (compressor !== undefined) this.decoderCallbacks.replaceDecodedData(this.compress(compressor, this.config.request.stats, data, endStream, false));
    return FilterDataStatus.Continue;
  }

  decodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    const compressor = this.requestCompressor;
    // Trailers end the stream without a data call that says so: finish the body before them.
    if (compressor !== undefined) this.decoderCallbacks.addDecodedData(this.compress(compressor, this.config.request.stats, EMPTY, true, false), true);
    return FilterTrailersStatus.Continue;
  }

  encodeHeaders(headers: ResponseHeaders, endStream: boolean): FilterHeadersStatus {
    const config = this.config;
    const response = config.response;
    const perRoute = this.decoderCallbacks.mostSpecificPerFilterConfig<CompressorPerRouteConfig>();
    // Whether the Accept-Encoding stats are worth touching.
    const enabledAndBigEnough = this.responseCompressionEnabled(perRoute) && response.isMinimumContentLength(headers);
    const compressible =
      enabledAndBigEnough &&
      !isUpgrade(headers) &&
      response.isContentTypeAllowed(headers) &&
      !this.hasCacheControlNoTransform(headers) &&
      this.isEtagAllowed(headers) &&
      !headers.has("content-encoding");
    if (!endStream && this.isAcceptEncodingAllowed(enabledAndBigEnough, headers) && compressible && this.isTransferEncodingAllowed(headers)) {
      sanitizeEtagHeader(headers);
      headers.remove("content-length");
      headers.set("content-encoding", config.contentEncoding);
      response.stats.compressed.inc();
      this.responseCompressor = config.makeCompressor();
    } else {
      response.stats.not_compressed.inc();
    }
    // Even when this client's Accept-Encoding ruled compression out, another's may not: a
    // cache in front must know the response varies with it.
    if (compressible) insertVaryHeader(headers);
    return FilterHeadersStatus.Continue;
  }

  encodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    const compressor = this.responseCompressor;
    if (compressor !== undefined) this.encoderCallbacks!.replaceEncodedData(this.compress(compressor, this.config.response.stats, data, endStream, true));
    return FilterDataStatus.Continue;
  }

  encodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    const compressor = this.responseCompressor;
    if (compressor !== undefined) this.encoderCallbacks!.addEncodedData(this.compress(compressor, this.config.response.stats, EMPTY, true, true), true);
    return FilterTrailersStatus.Continue;
  }

  onDestroy(): void {
    this.requestCompressor?.close();
    this.requestCompressor = undefined;
    this.responseCompressor?.close();
    this.responseCompressor = undefined;
  }

  /** Envoy's compressAndUpdateStats; the last call also releases the library's state at once. */
  private compress(compressor: StreamCompressor, stats: CompressorStats, data: Uint8Array, finish: boolean, response: boolean): Uint8Array {
    stats.total_uncompressed_bytes.inc(data.byteLength);
    const out = compressor.compress(data, finish);
    stats.total_compressed_bytes.inc(out.byteLength);
    if (finish) {
      compressor.close();
      if (response) this.responseCompressor = undefined;
      else this.requestCompressor = undefined;
    }
    return out;
  }

  private responseCompressionEnabled(perRoute: CompressorPerRouteConfig | undefined): boolean {
    return perRoute?.responseCompressionEnabled ?? this.config.responseEnabled();
  }

  private removeAcceptEncodingHeader(perRoute: CompressorPerRouteConfig | undefined): boolean {
    return perRoute?.removeAcceptEncodingHeader ?? this.config.config.response.removeAcceptEncodingHeader;
  }

  private hasCacheControlNoTransform(headers: ResponseHeaders): boolean {
    const value = headers.getJoined("cache-control", ",");
    return value !== undefined && hasToken(value, "no-transform");
  }

  private isEtagAllowed(headers: ResponseHeaders): boolean {
    const allowed = !(this.config.config.response.disableOnEtagHeader && headers.has("etag"));
    if (!allowed) this.config.responseStats.not_compressed_etag.inc();
    return allowed;
  }

  private isTransferEncodingAllowed(headers: HeaderMap): boolean {
    const value = headers.getJoined("transfer-encoding", ",");
    if (value === undefined) return true;
    for (const part of value.split(",")) {
      const coding = part.trim().toLowerCase();
      if (COMPRESSED_TRANSFER_CODINGS.has(coding) || coding === this.config.contentEncoding) return false;
    }
    return true;
  }

  /** Envoy's isAcceptEncodingAllowed: decided once per stream, counted by every filter. */
  private isAcceptEncodingAllowed(maybeCompress: boolean, headers: ResponseHeaders): boolean {
    if (!maybeCompress) return false;
    if (this.acceptEncoding === undefined) {
      this.config.responseStats.no_accept_header.inc();
      return false;
    }
    const state = this.decoderCallbacks.streamInfo.filterState!;
    let decision = state.get(DECISION_KEY) as EncodingDecision | undefined;
    if (decision === undefined) {
      const chain = state.get(REGISTRY_KEY) as CompressorFilterConfig[];
      decision = chooseEncoding(this.acceptEncoding, headers.get("content-type"), chain);
      state.set(DECISION_KEY, decision);
    }
    return this.shouldCompress(decision);
  }

  private shouldCompress(decision: EncodingDecision): boolean {
    const compress = decision.encoding.toLowerCase() === this.config.contentEncoding;
    const stats = this.config.responseStats;
    switch (decision.stat) {
      case HeaderStat.ValidCompressor:
        // Another compressor filter of the chain was chosen: overshadowed.
        (compress ? stats.header_compressor_used : stats.header_compressor_overshadowed).inc();
        break;
      case HeaderStat.Identity:
        stats.header_identity.inc();
        break;
      case HeaderStat.Wildcard:
        stats.header_wildcard.inc();
        break;
      default:
        stats.header_not_valid.inc();
        break;
    }
    return compress;
  }
}

/** Envoy's insertVaryHeader: "Accept-Encoding" added unless the exact token is there. */
function insertVaryHeader(headers: ResponseHeaders): void {
  const vary = headers.getJoined("vary", ", ");
  if (vary === undefined) {
    headers.set("vary", "Accept-Encoding");
  } else if (!vary.split(",").some((token) => token.trim() === "Accept-Encoding")) {
    headers.set("vary", `${vary}, Accept-Encoding`);
  }
}

/**
 * Envoy's sanitizeEtagHeader: a compressed body is not the entity a strong validator
 * names, so a strong ETag goes; a weak one (W/"…") stays.
 */
function sanitizeEtagHeader(headers: ResponseHeaders): void {
  const etag = headers.get("etag");
  if (etag !== undefined && etag.length > 2 && !((etag[0] === "w" || etag[0] === "W") && etag[1] === "/")) headers.remove("etag");
}
