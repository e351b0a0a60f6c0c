/**
 * Start-up step for user HTTP filters (the second half of their config check, after the
 * schema, which runs where no module can be loaded: possibly in a worker). Each Script's
 * module is imported through the port, its export checked, and every user filter's config
 * and per-route config given to the filter's own parser. Problems are config problems,
 * one line each with the field's path, as the schema's are.
 */
import type { Bootstrap, FilterChainConfig, HttpConnectionManagerConfig, ScriptHttpFilterConfig, UserFilterSource, UserPerRouteConfig } from "../../config/bootstrap.ts";
import { problemAt, type ConfigPath } from "../../config/errors.ts";
import type { Runtime } from "../../port.ts";
import { runConfigParser } from "./config-parser.ts";
import type { HttpFilterDefinition } from "./http-filter-api.ts";
import { definitionProblem, findRegisteredHttpFilter } from "./user-filter-registry.ts";
import { importScript } from "./import-script.ts";
import { isNetworkScriptResolved, NETWORK_SCRIPT_TYPE, resolveNetworkScript } from "../../network-script/resolve-network-script.ts";

const USER_FILTER_TYPE = "polyvoy.filters.http.user";

/** What start-up made of each user filter's config (config is plain data: kept beside it, as util/per-config.ts does). */
const RESOLVED = new WeakMap<UserFilterSource, { definition: HttpFilterDefinition; config: unknown }>();
/** Each user per-route config's parsed value. */
const PARSED_PER_ROUTE = new WeakMap<UserPerRouteConfig, unknown>();

/** The loaded definition and parsed config of a user filter (undefined before resolveUserFilters). */
export function resolvedUserFilter(source: UserFilterSource): { definition: HttpFilterDefinition; config: unknown } | undefined {
  return RESOLVED.get(source);
}

/** A user per-route config as its filter's perRouteConfig parsed it. */
export function parsedPerRouteConfig(perRoute: UserPerRouteConfig): unknown {
  return PARSED_PER_ROUTE.get(perRoute);
}

/**
 * Some user filter of `bootstrap` is not loaded yet. Checked without awaiting, so that a
 * start-up without user filters takes no extra turn of the event loop (a memory runtime
 * stepped by hand would not see it finish).
 */
export function hasUnresolvedUserFilters(bootstrap: Bootstrap): boolean {
  for (const listener of bootstrap.listeners) {
    for (const chain of listener.defaultFilterChain !== undefined ? [...listener.filterChains, listener.defaultFilterChain] : listener.filterChains) {
      for (const filter of chain.filters) {
        if (filter.type === NETWORK_SCRIPT_TYPE && !isNetworkScriptResolved(filter.config)) return true;
        if (filter.type !== "envoy.filters.network.http_connection_manager") continue;
        for (const http of filter.config.httpFilters) if (http.type === USER_FILTER_TYPE && !RESOLVED.has(http.config)) return true;
      }
    }
  }
  return false;
}

/**
 * Load and check every user filter of `bootstrap` (its definition and parsed config, and
 * each user per-route config's parsed value, are kept for resolvedUserFilter and
 * parsedPerRouteConfig). Returns the problems found, none when the config is good; a
 * second call does nothing more.
 */
export async function resolveUserFilters(bootstrap: Bootstrap, runtime: Pick<Runtime, "importModule">): Promise<string[]> {
  const problems: string[] = [];
  const modules = new Map<string, Promise<unknown>>();
  for (const [l, listener] of bootstrap.listeners.entries()) {
    const chains: [FilterChainConfig, ConfigPath][] = listener.filterChains.map((chain, c) => [chain, ["filter_chains", c]]);
    if (listener.defaultFilterChain !== undefined) chains.push([listener.defaultFilterChain, ["default_filter_chain"]]);
    for (const [chain, chainAt] of chains) {
      for (const [f, filter] of chain.filters.entries()) {
        const at: ConfigPath = ["static_resources", "listeners", l, ...chainAt, "filters", f, "typed_config"];
        if (filter.type === NETWORK_SCRIPT_TYPE) await resolveNetworkScript(filter.config, at, runtime, modules, problems);
        if (filter.type !== "envoy.filters.network.http_connection_manager") continue;
        await resolveConnectionManager(filter.config, at, runtime, modules, problems);
      }
    }
  }
  return problems;
}

async function resolveConnectionManager(
  hcm: HttpConnectionManagerConfig,
  at: ConfigPath,
  runtime: Pick<Runtime, "importModule">,
  modules: Map<string, Promise<unknown>>,
  problems: string[],
): Promise<void> {
  const userFilters = new Map<string, ScriptHttpFilterConfig>();
  for (const [i, filter] of hcm.httpFilters.entries()) {
    if (filter.type !== USER_FILTER_TYPE) continue;
    userFilters.set(filter.name, filter);
    if (RESOLVED.has(filter.config)) continue;
    const filterAt = [...at, "http_filters", i, "typed_config"];
    const definition = await loadDefinition(filter, filterAt, runtime, modules, problems);
    if (definition === undefined) continue;
    const raw = filter.config.rawConfig;
    if (definition.config === undefined) {
      RESOLVED.set(filter.config, { definition, config: raw });
      continue;
    }
    const parsed = runConfigParser(definition.config, raw);
    // A Script's config is its `config` field; a registered filter's, the typed_config's own fields.
    const configAt = filter.config.module !== undefined ? [...filterAt, "config"] : filterAt;
    if (parsed.ok) RESOLVED.set(filter.config, { definition, config: parsed.value });
    else for (const problem of parsed.problems) problems.push(problemAt([...configAt, ...problem.path], problem.message));
  }
  const route = hcm.routeConfig;
  const levels: [ConfigPath, ReadonlyMap<string, unknown> | undefined][] = [[[...at, "route_config"], route.typedPerFilterConfig]];
  for (const [v, vhost] of route.virtualHosts.entries()) {
    const vhostAt = [...at, "route_config", "virtual_hosts", v];
    levels.push([vhostAt, vhost.typedPerFilterConfig]);
    for (const [r, config] of vhost.routes.entries()) levels.push([[...vhostAt, "routes", r], config.typedPerFilterConfig]);
  }
  for (const [levelAt, perFilter] of levels) {
    if (perFilter === undefined) continue;
    for (const [name, value] of perFilter) {
      if (!isUserPerRoute(value) || PARSED_PER_ROUTE.has(value)) continue;
      resolvePerRoute(name, value, userFilters.get(name), [...levelAt, "typed_per_filter_config", name], problems);
    }
  }
}

function resolvePerRoute(name: string, perRoute: UserPerRouteConfig, filter: ScriptHttpFilterConfig | undefined, at: ConfigPath, problems: string[]): void {
  if (filter === undefined) {
    problems.push(problemAt(at, `no user filter named "${name}" in http_filters`));
    return;
  }
  const definition = RESOLVED.get(filter.config)?.definition;
  // Its filter failed to load: that problem is reported already.
  if (definition === undefined) return;
  if (perRoute.rawConfig === undefined) {
    PARSED_PER_ROUTE.set(perRoute, undefined);
    return;
  }
  if (definition.perRouteConfig === undefined) {
    problems.push(problemAt(at, `the filter "${name}" takes no per-route config (its definition has no perRouteConfig)`));
    return;
  }
  const parsed = runConfigParser(definition.perRouteConfig, perRoute.rawConfig);
  const configAt = filter.config.module !== undefined ? [...at, "config"] : at;
  if (parsed.ok) PARSED_PER_ROUTE.set(perRoute, parsed.value);
  else for (const problem of parsed.problems) problems.push(problemAt([...configAt, ...problem.path], problem.message));
}

/** The filter's definition: the registered one, or the Script module's export. */
async function loadDefinition(
  filter: ScriptHttpFilterConfig,
  at: ConfigPath,
  runtime: Pick<Runtime, "importModule">,
  modules: Map<string, Promise<unknown>>,
  problems: string[],
): Promise<HttpFilterDefinition | undefined> {
  const source = filter.config;
  if (source.registered !== undefined) {
    const registered = findRegisteredHttpFilter(source.registered, undefined);
    if (registered === undefined) problems.push(problemAt(at, `the filter "${source.registered}" is no longer registered`));
    return registered;
  }
  const path = source.module!;
  const moduleAt = [...at, "module"];
  const definition = await importScript(path, moduleAt, runtime, modules, problems);
  if (definition === undefined) return undefined;
  const problem = definitionProblem(definition);
  if (problem !== undefined) {
    problems.push(problemAt(moduleAt, `'${path}': ${problem}`));
    return undefined;
  }
  return definition as HttpFilterDefinition;
}

function isUserPerRoute(value: unknown): value is UserPerRouteConfig {
  return typeof value === "object" && value !== null && (value as UserPerRouteConfig).userFilterPerRoute === true;
}
