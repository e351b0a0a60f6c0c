/**
 * redis_proxy's config (core/config/redis-proxy-schema.ts): Envoy's defaults, settings and
 * op_timeout required, both JSON spellings, prefix routes as byte strings and one route per
 * prefix, the auth DataSources, the terminal-filter check, a cluster's RedisProtocolOptions, and every field polyvoy has not
 * built refused by name — never accepted and ignored.
 */
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../../core/config/load.ts";

const TYPE = "type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy";

function config(redis: object, extraFilter?: object, clusterExtra: object = {}): string {
  const filters = [{ name: "envoy.filters.network.redis_proxy", typed_config: { "@type": TYPE, ...redis } }, ...(extraFilter ? [extraFilter] : [])];
  const endpoint = { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 6379 } } } };
  return JSON.stringify({
    static_resources: {
      listeners: [{ name: "l", address: { socket_address: { address: "127.0.0.1", port_value: 16379 } }, filter_chains: [{ filters }] }],
      clusters: [{ name: "c", type: "STATIC", load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [endpoint] }] }, ...clusterExtra }],
    },
  });
}

const BASE = { stat_prefix: "r", settings: { op_timeout: "5s" }, prefix_routes: { catch_all_route: { cluster: "c" } } };
const filterOf = (redis: object) => loadBootstrap(config(redis), "json").listeners[0]!.filterChains[0]!.filters[0];
const PREFIX = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";

describe("redis_proxy config", () => {
  test("Envoy's defaults; the example's fields", () => {
    expect(filterOf(BASE)).toMatchObject({
      type: "envoy.filters.network.redis_proxy",
      config: {
        statPrefix: "r", opTimeoutMs: 5000, enableHashtagging: false, maxBufferSizeBeforeFlush: 0, bufferFlushTimeoutMs: 3,
        latencyInMicros: false, routes: [], catchAllRoute: { cluster: "c", prefix: "", removePrefix: false }, caseInsensitive: false,
        downstreamAuthPasswords: [], downstreamAuthUsername: "",
      },
    });
  });

  test("camelCase; routes, hashtagging, buffering, auth from DataSources (empty ones left out)", () => {
    const filter = filterOf({
      statPrefix: "r",
      settings: { opTimeout: "0.25s", enableHashtagging: true, maxBufferSizeBeforeFlush: 1024, bufferFlushTimeout: "0.01s", readPolicy: "MASTER" },
      prefixRoutes: { caseInsensitive: true, routes: [{ prefix: "ü:", removePrefix: true, cluster: "c" }] },
      downstreamAuthPassword: { inline_string: "" },
      downstreamAuthPasswords: [{ inline_string: "one" }, { inline_bytes: "dHdv" }],
      downstreamAuthUsername: { inline_string: "alice" },
    });
    expect(filter).toMatchObject({
      config: {
        opTimeoutMs: 250, enableHashtagging: true, maxBufferSizeBeforeFlush: 1024, bufferFlushTimeoutMs: 10, caseInsensitive: true,
        // A prefix is matched as the key's bytes: its UTF-8, one char per byte.
        routes: [{ prefix: "\u00c3\u00bc:", removePrefix: true, cluster: "c" }],
        downstreamAuthPasswords: ["one", "two"], downstreamAuthUsername: "alice",
      },
    });
  });

  test("it is terminal: a filter after it is refused", () => {
    const tcp = { name: "tcp", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "t", cluster: "c" } };
    expect(() => loadBootstrap(config(BASE, tcp), "json")).toThrow("terminal filter named envoy.filters.network.redis_proxy of type envoy.filters.network.redis_proxy must be the last filter");
  });

  test.each([
    [{ stat_prefix: "r", prefix_routes: {} }, `${PREFIX}.settings`],
    [{ stat_prefix: "r", settings: {} }, `${PREFIX}.settings.op_timeout`],
    [{ settings: { op_timeout: "1s" } }, `${PREFIX}.stat_prefix`],
    [{ ...BASE, cluster: "c" }, "`cluster` is not a field"],
    [{ ...BASE, prefix_routes: { routes: [{ prefix: "a", cluster: "c" }, { prefix: "a", cluster: "c" }] } }, `${PREFIX}.prefix_routes.routes[1].prefix: prefix \`a\` already exists.`],
    [{ ...BASE, prefix_routes: { case_insensitive: true, routes: [{ prefix: "a", cluster: "c" }, { prefix: "A", cluster: "c" }] } }, "prefix `A` already exists."],
    [{ ...BASE, settings: { op_timeout: "1s", enable_redirection: true } }, "`enable_redirection` is an Envoy field that polyvoy does not support yet (redirection (a Redis Cluster's MOVED and ASK)"],
    [{ ...BASE, settings: { op_timeout: "1s", dns_cache_config: { name: "d" } } }, "`dns_cache_config` is an Envoy field that polyvoy does not support yet"],
    [{ ...BASE, settings: { op_timeout: "1s", max_upstream_unknown_connections: 10 } }, "`max_upstream_unknown_connections` is an Envoy field that polyvoy does not support yet"],
    [{ ...BASE, settings: { op_timeout: "1s", enable_command_stats: true } }, "`enable_command_stats` is an Envoy field that polyvoy does not support yet"],
    [{ ...BASE, settings: { op_timeout: "1s", read_policy: "REPLICA" } }, `${PREFIX}.settings.read_policy: REPLICA is an Envoy value that polyvoy does not support yet (supported: MASTER (PRIMARY)`],
    [{ ...BASE, settings: { op_timeout: "1s", connection_rate_limit: { connection_rate_limit_per_sec: 1 } } }, "`connection_rate_limit` is an Envoy field"],
    [{ ...BASE, prefix_routes: { routes: [{ prefix: "a", cluster: "c", request_mirror_policy: [{ cluster: "c" }] }] } }, "`request_mirror_policy` is an Envoy field that polyvoy does not support yet (request mirroring"],
    [{ ...BASE, prefix_routes: { routes: [{ prefix: "a", cluster: "c", key_formatter: "%KEY%" }] } }, "`key_formatter` is an Envoy field"],
    [{ ...BASE, prefix_routes: { routes: [{ prefix: "a", cluster: "c", read_command_policy: { cluster: "c" } }] } }, "`read_command_policy` is an Envoy field"],
    [{ ...BASE, faults: [{ fault_type: "ERROR" }] }, "`faults` is an Envoy field that polyvoy does not support yet (fault injection"],
    [{ ...BASE, external_auth_provider: {} }, "`external_auth_provider` is an Envoy field"],
    [{ ...BASE, custom_commands: ["x.y"] }, "`custom_commands` is an Envoy field"],
  ])("%j is refused by name", (redis, message) => {
    expect(() => filterOf(redis)).toThrow(message);
  });

  test("a cluster's RedisProtocolOptions (upstream auth), keyed by the extension's name or the type's; unknown fields refused", () => {
    const cluster = (options: object) => loadBootstrap(config(BASE, undefined, { typed_extension_protocol_options: options }), "json").clusters[0]!;
    const TYPE_NAME = "envoy.extensions.filters.network.redis_proxy.v3.RedisProtocolOptions";
    expect(cluster({ "envoy.filters.network.redis_proxy": { "@type": `type.googleapis.com/${TYPE_NAME}`, auth_password: { inline_string: "p" } } }).redisAuth).toEqual({ password: "p", username: "" });
    expect(cluster({ [TYPE_NAME]: { auth_password: { inline_string: "p" }, auth_username: { inline_string: "u" } } }).redisAuth).toEqual({ password: "p", username: "u" });
    // No password: Envoy sends no AUTH.
    expect(cluster({ [TYPE_NAME]: { auth_username: { inline_string: "u" } } }).redisAuth).toBeUndefined();
    expect(() => cluster({ [TYPE_NAME]: { auth_password: { inline_string: "p" }, bogus: 1 } })).toThrow("`bogus` is not a field");
  });

  test("a route's cluster that does not exist is refused when the listener is made", async () => {
    const { redisProxyFilterFactory } = await import("../../../../core/network/redis/redis-proxy-factory.ts");
    const filter = filterOf({ ...BASE, prefix_routes: { catch_all_route: { cluster: "nope" } } });
    const context = { clusterManager: { get: () => undefined } } as never;
    expect(() => redisProxyFilterFactory((filter as unknown as { config: never }).config, context)).toThrow("redis_proxy r: unknown cluster 'nope'");
  });
});
