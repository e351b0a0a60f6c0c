/**
 * JSR: `deno publish --dry-run` is clean (no slow types: explicit types on the public API),
 * offline, and publishes the sources of deno.json's exports with nothing from the tests.
 */
import { expect, test } from "vitest";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../support/proxy-process.ts";

test("deno publish --dry-run passes and lists only the package's sources, README and LICENSE", () => {
  // --allow-dirty: the check is of the files as they are, committed or not.
  const result = spawnSync(join(ROOT, "node_modules/.bin/deno"), ["publish", "--dry-run", "--allow-dirty"], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  const out = result.stdout + result.stderr;
  expect(out).not.toMatch(/^error/m);
  expect(result.status).toBe(0);
  expect(out).toContain("Simulating publish of @polyvoy/polyvoy@");
  const files = [...out.matchAll(/file:\/\/\S+/g)].map((m) => m[0].slice(`file://${ROOT}/`.length));
  expect(files).toEqual(expect.arrayContaining(["LICENSE", "README.md", "core/index.ts", "runtimes/deno/index.ts", "runtimes/kit/index.ts"]));
  expect(files.filter((f) => !/^(core\/.+\.ts|runtimes\/(deno|kit)\/([\w-]+\/)?[\w-]+\.ts|README\.md|LICENSE|deno\.json)$/.test(f))).toEqual([]);
}, 60_000);
