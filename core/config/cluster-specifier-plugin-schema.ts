/**
 * envoy.config.route.v3.ClusterSpecifierPlugin: a route action's
 * inline_cluster_specifier_plugin, and the entries of a RouteConfiguration's
 * cluster_specifier_plugins that a route action's cluster_specifier_plugin names. Envoy
 * finds the plugin's factory by its typed_config's "@type"
 * (getClusterSpecifierPluginByTheProto in source/common/router/config_impl.cc, through
 * Config::Utility::getFactory): polyvoy has the Lua cluster specifier
 * (source/extensions/router/cluster_specifiers/lua). Envoy's other cluster specifiers (the
 * envoy.router.cluster_specifier_plugin.* extensions of source/extensions/extensions_build_config.bzl:
 * matcher, priority_group, weighted_priority, dynamic_modules) are refused by name,
 * `is_optional` or not (Envoy would run them); any other type, `envoy.*` or not, has no
 * factory in Envoy either: Envoy's NullClusterSpecifierPlugin when `is_optional` (a route
 * using it never matches), else refused with Envoy's message.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, nonEmptyString, stringEmpty, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import { dataSource } from "./data-source-schema.ts";
import { unsupportedNameMessage } from "./refusal.ts";
import type { ClusterSpecifierPluginConfig } from "./bootstrap.ts";

export const LUA_CLUSTER_SPECIFIER_TYPE_URL = "type.googleapis.com/envoy.extensions.router.cluster_specifiers.lua.v3.LuaConfig";

/** A cluster specifier plugin and the name its extension gives it (what cluster_specifier_plugin refers to). */
export interface NamedClusterSpecifierPlugin {
  readonly name: string;
  readonly plugin: ClusterSpecifierPluginConfig;
}

/**
 * envoy.extensions.router.cluster_specifiers.lua.v3.LuaConfig: source_code (required; a
 * file is read when the config is checked, as Envoy's DataSource::read at config load) and
 * default_cluster.
 */
const luaConfig = lazySchema(() =>
  strictObject({ source_code: dataSource, default_cluster: stringEmpty })
  .transform((c): ClusterSpecifierPluginConfig => ({ type: "lua", sourceCode: c.source_code, defaultCluster: c.default_cluster })));

const PLUGINS: Record<string, z.ZodType<ClusterSpecifierPluginConfig>> = {
  [LUA_CLUSTER_SPECIFIER_TYPE_URL]: luaConfig,
};

/**
 * The config messages of Envoy's cluster specifiers polyvoy does not run (by the message's
 * full name: Envoy finds the factory by the type URL's last segment).
 */
const ENVOY_UNSUPPORTED = new Set([
  "envoy.extensions.router.cluster_specifiers.matcher.v3.MatcherClusterSpecifier",
  "envoy.extensions.router.cluster_specifiers.priority_group.v3.PriorityGroupClusterSpecifier",
  "envoy.extensions.router.cluster_specifiers.weighted_priority.v3.WeightedPriorityClusterSpecifier",
  "envoy.extensions.router.cluster_specifiers.dynamic_modules.v3.DynamicModuleClusterSpecifier",
]);

export const clusterSpecifierPlugin = lazySchema(() =>
  strictObject({
    // core.v3.TypedExtensionConfig: both required (name min_len 1, typed_config an Any).
    extension: strictObject({ name: nonEmptyString, typed_config: z.looseObject({ "@type": z.string() }) }),
    is_optional: boolFalse,
  })
  .transform((p, ctx): NamedClusterSpecifierPlugin => {
    const { name } = p.extension;
    const { "@type": typeUrl, ...fields } = p.extension.typed_config;
    const schema = PLUGINS[typeUrl];
    if (schema === undefined) {
      const at = ["extension", "typed_config", "@type"];
      const type = typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
      if (ENVOY_UNSUPPORTED.has(type)) {
        ctx.addIssue({ code: "custom", message: unsupportedNameMessage("cluster specifier plugin", typeUrl, Object.keys(PLUGINS)), path: at });
        return z.NEVER;
      }
      // Envoy's NullClusterSpecifierPlugin: its route() is null for every request.
      if (p.is_optional) return { name, plugin: { type: "null" } };
      ctx.addIssue({ code: "custom", message: `Didn't find a registered implementation for '${name}' with type URL: '${type}' (polyvoy's: ${Object.keys(PLUGINS).join(", ")}; with is_optional, routes using it never match)`, path: at });
      return z.NEVER;
    }
    const parsed = schema.safeParse(fields, { reportInput: true });
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: ["extension", "typed_config", ...issue.path] });
      return z.NEVER;
    }
    return { name, plugin: parsed.data };
  }));
