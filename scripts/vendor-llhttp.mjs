#!/usr/bin/env node
// Copies llhttp's WebAssembly build out of the pinned `undici` devDependency into
// core/http/codec/llhttp-wasm.ts, so the core carries its parser with it (no npm
// package, no node:buffer at run time). Run after changing undici's version:
//   node scripts/vendor-llhttp.mjs
// test/unit/http/codec/llhttp-vendored.test.ts fails while the copy and the package differ.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(import.meta.url);
const root = join(import.meta.dirname, "..");
const undiciVersion = JSON.parse(readFileSync(join(root, "node_modules/undici/package.json"), "utf8")).version;
const wasm = require(join(root, "node_modules/undici/lib/llhttp/llhttp-wasm.js"));
const sha256 = createHash("sha256").update(wasm).digest("hex");

writeFileSync(
  join(root, "core/http/codec/llhttp-wasm.ts"),
  `/**
 * llhttp 9 compiled to WebAssembly, as shipped in undici ${undiciVersion} (lib/llhttp/llhttp-wasm.js).
 * Vendored by scripts/vendor-llhttp.mjs: do not edit. sha256 of the module: ${sha256}
 */
export const LLHTTP_SOURCE = "undici@${undiciVersion} lib/llhttp/llhttp-wasm.js";
export const LLHTTP_WASM_SHA256 = "${sha256}";
export const LLHTTP_WASM_BASE64 =
  "${Buffer.from(wasm).toString("base64")}";
`,
);
console.log(`vendored llhttp wasm from undici ${undiciVersion}: ${wasm.length} bytes, sha256 ${sha256}`);
