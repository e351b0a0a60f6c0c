/**
 * envoy.extensions.filters.http.decompressor.v3.Decompressor: the decompressor HTTP
 * filter's config (core/http/filters/decompressor.ts), with its libraries
 * envoy.extensions.compression.gzip.decompressor.v3.Gzip and .brotli.decompressor.v3.Brotli
 * (defaults: source/extensions/compression/{gzip,brotli}/decompressor/config.cc).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, boolTrue, nonEmptyString, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { DecompressorConfig, DecompressorDirectionConfig } from "./bootstrap.ts";
import type { DecompressorOptions } from "../port-compression.ts";
import { uint32 } from "./proto-schema.ts";
import { runtimeFeatureFlag } from "./compressor-schema.ts";
import { unsupportedNameMessage } from "./refusal.ts";

export const DECOMPRESSOR_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.decompressor.v3.Decompressor";
const GZIP_TYPE_URL = "type.googleapis.com/envoy.extensions.compression.gzip.decompressor.v3.Gzip";
const BROTLI_TYPE_URL = "type.googleapis.com/envoy.extensions.compression.brotli.decompressor.v3.Brotli";

/**
 * brotli_decompressor_impl.cc fixes its compression-bomb ratio at 100; gzip's
 * max_inflate_ratio defaults to it and may be up to 1032, deflate's largest ratio.
 */
const DEFAULT_MAX_INFLATE_RATIO = 100;

const chunkSize = lazySchema(() =>
  uint32.min(4096).max(65536)).default(4096);

type Library = { options: DecompressorOptions; maxInflateRatio: number };

export const gzip = lazySchema(() =>
  strictObject({
    window_bits: uint32.min(9).max(15).default(15),
    chunk_size: chunkSize,
    max_inflate_ratio: uint32.min(1).max(1032).default(DEFAULT_MAX_INFLATE_RATIO),
  })
  .transform(
    (g): Library => ({
      options: { algorithm: "gzip", windowBits: g.window_bits, chunkSize: g.chunk_size, disableRingBufferReallocation: false },
      maxInflateRatio: g.max_inflate_ratio,
    }),
  ));

export const brotli = lazySchema(() =>
  strictObject({ disable_ring_buffer_reallocation: boolFalse, chunk_size: chunkSize })
  .transform(
    (b): Library => ({
      options: { algorithm: "brotli", windowBits: 0, chunkSize: b.chunk_size, disableRingBufferReallocation: b.disable_ring_buffer_reallocation },
      maxInflateRatio: DEFAULT_MAX_INFLATE_RATIO,
    }),
  ));

const decompressorLibrary = lazySchema(() =>
  strictObject({ name: nonEmptyString, typed_config: z.looseObject({ "@type": z.string() }) })
  .transform((library, ctx): Library & { name: string } => {
    const { "@type": typeUrl, ...fields } = library.typed_config;
    const schema = typeUrl === GZIP_TYPE_URL ? gzip : typeUrl === BROTLI_TYPE_URL ? brotli : undefined;
    if (schema === undefined) {
      const message = unsupportedNameMessage("decompression library", typeUrl, [GZIP_TYPE_URL, BROTLI_TYPE_URL]);
      ctx.addIssue({ code: "custom", message, path: ["typed_config", "@type"] });
      return z.NEVER;
    }
    const parsed = schema.safeParse(fields, { reportInput: true });
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: ["typed_config", ...issue.path] });
      return z.NEVER;
    }
    return { name: library.name, ...parsed.data };
  }));

/** Decompressor.CommonDirectionConfig: `enabled` unset is enabled (Envoy's Runtime::FeatureFlag default). */
const commonDirectionConfig = lazySchema(() =>
  strictObject({ enabled: runtimeFeatureFlag.optional(), ignore_no_transform_header: boolFalse })
  .transform(
    (c): DecompressorDirectionConfig => ({
      enabled: c.enabled?.enabled ?? true,
      ...(c.enabled ? { enabledRuntimeKey: c.enabled.enabledRuntimeKey } : {}),
      ignoreNoTransformHeader: c.ignore_no_transform_header,
    }),
  ));

export const decompressorConfig: z.ZodType<DecompressorConfig> = lazySchema(() =>
  strictObject({
    decompressor_library: decompressorLibrary,
    request_direction_config: strictObject({ common_config: commonDirectionConfig.prefault({}), advertise_accept_encoding: boolTrue })
      .prefault({}),
    response_direction_config: strictObject({ common_config: commonDirectionConfig.prefault({}) }).prefault({}),
  })
  .transform(
    (d): DecompressorConfig => ({
      libraryName: d.decompressor_library.name,
      library: d.decompressor_library.options,
      maxInflateRatio: d.decompressor_library.maxInflateRatio,
      request: { ...d.request_direction_config.common_config, advertiseAcceptEncoding: d.request_direction_config.advertise_accept_encoding },
      response: d.response_direction_config.common_config,
    }),
  ));
