/**
 * HTTP filters users write (core/http/user-filter/) in http_filters, and the filters
 * polyvoy will not run:
 *
 * - polyvoy.filters.http.script.v1.Script: `module` (the file to load) and `config`
 *   (given to the module's own parser at start-up); per route,
 *   polyvoy.filters.http.script.v1.ScriptPerRoute: `config`, or `disabled: true`.
 * - a filter an embedding program registered (registerHttpFilter), by its "@type" (or by
 *   name without typed_config): the typed_config's other fields are its config, and its
 *   per-route config has the same "@type".
 * - Envoy's Wasm filters are refused with a pointer to TypeScript filters (Lua runs: core/http/filters/lua/).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, nonEmptyString, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { NetworkScriptConfig, ScriptHttpFilterConfig, UserPerRouteConfig } from "./bootstrap.ts";
import { findRegisteredHttpFilter } from "../http/user-filter/user-filter-registry.ts";

export const SCRIPT_TYPE_URL = "type.googleapis.com/polyvoy.filters.http.script.v1.Script";
export const SCRIPT_PER_ROUTE_TYPE_URL = "type.googleapis.com/polyvoy.filters.http.script.v1.ScriptPerRoute";
export const USER_FILTER_TYPE = "polyvoy.filters.http.user";

const scriptConfig = lazySchema(() =>
  strictObject({
  module: nonEmptyString,
  config: z.unknown().optional(),
}));

export const NETWORK_SCRIPT_TYPE_URL = "type.googleapis.com/polyvoy.filters.network.script.v1.Script";

/** polyvoy.filters.network.script.v1.Script: a network filter's module and config (core/network/user-filter/). */
export const networkScriptConfig = lazySchema(() =>
  scriptConfig.transform((c): NetworkScriptConfig => ({ filterName: "", module: c.module, rawConfig: c.config })));

const scriptPerRouteConfig = lazySchema(() =>
  strictObject({ config: z.unknown().optional(), disabled: boolFalse })
    .transform((c): UserPerRouteConfig => ({ userFilterPerRoute: true, rawConfig: c.config, disabled: c.disabled })));

/** A registered filter's per-route config: all fields are the filter's, checked at start-up. */
const registeredPerRouteConfig = lazySchema(() =>
  z
    .record(z.string(), z.unknown())
    .transform((fields): UserPerRouteConfig => ({ userFilterPerRoute: true, rawConfig: fields, disabled: false })));

/** The per-route schema for a "@type" that is a user filter's, if it is one. */
export function userPerRouteSchema(typeUrl: string): z.ZodType | undefined {
  if (typeUrl === SCRIPT_PER_ROUTE_TYPE_URL) return scriptPerRouteConfig;
  return findRegisteredHttpFilter("", typeUrl) !== undefined ? registeredPerRouteConfig : undefined;
}

/**
 * An http_filters entry that is a user filter, as its config; undefined when it is not
 * one; z.NEVER when it is one with a bad config (the issues are added to `ctx`).
 */
export function userHttpFilter(
  name: string,
  typeUrl: string | undefined,
  fields: Record<string, unknown>,
  ctx: z.RefinementCtx,
): ScriptHttpFilterConfig | typeof z.NEVER | undefined {
  if (typeUrl === SCRIPT_TYPE_URL) {
    const parsed = scriptConfig.safeParse(fields, { reportInput: true });
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: ["typed_config", ...issue.path] });
      return z.NEVER;
    }
    return { name, type: USER_FILTER_TYPE, config: { filterName: name, module: parsed.data.module, rawConfig: parsed.data.config } };
  }
  const registered = findRegisteredHttpFilter(name, typeUrl);
  if (registered === undefined) return undefined;
  return { name, type: USER_FILTER_TYPE, config: { filterName: name, registered: registered.name!, rawConfig: fields } };
}

/** Envoy extensions that run code polyvoy cannot: what to say instead of "unsupported". */
const CODE_FILTERS: readonly { name: string; typeUrlPart: string; refusal: string }[] = [
  { name: "envoy.filters.http.wasm", typeUrlPart: "envoy.extensions.filters.http.wasm.", refusal: "Wasm filters; write the filter in TypeScript or JavaScript" },
  { name: "envoy.filters.network.wasm", typeUrlPart: "envoy.extensions.filters.network.wasm.", refusal: "Wasm filters; write HTTP filters in TypeScript" },
];

/**
 * The refusal for Envoy's Lua and Wasm filters (by "@type", or by name without one),
 * undefined for anything else. Within a problem's one-line limit (describe-issues.ts).
 */
export function codeFilterRefusal(name: string, typeUrl: string | undefined): string | undefined {
  for (const filter of CODE_FILTERS) {
    if (typeUrl !== undefined ? typeUrl.includes(filter.typeUrlPart) : filter.name === name) {
      return `${filter.name}: polyvoy does not run ${filter.refusal} ("@type": "${SCRIPT_TYPE_URL}", module: ./filter.ts)`;
    }
  }
  return undefined;
}
