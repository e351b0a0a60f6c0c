#!/usr/bin/env node
// `npm run build:core`: bundles core/index.ts — with yaml, re2js and llhttp's WebAssembly
// (already inlined as base64 in core/http/codec/llhttp-wasm.ts) — into one ES module
// that imports nothing: dist/polyvoy-core.mjs. Copy it anywhere and write an adapter
// (runtimes/README.md), with the pieces adapters share from the adapter kit
// (runtimes/kit/index.ts), bundled the same way: dist/polyvoy-adapter-kit.mjs.
// Prints the bundles' sizes.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { basename, join } from "node:path";
import { FENGARI_ALIASES, fengariPlugin } from "./fengari-stubs.mjs";

const root = join(import.meta.dirname, "..");
const outfile = join(root, "dist/polyvoy-core.mjs");
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

const kitOutfile = join(root, "dist/polyvoy-adapter-kit.mjs");
const common = {
  bundle: true,
  format: "esm",
  // "neutral": no Node built-ins, no browser shims — the core needs neither.
  platform: "neutral",
  mainFields: ["module", "main"],
  target: "es2022",
  minify: true,
  legalComments: "eof",
  alias: FENGARI_ALIASES,
  plugins: [fengariPlugin()],
};
await build({
  ...common,
  entryPoints: [join(root, "core/index.ts")],
  outfile,
  banner: { js: `// polyvoy core ${version}: one self-contained ES module (llhttp WebAssembly, yaml and re2js included).` },
});
await build({
  ...common,
  entryPoints: [join(root, "runtimes/kit/index.ts")],
  outfile: kitOutfile,
  banner: { js: `// polyvoy adapter kit ${version}: the pieces port adapters share (runtimes/kit).` },
});

// Type declarations for the public API, the core's and the kit's, laid out as the sources
// (dist/types/core/**, dist/types/runtimes/kit/**, relative imports pointing at .js as
// declaration consumers expect), and dist/polyvoy-core.d.mts and
// dist/polyvoy-adapter-kit.d.mts so `import … from "./polyvoy-core.mjs"` is typed.
// (build-runtimes.mjs lays the runtimes' declarations beside them in the same tree.)
// `--bundles-only` (npm run build): build-runtimes.mjs, run next, emits all of them at once.
const types = join(root, "dist/types");
if (!process.argv.includes("--bundles-only")) {
  rmSync(types, { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [
      join(root, "node_modules/typescript/bin/tsc"),
      ...["--declaration", "--emitDeclarationOnly", "--outDir", types, "--rootDir", root],
      ...["--target", "es2022", "--module", "esnext", "--moduleResolution", "bundler", "--lib", "es2022"],
      ...["--strict", "--skipLibCheck", "--allowImportingTsExtensions", "--verbatimModuleSyntax", "--isolatedModules"],
      join(root, "core/index.ts"),
      join(root, "runtimes/kit/index.ts"),
    ],
    { stdio: "inherit" },
  );
  const rewrite = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) rewrite(path);
      else if (entry.name.endsWith(".d.ts")) writeFileSync(path, readFileSync(path, "utf8").replace(/(from\s+["'](?:\.{1,2}\/)[^"']*)\.ts(["'])/g, "$1.js$2"));
    }
  };
  rewrite(types);
}
writeFileSync(join(root, "dist/polyvoy-core.d.mts"), 'export * from "./types/core/index.js";\n');
writeFileSync(join(root, "dist/polyvoy-adapter-kit.d.mts"), 'export * from "./types/runtimes/kit/index.js";\n');

for (const file of [outfile, kitOutfile]) {
  const bytes = statSync(file).size;
  const gzipped = gzipSync(readFileSync(file)).length;
  console.log(`dist/${basename(file)}: ${(bytes / 1024).toFixed(0)} KiB (${(gzipped / 1024).toFixed(0)} KiB gzipped)`);
}
