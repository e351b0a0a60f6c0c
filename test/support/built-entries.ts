/**
 * The runtimes' entries of dist/ (`scripts/build-runtimes.mjs --entry <runtime>`), built once
 * per test run: node-code-cache, checked-config-cache, bun-split and deno-start-path each
 * test a fresh build of one or more of them, and each built them again (a bun or deno entry
 * takes seconds of CPU). A build leaves a stamp in the run's temp folder (temp-root.ts) with
 * the build id of the sources it was made from (scripts/build-id.mjs): a later file whose
 * sources are the same takes the entry as built; changed sources are built again.
 * The tests copy what they change (a bundle written over, appended to) out of dist/ first.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inject } from "vitest";
// @ts-expect-error: a plain .mjs script, without types
import { buildId as scriptsBuildId } from "../../scripts/build-id.mjs";
import { ROOT, type RuntimeName } from "./proxy-process.ts";

const buildId = scriptsBuildId as (root: string) => string;

/** Build `runtimes`' entries unless this run built them from the same sources already. */
export function buildEntries(runtimes: readonly RuntimeName[]): void {
  const id = buildId(ROOT);
  for (const runtime of runtimes) {
    const stamp = join(inject("tempRoot"), `built-entry-${runtime}`);
    if (existsSync(stamp) && readFileSync(stamp, "utf8") === id) continue;
    execFileSync(process.execPath, [join(ROOT, "scripts/build-runtimes.mjs"), "--entry", runtime], { cwd: ROOT, stdio: "pipe" });
    writeFileSync(stamp, id);
  }
}
