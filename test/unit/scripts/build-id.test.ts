/**
 * scripts/build-id.mjs: the build id the command keeps checked configs under changes with
 * every file the bundles are made from — the build scripts included — and only with them.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
// @ts-expect-error: a plain .mjs script, without types
import { buildId } from "../../../scripts/build-id.mjs";

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A tree with one file in each place the id reads. */
function tree(): string {
  const root = mkdtempSync(join(tmpdir(), "polyvoy-build-id-"));
  roots.push(root);
  for (const dir of ["core", "runtimes/node", "bin", "scripts", "docs", "node_modules/dep"]) mkdirSync(join(root, dir), { recursive: true });
  writeFileSync(join(root, "core/a.ts"), "export const a = 1;\n");
  writeFileSync(join(root, "runtimes/node/main.ts"), "export {};\n");
  writeFileSync(join(root, "bin/node-code-cache.js"), "// cache\n");
  writeFileSync(join(root, "scripts/build-runtimes.mjs"), "// bundle\n");
  writeFileSync(join(root, "docs/x.md"), "docs\n");
  writeFileSync(join(root, "package.json"), JSON.stringify({ dependencies: { dep: "1.0.0" } }));
  writeFileSync(join(root, "package-lock.json"), "{}\n");
  writeFileSync(join(root, "node_modules/dep/package.json"), JSON.stringify({ version: "1.0.0" }));
  return root;
}

describe("build id", () => {
  test("the same files give the same id", () => {
    expect(buildId(tree())).toBe(buildId(tree()));
  });

  test.each(["core/a.ts", "runtimes/node/main.ts", "bin/node-code-cache.js", "scripts/build-runtimes.mjs", "package-lock.json", "node_modules/dep/package.json"])("a change to %s changes it", (file) => {
    const root = tree();
    const before = buildId(root);
    writeFileSync(join(root, file), "changed\n");
    expect(buildId(root)).not.toBe(before);
  });

  test("a file the bundles are not made from does not change it", () => {
    const root = tree();
    const before = buildId(root);
    writeFileSync(join(root, "docs/x.md"), "other docs\n");
    expect(buildId(root)).toBe(before);
  });
});
