/**
 * Start-up step for network Scripts (polyvoy.filters.network.script.v1.Script), beside the
 * HTTP ones (http/user-filter/resolve-user-filters.ts, which calls this): the module is
 * imported, its export checked, and the Script's config given to its parser. Problems
 * are config problems at the field's path.
 */
import type { NetworkScriptConfig } from "../config/bootstrap.ts";
import { problemAt, type ConfigPath } from "../config/errors.ts";
import type { Runtime } from "../port.ts";
import { isConfigParser, runConfigParser } from "../http/user-filter/config-parser.ts";
import { importScript } from "../http/user-filter/import-script.ts";
import type { NetworkFilterDefinition } from "./network-filter-api.ts";

export const NETWORK_SCRIPT_TYPE = "polyvoy.filters.network.script";

const RESOLVED = new WeakMap<NetworkScriptConfig, { definition: NetworkFilterDefinition; config: unknown }>();

export function isNetworkScriptResolved(script: NetworkScriptConfig): boolean {
  return RESOLVED.has(script);
}

/** The loaded definition and parsed config (undefined before resolveUserFilters). */
export function resolvedNetworkScript(script: NetworkScriptConfig): { definition: NetworkFilterDefinition; config: unknown } | undefined {
  return RESOLVED.get(script);
}

export async function resolveNetworkScript(
  script: NetworkScriptConfig,
  at: ConfigPath,
  runtime: Pick<Runtime, "importModule">,
  modules: Map<string, Promise<unknown>>,
  problems: string[],
): Promise<void> {
  if (RESOLVED.has(script)) return;
  const moduleAt = [...at, "module"];
  const exported = await importScript(script.module, moduleAt, runtime, modules, problems);
  if (exported === undefined) return;
  const definition = exported as Partial<NetworkFilterDefinition>;
  if (typeof definition !== "object" || definition === null || typeof definition.create !== "function") {
    problems.push(problemAt(moduleAt, `'${script.module}': a network filter definition needs create(config, connection)`));
    return;
  }
  if (definition.config !== undefined && !isConfigParser(definition.config)) {
    problems.push(problemAt(moduleAt, `'${script.module}': config must be a zod schema (safeParse or parse) or a function`));
    return;
  }
  if (definition.config === undefined) {
    RESOLVED.set(script, { definition: definition as NetworkFilterDefinition, config: script.rawConfig });
    return;
  }
  const parsed = runConfigParser(definition.config, script.rawConfig);
  if (parsed.ok) RESOLVED.set(script, { definition: definition as NetworkFilterDefinition, config: parsed.value });
  else for (const problem of parsed.problems) problems.push(problemAt([...at, "config", ...problem.path], problem.message));
}
