import type { Bootstrap } from "./bootstrap.ts";

/** How a config's text is written. */
export type ConfigFormat = "yaml" | "json";

/**
 * The format of a config file by its name. Envoy reads .yaml/.yml as YAML and .json as
 * JSON; we read anything but .json as YAML, which also accepts JSON.
 */
export function formatFromPath(path: string): ConfigFormat {
  return path.toLowerCase().endsWith(".json") ? "json" : "yaml";
}

/** A valid config: the bootstrap, and the document as read (snake_case keys) for /config_dump. */
export interface ValidConfig {
  bootstrap: Bootstrap;
  document: unknown;
  /** The DataSource files and environment variables its check read ("file NAME"), when any: their content may change while the text does not. */
  readsData?: readonly string[];
}

/** A config loaded and validated, or every problem found. */
export type LoadedConfig = ValidConfig | { problems: readonly string[] };
