/**
 * envoy.extensions.filters.http.cache.v3.CacheConfig: the cache HTTP filter's config
 * (core/http/filters/cache/), with its storage envoy.extensions.http.cache.simple_http_cache.v3
 * .SimpleHttpCacheConfig — the only storage polyvoy has (an in-memory map per worker,
 * bounded: core/http/filters/cache/simple-http-cache.ts).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, optionalBool, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { CacheConfig, StringMatcherConfig } from "./bootstrap.ts";
import { uint32 } from "./proto-schema.ts";
import { stringMatcher } from "./matcher-schema.ts";
import { unsupportedNameMessage } from "./refusal.ts";
import { unsupportedField } from "./unsupported-field.ts";

export const CACHE_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.cache.v3.CacheConfig";
export const SIMPLE_HTTP_CACHE_TYPE_URL = "type.googleapis.com/envoy.extensions.http.cache.simple_http_cache.v3.SimpleHttpCacheConfig";

/** CacheConfig.ThunderingHerdHandler: only `none` (Envoy's default), which every miss goes upstream under. */
const isNoneHandler = (value: unknown): boolean =>
  typeof value === "object" && value !== null && Object.keys(value).length === 1 && "none" in value && typeof (value as { none: unknown }).none === "object";

export const cacheConfig: z.ZodType<CacheConfig> = lazySchema(() =>
  strictObject({
    // google.protobuf.Any: the cache storage (extension category envoy.http.cache).
    typed_config: z.looseObject({ "@type": z.string() }).optional(),
    disabled: optionalBool,
    allowed_vary_headers: z.array(stringMatcher).default([]),
    // cache.proto marks it [#not-implemented-hide:]: Envoy accepts it and ignores it.
    key_creator_params: unsupportedField("Envoy does not implement it either ([#not-implemented-hide:] in cache.proto): the key is the request's scheme, host and path with its query"),
    max_body_bytes: uint32.default(0),
    ignore_request_cache_control_header: boolFalse,
    thundering_herd_handler: unsupportedField("every request that misses goes to the upstream: Envoy's default handler, `none`", isNoneHandler),
  })
  .transform((c, ctx): CacheConfig => {
    const disabled = c.disabled === true;
    if (c.typed_config === undefined) {
      // Envoy's config.cc: the storage is required unless the filter is disabled.
      if (!disabled) ctx.addIssue({ code: "custom", message: "must be set unless disabled is true (the cache storage: SimpleHttpCacheConfig)", path: ["typed_config"] });
    } else {
      const { "@type": typeUrl, ...fields } = c.typed_config;
      if (typeUrl !== SIMPLE_HTTP_CACHE_TYPE_URL) {
        ctx.addIssue({ code: "custom", message: unsupportedNameMessage("HTTP cache", typeUrl, [SIMPLE_HTTP_CACHE_TYPE_URL], "polyvoy's only cache storage is the in-memory SimpleHttpCacheConfig"), path: ["typed_config", "@type"] });
      } else {
        // SimpleHttpCacheConfig is an empty message.
        const parsed = strictObject({}).safeParse(fields, { reportInput: true });
        if (!parsed.success) for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: ["typed_config", ...issue.path] });
      }
    }
    return {
      disabled,
      // stringMatcher never yields `present` (that is a HeaderMatcher's).
      allowedVaryHeaders: c.allowed_vary_headers as StringMatcherConfig[],
      maxBodyBytes: c.max_body_bytes,
      ignoreRequestCacheControlHeader: c.ignore_request_cache_control_header,
    };
  }));
