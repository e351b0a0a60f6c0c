/**
 * envoy.config.core.v3.ConfigSource as polyvoy reads it: a file (path_config_source, or
 * the older `path`), Envoy's filesystem subscription (config_subscription/filesystem/).
 * The other sources (a management server over gRPC or REST, ADS, self) are refused by
 * name. Used by SDS (sds_config), RDS (rds.config_source), EDS (eds_cluster_config) and
 * dynamic_resources (lds_config, cds_config).
 */
// Namespace import: under one runtime, vitest's module loader drops zod's `z` named export.
import * as z from "zod";
import type { SdsConfigSource } from "../bootstrap.ts";
import { oneOf } from "../proto-schema.ts";
import { isEmptyList, unsupportedField } from "../unsupported-field.ts";

/** WatchedDirectory: the directory whose moves reload the file (Envoy's atomic symlink swap). */
export const watchedDirectory = z.strictObject({ path: z.string().min(1) }).transform((w) => w.path);

/** PathConfigSource */
const pathConfigSource = z.strictObject({
  path: z.string().min(1),
  watched_directory: watchedDirectory.optional(),
});

const NO_SERVER = "polyvoy has no xDS client for a management server yet: use path_config_source";

/**
 * ConfigSource: the file and the directory to watch. `what` names the subscription for
 * initial_fetch_timeout's refusal (a file is read at once, before anything waits on it).
 */
export function configSourceSchema(what: string) {
  return z
    .strictObject({
      path: z.string().min(1).optional(),
      path_config_source: pathConfigSource.optional(),
      resource_api_version: z.literal("V3").optional(),
      initial_fetch_timeout: unsupportedField(`initial_fetch_timeout (a ${what} file is read before anything waits on it)`),
      api_config_source: unsupportedField(`api_config_source (${NO_SERVER})`),
      ads: unsupportedField(`ads (${NO_SERVER})`),
      self: unsupportedField(`self (${NO_SERVER})`),
      authorities: unsupportedField("authorities", isEmptyList),
    })
    .transform((c, ctx): SdsConfigSource => {
      const key = oneOf(c, ["path", "path_config_source"] as const, ctx, true);
      if (key === undefined) return z.NEVER;
      if (key === "path") return { path: c.path! };
      const source = c.path_config_source!;
      return { path: source.path, ...(typeof source.watched_directory === "string" ? { watchedDirectory: source.watched_directory } : {}) };
    });
}
