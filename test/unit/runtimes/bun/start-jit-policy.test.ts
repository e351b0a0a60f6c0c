/**
 * The Bun entry holds JavaScriptCore's JIT back while it starts (runtimes/bun/start-jit-policy.ts):
 * the call must come before the core's modules run their top-level code, which is most of
 * what start-up runs once, and the normal policy must come back once the listeners serve.
 * Modules evaluate in the order of main.ts's imports (ES module semantics, which esbuild's
 * bundle keeps), so: what main.ts imports before start-jit-policy.ts, and start-jit-policy.ts
 * itself, reach no core module.
 */
import type { Metafile } from "esbuild";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { moduleGraph, ROOT } from "../../../support/module-graph.ts";
const ENTRY = "runtimes/bun/main.ts";
const POLICY = "runtimes/bun/start-jit-policy.ts";

/** The bundled files `from` reaches through static imports, itself included. */
function reach(metafile: Metafile, from: string, seen = new Set<string>()): Set<string> {
  if (seen.has(from)) return seen;
  seen.add(from);
  for (const imported of metafile.inputs[from]?.imports ?? []) if (imported.kind === "import-statement" && !imported.external) reach(metafile, imported.path, seen);
  return seen;
}

test("runtimes/bun/main.ts scales the JIT's thresholds before any core module runs, and restores them once runMain resolves", async () => {
  const metafile = await moduleGraph(ENTRY);
  const imports = metafile.inputs[ENTRY]!.imports.filter((i) => i.kind === "import-statement" && !i.external).map((i) => i.path);
  const at = imports.indexOf(POLICY);
  expect(at).toBeGreaterThanOrEqual(0);
  expect(at).toBeLessThan(imports.indexOf("core/main.ts"));
  const before = new Set<string>();
  for (const path of imports.slice(0, at + 1)) reach(metafile, path, before);
  expect([...before].filter((path) => path.startsWith("core/"))).toEqual([]);
  // runMain's continuation sets the normal policy first.
  expect(readFileSync(join(ROOT, ENTRY), "utf8")).toMatch(/runMain\([^]*\.then\(\(\) => \{\s*servingJitPolicy\(\);/);
});
