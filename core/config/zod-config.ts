/**
 * zod's global settings for the config loader, applied before any schema is built (every
 * schema module imports lazy-schema.ts, which imports this first): zod reads them when it
 * constructs a schema.
 *
 * - jitless: a config is parsed once; zod's JIT, which compiles a parser for each object
 *   schema the first time it parses, costs more than it saves here.
 * - No memoizer: zod 4.6 (v4/core/memoizer.js) gives every container cycle support (a parse re-entering
 *   the same input object), and the first parse of each container walks its whole subtree
 *   looking for cycles, again for every subtree that holds a z.lazy (most of ours:
 *   lazySchema), and keeps a WeakMap entry per schema. A config never reaches zod with
 *   shared or cyclic objects: readProtoTree (proto-json.ts) builds a fresh tree, and the
 *   free-form values it passes through (Struct, Any's TypedStruct value) are z.unknown
 *   leaves zod does not descend into. So the walk is pure start-up cost, and its weak
 *   entries are visited by some engines' collector in every pause (docs/performance.md).
 */
// Namespace import: under one runtime, vitest's module loader drops zod's `z` named export.
import * as z from "zod";

const NO_MEMOIZER: z.core.$ZodMemoizer = {
  attach() {},
  guard() {},
  alloc: (_inst, _payload, empty) => empty,
};

z.config({ jitless: true, memoizer: NO_MEMOIZER });
