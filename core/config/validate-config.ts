import type { ConfigFormat, LoadedConfig } from "./config-source.ts";
import { loadRegexEngine, mayHoldRegex } from "./regex-engine.ts";
import { withDataSources, type DataSourceReader } from "./data-source-files.ts";

/** Why a config file could not be read, in words, by the PortError's code; anything else as the runtime said it. */
export function readFailure(err: unknown): string {
  const e = (err && typeof err === "object" ? err : {}) as { code?: unknown; message?: unknown };
  switch (e.code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
      return "permission denied";
    case "EISDIR":
      return "it is a directory, not a file";
    default:
      return typeof e.message === "string" ? e.message : String(err);
  }
}

/**
 * Load and validate a config. The loader (zod, yaml, the schemas) is imported only now,
 * so the proxy's own modules load without it (test/unit/startup-imports.test.ts).
 * The schemas the check built are let go after it (lazy-schema.ts): a config is checked at
 * start and on a reload, and holding them in between is memory for nothing.
 * `reader` reads the DataSource files and environment variables the config names
 * (data-source-files.ts); without it, a config naming one is refused.
 */
export async function validateConfig(text: string, format: ConfigFormat, overrideYaml?: string, reader?: DataSourceReader): Promise<LoadedConfig> {
  // The RE2 engine only for a config that may hold a regex (regex-engine.ts).
  const regex = mayHoldRegex(text) || (overrideYaml !== undefined && mayHoldRegex(overrideYaml));
  const [{ loadConfig, releaseSchemas }] = await Promise.all([import("./load.ts"), regex ? loadRegexEngine() : undefined]);
  try {
    const { result, used } = await withDataSources(reader, () => loadConfig(text, format, overrideYaml));
    return used.length > 0 && "bootstrap" in result ? { ...result, readsData: used } : result;
  } finally {
    releaseSchemas();
  }
}
