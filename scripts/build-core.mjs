#!/usr/bin/env node
// `npm run build:core`: bundles core/index.ts — with zod, yaml and llhttp's WebAssembly
// (already inlined as base64 in core/http/codec/llhttp-wasm.ts) — into one ES module
// that imports nothing: dist/polyvoy-core.mjs. Copy it anywhere and write an adapter
// (runtimes/README.md). Prints the bundle's size.
import { build } from "esbuild";
import { readFileSync, statSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const outfile = join(root, "dist/polyvoy-core.mjs");
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

await build({
  entryPoints: [join(root, "core/index.ts")],
  outfile,
  bundle: true,
  format: "esm",
  // "neutral": no Node built-ins, no browser shims — the core needs neither.
  platform: "neutral",
  mainFields: ["module", "main"],
  target: "es2022",
  minify: true,
  legalComments: "eof",
  banner: { js: `// polyvoy core ${version}: one self-contained ES module (llhttp WebAssembly, zod and yaml included).` },
});

const bytes = statSync(outfile).size;
const gzipped = gzipSync(readFileSync(outfile)).length;
console.log(`dist/polyvoy-core.mjs: ${(bytes / 1024).toFixed(0)} KiB (${(gzipped / 1024).toFixed(0)} KiB gzipped)`);
