/**
 * Where every built-in filter is wired in (Envoy's extensions register themselves with
 * their factory registries the same way, source/extensions/extensions_build_config.bzl):
 * the registries (network/network-filter-registry.ts, http/filters/http-filter-registry.ts)
 * know no filter, and no filter knows another layer's registry. Imported once, by server.ts.
 *
 * Only the HTTP connection manager, the router and the admin's filter are imported here;
 * every other filter's module is imported (`import()`) when a listener first uses it
 * (registerLazy…, loaded by ListenerManager before it builds the listener), so a start-up
 * evaluates the code of the filters its config names and no other.
 */
import { registerClusterCodeLoader } from "./upstream/cluster-code-loaders.ts";
import { loadUpstreamHttpFilters, routerUpstreamChainContext, routerUpstreamHttpFilterChain } from "./http/filters/upstream-http-filter-factories.ts";
import { AdminFilter } from "./admin/admin-filter.ts";
import { ConnectionManager } from "./http/conn-manager/connection-manager.ts";
import { ConnectionManagerStats } from "./http/conn-manager/connection-manager-stats.ts";
import { checkFilterChain, prepareRouteConfigs, resolveHttpFilters, registerHttpFilterFactory, registerLazyHttpFilterFactory } from "./http/filters/http-filter-registry.ts";
import { RouterFilter } from "./http/filters/router.ts";
import { routerStats } from "./http/filters/router-stats.ts";
import { resolvedUserFilter } from "./http/user-filter/resolve-user-filters.ts";
import { resolvedNetworkScript } from "./network-script/resolve-network-script.ts";
import { PerConfig } from "./util/per-config.ts";
import type { DynamicForwardProxyFilterConfig, JwtAuthnConfig, OAuth2Config, RouteConfiguration, UserFilterSource } from "./config/bootstrap.ts";
import type { ServerContext } from "./server-context.ts";
import type { HttpFilterChainContext } from "./http/filters/http-filter-registry.ts";
import type { CustomResponseConfig } from "./config/custom-response-schema.ts";
import type { BufferConfig, CacheConfig, LuaConfig, LuaPerRouteConfig, RouterConfig, GrpcHttp1BridgeConfig, GrpcStatsConfig, GrpcJsonTranscoderConfig, CompressorConfig, CsrfPolicyConfig, ChecksumConfig, DecompressorConfig, ExtAuthzConfig, ExtProcConfig, RateLimitConfig, FaultConfig, HeaderMutationConfig, HeaderToMetadataConfig, HealthCheckFilterConfig, LocalRateLimitConfig, RbacConfig } from "./config/bootstrap.ts";
import { RouteTable } from "./http/route/route-table.ts";
import { RdsRouteConfigProvider } from "./http/route/rds-route-config-provider.ts";
import { buildClusterSpecifierPlugins, loadClusterSpecifierPlugins } from "./http/route/cluster-specifier-plugin.ts";
import { registerLazyNetworkFilterFactory, registerNetworkFilterDependencies, registerNetworkFilterFactory } from "./network/network-filter-registry.ts";
import { pickWeighted } from "./util/weighted-pick.ts";
import { loadZipkin } from "./tracing/zipkin-loader.ts";
import { loadOpenTelemetry } from "./tracing/opentelemetry-loader.ts";
import { loadSkyWalking } from "./tracing/skywalking-loader.ts";
import { loadDatadog } from "./tracing/datadog-loader.ts";
import { sanitizeStatsPrefix } from "./stats/sanitize-stats-name.ts";

// A cluster's upstream HTTP filters' modules load with its code (cluster-manager.ts loadCode).
registerClusterCodeLoader(loadUpstreamHttpFilters);

// ---------------------------------------------------------------- network filters

registerLazyNetworkFilterFactory("envoy.filters.network.tcp_proxy", async () => {
  const [{ TcpProxyFilter }, { TcpProxyStats }] = await Promise.all([import("./network/tcp-proxy.ts"), import("./network/tcp-proxy-stats.ts")]);
  return (config, context) => {
    for (const { name } of config.clusters) {
      if (!context.clusterManager.get(name)) throw new Error(`tcp_proxy ${config.statPrefix}: unknown cluster '${name}'`);
    }
    const stats = new TcpProxyStats(context.stats, config.statPrefix);
    // The cluster by name per connection, as Envoy's: one replaced at run time serves new connections.
    return (connection) => {
      const picked = pickWeighted(config.clusters, context.runtime.random())!;
      return new TcpProxyFilter(config, context.clusterManager.get(picked.name), context, stats, connection, picked.metadataMatch);
    };
  };
});

registerNetworkFilterFactory("envoy.filters.network.http_connection_manager", (config, context) => {
  // What this runtime cannot run is refused now, at start; the filters' shared configs (their stats) are built.
  checkFilterChain(config.httpFilters, context, { statPrefix: config.statPrefix });
  // Envoy's zipkin Driver checks its collector cluster (Config::Utility::checkCluster): a
  // listener from LDS naming one that does not exist is refused, as a static one is at load.
  const zipkin = config.tracing?.zipkin;
  if (zipkin !== undefined && !context.clusterManager.get(zipkin.collectorCluster)) throw new Error(`envoy.tracers.zipkin: unknown cluster '${zipkin.collectorCluster}'`);
  // The Datadog Tracer's constructor checks its collector cluster as well (tracer.cc).
  const datadog = config.tracing?.datadog;
  if (datadog !== undefined && !context.clusterManager.get(datadog.collectorCluster)) throw new Error(`envoy.tracers.datadog: unknown cluster '${datadog.collectorCluster}'`);
  // The route table is compiled once per listener and shared by its connections (RDS: once
  // per update), and its per-route filter configs and cluster specifier plugins built with it.
  const prepareRoutes = (routeConfig: RouteConfiguration) => {
    prepareRouteConfigs(config.httpFilters, routeConfig, context);
    buildClusterSpecifierPlugins(routeConfig, context);
  };
  let routes;
  if (config.rds) routes = new RdsRouteConfigProvider(config.rds, config.statPrefix, context, prepareRoutes);
  else {
    prepareRoutes(config.routeConfig);
    routes = { routeTable: new RouteTable(config.routeConfig, context.layeredRuntime) };
  }
  const stats = new ConnectionManagerStats(context.stats, config.statPrefix, config.tracing !== undefined);
  return (connection) => new ConnectionManager(config, routes, context, stats, connection);
});
// Its http_filters' modules and its route_config's cluster specifier plugins', before the listener is built.
registerNetworkFilterDependencies("envoy.filters.network.http_connection_manager", (config, context) => {
  // Their factories, and what their configs need read first (the Lua filter's code and modules).
  const filters = resolveHttpFilters(config.httpFilters, context, { statPrefix: config.statPrefix });
  // A static route_config's cluster specifier plugins' modules (RDS loads an update's itself).
  const plugins = config.rds ? undefined : loadClusterSpecifierPlugins(config.routeConfig);
  // A tracer's code only when this HCM names it (core/tracing/zipkin-loader.ts, opentelemetry-loader.ts, skywalking-loader.ts, datadog-loader.ts).
  const tracing = config.tracing;
  const tracer = tracing?.zipkin !== undefined ? loadZipkin() : tracing?.opentelemetry !== undefined ? loadOpenTelemetry() : tracing?.skywalking !== undefined ? loadSkyWalking() : tracing?.datadog !== undefined ? loadDatadog() : undefined;
  const loading = [filters, tracer, plugins].filter((load) => load !== undefined);
  return loading.length === 0 ? undefined : loading.length === 1 ? loading[0] : Promise.all(loading).then(() => {});
});

registerLazyNetworkFilterFactory("envoy.filters.network.connection_limit", async () => {
  const { ConnectionLimit, ConnectionLimitFilter } = await import("./network/connection-limit.ts");
  return (config, context) => {
    // One count per filter config, shared by the connections through its chain.
    const limit = new ConnectionLimit(config, context);
    return (connection) => new ConnectionLimitFilter(limit, context, connection);
  };
});

registerLazyNetworkFilterFactory("envoy.filters.network.sni_dynamic_forward_proxy", async () => {
  const { SniDynamicForwardProxyFilter, sniDynamicForwardProxyCache } = await import("./network/sni-dynamic-forward-proxy.ts");
  return (config, context) => {
    // The cache is made (or found by name) with the filter chain.
    const cache = sniDynamicForwardProxyCache(config, context);
    return (connection) => new SniDynamicForwardProxyFilter(config, cache, connection);
  };
});

registerLazyNetworkFilterFactory("envoy.filters.network.rbac", async () => {
  const { NetworkRbacConfigState, NetworkRbacFilter } = await import("./network/rbac-filter.ts");
  return (config, context) => {
    // The engines and stats are built once per filter config, shared by its connections.
    const state = new NetworkRbacConfigState(config, context);
    return (connection) => new NetworkRbacFilter(state, connection);
  };
});

registerLazyNetworkFilterFactory("envoy.filters.network.postgres_proxy", async () => {
  const [{ PostgresFilter }, { postgresProxyStats }] = await Promise.all([import("./network/postgres/postgres-filter.ts"), import("./network/postgres/postgres-proxy-stats.ts")]);
  return (config, context) => {
    const stats = postgresProxyStats(context.stats, config.statPrefix);
    return (connection) => new PostgresFilter(config, stats, connection);
  };
});

registerLazyNetworkFilterFactory("envoy.filters.network.mysql_proxy", async () => {
  const [{ MySQLFilter }, { mysqlProxyStats }] = await Promise.all([import("./network/mysql/mysql-filter.ts"), import("./network/mysql/mysql-proxy-stats.ts")]);
  return (config, context) => {
    const stats = mysqlProxyStats(context.stats, config.statPrefix);
    return (connection) => new MySQLFilter(stats, connection);
  };
});

registerLazyNetworkFilterFactory("envoy.filters.network.kafka_broker", async () => {
  const [{ KafkaBrokerFilter }, { kafkaBrokerStats }] = await Promise.all([import("./network/kafka/kafka-broker-filter.ts"), import("./network/kafka/kafka-broker-stats.ts")]);
  return (config, context) => {
    const stats = kafkaBrokerStats(context.stats, config.statPrefix);
    const now = () => context.runtime.now();
    return (connection) => new KafkaBrokerFilter(stats, connection, now);
  };
});

registerLazyNetworkFilterFactory("envoy.filters.network.redis_proxy", async () => {
  const { redisProxyFilterFactory } = await import("./network/redis/redis-proxy-factory.ts");
  return redisProxyFilterFactory;
});

// A network filter written in TypeScript (network/user-filter/), loaded at start-up.
registerLazyNetworkFilterFactory("polyvoy.filters.network.script", async () => {
  const [{ NetworkUserFilter, NetworkUserFilterConfig }, { UserFilterStats }] = await Promise.all([import("./network-script/network-user-filter.ts"), import("./http/user-filter/user-filter-stats.ts")]);
  return (script, context) => {
    const resolved = resolvedNetworkScript(script);
    if (resolved === undefined) throw new Error(`network script '${script.module}' was not loaded (Server.start() loads user filters)`);
    const name = script.filterName;
    const prefix = sanitizeStatsPrefix(`network_script.${name}.`);
    const shared = new NetworkUserFilterConfig(name, resolved.definition, resolved.config, context.stats.counter(`${prefix}errors`), context.log, new UserFilterStats(context.stats, prefix));
    return (connection) => new NetworkUserFilter(shared, connection);
  };
});

// ---------------------------------------------------------------- HTTP filters

registerHttpFilterFactory<RouterConfig>("envoy.filters.http.router", {
  kind: "decoder",
  create: (config, server, chain) =>
    new RouterFilter(server, routerStats(server, chain), config?.suppressEnvoyHeaders === true, config?.dynamicStats !== false, config?.startChildSpan === true, routerUpstreamHttpFilterChain(config?.upstreamHttpFilters, chain)),
  // Envoy's router FilterConfig makes its stats as the HCM config loads: at 0 before any
  // request; and its upstream_http_filters' factories (router.cc): checked and prepared now.
  prepare: (config, server, chain) => {
    routerStats(server, chain);
    if (config?.upstreamHttpFilters !== undefined) checkFilterChain(config.upstreamHttpFilters, server, routerUpstreamChainContext(chain));
  },
  // Its upstream_http_filters' modules, loaded with the HCM's own filters'.
  resolve: (config, server, chain) => (config?.upstreamHttpFilters !== undefined ? resolveHttpFilters(config.upstreamHttpFilters, server, routerUpstreamChainContext(chain)) : undefined),
});

registerLazyHttpFilterFactory<HealthCheckFilterConfig>("envoy.filters.http.health_check", async () => {
  const { HealthCheckFilter, healthCheckFilterShared } = await import("./http/filters/health-check.ts");
  return {
    kind: "dual",
    create: (config, server) => new HealthCheckFilter(healthCheckFilterShared(config, server), server),
    // Its cache manager's clearings count from config load, as Envoy's timer does.
    prepare: (config, server) => void healthCheckFilterShared(config, server),
  };
});

registerLazyHttpFilterFactory<LocalRateLimitConfig>("envoy.filters.http.local_ratelimit", async () => {
  const { LocalRateLimitFilter, localRateLimiter } = await import("./http/filters/local-ratelimit.ts");
  return {
    kind: "dual",
    create: (config, server) => new LocalRateLimitFilter(localRateLimiter(config, server), server),
    prepare: (config, server) => void localRateLimiter(config, server),
    // A per-route config is a limiter of its own, with its own stat_prefix.
    preparePerRoute: (config, server) => void localRateLimiter(config as LocalRateLimitConfig, server),
  };
});

registerLazyHttpFilterFactory<FaultConfig>("envoy.filters.http.fault", async () => {
  const { FaultFilter, faultFilterConfig } = await import("./http/filters/fault.ts");
  return {
    kind: "decoder",
    create: (config, server, chain) => new FaultFilter(faultFilterConfig(config, server, chain), server),
    prepare: (config, server, chain) => void faultFilterConfig(config, server, chain),
  };
});

registerLazyHttpFilterFactory<BufferConfig>("envoy.filters.http.buffer", async () => {
  const { BufferFilter } = await import("./http/filters/buffer.ts");
  return { kind: "decoder", create: (config) => new BufferFilter(config) };
});

registerLazyHttpFilterFactory<LuaConfig>("envoy.filters.http.lua", async () => {
  // The Lua VM (fengari) is in this module's imports: loaded only when a config names the filter.
  const { LuaFilter, luaFilterConfig, prepareLuaPerRoute, resolveLuaFilterConfig } = await import("./http/filters/lua/lua-filter.ts");
  return {
    kind: "dual",
    create: (config, _server, _chain, name) => new LuaFilter(luaFilterConfig(config), name),
    resolve: (config, server, chain) => resolveLuaFilterConfig(config, server, chain),
    // A route's own source_code: its VM, made with the route table.
    preparePerRoute: (config, server) => prepareLuaPerRoute(config as LuaPerRouteConfig, server),
  };
});

registerLazyHttpFilterFactory<Record<string, never>>("envoy.filters.http.cors", async () => {
  const { CorsFilter, corsFilterConfig } = await import("./http/filters/cors.ts");
  return {
    kind: "dual",
    create: (config, server, chain, name) => new CorsFilter(corsFilterConfig(config, server, chain, name), server),
    prepare: (config, server, chain, name) => void corsFilterConfig(config, server, chain, name),
  };
});

registerLazyHttpFilterFactory<Record<string, never>>("envoy.filters.http.grpc_web", async () => {
  const { GrpcWebFilter } = await import("./http/filters/grpc-web.ts");
  return { kind: "dual", create: (_config, server) => new GrpcWebFilter(server) };
});

registerLazyHttpFilterFactory<GrpcJsonTranscoderConfig>("envoy.filters.http.grpc_json_transcoder", async () => {
  const { GrpcJsonTranscoderFilter, prepareGrpcJsonTranscoder } = await import("./http/filters/grpc-json-transcoder.ts");
  return {
    kind: "dual",
    create: (config, server) => new GrpcJsonTranscoderFilter(config, server),
    // The descriptor decoded and the rules registered when the listener is built, not at the first request.
    prepare: (config) => prepareGrpcJsonTranscoder(config),
    preparePerRoute: (config) => prepareGrpcJsonTranscoder(config as GrpcJsonTranscoderConfig),
  };
});
registerLazyHttpFilterFactory<GrpcStatsConfig>("envoy.filters.http.grpc_stats", async () => {
  const { GrpcStatsFilter } = await import("./http/filters/grpc-stats-filter.ts");
  return { kind: "dual", create: (config, server) => new GrpcStatsFilter(config, server) };
});
registerLazyHttpFilterFactory<GrpcHttp1BridgeConfig>("envoy.filters.http.grpc_http1_bridge", async () => {
  const { GrpcHttp1BridgeFilter } = await import("./http/filters/grpc-http1-bridge.ts");
  return { kind: "dual", create: (config, server) => new GrpcHttp1BridgeFilter(config, server) };
});

registerLazyHttpFilterFactory<CsrfPolicyConfig>("envoy.filters.http.csrf", async () => {
  const { CsrfFilter, csrfFilterConfig } = await import("./http/filters/csrf.ts");
  return {
    kind: "decoder",
    create: (config, server, chain) => new CsrfFilter(csrfFilterConfig(config, server, chain), server),
    prepare: (config, server, chain) => void csrfFilterConfig(config, server, chain),
  };
});

registerLazyHttpFilterFactory<ChecksumConfig>("envoy.filters.http.checksum", async () => {
  const { ChecksumFilter, checksumFilterConfig } = await import("./http/filters/checksum.ts");
  return {
    kind: "dual",
    create: (config) => new ChecksumFilter(checksumFilterConfig(config)),
    prepare: (config) => void checksumFilterConfig(config),
  };
});

registerLazyHttpFilterFactory<CustomResponseConfig>("envoy.filters.http.custom_response", async () => {
  const { CustomResponseFilter, customResponseFilterConfig } = await import("./http/filters/custom-response.ts");
  return {
    kind: "dual",
    create: (config, server, chain, name) => new CustomResponseFilter(customResponseFilterConfig(config, server, chain), name),
    prepare: (config, server, chain) => void customResponseFilterConfig(config, server, chain),
  };
});

registerLazyHttpFilterFactory<HeaderMutationConfig>("envoy.filters.http.header_mutation", async () => {
  const { HeaderMutationFilter, headerMutationFilterConfig } = await import("./http/filters/header-mutation.ts");
  return { kind: "dual", create: (config, _server, _chain, name) => new HeaderMutationFilter(headerMutationFilterConfig(config, name)) };
});

registerLazyHttpFilterFactory<HeaderToMetadataConfig>("envoy.filters.http.header_to_metadata", async () => {
  const { HeaderToMetadataFilter } = await import("./http/filters/header-to-metadata.ts");
  return { kind: "dual", create: (config) => new HeaderToMetadataFilter(config) };
});

registerLazyHttpFilterFactory<RbacConfig>("envoy.filters.http.rbac", async () => {
  const [{ RbacFilter, rbacFilterConfig }, { UpstreamRbacFilter }] = await Promise.all([import("./http/filters/rbac.ts"), import("./http/filters/upstream-rbac.ts")]);
  return {
    kind: "decoder",
    // In an upstream chain the RBAC type URL is Envoy's envoy.filters.http.upstream_rbac.
    create: (config, server, chain) => (chain.upstream === true ? new UpstreamRbacFilter(rbacFilterConfig(config, server, chain)) : new RbacFilter(rbacFilterConfig(config, server, chain))),
    prepare: (config, server, chain) => void rbacFilterConfig(config, server, chain),
  };
});

registerLazyHttpFilterFactory<ExtAuthzConfig>("envoy.filters.http.ext_authz", async () => {
  const { ExtAuthzFilter, extAuthzFilterConfig } = await import("./http/filters/ext-authz.ts");
  return {
    kind: "dual",
    create: (config, server, chain) => new ExtAuthzFilter(extAuthzFilterConfig(config, server, chain)),
    prepare: (config, server, chain) => void extAuthzFilterConfig(config, server, chain),
  };
});

registerLazyHttpFilterFactory<ExtProcConfig>("envoy.filters.http.ext_proc", async () => {
  const { ExtProcFilter, extProcFilterConfig } = await import("./http/filters/ext-proc.ts");
  return {
    kind: "dual",
    create: (config, server, chain) => new ExtProcFilter(extProcFilterConfig(config, server, chain)),
    prepare: (config, server, chain) => void extProcFilterConfig(config, server, chain),
  };
});

registerLazyHttpFilterFactory<RateLimitConfig>("envoy.filters.http.ratelimit", async () => {
  const { RateLimitFilter, rateLimitFilterConfig } = await import("./http/filters/ratelimit.ts");
  return { kind: "dual", create: (config, server) => new RateLimitFilter(rateLimitFilterConfig(config, server)) };
});

registerLazyHttpFilterFactory<CompressorConfig>("envoy.filters.http.compressor", async () => {
  const { checkCompressionSupported, CompressorFilter, compressorFilterConfig } = await import("./http/filters/compressor.ts");
  return {
    kind: "dual",
    create: (config, server, chain) => new CompressorFilter(compressorFilterConfig(config, server, chain)),
    prepare: (config, server, chain) => void compressorFilterConfig(config, server, chain),
    check: (config, server, name) => checkCompressionSupported(name, config.library.algorithm, server),
  };
});

registerLazyHttpFilterFactory<DecompressorConfig>("envoy.filters.http.decompressor", async () => {
  const [{ checkCompressionSupported }, { DecompressorFilter, decompressorFilterConfig }] = await Promise.all([import("./http/filters/compressor.ts"), import("./http/filters/decompressor.ts")]);
  return {
    kind: "dual",
    create: (config, server, chain) => new DecompressorFilter(decompressorFilterConfig(config, server, chain)),
    prepare: (config, server, chain) => void decompressorFilterConfig(config, server, chain),
    check: (config, server, name) => checkCompressionSupported(name, config.library.algorithm, server),
  };
});

registerLazyHttpFilterFactory<JwtAuthnConfig>("envoy.filters.http.jwt_authn", async () => {
  const { JwtAuthnFilter, jwtAuthnFilterConfig } = await import("./http/filters/jwt-authn/jwt-authn-filter.ts");
  return {
    kind: "decoder",
    create: (config, server, chain) => new JwtAuthnFilter(jwtAuthnFilterConfig(config, server, chain), server),
    // Signatures are verified through the port (verifySignature): a runtime without it cannot run it.
    check: (config, server, name, chain) => {
      if (server.runtime.verifySignature === undefined) throw new Error(`HTTP filter ${name}: envoy.filters.http.jwt_authn needs the runtime's verifySignature (WebCrypto), which ${server.runtime.name} does not offer`);
      // remote_jwks with async_fetch: fetched now, and the listener waits unless fast_listener.
      jwtAuthnFilterConfig(config, server, chain).startAsyncFetches();
    },
  };
});

registerLazyHttpFilterFactory<DynamicForwardProxyFilterConfig>("envoy.filters.http.dynamic_forward_proxy", async () => {
  const { DynamicForwardProxyFilter, dynamicForwardProxyCache } = await import("./http/filters/dynamic-forward-proxy.ts");
  return {
    kind: "decoder",
    create: (config, server) => new DynamicForwardProxyFilter(config, dynamicForwardProxyCache(config, server), server),
    // The cache is made (or found by name, its settings compared) with the filter chain.
    prepare: (config, server) => void dynamicForwardProxyCache(config, server),
  };
});

registerLazyHttpFilterFactory<OAuth2Config>("envoy.filters.http.oauth2", async () => {
  const { OAuth2Filter, oauth2Enabled, oauth2FilterConfig } = await import("./http/filters/oauth2/oauth2-filter.ts");
  return {
    // An encoder too: after a refresh, the response sets the new cookies.
    kind: "dual",
    create: (config, server, chain) => new OAuth2Filter(oauth2Enabled(config) ? oauth2FilterConfig(config.config, server, chain) : undefined),
    // The cookie's HMAC is computed through the port (hmacSha256): a runtime without it cannot run it.
    check: (config, server, name) => {
      if (oauth2Enabled(config) && server.runtime.hmacSha256 === undefined) throw new Error(`HTTP filter ${name}: envoy.filters.http.oauth2 needs the runtime's hmacSha256 (WebCrypto), which ${server.runtime.name} does not offer`);
    },
    prepare: (config, server, chain) => {
      if (oauth2Enabled(config)) oauth2FilterConfig(config.config, server, chain);
    },
    // token_secret and hmac_secret: read (or their SDS files loaded) before the listener serves.
    resolve: (config, server, chain) => (oauth2Enabled(config) ? oauth2FilterConfig(config.config, server, chain).resolve() : Promise.resolve()),
  };
});

// User filters (a Script's module, or one an embedding program registered), resolved at
// start-up (http/user-filter/resolve-user-filters.ts).
registerLazyHttpFilterFactory<UserFilterSource>("polyvoy.filters.http.user", async () => {
  const [{ UserFilter, UserFilterConfig }, { UserFilterStats }, { AsyncClient }] = await Promise.all([
    import("./http/user-filter/user-filter.ts"),
    import("./http/user-filter/user-filter-stats.ts"),
    import("./http/async-client.ts"),
  ]);
  // Shared per config: the parsed config, the error counter.
  const configs = new PerConfig((source: UserFilterSource, server: ServerContext, chain: HttpFilterChainContext) => {
    const resolved = resolvedUserFilter(source);
    if (resolved === undefined) throw new Error(`user filter '${source.filterName}' was not loaded (Server.start() loads user filters)`);
    const prefix = sanitizeStatsPrefix(`http.${chain.statPrefix}.${source.filterName}.`);
    const services = { stats: new UserFilterStats(server.stats, prefix), server, client: new AsyncClient(server) };
    return new UserFilterConfig(source.filterName, resolved.definition, resolved.config, server.stats.counter(`${prefix}errors`), server.log, services);
  });
  return { kind: "dual", create: (source, server, chain) => new UserFilter(configs.get(source, server, chain)) };
});

// Internal: the admin listener's only filter (never from a config file).
registerHttpFilterFactory<{ handler: ConstructorParameters<typeof AdminFilter>[0] }>("polyvoy.internal.admin", {
  kind: "decoder",
  create: (config) => new AdminFilter(config.handler),
});

registerLazyHttpFilterFactory<CacheConfig>("envoy.filters.http.cache", async () => {
  const { CacheFilter, cacheFilterConfig } = await import("./http/filters/cache/cache-filter.ts");
  return {
    kind: "dual",
    create: (config, server) => new CacheFilter(cacheFilterConfig(config, server)),
    prepare: (config, server) => void cacheFilterConfig(config, server),
  };
});
