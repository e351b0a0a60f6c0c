/**
 * typed_per_filter_config (on a route, a virtual host or the route configuration): per-route
 * config for an HTTP filter, keyed by the filter's name in http_filters, each an `Any`
 * whose "@type" names the filter's per-route message (Envoy's
 * `RouteSpecificFilterConfig`). Only a filter that declares its per-route schema here
 * takes one: anything else is an error naming the field, never accepted and ignored.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, nonEmptyString, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import { isFalse, unsupportedField } from "./unsupported-field.ts";
import { userPerRouteSchema } from "./user-filter-schema.ts";

/** Per-route config schemas by the "@type" of their message (e.g. "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy"). */
export const PER_ROUTE_CONFIG_SCHEMAS = new Map<string, z.ZodType>();

/** A filter declares the per-route message it takes (its schema gets the fields without "@type"). */
export function registerPerRouteConfigSchema(typeUrl: string, schema: z.ZodType): void {
  PER_ROUTE_CONFIG_SCHEMAS.set(typeUrl, schema);
}

/** envoy.config.route.v3.FilterConfig: any filter's per-route wrapper (its `config`, or `disabled` for the route). */
export const FILTER_CONFIG_TYPE_URL = "type.googleapis.com/envoy.config.route.v3.FilterConfig";

const filterConfigWrapper = lazySchema(() =>
  strictObject({
  config: z.looseObject({ "@type": z.string() }).optional(),
  disabled: boolFalse,
  // Envoy: a config of a type this build does not know is ignored instead of refused; polyvoy refuses what it does not know.
  is_optional: unsupportedField("only false: a per-route config polyvoy does not know is refused, never ignored", isFalse),
}));

/** What the field gives a route, a virtual host or the route configuration. */
export interface PerFilterConfigs {
  typedPerFilterConfig: ReadonlyMap<string, unknown>;
  filterDisabled?: ReadonlyMap<string, boolean>;
}

/** One entry's message, by the schema its "@type" names; not ok (its issues added) when invalid. */
function parseEntry(any: { "@type": string }, path: (string | number)[], ctx: z.RefinementCtx): { ok: boolean; value?: unknown } {
  const { "@type": typeUrl, ...fields } = any;
  const schema = PER_ROUTE_CONFIG_SCHEMAS.get(typeUrl) ?? userPerRouteSchema(typeUrl);
  if (schema === undefined) {
    const supported = [FILTER_CONFIG_TYPE_URL, ...PER_ROUTE_CONFIG_SCHEMAS.keys()].join(", ");
    ctx.addIssue({ code: "custom", message: `no supported HTTP filter takes per-route config of type "${typeUrl}" (supported: ${supported})`, path });
    return { ok: false };
  }
  const parsed = schema.safeParse(fields, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: [...path, ...issue.path] });
    return { ok: false };
  }
  return { ok: true, value: parsed.data };
}

/**
 * The field, on each of the three levels; absent when none is given. A FilterConfig
 * entry gives its inner `config` as the filter's, and its `disabled` (Envoy's
 * filterDisabled: the filter does not run for requests routed there).
 */
// The optional outside the lazy: a route without the field (most) builds nothing.
export const typedPerFilterConfig = lazySchema(() =>
  z
  .record(nonEmptyString, z.looseObject({ "@type": z.string() }))
  .transform((entries, ctx): PerFilterConfigs => {
    const configs = new Map<string, unknown>();
    let disabled: Map<string, boolean> | undefined;
    for (const [name, any] of Object.entries(entries)) {
      if (any["@type"] !== FILTER_CONFIG_TYPE_URL) {
        const entry = parseEntry(any, [name], ctx);
        if (entry.ok) configs.set(name, entry.value);
        continue;
      }
      const { "@type": _type, ...fields } = any;
      const wrapper = filterConfigWrapper.safeParse(fields, { reportInput: true });
      if (!wrapper.success) {
        for (const issue of wrapper.error.issues) ctx.addIssue({ ...issue, path: [name, ...issue.path] });
        continue;
      }
      (disabled ??= new Map()).set(name, wrapper.data.disabled);
      if (wrapper.data.config === undefined) continue;
      const entry = parseEntry(wrapper.data.config, [name, "config"], ctx);
      if (entry.ok) configs.set(name, entry.value);
    }
    return { typedPerFilterConfig: configs, ...(disabled ? { filterDisabled: disabled } : {}) };
  })).optional();
