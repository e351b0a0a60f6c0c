#!/usr/bin/env node
// `npm run build:binaries`: standalone `polyvoy` executables that run a config with nothing
// installed, built offline from what `npm ci` brings:
// - dist/bin/polyvoy-bun: `bun build --compile --bytecode` of the Bun entry (as
//   dist/polyvoy-bun.js, bundled as CommonJS), on the bun executable of node_modules.
// - dist/bin/polyvoy-node: a Node single-executable application (Node's SEA: a CommonJS
//   bundle of the Node entry, `node --experimental-sea-config`, the blob injected into a
//   copy of this node with postject, a pinned devDependency).
// Deno's `deno compile` downloads a denort runtime for the target on first use (it is not
// in the deno npm package), so it cannot build offline: there is no deno binary here.
// Both are bundled here from the sources (not from `npm run build`'s dist/ files, which they
// once were made of): nothing else is built first. `node scripts/build-binaries.mjs bun` (or
// node) builds one.
import { build } from "esbuild";
import { buildId } from "./build-id.mjs";
import { FENGARI_ALIASES, fengariPlugin } from "./fengari-stubs.mjs";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const out = join(root, "dist/bin");
const bin = join(root, "node_modules/.bin");
mkdirSync(out, { recursive: true });
const size = (file) => `${(statSync(file).size / 1024 / 1024).toFixed(0)} MB`;

const only = process.argv.slice(2).filter((a) => !a.startsWith("--"));
if (only.length === 0 || only.includes("bun")) {
  // The Bun entry bundled by esbuild as CommonJS, as build-runtimes.mjs makes it before Bun
  // wraps it (a --compile of that wrapped file runs nothing), compiled with its bytecode.
  const work = join(out, "bun-compile");
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work);
  const script = join(work, "polyvoy-bun.cjs");
  await build({
    entryPoints: [join(root, "runtimes/bun/main.ts")],
    bundle: true,
    format: "cjs",
    platform: "neutral",
    mainFields: ["module", "main"],
    target: "es2022",
    minify: true,
    legalComments: "eof",
    external: ["node:*", "bun:*"],
    alias: FENGARI_ALIASES,
    plugins: [fengariPlugin()],
    outfile: script,
    logLevel: "warning",
    define: { POLYVOY_BUILD_ID: JSON.stringify(buildId(root)) },
  });
  const target = join(out, "polyvoy-bun");
  execFileSync(join(bin, "bun"), ["build", "--compile", "--bytecode", script, "--outfile", target], { stdio: ["ignore", "ignore", "inherit"] });
  rmSync(work, { recursive: true, force: true });
  console.error(`dist/bin/polyvoy-bun: ${size(target)}`);
}

if (only.length === 0 || only.includes("node")) {
  // Node 20's SEA runs one CommonJS script (no top-level await, no import of files): the
  // Node entry's three lines again, without the await, bundled as CommonJS.
  const work = join(out, "node-sea");
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work);
  const script = join(work, "polyvoy-node-sea.cjs");
  await build({
    stdin: {
      contents:
        'import "./runtimes/kit/process-guards.ts";\nimport { runMain } from "./core/main.ts";\nimport { createNodeRuntime } from "./runtimes/node/node-runtime.ts";\n' +
        'import { checkedConfigStore } from "./runtimes/kit/checked-config-store.ts";\nimport { BUILD_ID } from "./runtimes/kit/build-id.ts";\n' +
        // A single-executable application's argv is [executable, argv[0], ...arguments]: Node
        // repeats the argv[0] it was started with, as typed (`./polyvoy`, or a name found on
        // PATH; node_sea.cc's FixupArgsForSEA). A worker (--concurrency) is started by
        // node:cluster as `executable process.argv[1] ...arguments`, with POLYVOY_WORKER_INDEX in
        // its environment (runtimes/kit/workers/worker-identity.ts): so argv[1] becomes the
        // executable's absolute path (a relative one would reach the worker as an argument),
        // and in a worker that path is not an argument.
        "process.argv[1] = process.execPath;\n" +
        // No module loader in a SEA: a config naming a user's module gets this reason (runtimes/kit/import-module.ts).
        'globalThis[Symbol.for("polyvoy.import")] = () => Promise.reject(new Error("the Node executable cannot load modules (a single-executable application has no module loader); run polyvoy from the package (npx polyvoy)"));\n' +
        "const args = process.argv.slice(2);\n" +
        "if (process.env.POLYVOY_WORKER_INDEX !== undefined && args[0] === process.execPath) args.shift();\n" +
        "void runMain(createNodeRuntime(), args, { checkedConfigs: checkedConfigStore(BUILD_ID) });\n",
      resolveDir: root,
      loader: "ts",
    },
    bundle: true,
    format: "cjs",
    // A SEA's main script has no loader for import() on node 20 ("A dynamic import callback
    // was not specified"): node: built-ins come by require() instead (a user's filter module,
    // which only import() could load, cannot load in the Node executable).
    supported: { "dynamic-import": false },
    platform: "node",
    // The dependencies' ESM builds, as in build-runtimes.mjs.
    mainFields: ["module", "main"],
    conditions: ["import"],
    target: "node20",
    minify: true,
    legalComments: "eof",
    outfile: script,
    logLevel: "warning",
    define: { POLYVOY_BUILD_ID: JSON.stringify(buildId(root)) },
  });
  const blob = join(work, "polyvoy.blob");
  const config = join(work, "sea-config.json");
  // useCodeCache: V8 compiles the script at build time and the executable starts from its code cache.
  writeFileSync(config, JSON.stringify({ main: script, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }));
  execFileSync(process.execPath, ["--experimental-sea-config", config], { stdio: ["ignore", "ignore", "inherit"] });
  const target = join(out, "polyvoy-node");
  rmSync(target, { force: true });
  copyFileSync(process.execPath, target);
  chmodSync(target, 0o755);
  // postject's ELF writer warns about node's .note sections on every run; shown only if it fails.
  const inject = spawnSync(
    process.execPath,
    [join(root, "node_modules/postject/dist/cli.js"), target, "NODE_SEA_BLOB", blob, "--sentinel-fuse", "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2"],
    { encoding: "utf8" },
  );
  if (inject.status !== 0) throw new Error(`postject failed:\n${inject.stdout}${inject.stderr}`);
  rmSync(work, { recursive: true, force: true });
  console.error(`dist/bin/polyvoy-node: ${size(target)}`);
}
