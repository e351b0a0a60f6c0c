/**
 * Where every built-in filter is wired in (Envoy's extensions register themselves with
 * their factory registries the same way, source/extensions/extensions_build_config.bzl):
 * the registries (network/network-filter-registry.ts, http/filters/http-filter-registry.ts)
 * know no filter, and no filter knows another layer's registry. Imported once, by server.ts.
 */
import { AdminFilter } from "./admin/admin-filter.ts";
import { ConnectionManager } from "./http/conn-manager/connection-manager.ts";
import { ConnectionManagerStats } from "./http/conn-manager/connection-manager-stats.ts";
import { checkFilterChain, registerHttpFilterFactory } from "./http/filters/http-filter-registry.ts";
import { checkCompressionSupported, CompressorFilter, compressorFilterConfig } from "./http/filters/compressor.ts";
import { DecompressorFilter, decompressorFilterConfig } from "./http/filters/decompressor.ts";
import { RouterFilter } from "./http/filters/router.ts";
import { routerStats } from "./http/filters/router-stats.ts";
import { HealthCheckFilter, healthCheckFilterShared } from "./http/filters/health-check.ts";
import { LocalRateLimitFilter, localRateLimiter } from "./http/filters/local-ratelimit.ts";
import { FaultFilter, faultFilterConfig } from "./http/filters/fault.ts";
import { BufferFilter } from "./http/filters/buffer.ts";
import { CorsFilter, corsFilterConfig } from "./http/filters/cors.ts";
import { CsrfFilter, csrfFilterConfig } from "./http/filters/csrf.ts";
import { GrpcWebFilter } from "./http/filters/grpc-web.ts";
import { GrpcHttp1BridgeFilter } from "./http/filters/grpc-http1-bridge.ts";
import { HeaderMutationFilter, headerMutationFilterConfig } from "./http/filters/header-mutation.ts";
import { UserFilter, UserFilterConfig } from "./http/user-filter/user-filter.ts";
import { resolvedUserFilter } from "./http/user-filter/resolve-user-filters.ts";
import { UserFilterStats } from "./http/user-filter/user-filter-stats.ts";
import { NetworkUserFilter, NetworkUserFilterConfig } from "./network-script/network-user-filter.ts";
import { resolvedNetworkScript } from "./network-script/resolve-network-script.ts";
import { AsyncClient } from "./http/async-client.ts";
import { PerConfig } from "./util/per-config.ts";
import type { JwtAuthnConfig, UserFilterSource } from "./config/bootstrap.ts";
import { JwtAuthnFilter, jwtAuthnFilterConfig } from "./http/filters/jwt-authn/jwt-authn-filter.ts";
import type { ServerContext } from "./server-context.ts";
import type { HttpFilterChainContext } from "./http/filters/http-filter-registry.ts";
import { RbacFilter, rbacFilterConfig } from "./http/filters/rbac.ts";
import { ExtAuthzFilter, extAuthzFilterConfig } from "./http/filters/ext-authz.ts";
import { RateLimitFilter, rateLimitFilterConfig } from "./http/filters/ratelimit.ts";
import type { BufferConfig, GrpcHttp1BridgeConfig, CompressorConfig, CsrfPolicyConfig, DecompressorConfig, ExtAuthzConfig, RateLimitConfig, FaultConfig, HeaderMutationConfig, HealthCheckFilterConfig, LocalRateLimitConfig, RbacConfig } from "./config/bootstrap.ts";
import { RouteTable } from "./http/route/route-table.ts";
import { RdsRouteConfigProvider } from "./http/route/rds-route-config-provider.ts";
import { ConnectionLimit, ConnectionLimitFilter } from "./network/connection-limit.ts";
import { registerNetworkFilterFactory } from "./network/network-filter-registry.ts";
import { TcpProxyFilter } from "./network/tcp-proxy.ts";
import { NetworkRbacConfigState, NetworkRbacFilter } from "./network/rbac-filter.ts";
import { PostgresFilter } from "./network/postgres/postgres-filter.ts";
import { postgresProxyStats } from "./network/postgres/postgres-proxy-stats.ts";
import { TcpProxyStats } from "./network/tcp-proxy-stats.ts";
import { pickWeighted } from "./util/weighted-pick.ts";

// ---------------------------------------------------------------- network filters

registerNetworkFilterFactory("envoy.filters.network.tcp_proxy", (config, context) => {
  for (const { name } of config.clusters) {
    if (!context.clusterManager.get(name)) throw new Error(`tcp_proxy ${config.statPrefix}: unknown cluster '${name}'`);
  }
  const stats = new TcpProxyStats(context.stats, config.statPrefix);
  // The cluster by name per connection, as Envoy's: one replaced at run time serves new connections.
  return (connection) => {
    const picked = pickWeighted(config.clusters, context.runtime.random())!;
    return new TcpProxyFilter(config, context.clusterManager.get(picked.name), context, stats, connection, picked.metadataMatch);
  };
});

registerNetworkFilterFactory("envoy.filters.network.http_connection_manager", (config, context) => {
  // What this runtime cannot run is refused now, at start.
  checkFilterChain(config.httpFilters, context, { statPrefix: config.statPrefix });
  // The route table is compiled once per listener and shared by its connections (RDS: once per update).
  const routes = config.rds ? new RdsRouteConfigProvider(config.rds, config.statPrefix, context) : { routeTable: new RouteTable(config.routeConfig, context.layeredRuntime) };
  const stats = new ConnectionManagerStats(context.stats, config.statPrefix, config.tracing !== undefined);
  return (connection) => new ConnectionManager(config, routes, context, stats, connection);
});

registerNetworkFilterFactory("envoy.filters.network.connection_limit", (config, context) => {
  // One count per filter config, shared by the connections through its chain.
  const limit = new ConnectionLimit(config, context);
  return (connection) => new ConnectionLimitFilter(limit, context, connection);
});

registerNetworkFilterFactory("envoy.filters.network.rbac", (config, context) => {
  // The engines and stats are built once per filter config, shared by its connections.
  const state = new NetworkRbacConfigState(config, context);
  return (connection) => new NetworkRbacFilter(state, connection);
});

registerNetworkFilterFactory("envoy.filters.network.postgres_proxy", (config, context) => {
  const stats = postgresProxyStats(context.stats, config.statPrefix);
  return (connection) => new PostgresFilter(config, stats, connection);
});

// A network filter written in TypeScript (network/user-filter/), loaded at start-up.
registerNetworkFilterFactory("polyvoy.filters.network.script", (script, context) => {
  const resolved = resolvedNetworkScript(script);
  if (resolved === undefined) throw new Error(`network script '${script.module}' was not loaded (Server.start() loads user filters)`);
  const name = script.filterName;
  const prefix = `network_script.${name}.`;
  const shared = new NetworkUserFilterConfig(name, resolved.definition, resolved.config, context.stats.counter(`${prefix}errors`), context.log, new UserFilterStats(context.stats, prefix));
  return (connection) => new NetworkUserFilter(shared, connection);
});

// ---------------------------------------------------------------- HTTP filters

registerHttpFilterFactory<Record<string, never>>("envoy.filters.http.router", {
  kind: "decoder",
  create: (_config, server, chain) => new RouterFilter(server, routerStats(server, chain)),
});

registerHttpFilterFactory<HealthCheckFilterConfig>("envoy.filters.http.health_check", {
  kind: "dual",
  create: (config, server) => new HealthCheckFilter(healthCheckFilterShared(config, server), server),
});

registerHttpFilterFactory<LocalRateLimitConfig>("envoy.filters.http.local_ratelimit", {
  kind: "dual",
  create: (config, server) => new LocalRateLimitFilter(localRateLimiter(config, server), server),
});

registerHttpFilterFactory<FaultConfig>("envoy.filters.http.fault", {
  kind: "decoder",
  create: (config, server, chain) => new FaultFilter(faultFilterConfig(config, server, chain), server),
});

registerHttpFilterFactory<BufferConfig>("envoy.filters.http.buffer", {
  kind: "decoder",
  create: (config) => new BufferFilter(config),
});

registerHttpFilterFactory<Record<string, never>>("envoy.filters.http.cors", {
  kind: "dual",
  create: (config, server, chain, name) => new CorsFilter(corsFilterConfig(config, server, chain, name), server),
});

registerHttpFilterFactory<Record<string, never>>("envoy.filters.http.grpc_web", {
  kind: "dual",
  create: (_config, server) => new GrpcWebFilter(server),
});

registerHttpFilterFactory<GrpcHttp1BridgeConfig>("envoy.filters.http.grpc_http1_bridge", {
  kind: "dual",
  create: (config, server) => new GrpcHttp1BridgeFilter(config, server),
});

registerHttpFilterFactory<CsrfPolicyConfig>("envoy.filters.http.csrf", {
  kind: "decoder",
  create: (config, server, chain) => new CsrfFilter(csrfFilterConfig(config, server, chain), server),
});

registerHttpFilterFactory<HeaderMutationConfig>("envoy.filters.http.header_mutation", {
  kind: "dual",
  create: (config, _server, _chain, name) => new HeaderMutationFilter(headerMutationFilterConfig(config, name)),
});

registerHttpFilterFactory<RbacConfig>("envoy.filters.http.rbac", {
  kind: "decoder",
  create: (config, server, chain) => new RbacFilter(rbacFilterConfig(config, server, chain)),
});

registerHttpFilterFactory<ExtAuthzConfig>("envoy.filters.http.ext_authz", {
  kind: "dual",
  create: (config, server, chain) => new ExtAuthzFilter(extAuthzFilterConfig(config, server, chain)),
});

registerHttpFilterFactory<RateLimitConfig>("envoy.filters.http.ratelimit", {
  kind: "dual",
  create: (config, server) => new RateLimitFilter(rateLimitFilterConfig(config, server)),
});

registerHttpFilterFactory<CompressorConfig>("envoy.filters.http.compressor", {
  kind: "dual",
  create: (config, server, chain) => new CompressorFilter(compressorFilterConfig(config, server, chain)),
  check: (config, server, name) => checkCompressionSupported(name, config.library.algorithm, server),
});

registerHttpFilterFactory<DecompressorConfig>("envoy.filters.http.decompressor", {
  kind: "dual",
  create: (config, server, chain) => new DecompressorFilter(decompressorFilterConfig(config, server, chain)),
  check: (config, server, name) => checkCompressionSupported(name, config.library.algorithm, server),
});

registerHttpFilterFactory<JwtAuthnConfig>("envoy.filters.http.jwt_authn", {
  kind: "decoder",
  create: (config, server, chain) => new JwtAuthnFilter(jwtAuthnFilterConfig(config, server, chain), server),
  // Signatures are verified through the port (verifySignature): a runtime without it cannot run it.
  check: (config, server, name, chain) => {
    if (server.runtime.verifySignature === undefined) throw new Error(`HTTP filter ${name}: envoy.filters.http.jwt_authn needs the runtime's verifySignature (WebCrypto), which ${server.runtime.name} does not offer`);
    // remote_jwks with async_fetch: fetched now, and the listener waits unless fast_listener.
    jwtAuthnFilterConfig(config, server, chain).startAsyncFetches();
  },
});

// User filters (a Script's module, or one an embedding program registered), resolved at
// start-up (http/user-filter/resolve-user-filters.ts). Shared per config: the parsed config,
// the error counter.
const USER_FILTER_CONFIGS = new PerConfig((source: UserFilterSource, server: ServerContext, chain: HttpFilterChainContext) => {
  const resolved = resolvedUserFilter(source);
  if (resolved === undefined) throw new Error(`user filter '${source.filterName}' was not loaded (Server.start() loads user filters)`);
  const prefix = `http.${chain.statPrefix}.${source.filterName}.`;
  const services = { stats: new UserFilterStats(server.stats, prefix), server, client: new AsyncClient(server) };
  return new UserFilterConfig(source.filterName, resolved.definition, resolved.config, server.stats.counter(`${prefix}errors`), server.log, services);
});

registerHttpFilterFactory<UserFilterSource>("polyvoy.filters.http.user", {
  kind: "dual",
  create: (source, server, chain) => new UserFilter(USER_FILTER_CONFIGS.get(source, server, chain)),
});

// Internal: the admin listener's only filter (never from a config file).
registerHttpFilterFactory<{ handler: ConstructorParameters<typeof AdminFilter>[0] }>("polyvoy.internal.admin", {
  kind: "decoder",
  create: (config) => new AdminFilter(config.handler),
});
