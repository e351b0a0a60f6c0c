/**
 * The dynamic forward proxy's config: the DnsCacheConfig its filter and cluster share
 * (envoy.extensions.common.dynamic_forward_proxy.v3), the cluster's ClusterConfig
 * (envoy.extensions.clusters.dynamic_forward_proxy.v3) and the HTTP filter's FilterConfig
 * and PerRouteConfig (envoy.extensions.filters.http.dynamic_forward_proxy.v3). Envoy's
 * defaults (dns_cache_impl.cc) applied; what polyvoy cannot honour is refused by name.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, nonEmptyString, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { DnsCacheSettings, DynamicForwardProxyClusterConfig, DynamicForwardProxyFilterConfig, DynamicForwardProxyPerRouteConfig } from "./bootstrap.ts";
import { durationMs, headerName, oneOf, uint32 } from "./proto-schema.ts";
import { dnsResolutionConfig, refreshRate, typedDnsResolverConfig } from "./dns-cluster-schema.ts";
import { unsupportedField } from "./unsupported-field.ts";

export const DYNAMIC_FORWARD_PROXY_CLUSTER_NAME = "envoy.clusters.dynamic_forward_proxy";
export const DYNAMIC_FORWARD_PROXY_CLUSTER_TYPE_URL = "type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig";
export const DYNAMIC_FORWARD_PROXY_FILTER_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig";
export const SNI_DYNAMIC_FORWARD_PROXY_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3.FilterConfig";
export const DYNAMIC_FORWARD_PROXY_PER_ROUTE_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.PerRouteConfig";

/** Envoy's DnsCacheImpl defaults. */
const DEFAULT_REFRESH_RATE_MS = 60_000;
const DEFAULT_MIN_REFRESH_RATE_MS = 5000;
const DEFAULT_HOST_TTL_MS = 300_000;
const DEFAULT_MAX_HOSTS = 1024;
const DEFAULT_MAX_PENDING_REQUESTS = 1024;
const DEFAULT_QUERY_TIMEOUT_MS = 5000;

const SUB_CLUSTERS =
  "sub clusters (a STRICT_DNS cluster made per host:port) are not built: use dns_cache_config, whose hosts are made from the cache's answers";

/** envoy.extensions.common.dynamic_forward_proxy.v3.DnsCacheConfig */
export const dnsCacheConfig: z.ZodType<DnsCacheSettings> = lazySchema(() =>
  strictObject({
    name: nonEmptyString,
    dns_lookup_family: z.enum(["AUTO", "V4_ONLY", "V6_ONLY", "V4_PREFERRED", "ALL"]).optional(),
    // dns_cache.proto: gte 1ms.
    dns_refresh_rate: durationMs.refine((ms) => ms >= 1, { message: "must be at least 1ms" }).optional(),
    // dns_cache.proto: gte 1s.
    dns_min_refresh_rate: durationMs.refine((ms) => ms >= 1000, { message: "must be at least 1s" }).optional(),
    host_ttl: durationMs.refine((ms) => ms > 0, { message: "must be greater than 0s" }).optional(),
    max_hosts: uint32.min(1, { message: "value must be greater than 0" }).optional(),
    dns_failure_refresh_rate: refreshRate.optional(),
    dns_cache_circuit_breaker: strictObject({ max_pending_requests: uint32.optional() }).optional(),
    use_tcp_for_dns_lookups: unsupportedField("polyvoy resolves names with the runtime's getaddrinfo, which chooses the transport itself", (v) => v === false),
    dns_resolution_config: dnsResolutionConfig.optional(),
    typed_dns_resolver_config: typedDnsResolverConfig.optional(),
    // SocketAddress list (dns_cache.proto): a name (or IP) and its port (proto3's 0 when unset,
    // as Envoy keys it), loaded as the cache is made.
    preresolve_hostnames: z
      .array(strictObject({ address: nonEmptyString, port_value: z.number().int().min(0).max(65535).default(0), protocol: z.enum(["TCP"]).optional() }))
      .optional(),
    dns_query_timeout: durationMs.refine((ms) => ms > 0, { message: "must be greater than 0s" }).optional(),
    key_value_config: unsupportedField("the cache is not persisted to a key-value store"),
  }).transform((c): DnsCacheSettings => {
    const rate = c.dns_failure_refresh_rate;
    return {
      name: c.name,
      lookupFamily: c.dns_lookup_family ?? "AUTO",
      refreshRateMs: c.dns_refresh_rate ?? DEFAULT_REFRESH_RATE_MS,
      minRefreshRateMs: c.dns_min_refresh_rate ?? DEFAULT_MIN_REFRESH_RATE_MS,
      hostTtlMs: c.host_ttl ?? DEFAULT_HOST_TTL_MS,
      maxHosts: c.max_hosts ?? DEFAULT_MAX_HOSTS,
      ...(rate ? { failureRefreshRate: { baseIntervalMs: rate.base_interval, maxIntervalMs: rate.max_interval ?? rate.base_interval * 10 } } : {}),
      maxPendingRequests: c.dns_cache_circuit_breaker?.max_pending_requests ?? DEFAULT_MAX_PENDING_REQUESTS,
      queryTimeoutMs: c.dns_query_timeout ?? DEFAULT_QUERY_TIMEOUT_MS,
      ...(c.preresolve_hostnames?.length ? { preresolveHostnames: c.preresolve_hostnames.map((h) => ({ address: h.address, port: h.port_value })) } : {}),
    };
  }).superRefine((s, ctx) => {
    // Envoy's DnsCacheImpl::createDnsCacheImpl.
    const preresolved = s.preresolveHostnames?.length ?? 0;
    if (preresolved > s.maxHosts) {
      ctx.addIssue({ code: "custom", path: ["preresolve_hostnames"], message: `DNS Cache [${s.name}] configured with preresolve_hostnames=${preresolved} larger than max_hosts=${s.maxHosts}` });
    }
    // Envoy's prepareDnsRefreshStrategy.
    const rate = s.failureRefreshRate;
    if (rate && rate.maxIntervalMs < rate.baseIntervalMs) {
      ctx.addIssue({ code: "custom", path: ["dns_failure_refresh_rate", "max_interval"], message: "dns_failure_refresh_rate must have max_interval greater than or equal to the base_interval" });
    }
  }));

/** envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig */
export const dynamicForwardProxyClusterConfig = lazySchema(() =>
  strictObject({
    "@type": z.string(),
    dns_cache_config: dnsCacheConfig.optional(),
    sub_clusters_config: unsupportedField(SUB_CLUSTERS),
    allow_insecure_cluster_options: boolFalse,
    allow_coalesced_connections: unsupportedField("HTTP/2 connections are not shared between hosts", (v) => v === false),
  }).transform((c, ctx): DynamicForwardProxyClusterConfig & { allowInsecure: boolean } => {
    if (c.dns_cache_config === undefined) {
      // The oneof's other member (sub_clusters_config) is refused above; one of them is needed.
      if (c.sub_clusters_config === undefined) ctx.addIssue({ code: "custom", path: ["dns_cache_config"], message: "must set one of dns_cache_config, sub_clusters_config" });
      return z.NEVER;
    }
    return { dnsCache: c.dns_cache_config, allowInsecure: c.allow_insecure_cluster_options };
  }));

/** envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig */
export const dynamicForwardProxyFilterConfig: z.ZodType<DynamicForwardProxyFilterConfig> = lazySchema(() =>
  strictObject({
    dns_cache_config: dnsCacheConfig.optional(),
    sub_cluster_config: unsupportedField(SUB_CLUSTERS),
    save_upstream_address: boolFalse,
  }).transform((c, ctx): DynamicForwardProxyFilterConfig => {
    if (c.dns_cache_config === undefined) {
      if (c.sub_cluster_config === undefined) ctx.addIssue({ code: "custom", path: ["dns_cache_config"], message: "must set one of dns_cache_config, sub_cluster_config" });
      return z.NEVER;
    }
    return { dnsCache: c.dns_cache_config, saveUpstreamAddress: c.save_upstream_address };
  }));

/** envoy.extensions.filters.http.dynamic_forward_proxy.v3.PerRouteConfig: a oneof, empty strings meaning no rewrite. */
export const dynamicForwardProxyPerRouteConfig: z.ZodType<DynamicForwardProxyPerRouteConfig> = lazySchema(() =>
  strictObject({
    host_rewrite_literal: z.string().optional(),
    host_rewrite_header: z.union([z.literal(""), headerName]).optional(),
  }).transform((r, ctx): DynamicForwardProxyPerRouteConfig => {
    oneOf(r, ["host_rewrite_literal", "host_rewrite_header"], ctx, false);
    return {
      ...(r.host_rewrite_literal ? { hostRewriteLiteral: r.host_rewrite_literal } : {}),
      ...(r.host_rewrite_header ? { hostRewriteHeader: r.host_rewrite_header.toLowerCase() } : {}),
    };
  }));

/**
 * envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3.FilterConfig: dns_cache_config
 * required; port_value (0 < port <= 65535) is the upstream port, required here: Envoy's filter
 * without it sends port 0 (sni_dynamic_forward_proxy/proxy_filter.cc), which connects nowhere.
 */
export const sniDynamicForwardProxyConfig = lazySchema(() =>
  strictObject({
    dns_cache_config: dnsCacheConfig,
    port_value: uint32.min(1).max(65535),
  }).transform((c) => ({ dnsCache: c.dns_cache_config, portValue: c.port_value })));
