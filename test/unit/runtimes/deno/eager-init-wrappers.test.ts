/**
 * scripts/eager-init-wrappers.mjs: the deno bundle's module-init functions parenthesized (so
 * that V8 compiles them with the bundle and Deno's code cache holds them), and nothing else
 * changed. The fixture is bundled as the deno entry is (esbuild, ESM, minified): a module
 * reached by a dynamic import() is wrapped in esbuild's lazy-init helper.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { build } from "esbuild";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
// @ts-expect-error: a build script, plain JavaScript without declarations
import { parenthesizeInitWrappers, parenthesizeSplitOutputs } from "../../../../scripts/eager-init-wrappers.mjs";

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

/** `entry` built as the package's deno command is (scripts/build-runtimes.mjs: splitting, ESM, minified) into `outdir`, not written. */
interface OutputFile {
  path: string;
  text: string;
}

async function splitBuild(entry: string, outdir: string): Promise<OutputFile[]> {
  const out = await build({ entryPoints: { main: join(folder, entry) }, bundle: true, format: "esm", platform: "neutral", target: "es2022", minify: true, splitting: true, outdir, outExtension: { ".js": ".mjs" }, write: false });
  return out.outputFiles!.map(({ path, text }) => ({ path, text }));
}

async function runSplit(files: OutputFile[]): Promise<unknown> {
  for (const { path, text } of files) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
  const main = files.find(({ path }) => path.endsWith("/main.mjs"))!.path;
  return ((await import(pathToFileURL(main).href)) as { result: unknown }).result;
}

describe("the deno command's chunks (a code-split build): module-init functions in parentheses", () => {
  test("a wrapper in a chunk that imports esbuild's helper from the shared chunk is parenthesized, and the program computes the same", async () => {
    // A module that is require()d keeps esbuild's wrapper even when split; from two chunks,
    // its wrapper and the helper are each in a chunk of their own.
    writeFileSync(join(folder, "required.ts"), 'export const value = "required })(()=>{";\n');
    writeFileSync(join(folder, "one.ts"), 'declare const require: (s: string) => { value: string };\nexport const one = () => require("./required.ts").value + "|1";\n');
    writeFileSync(join(folder, "two.ts"), 'declare const require: (s: string) => { value: string };\nexport const two = () => require("./required.ts").value + "|2";\n');
    writeFileSync(join(folder, "split.ts"), 'const { one } = await import("./one.ts");\nconst { two } = await import("./two.ts");\nexport const result = [one(), two()].join(",");\n');
    const files = await splitBuild("split.ts", join(folder, "lazy-split"));
    const home = files.filter(({ text }) => /var [\w$]+=\([\w$]+,[\w$]+,[\w$]+\)=>\(\)=>\{if\(/.test(text));
    expect(home).toHaveLength(1);
    // The wrapper is in a chunk other than the helper's, which calls it by an imported name.
    const wrapped = files.filter(({ text }) => /\b[\w$]+\(\(\)=>\{[\w$]+="required/.test(text));
    expect(wrapped).toHaveLength(1);
    expect(wrapped[0]!.path).not.toBe(home[0]!.path);
    const { files: eager, wrappers }: { files: OutputFile[]; wrappers: number } = parenthesizeSplitOutputs(files);
    expect(wrappers).toBe(1);
    const rewritten = eager.find(({ path }) => path === wrapped[0]!.path)!.text;
    expect(rewritten).toMatch(/\b[\w$]+\(\(\(\)=>\{[\w$]+="required/);
    expect(rewritten.length).toBe(wrapped[0]!.text.length + 2);
    // Only that file changed.
    expect(eager.filter((file, i) => file.text !== files[i]!.text).map(({ path }) => path)).toEqual([wrapped[0]!.path]);
    const lazyResult = await runSplit(files);
    const eagerResult = await runSplit(eager.map(({ path, text }) => ({ path: path.replace("/lazy-split/", "/eager-split/"), text })));
    expect(eagerResult).toBe(lazyResult);
    expect(eagerResult).toBe("required })(()=>{|1,required })(()=>{|2");
  });

  test("chunks without esbuild's helper (polyvoy's ESM sources, split at their import()s) are passed on unchanged", async () => {
    const files = await splitBuild("main.ts", join(folder, "plain-split"));
    expect(files.length).toBeGreaterThanOrEqual(2); // late.ts is a chunk of its own
    const { files: out, wrappers }: { files: OutputFile[]; wrappers: number } = parenthesizeSplitOutputs(files);
    expect(wrappers).toBe(0);
    expect(out).toEqual(files);
  });
});
