/**
 * typed_per_filter_config (on a route, a virtual host or the route configuration): per-route
 * config for an HTTP filter, keyed by the filter's name in http_filters, each an `Any`
 * whose "@type" names the filter's per-route message (Envoy's
 * `RouteSpecificFilterConfig`). Only a filter that declares its per-route schema here
 * takes one: anything else is an error naming the field, never accepted and ignored.
 */
// Namespace import: under one runtime, vitest's module loader drops zod's `z` named export.
import * as z from "zod";
import { lazySchema } from "./lazy-schema.ts";
import { userPerRouteSchema } from "./user-filter-schema.ts";

/** Per-route config schemas by the "@type" of their message (e.g. "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy"). */
export const PER_ROUTE_CONFIG_SCHEMAS = new Map<string, z.ZodType>();

/** A filter declares the per-route message it takes (its schema gets the fields without "@type"). */
export function registerPerRouteConfigSchema(typeUrl: string, schema: z.ZodType): void {
  PER_ROUTE_CONFIG_SCHEMAS.set(typeUrl, schema);
}

/** The field, on each of the three levels; the map is absent when none is given. */
export const typedPerFilterConfig = lazySchema(() =>
  z
  .record(z.string().min(1), z.looseObject({ "@type": z.string() }))
  .optional()
  .transform((entries, ctx): ReadonlyMap<string, unknown> | undefined => {
    if (entries === undefined) return undefined;
    const configs = new Map<string, unknown>();
    for (const [name, any] of Object.entries(entries)) {
      const { "@type": typeUrl, ...fields } = any;
      const schema = PER_ROUTE_CONFIG_SCHEMAS.get(typeUrl) ?? userPerRouteSchema(typeUrl);
      if (schema === undefined) {
        const supported = [...PER_ROUTE_CONFIG_SCHEMAS.keys()].join(", ") || "none";
        ctx.addIssue({ code: "custom", message: `no supported HTTP filter takes per-route config of type "${typeUrl}" (supported: ${supported})`, path: [name] });
        continue;
      }
      const parsed = schema.safeParse(fields, { reportInput: true });
      if (!parsed.success) {
        for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: [name, ...issue.path] });
        continue;
      }
      configs.set(name, parsed.data);
    }
    return configs;
  }));
