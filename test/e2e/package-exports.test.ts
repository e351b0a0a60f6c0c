/**
 * The package surface from this checkout: `import "polyvoy"` picks the runtime's adapter
 * (from the TypeScript sources: the "polyvoy-source" export condition, or bun's; the built
 * package is tested in package-install.test.ts); deno.json agrees with package.json.
 */
import { describe, expect, test } from "vitest";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, RUNTIMES } from "../support/proxy-process.ts";

const fixture = join(ROOT, "test/fixtures/import-polyvoy.mjs");
const commands: Record<string, [string, string[]]> = {
  node: [process.execPath, ["--conditions=polyvoy-source", "--import", "tsx", fixture]],
  bun: [join(ROOT, "node_modules/.bin/bun"), [fixture]],
  deno: [join(ROOT, "node_modules/.bin/deno"), ["run", "-A", "--conditions=polyvoy-source", fixture]],
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
  // The same API: JSR publishes the sources that the npm package's JavaScript is built from.
  expect(deno.exports["."]).toBe(pkg.exports["."]["polyvoy-source"].deno);
  for (const name of ["./core", "./kit", "./deno"]) expect(deno.exports[name]).toBe(pkg.exports[name]["polyvoy-source"]);
  for (const [name, version] of Object.entries(pkg.dependencies)) expect(deno.imports[name]).toBe(`npm:${name}@${version}`);
});
