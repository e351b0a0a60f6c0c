import type { ConfigFormat, LoadedConfig } from "./config-source.ts";
import { loadRegexEngine, mayHoldRegex } from "./regex-engine.ts";
import { withDataSources, type DataSourceReader } from "./data-source-files.ts";

export { readFailure } from "./read-failure.ts";

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
