/** The package surface: `import "polyvoy"` picks the runtime's adapter; deno.json agrees with package.json. */
import { describe, expect, test } from "vitest";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, RUNTIMES } from "../support/proxy-process.ts";

const fixture = join(ROOT, "test/fixtures/import-polyvoy.mjs");
const commands: Record<string, [string, string[]]> = {
  node: [process.execPath, ["--import", "tsx", fixture]],
  bun: [join(ROOT, "node_modules/.bin/bun"), [fixture]],
  deno: [join(ROOT, "node_modules/.bin/deno"), ["run", "-A", fixture]],
};

describe.each(RUNTIMES)("import \"polyvoy\" on %s", (runtime) => {
  test("resolves to that runtime's adapter plus the core API", () => {
    const [cmd, args] = commands[runtime]!;
    const out = JSON.parse(execFileSync(cmd, args, { cwd: ROOT, encoding: "utf8" }));
    const name = `create${runtime[0]!.toUpperCase()}${runtime.slice(1)}Runtime`;
    expect(out).toEqual({ adapters: [name], runMain: "function", coreVersion: JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version });
  });
});

test("deno.json's version, exports and npm imports match package.json", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  const deno = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8"));
  expect(deno.version).toBe(pkg.version);
  expect(deno.exports["."]).toBe(pkg.exports["."].deno);
  expect(deno.exports["./core"]).toBe(pkg.exports["./core"]);
  for (const [name, version] of Object.entries(pkg.dependencies)) expect(deno.imports[name]).toBe(`npm:${name}@${version}`);
});
