/**
 * A schema built the first time a config is checked against it, not when its module loads
 * (z.lazy memoises what its getter returns). Building zod schemas is most of what loading
 * the config loader costs, and most of them are for fields and extensions a given config
 * does not use: only the listener filters, HTTP filters, TLS contexts, health checks and
 * load-balancing policies a config names are built.
 */
// First: zod reads its global settings when a schema is built.
import "./zod-config.ts";
// Namespace import: under one runtime, vitest's module loader drops zod's `z` named export.
import * as z from "zod";

export function lazySchema<T extends z.ZodType>(build: () => T): z.ZodLazy<T> {
  return z.lazy(build);
}
