/**
 * Reading a bootstrap the tracing config tests build (a JSON document): the lines the config
 * loader refuses it with, and the first listener's HCM tracing as the loader made it.
 */
import type { HttpConnectionManagerConfig, TracingConfig } from "../../core/config/bootstrap.ts";
import type { ConfigError } from "../../core/config/errors.ts";
import { loadBootstrap } from "../../core/config/load.ts";

/** The config loader's problems with `d`; none when it loads. */
export function problems(d: object): string[] {
  try {
    loadBootstrap(JSON.stringify(d), "json");
  } catch (err) {
    return (err as ConfigError).problems;
  }
  return [];
}

/** The tracing of the first listener's first HCM, as loaded (the test fails if `d` does not load). */
export function tracingOf(d: object): TracingConfig {
  return (loadBootstrap(JSON.stringify(d), "json").listeners[0]!.filterChains[0]!.filters[0]!.config as HttpConnectionManagerConfig).tracing!;
}
