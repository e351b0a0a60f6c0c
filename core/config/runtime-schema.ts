/**
 * envoy.config.bootstrap.v3.LayeredRuntime (core/runtime/runtime-loader.ts): static
 * layers are flattened here into dotted keys as Envoy's ProtoLayer walks its Struct
 * (runtime_impl.cc walkProtoValue); at most one admin layer. A disk_layer is read once at
 * start-up (core/runtime/disk-layer.ts); an rtds_layer's Runtime resource comes from the
 * file or management server of its rtds_config (core/runtime/rtds-subscription.ts), as LDS/CDS.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, nonEmptyString, strictObject, stringEmpty } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { LayeredRuntimeConfig, RuntimeLayerConfig } from "./bootstrap.ts";
import { oneOf } from "./proto-schema.ts";
import { configSourceSchema } from "./xds/config-source-schema.ts";

const runtimeLayer = lazySchema(() =>
  strictObject({
    name: stringEmpty,
    static_layer: z.record(z.string(), z.unknown()).optional(),
    // envoy.config.bootstrap.v3.RuntimeLayer.DiskLayer
    disk_layer: strictObject({ symlink_root: stringEmpty, subdirectory: stringEmpty, append_service_cluster: boolFalse })
      .optional(),
    admin_layer: strictObject({}).optional(),
    // envoy.config.bootstrap.v3.RuntimeLayer.RtdsLayer: `name` is the Runtime resource's.
    rtds_layer: strictObject({ name: nonEmptyString, rtds_config: configSourceSchema("RTDS", "server") }).optional(),
  })
  .transform((layer, ctx): RuntimeLayerConfig => {
    oneOf(layer, ["static_layer", "disk_layer", "admin_layer", "rtds_layer"] as const, ctx, true);
    if (layer.admin_layer !== undefined) return { kind: "admin", name: layer.name };
    if (layer.rtds_layer !== undefined) return { kind: "rtds", name: layer.name, resourceName: layer.rtds_layer.name, source: layer.rtds_layer.rtds_config };
    if (layer.disk_layer !== undefined) {
      const disk = layer.disk_layer;
      return { kind: "disk", name: layer.name, symlinkRoot: disk.symlink_root, subdirectory: disk.subdirectory, appendServiceCluster: disk.append_service_cluster };
    }
    const values: [string, string][] = [];
    for (const [key, value] of Object.entries(layer.static_layer ?? {})) walkValue(value, key, values, ctx);
    return { kind: "static", name: layer.name, values };
  }));

export const layeredRuntime: z.ZodType<LayeredRuntimeConfig, unknown> = lazySchema(() =>
  strictObject({ layers: z.array(runtimeLayer).default([]) })
  .transform((r, ctx): LayeredRuntimeConfig => {
    const names = new Set<string>();
    for (const [i, layer] of r.layers.entries()) {
      if (names.has(layer.name)) ctx.addIssue({ code: "custom", message: `Duplicate layer name: ${layer.name}`, path: ["layers", i, "name"] });
      names.add(layer.name);
    }
    if (r.layers.filter((l) => l.kind === "admin").length > 1) {
      ctx.addIssue({ code: "custom", message: "Too many admin layers specified in LayeredRuntime, at most one may be specified", path: ["layers"] });
    }
    // Envoy (server/configuration_impl.cc): a layered_runtime with no layers gets one unnamed admin layer.
    return { layers: r.layers.length > 0 ? r.layers : [{ kind: "admin", name: "" }] };
  }));

/** An RTDS Runtime resource's `layer` Struct as flattened keys, or the problems that refuse it. */
export function flattenRuntimeLayer(layer: Record<string, unknown>): { values: [string, string][]; problems: string[] } {
  const values: [string, string][] = [];
  const problems: string[] = [];
  const ctx = { addIssue: (issue: { message?: string }) => problems.push(issue.message ?? "invalid") } as unknown as z.RefinementCtx;
  for (const [key, value] of Object.entries(layer)) walkValue(value, key, values, ctx);
  return { values, problems };
}

/**
 * ProtoLayer::walkProtoValue: a nested object is a directory (its keys joined with "."),
 * unless it is empty or holds `numerator`/`denominator` (a FractionalPercent, kept whole);
 * a list or null is an error.
 */
function walkValue(value: unknown, key: string, out: [string, string][], ctx: z.RefinementCtx): void {
  if (typeof value === "string") out.push([key, value]);
  else if (typeof value === "number" || typeof value === "boolean") out.push([key, String(value)]);
  else if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const fields = value as Record<string, unknown>;
    const names = Object.keys(fields);
    if (names.length === 0 || "numerator" in fields || "denominator" in fields) out.push([key, flowYaml(fields)]);
    else for (const name of names) walkValue(fields[name], `${key}.${name}`, out, ctx);
  } else {
    ctx.addIssue({ code: "custom", message: `Invalid runtime entry value for ${key}`, path: ["static_layer", ...key.split(".")] });
  }
}

/** The value as Envoy's raw string shows it (getYamlStringFromMessage, flow style): `{numerator: 5, denominator: MILLION}`. */
function flowYaml(fields: Record<string, unknown>): string {
  const parts = Object.entries(fields).map(([k, v]) => `${k}: ${typeof v === "string" && /^[\w.-]+$/.test(v) ? v : JSON.stringify(v)}`);
  return `{${parts.join(", ")}}`;
}
