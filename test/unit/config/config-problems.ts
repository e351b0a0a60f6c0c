/** What the config loader refuses, as the tests read it: its list of problems. */
import { expect } from "vitest";
import { ConfigError } from "../../../core/config/errors.ts";
import { loadBootstrap } from "../../../core/config/load.ts";

/** The problems `load` throws as a ConfigError (the test fails if it loads). */
export function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("config loaded but should have been rejected");
}

/** The problems of a YAML bootstrap. */
export function yamlProblems(yaml: string): string[] {
  return problemsOf(() => loadBootstrap(yaml, "yaml"));
}
