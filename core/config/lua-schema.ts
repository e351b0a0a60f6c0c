/**
 * envoy.extensions.filters.http.lua.v3.Lua and LuaPerRoute: the Lua HTTP filter's config
 * (core/http/filters/lua/). Every field of Envoy's messages is here but those refused by
 * name below; the filter's codes' `filename` is read when the listener is built
 * (lua-sources.ts), a route's own when the config is checked (data-source-files.ts).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolTrue, optionalString, stringEmpty, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { LuaConfig, LuaPerRouteConfig, LuaSource } from "./bootstrap.ts";
import { dataSource } from "./data-source-schema.ts";
import { oneOf } from "./proto-schema.ts";
import { utf8Encode } from "../util/utf8.ts";
import { latin1Decode } from "../util/latin1.ts";

export const LUA_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua";
export const LUA_PER_ROUTE_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute";

/**
 * envoy.config.core.v3.DataSource for Lua code: a file (read at listener build, as Envoy
 * reads it at config load), an environment variable (read when the config is checked, as
 * every DataSource's: data-source-files.ts) or inline; watched_directory is refused.
 */
const luaSource = lazySchema(() =>
  strictObject({ filename: z.string().min(1).optional(), inline_string: optionalString, inline_bytes: z.string().optional(), environment_variable: z.string().min(1).optional() })
  .transform((d, ctx): LuaSource => {
    const key = oneOf(d, ["filename", "inline_string", "inline_bytes", "environment_variable"] as const, ctx, true);
    if (key === undefined) return z.NEVER;
    if (key === "filename") return { filename: d.filename! };
    const parsed = dataSource.safeParse({ [key]: d[key] });
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: [key] });
      return z.NEVER;
    }
    // A byte string (one char per byte): Lua source is bytes.
    return { code: parsed.data, name: key };
  }));

export const luaConfig: z.ZodType<LuaConfig> = lazySchema(() =>
  strictObject({
    inline_code: optionalString,
    default_source_code: luaSource.optional(),
    source_codes: z.record(z.string(), luaSource).optional(),
    stat_prefix: stringEmpty,
    clear_route_cache: boolTrue,
  })
  .transform((c, ctx): LuaConfig => {
    // Envoy (lua_filter.cc FilterConfig): inline_code and default_source_code are one default.
    if (c.inline_code !== undefined && c.inline_code !== "" && c.default_source_code !== undefined) {
      ctx.addIssue({ code: "custom", message: "only one of inline_code and default_source_code may be set" });
      return z.NEVER;
    }
    const defaultSource: LuaSource | undefined =
      c.default_source_code ?? (c.inline_code !== undefined && c.inline_code !== "" ? { code: utf8ToByteString(c.inline_code), name: "inline_code" } : undefined);
    return {
      defaultSource,
      sourceCodes: new Map(Object.entries(c.source_codes ?? {})),
      statPrefix: c.stat_prefix,
      clearRouteCache: c.clear_route_cache,
    };
  }));

/**
 * LuaPerRoute: oneof disabled (true), name (of the filter's source_codes) or source_code (a
 * route's own code: its VM is made with the route table, so its `filename` is read when the
 * config is checked, as Envoy's FilterConfigPerRoute reads it with DataSource::read, and its
 * require() finds only package.preload).
 */
export const luaPerRouteConfig: z.ZodType<LuaPerRouteConfig> = lazySchema(() =>
  strictObject({
    disabled: z.literal(true).optional(),
    name: z.string().min(1).optional(),
    source_code: luaSource.optional(),
  })
  .transform((r, ctx): LuaPerRouteConfig => {
    oneOf(r, ["disabled", "name", "source_code"], ctx, true);
    if (r.disabled === true) return { disabled: true };
    if (r.source_code !== undefined && "filename" in r.source_code) {
      const read = dataSource.safeParse({ filename: r.source_code.filename });
      if (!read.success) {
        for (const issue of read.error.issues) ctx.addIssue({ ...issue, path: ["source_code", ...issue.path] });
        return z.NEVER;
      }
      return { disabled: false, sourceCode: read.data };
    }
    return r.source_code !== undefined ? { disabled: false, sourceCode: r.source_code.code } : { disabled: false, name: r.name };
  }));

/** UTF-8 text as a byte string (one char per byte). */
function utf8ToByteString(text: string): string {
  const bytes = utf8Encode(text);
  return latin1Decode(bytes, 0, bytes.length);
}
