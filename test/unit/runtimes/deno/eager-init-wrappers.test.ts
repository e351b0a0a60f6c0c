/**
 * scripts/eager-init-wrappers.mjs: the deno bundle's module-init functions parenthesized (so
 * that V8 compiles them with the bundle and Deno's code cache holds them), and nothing else
 * changed. The fixture is bundled as the deno entry is (esbuild, ESM, minified): a module
 * reached by a dynamic import() is wrapped in esbuild's lazy-init helper.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { build } from "esbuild";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
// @ts-expect-error: a build script, plain JavaScript without declarations
import { parenthesizeInitWrappers } from "../../../../scripts/eager-init-wrappers.mjs";

let folder: string;
let bundle: string;

beforeAll(async () => {
  folder = mkdtempSync(join(tmpdir(), "polyvoy-eager-init-"));
  // Strings and a regular expression with parentheses and braces in them: positions come from a parser, not from scanning.
  writeFileSync(join(folder, "shared.ts"), 'export const shared = { text: "})(()=>{", pattern: /\\)\\(\\{/.source };\n');
  writeFileSync(join(folder, "late.ts"), 'import { shared } from "./shared.ts";\nexport const late = `late ${shared.text} ${shared.pattern}`;\n');
  writeFileSync(
    join(folder, "main.ts"),
    'import { shared } from "./shared.ts";\nconst { late } = await import("./late.ts");\nexport const result = [shared.text, late].join("|");\n',
  );
  const out = await build({
    entryPoints: [join(folder, "main.ts")],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    minify: true,
    write: false,
  });
  bundle = out.outputFiles![0]!.text;
});

afterAll(() => {
  if (folder) rmSync(folder, { recursive: true, force: true });
});

async function run(source: string, name: string): Promise<unknown> {
  const file = join(folder, name);
  writeFileSync(file, source);
  return ((await import(pathToFileURL(file).href)) as { result: unknown }).result;
}

describe("the deno bundle's module-init functions in parentheses", () => {
  test("each wrapper esbuild made is parenthesized, and the program computes the same", async () => {
    const helper = /var ([\w$]+)=\([\w$]+,[\w$]+,[\w$]+\)=>\(\)=>\{if\(/.exec(bundle)?.[1];
    expect(helper).toBeDefined();
    const calls = bundle.split(`${helper}(()=>`).length - 1;
    expect(calls).toBeGreaterThanOrEqual(2); // shared.ts and late.ts
    const { source, wrappers } = parenthesizeInitWrappers(bundle);
    expect(wrappers).toBe(calls);
    expect(source.split(`${helper}((()=>`).length - 1).toBe(calls);
    expect(source.split(`${helper}(()=>`).length - 1).toBe(0);
    expect(source.length).toBe(bundle.length + 2 * calls);
    expect(await run(source, "eager.mjs")).toBe(await run(bundle, "lazy.mjs"));
    expect(await run(source, "eager-again.mjs")).toBe('})(()=>{|late })(()=>{ \\)\\(\\{');
  });

  test("a bundle without esbuild's lazy-init helper is refused, not passed on unchanged", () => {
    expect(() => parenthesizeInitWrappers('const a = () => 1;\nexport { a };\n')).toThrow(/lazy-init helper not found/);
  });
});
