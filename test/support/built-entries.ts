/**
 * The runtimes' entries of dist/ (`scripts/build-runtimes.mjs --entry <runtime>`), built once
 * per test run: the files that start node from the package's entry (proxy-process.ts,
 * startNodeFromPackage), node-code-cache, checked-config-cache, bun-split and deno-start-path each
 * test a fresh build of one or more of them, and each built them again (a bun or deno entry
 * takes seconds of CPU). A build leaves a stamp in the run's temp folder (temp-root.ts) with
 * the build id of the sources it was made from (scripts/build-id.mjs): a later file whose
 * sources are the same takes the entry as built; changed sources are built again. The
 * package's test builds them all (npm pack's prepack) and says so (buildingAllEntries).
 * The tests copy what they change (a bundle written over, appended to) out of dist/ first.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { inject } from "vitest";
// @ts-expect-error: a plain .mjs script, without types
import { buildId as scriptsBuildId } from "../../scripts/build-id.mjs";
import type { RuntimeName } from "./proxy-process.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const buildId = scriptsBuildId as (root: string) => string;

/** The one-file entry scripts/build-runtimes.mjs writes for each runtime. */
const ENTRY_FILES = { node: "dist/polyvoy-node.mjs", bun: "dist/polyvoy-bun.js", deno: "dist/polyvoy-deno.js" } as const;
const stampOf = (runtime: RuntimeName) => join(inject("tempRoot"), `built-entry-${runtime}`);

/** Build `runtimes`' entries unless this run built them from the same sources already. */
export function buildEntries(runtimes: readonly RuntimeName[]): void {
  const id = buildId(ROOT);
  for (const runtime of runtimes) {
    if (existsSync(stampOf(runtime)) && readFileSync(stampOf(runtime), "utf8") === id) continue;
    execFileSync(process.execPath, [join(ROOT, "scripts/build-runtimes.mjs"), "--entry", runtime], { cwd: ROOT, stdio: "pipe" });
    writeFileSync(stampOf(runtime), id);
  }
}

/**
 * Run `build` (which builds every runtime's entry: `npm pack`, whose prepack is `npm run
 * build`), then take the entries as built from the sources as they were before it.
 */
export function buildingAllEntries<T>(build: () => T): T {
  const id = buildId(ROOT);
  const startedAt = Date.now();
  const result = build();
  // Stamped only if built now (an `npm pack` with scripts turned off builds nothing).
  for (const runtime of ["node", "bun", "deno"] as const) {
    const entry = join(ROOT, ENTRY_FILES[runtime]);
    if (existsSync(entry) && statSync(entry).mtimeMs >= startedAt - 1000) writeFileSync(stampOf(runtime), id);
  }
  return result;
}
