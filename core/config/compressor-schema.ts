/**
 * envoy.extensions.filters.http.compressor.v3.Compressor and CompressorPerRoute: the
 * compressor HTTP filter's config (core/http/filters/compressor.ts), with its compression
 * libraries envoy.extensions.compression.gzip.compressor.v3.Gzip and
 * .brotli.compressor.v3.Brotli, defaults and ranges as Envoy's protos and factories
 * (source/extensions/compression/{gzip,brotli}/compressor/config.cc).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, nonEmptyString, optionalBool, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { CompressorConfig, CompressorDirectionConfig, CompressorPerRouteConfig } from "./bootstrap.ts";
import type { CompressorOptions } from "../port-compression.ts";
import { oneOf, uint32 } from "./proto-schema.ts";
import { unsupportedNameMessage } from "./refusal.ts";

export const COMPRESSOR_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor";
export const COMPRESSOR_PER_ROUTE_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.compressor.v3.CompressorPerRoute";
const GZIP_TYPE_URL = "type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip";
const BROTLI_TYPE_URL = "type.googleapis.com/envoy.extensions.compression.brotli.compressor.v3.Brotli";
const ZSTD_TYPE_URL = "type.googleapis.com/envoy.extensions.compression.zstd.compressor.v3.Zstd";

/** compressor_filter.cc: DefaultMinimumContentLength. */
const DEFAULT_MIN_CONTENT_LENGTH = 30;

/** compressor_filter.cc: defaultContentEncoding(), used when content_type is empty. */
const DEFAULT_CONTENT_TYPES: readonly string[] = [
  "text/html",
  "text/plain",
  "text/css",
  "application/javascript",
  "application/x-javascript",
  "text/javascript",
  "text/x-javascript",
  "text/ecmascript",
  "text/js",
  "text/jscript",
  "text/x-js",
  "application/ecmascript",
  "application/x-json",
  "application/xml",
  "application/json",
  "image/svg+xml",
  "text/xml",
  "application/xhtml+xml",
  "application/grpc-web",
  "application/grpc-web+proto",
];

/** An enum given by name (any case) or number. */
function protoEnum(names: readonly string[]) {
  return z.union([z.string(), z.number().int()]).transform((value, ctx) => {
    const index = typeof value === "number" ? value : names.indexOf(value.toUpperCase());
    if (index < 0 || index >= names.length) {
      ctx.addIssue({ code: "custom", message: `must be one of ${names.join(", ")}` });
      return z.NEVER;
    }
    return index;
  });
}

/** envoy.config.core.v3.RuntimeFeatureFlag: the runtime's value of runtime_key, default_value without one. */
export const runtimeFeatureFlag = lazySchema(() =>
  strictObject({ default_value: z.boolean(), runtime_key: nonEmptyString })
    .transform((flag) => ({ enabled: flag.default_value, enabledRuntimeKey: flag.runtime_key })));

/** Gzip.CompressionLevel: the aliases BEST_SPEED (1) and BEST_COMPRESSION (9) besides the numbered ones. */
const GZIP_LEVELS = ["DEFAULT_COMPRESSION", ...Array.from({ length: 9 }, (_, i) => `COMPRESSION_LEVEL_${i + 1}`)];
const gzipLevel = lazySchema(() =>
  z.union([z.string(), z.number().int()]).transform((value, ctx) => {
  const name = typeof value === "string" ? value.toUpperCase() : undefined;
  const index = name === "BEST_SPEED" ? 1 : name === "BEST_COMPRESSION" ? 9 : name !== undefined ? GZIP_LEVELS.indexOf(name) : value;
  if (typeof index !== "number" || index < 0 || index > 9) {
    ctx.addIssue({ code: "custom", message: `must be one of ${GZIP_LEVELS.join(", ")}, BEST_SPEED, BEST_COMPRESSION` });
    return z.NEVER;
  }
  // DEFAULT_COMPRESSION is zlib's Z_DEFAULT_COMPRESSION (level 6).
  return index === 0 ? -1 : index;
}));

const chunkSize = lazySchema(() =>
  uint32.min(4096).max(65536)).default(4096);

/** envoy.extensions.compression.gzip.compressor.v3.Gzip (defaults: gzip/compressor/config.h). */
export const gzip = lazySchema(() =>
  strictObject({
      memory_level: uint32.min(1).max(9).default(5),
      compression_level: gzipLevel.default(-1),
      compression_strategy: protoEnum(["DEFAULT_STRATEGY", "FILTERED", "HUFFMAN_ONLY", "RLE", "FIXED"]).default(0),
      window_bits: uint32.min(9).max(15).default(12),
      chunk_size: chunkSize,
    })
    .transform(
      (g): CompressorOptions => ({
        algorithm: "gzip",
        level: g.compression_level,
        windowBits: g.window_bits,
        memoryLevel: g.memory_level,
        strategy: g.compression_strategy,
        chunkSize: g.chunk_size,
      }),
    ));

/** envoy.extensions.compression.brotli.compressor.v3.Brotli (defaults: brotli/compressor/config.h). */
export const brotli = lazySchema(() =>
  strictObject({
      quality: uint32.max(11).default(3),
      encoder_mode: protoEnum(["DEFAULT", "GENERIC", "TEXT", "FONT"]).default(0),
      window_bits: uint32.min(10).max(24).default(18),
      input_block_bits: uint32.min(16).max(24).default(24),
      chunk_size: chunkSize,
      disable_literal_context_modeling: boolFalse,
    })
    .transform(
      (b): CompressorOptions => ({
        algorithm: "brotli",
        quality: b.quality,
        windowBits: b.window_bits,
        inputBlockBits: b.input_block_bits,
        // BrotliEncoderMode: DEFAULT and GENERIC are BROTLI_MODE_GENERIC (0), TEXT 1, FONT 2.
        mode: Math.max(0, b.encoder_mode - 1),
        disableLiteralContextModeling: b.disable_literal_context_modeling,
        chunkSize: b.chunk_size,
      }),
    ));

/** compressor_library: an envoy.config.core.v3.TypedExtensionConfig naming gzip or brotli. */
const compressorLibrary = lazySchema(() =>
  strictObject({ name: nonEmptyString, typed_config: z.looseObject({ "@type": z.string() }) })
  .transform((library, ctx): { name: string; options: CompressorOptions } => {
    const { "@type": typeUrl, ...fields } = library.typed_config;
    const schema = typeUrl === GZIP_TYPE_URL ? gzip : typeUrl === BROTLI_TYPE_URL ? brotli : undefined;
    if (schema === undefined) {
      const message =
        typeUrl === ZSTD_TYPE_URL
          ? unsupportedNameMessage("compression library", typeUrl, [GZIP_TYPE_URL, BROTLI_TYPE_URL], "no runtime polyvoy runs on has zstd: use gzip or brotli")
          : unsupportedNameMessage("compression library", typeUrl, [GZIP_TYPE_URL, BROTLI_TYPE_URL]);
      ctx.addIssue({ code: "custom", message, path: ["typed_config", "@type"] });
      return z.NEVER;
    }
    const parsed = schema.safeParse(fields, { reportInput: true });
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: ["typed_config", ...issue.path] });
      return z.NEVER;
    }
    return { name: library.name, options: parsed.data };
  }));

/** Compressor.CommonDirectionConfig. */
const commonDirectionConfig = lazySchema(() =>
  strictObject({
  enabled: runtimeFeatureFlag.optional(),
  min_content_length: uint32.optional(),
  content_type: z.array(z.string()).default([]),
}));

function direction(common: z.output<typeof commonDirectionConfig>): CompressorDirectionConfig {
  const types = common.content_type.length > 0 ? common.content_type : DEFAULT_CONTENT_TYPES;
  return {
    // Envoy's Runtime::FeatureFlag: enabled unless default_value (or its runtime key) says otherwise.
    enabled: common.enabled?.enabled ?? true,
    ...(common.enabled ? { enabledRuntimeKey: common.enabled.enabledRuntimeKey } : {}),
    // contentLengthUint: 0 (or unset) is the default.
    minContentLength: common.min_content_length || DEFAULT_MIN_CONTENT_LENGTH,
    // Envoy's StringUtil::CaseUnorderedSet: matched without regard to case.
    contentTypes: types.map((type) => type.toLowerCase()),
  };
}

export const compressorConfig: z.ZodType<CompressorConfig> = lazySchema(() =>
  strictObject({
    // The deprecated v2-era fields, used when response_direction_config is not given.
    content_length: uint32.optional(),
    content_type: z.array(z.string()).default([]),
    disable_on_etag_header: boolFalse,
    remove_accept_encoding_header: boolFalse,
    runtime_enabled: runtimeFeatureFlag.optional(),
    compressor_library: compressorLibrary,
    request_direction_config: strictObject({ common_config: commonDirectionConfig.prefault({}) }).optional(),
    response_direction_config: strictObject({
        common_config: commonDirectionConfig.prefault({}),
        disable_on_etag_header: boolFalse,
        remove_accept_encoding_header: boolFalse,
      })
      .optional(),
    choose_first: boolFalse,
  })
  .transform((c): CompressorConfig => {
    const responseDirection = c.response_direction_config;
    // ResponseDirectionConfig::commonConfig: the legacy fields stand in for a missing response_direction_config.
    const response = responseDirection
      ? direction(responseDirection.common_config)
      : direction({ enabled: c.runtime_enabled, min_content_length: c.content_length, content_type: c.content_type });
    return {
      libraryName: c.compressor_library.name,
      library: c.compressor_library.options,
      ...(c.request_direction_config && { request: direction(c.request_direction_config.common_config) }),
      response: {
        ...response,
        disableOnEtagHeader: responseDirection ? responseDirection.disable_on_etag_header : c.disable_on_etag_header,
        removeAcceptEncodingHeader: responseDirection ? responseDirection.remove_accept_encoding_header : c.remove_accept_encoding_header,
        directionStats: responseDirection !== undefined,
      },
      chooseFirst: c.choose_first,
    };
  }));

/** CompressorPerRoute: oneof `disabled` (which must be true) or `overrides`, one required. */
export const compressorPerRouteConfig: z.ZodType<CompressorPerRouteConfig> = lazySchema(() =>
  strictObject({
    disabled: z.literal(true).optional(),
    overrides: strictObject({
        response_direction_config: strictObject({ remove_accept_encoding_header: optionalBool }).optional(),
      })
      .optional(),
  })
  .transform((r, ctx): CompressorPerRouteConfig => {
    oneOf(r, ["disabled", "overrides"], ctx, true);
    if (r.disabled) return { responseCompressionEnabled: false };
    const response = r.overrides?.response_direction_config;
    // CompressorPerRouteFilterConfig: an (even empty) response_direction_config enables response compression.
    if (response === undefined) return {};
    return {
      responseCompressionEnabled: true,
      ...(response.remove_accept_encoding_header !== undefined && { removeAcceptEncodingHeader: response.remove_accept_encoding_header }),
    };
  }));
