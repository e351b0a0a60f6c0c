/**
 * envoy.extensions.filters.network.redis_proxy.v3.RedisProxy
 * (api/envoy/extensions/filters/network/redis_proxy/v3/redis_proxy.proto), what
 * core/network/redis/ builds. Envoy's other features — redirection (a Redis Cluster's
 * MOVED/ASK), read policies, request mirroring, faults, key formatters, external auth,
 * custom commands, upstream command stats, the connection rate limit — are refused by name.
 * The v2 top-level `cluster` is gone in v3 (reserved), so it is an unknown field, as in Envoy.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, nonEmptyString, stringEmpty, strictObject } from "./shared-schemas.ts";
import type { RedisProxyConfig, RedisRouteConfig } from "./bootstrap.ts";
import { lazySchema } from "./lazy-schema.ts";
import { durationMs, uint32 } from "./proto-schema.ts";
import { dataSource } from "./data-source-schema.ts";
import { isEmptyList, isFalse, unsupportedField, unsupportedValue } from "./unsupported-field.ts";
import { utf8Encode } from "../util/utf8.ts";
import { latin1Decode } from "../util/latin1.ts";
import { asciiLower } from "../util/ascii-lower.ts";

/** Envoy's default buffer_flush_timeout when max_buffer_size_before_flush is set: 3 ms. */
const DEFAULT_BUFFER_FLUSH_TIMEOUT_MS = 3;

/** A config string as the bytes keys are compared with (one char per UTF-8 byte). */
function asByteString(text: string): string {
  const bytes = utf8Encode(text);
  return latin1Decode(bytes, 0, bytes.length);
}

const NO_MIRRORING = "request mirroring is not built in polyvoy's redis_proxy";

/** PrefixRoutes.Route */
const route = lazySchema(() =>
  strictObject({
    prefix: z.string().max(1000).default(""),
    remove_prefix: boolFalse,
    cluster: nonEmptyString,
    request_mirror_policy: unsupportedField(NO_MIRRORING, isEmptyList),
    key_formatter: unsupportedField("key formatting (%KEY%, %FILTER_STATE()%) is not built in polyvoy's redis_proxy", (v) => v === ""),
    read_command_policy: unsupportedField("routing read commands to another cluster is not built in polyvoy's redis_proxy"),
  })
  .transform((r): RedisRouteConfig => ({ prefix: asByteString(r.prefix), removePrefix: r.remove_prefix, cluster: r.cluster })));

/** RedisProxy.PrefixRoutes */
const prefixRoutes = lazySchema(() =>
  strictObject({
    routes: z.array(route).default([]),
    case_insensitive: boolFalse,
    catch_all_route: route.optional(),
  })
  .superRefine((p, ctx) => {
    // Envoy's PrefixRoutes constructor (redis_proxy/router_impl.cc): one route per prefix.
    const seen = new Set<string>();
    p.routes.forEach((r, i) => {
      const prefix = p.case_insensitive ? asciiLower(r.prefix) : r.prefix;
      if (seen.has(prefix)) ctx.addIssue({ code: "custom", path: ["routes", i, "prefix"], message: `prefix \`${r.prefix}\` already exists.` });
      seen.add(prefix);
    });
  }));

/** RedisProxy.ConnPoolSettings */
const settings = lazySchema(() =>
  strictObject({
    op_timeout: durationMs,
    enable_hashtagging: boolFalse,
    enable_redirection: unsupportedField("redirection (a Redis Cluster's MOVED and ASK) is not built in polyvoy's redis_proxy", isFalse),
    dns_cache_config: unsupportedField("it serves redirection, which polyvoy's redis_proxy does not have"),
    max_buffer_size_before_flush: uint32.default(0),
    buffer_flush_timeout: durationMs.optional(),
    max_upstream_unknown_connections: unsupportedField("it bounds redirection's connections, and polyvoy's redis_proxy has no redirection"),
    enable_command_stats: unsupportedField("per-cluster upstream command stats are not built in polyvoy's redis_proxy", isFalse),
    read_policy: unsupportedValue(
      "supported: MASTER (PRIMARY); reading from replicas needs a Redis Cluster (envoy.clusters.redis), which polyvoy does not have",
      (v) => v === 0 || (typeof v === "string" && ["MASTER", "PRIMARY"].includes(v.toUpperCase())),
    ),
    connection_rate_limit: unsupportedField("the downstream connection rate limit is not built in polyvoy's redis_proxy"),
  }));

export const redisProxyConfig: z.ZodType<RedisProxyConfig> = lazySchema(() =>
  strictObject({
    stat_prefix: nonEmptyString,
    settings,
    latency_in_micros: boolFalse,
    prefix_routes: prefixRoutes.optional(),
    downstream_auth_password: dataSource.optional(),
    downstream_auth_passwords: z.array(dataSource).default([]),
    downstream_auth_username: dataSource.optional(),
    faults: unsupportedField("fault injection is not built in polyvoy's redis_proxy", isEmptyList),
    external_auth_provider: unsupportedField("external authentication is not built in polyvoy's redis_proxy"),
    custom_commands: unsupportedField("custom commands are not built in polyvoy's redis_proxy", isEmptyList),
  })
  .transform((c): RedisProxyConfig => ({
    statPrefix: c.stat_prefix,
    opTimeoutMs: c.settings.op_timeout,
    enableHashtagging: c.settings.enable_hashtagging,
    maxBufferSizeBeforeFlush: c.settings.max_buffer_size_before_flush,
    bufferFlushTimeoutMs: c.settings.buffer_flush_timeout ?? DEFAULT_BUFFER_FLUSH_TIMEOUT_MS,
    latencyInMicros: c.latency_in_micros,
    routes: c.prefix_routes?.routes ?? [],
    ...(c.prefix_routes?.catch_all_route ? { catchAllRoute: c.prefix_routes.catch_all_route } : {}),
    caseInsensitive: c.prefix_routes?.case_insensitive ?? false,
    // Envoy's ProxyFilterConfig: empty passwords are left out.
    downstreamAuthPasswords: [c.downstream_auth_password ?? "", ...c.downstream_auth_passwords].filter((p) => p !== ""),
    downstreamAuthUsername: c.downstream_auth_username ?? "",
  })));
