/** The cache filter's CacheConfig: what is taken, and what is refused by name. */
import { describe, expect, test } from "vitest";
import { filterConfig, problems } from "./http-filter-config.ts";

const CACHE = "type.googleapis.com/envoy.extensions.filters.http.cache.v3.CacheConfig";
const SIMPLE = "type.googleapis.com/envoy.extensions.http.cache.simple_http_cache.v3.SimpleHttpCacheConfig";
const FILE_SYSTEM = "type.googleapis.com/envoy.extensions.http.cache.file_system_http_cache.v3.FileSystemHttpCacheConfig";
const AT = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config";

const cache = (fields: Record<string, unknown>) => ({ name: "envoy.filters.http.cache", typed_config: { "@type": CACHE, ...fields } });

describe("cache", () => {
  test("SimpleHttpCacheConfig with Envoy's defaults; the fields polyvoy takes", () => {
    expect(filterConfig(cache({ typed_config: { "@type": SIMPLE } }))).toEqual({ disabled: false, allowedVaryHeaders: [], maxBodyBytes: 0, ignoreRequestCacheControlHeader: false });
    expect(
      filterConfig(cache({ typed_config: { "@type": SIMPLE }, allowed_vary_headers: [{ exact: "accept-encoding" }], max_body_bytes: 1000, ignore_request_cache_control_header: true, thundering_herd_handler: { none: {} } })),
    ).toEqual({ disabled: false, allowedVaryHeaders: [{ type: "exact", value: "accept-encoding", ignoreCase: false }], maxBodyBytes: 1000, ignoreRequestCacheControlHeader: true });
    // disabled needs no storage.
    expect(filterConfig(cache({ disabled: true })).disabled).toBe(true);
  });

  test("refused: no storage, another storage, fields of SimpleHttpCacheConfig, key_creator_params, a thundering-herd handler, per-route config", () => {
    expect(problems(cache({}))).toEqual([`${AT}.typed_config: must be set unless disabled is true (the cache storage: SimpleHttpCacheConfig)`]);
    expect(problems(cache({ typed_config: { "@type": FILE_SYSTEM } }))).toEqual([
      `${AT}.typed_config.@type: ${FILE_SYSTEM} is an Envoy HTTP cache that polyvoy does not support yet (polyvoy's only cache storage is the in-memory SimpleHttpCacheConfig)`,
    ]);
    expect(problems(cache({ typed_config: { "@type": SIMPLE, size: 1 } }))[0]).toContain("size");
    expect(problems(cache({ typed_config: { "@type": SIMPLE }, key_creator_params: { exclude_host: true } }))[0]).toContain("`key_creator_params` is an Envoy field that polyvoy does not support yet (Envoy does not implement it either");
    expect(problems(cache({ typed_config: { "@type": SIMPLE }, thundering_herd_handler: { block_until_completion: {} } }))[0]).toContain("`thundering_herd_handler` is an Envoy field that polyvoy does not support yet");
    const perRoute = problems(cache({ typed_config: { "@type": SIMPLE } }), { typed_per_filter_config: { "envoy.filters.http.cache": { "@type": CACHE, disabled: true } } });
    expect(perRoute).toHaveLength(1);
    expect(perRoute[0]).toContain("typed_per_filter_config");
  });
});
