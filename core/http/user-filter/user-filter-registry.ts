/**
 * User HTTP filters an embedding program registered by name (registerHttpFilter), the way
 * Envoy's extensions register their factories: a config names one in http_filters by its
 * typed_config "@type" (or, without typed_config, by the filter's `name`), and its
 * typed_config's other fields are its config.
 */
import { isConfigParser } from "./config-parser.ts";
import type { HttpFilterDefinition } from "./http-filter-api.ts";

const TYPE_URL_PREFIX = "type.googleapis.com/";

const BY_NAME = new Map<string, HttpFilterDefinition>();
const BY_TYPE_URL = new Map<string, HttpFilterDefinition>();

/** Names Envoy and polyvoy keep: a user filter cannot take them. */
const RESERVED_PREFIXES = ["envoy.", "polyvoy."];

/**
 * Make `definition` usable from configs loaded after this call. Throws when the
 * definition has the wrong shape, or its name or type URL is taken.
 */
export function registerHttpFilter<C, R>(definition: HttpFilterDefinition<C, R>): void {
  const def = definition as unknown as HttpFilterDefinition;
  const problem = definitionProblem(def);
  if (problem !== undefined) throw new TypeError(`registerHttpFilter: ${problem}`);
  const name = def.name;
  if (typeof name !== "string" || name === "") throw new TypeError("registerHttpFilter: the definition needs a `name` (e.g. \"acme.filters.http.api_key\")");
  if (RESERVED_PREFIXES.some((prefix) => name.startsWith(prefix))) throw new TypeError(`registerHttpFilter: "${name}": names starting with ${RESERVED_PREFIXES.join(" or ")} are reserved`);
  const typeUrl = userFilterTypeUrl(def);
  if (BY_NAME.has(name) || BY_TYPE_URL.has(typeUrl)) throw new TypeError(`registerHttpFilter: a filter named "${name}" or of type "${typeUrl}" is already registered`);
  BY_NAME.set(name, def);
  BY_TYPE_URL.set(typeUrl, def);
}

/** Remove a registered filter (tests; a program that swaps a filter before reloading). */
export function unregisterHttpFilter(name: string): void {
  const def = BY_NAME.get(name);
  if (def === undefined) return;
  BY_NAME.delete(name);
  BY_TYPE_URL.delete(userFilterTypeUrl(def));
}

/** The registered filter a config entry names: by "@type" when it has a typed_config, else by name. */
export function findRegisteredHttpFilter(name: string, typeUrl: string | undefined): HttpFilterDefinition | undefined {
  return typeUrl !== undefined ? BY_TYPE_URL.get(typeUrl) : BY_NAME.get(name);
}

export function userFilterTypeUrl(definition: HttpFilterDefinition): string {
  return definition.typeUrl ?? TYPE_URL_PREFIX + (definition.name ?? "");
}

/** Why `value` is not an HttpFilterDefinition, or undefined when it is one. */
export function definitionProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return `expected a filter definition object, got ${value === null ? "null" : typeof value}`;
  const def = value as Record<string, unknown>;
  if (typeof def.create !== "function") return "the filter definition has no create(config, stream) function";
  if (def.name !== undefined && typeof def.name !== "string") return "the filter definition's `name` is not a string";
  if (def.typeUrl !== undefined && typeof def.typeUrl !== "string") return "the filter definition's `typeUrl` is not a string";
  if (def.config !== undefined && !isConfigParser(def.config)) return "the filter definition's `config` is neither a schema (parse/safeParse) nor a function";
  if (def.perRouteConfig !== undefined && !isConfigParser(def.perRouteConfig)) return "the filter definition's `perRouteConfig` is neither a schema (parse/safeParse) nor a function";
  return undefined;
}
