import type { ConfigFormat, LoadedConfig } from "./config-source.ts";
import type { Runtime } from "../port.ts";
import { hasRegisteredHttpFilters } from "../http/user-filter/user-filter-registry.ts";

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
 * Validate where the runtime wants it: off the proxy's heap when it offers that
 * (port.ts, loadConfigIsolated), else here. The loader is
 * imported only now, so a runtime that validates elsewhere never loads zod or yaml.
 */
export async function validateConfig(runtime: Runtime, text: string, format: ConfigFormat): Promise<LoadedConfig> {
  // Filters registered in this heap (registerHttpFilter) are unknown to an isolated validator.
  if (runtime.loadConfigIsolated && !hasRegisteredHttpFilters()) return runtime.loadConfigIsolated(text, format);
  const { loadConfig } = await import("./load.ts");
  return loadConfig(text, format);
}
