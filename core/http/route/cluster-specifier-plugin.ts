/**
 * Cluster specifier plugins (Envoy's Router::ClusterSpecifierPlugin,
 * envoy/router/cluster_specifier_plugin.h): a route's inline_cluster_specifier_plugin, or
 * the route configuration's cluster_specifier_plugins entry its cluster_specifier_plugin
 * names, chooses the stream's cluster when the route is resolved (route-cluster.ts), as
 * Envoy's RouteEntryImplBase::clusterEntry calls plugin->route() while matching.
 *
 * A plugin is built with its route table (at listener build, and on each RDS update): the
 * Lua one makes its VM and runs its code's top level then, so a load error, or a code
 * without envoy_on_route(), fails the build as Envoy's config load fails. Every
 * cluster_specifier_plugins entry is built, whether a route names it or not, and a later
 * entry of a name already given too (it serves no route), as Envoy's ConfigImpl builds each
 * entry of the list (source/common/router/config_impl.cc). Its module (and
 * fengari's) is imported only for a route configuration that has one (loadClusterSpecifierPlugins).
 * The null plugin (an is_optional plugin of an unknown type) needs nothing: route-table.ts
 * never matches a route using it.
 */
import type { ClusterSpecifierPluginConfig, RouteConfiguration } from "../../config/bootstrap.ts";
import type { ServerContext } from "../../server-context.ts";
import type { ClusterSpecifierPlugin } from "./cluster-specifier.ts";
import type { RequestHeaders } from "../message.ts";

/** A built plugin: the cluster for a request's headers ("" for none). */

type LuaConfig = Extract<ClusterSpecifierPluginConfig, { type: "lua" }>;

/** The Lua plugin's constructor, once its module is imported. */
let makeLua: ((config: LuaConfig, server: ServerContext) => ClusterSpecifierPlugin) | undefined;

/** The plugins built, by their config (routes naming one plugin share its config, and so its VM). */
const BUILT = new WeakMap<ClusterSpecifierPluginConfig, ClusterSpecifierPlugin>();

/** Every plugin config of a route configuration: its cluster_specifier_plugins, and its routes' inline ones. */
function pluginsOf(config: RouteConfiguration): ClusterSpecifierPluginConfig[] {
  const plugins = (config.clusterSpecifierPlugins ?? []).map(({ plugin }) => plugin);
  for (const vhost of config.virtualHosts) {
    for (const route of vhost.routes) {
      if (route.action.type === "route" && route.action.route.clusterSpecifierPlugin !== undefined) plugins.push(route.action.route.clusterSpecifierPlugin);
    }
  }
  return plugins;
}

/**
 * Import what the plugins of `config` need and is not loaded yet; undefined when there is
 * nothing to load (no turn of the event loop is added then).
 */
export function loadClusterSpecifierPlugins(config: RouteConfiguration): Promise<void> | undefined {
  if (makeLua !== undefined || !pluginsOf(config).some((plugin) => plugin.type === "lua")) return undefined;
  return import("./lua-cluster-specifier.ts").then(({ LuaClusterSpecifier }) => {
    makeLua = (config, server) => new LuaClusterSpecifier(config, server);
  });
}

/** Build the plugins of `config` (after loadClusterSpecifierPlugins); throws what fails one. */
export function buildClusterSpecifierPlugins(config: RouteConfiguration, server: ServerContext): void {
  // Envoy keeps the first of a name without a word (flat_hash_map emplace); a warning costs nothing.
  const names = new Set<string>();
  for (const { name } of config.clusterSpecifierPlugins ?? []) {
    if (names.has(name)) server.log.warn(`route configuration '${config.name}': cluster_specifier_plugins has more than one entry named '${name}': routes use the first (the others are built and checked, and serve none)`);
    names.add(name);
  }
  for (const plugin of pluginsOf(config)) {
    if (plugin.type !== "lua" || BUILT.has(plugin)) continue;
    if (makeLua === undefined) throw new Error("internal error: the Lua cluster specifier was not loaded before its route table was built");
    BUILT.set(plugin, makeLua(plugin, server));
  }
}

/** The cluster `plugin` chooses for a request ("" for the null plugin, whose routes never match). */
export function clusterFromPlugin(plugin: ClusterSpecifierPluginConfig, headers: RequestHeaders): string {
  if (plugin.type === "null") return "";
  const built = BUILT.get(plugin);
  if (built === undefined) throw new Error("internal error: a cluster specifier plugin was not built with its route table");
  return built.cluster(headers);
}
