#!/usr/bin/env node
// `npm run build:runtimes` (part of `npm run build`, which `npm pack` runs first): what the
// npm package runs and imports, all made with esbuild from the TypeScript sources.
//
// - dist/polyvoy-node.mjs, dist/polyvoy-bun.js, dist/polyvoy-deno.js: the command, one
//   file per runtime (core, that runtime's adapter, yaml, re2js and llhttp's
//   WebAssembly), runnable with nothing installed: `node dist/polyvoy-node.mjs -c envoy.yaml`.
//   bin/polyvoy.js starts the one for the runtime it runs on (on bun and deno, dist/bun/
//   and dist/deno/ instead).
// - dist/deno/main.mjs (+ chunks/): the deno entry split at its import()s, which the
//   package's command runs on Deno (denoSplitEntry below).
// - dist/bun/main.js (+ chunks/, each with its .jsc): the bun entry split the same way,
//   which the package's command runs on Bun (bunSplitEntry below).
// - dist/lib/{node,deno,core,kit}.mjs (+ shared chunks): the library that `import "polyvoy"`,
//   "polyvoy/core" … resolve to on node and deno; one module graph, so `polyvoy` and
//   `polyvoy/core` share their classes (instanceof ConfigError holds across them).
// - dist/types/**: declarations for all of it (core/ and runtimes/ as in the sources).
import { build, transform } from "esbuild";
import { link } from "../bin/node-code-cache.js";
import { buildId } from "./build-id.mjs";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { gzipSync } from "node:zlib";
import { join, relative } from "node:path";
import { FENGARI_ALIASES, fengariPlugin } from "./fengari-stubs.mjs";

const root = join(import.meta.dirname, "..");
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

const common = {
  bundle: true,
  format: "esm",
  // "neutral", as the core bundle (build-core.mjs): the dependencies' ESM builds (with
  // platform "node", yaml's CommonJS build came in, whose require("process") fails on deno).
  platform: "neutral",
  mainFields: ["module", "main"],
  target: "es2022",
  minify: true,
  legalComments: "eof",
  // The runtimes' own modules stay imports; everything else is inside.
  external: ["node:*", "bun:*"],
  alias: FENGARI_ALIASES,
  // Kept first by the builds that add plugins of their own.
  plugins: [fengariPlugin()],
  logLevel: "warning",
  define: { POLYVOY_BUILD_ID: JSON.stringify(buildId(root)) },
};

// Shared with bin/node-code-cache.js, which finds the script between them.
const NODE_SCRIPT_BEGIN = "\n//#polyvoy-script-begin\n";
const NODE_SCRIPT_END = "\n//#polyvoy-script-end\n";
// The node bundle's yaml stub (lazyYamlPlugin), by its metafile name.
const YAML_STUB = "polyvoy-stub:yaml";
// Before each lazy script, with its index (bin/node-code-cache.js); each ends with NODE_SCRIPT_END.
const NODE_LAZY_BEGIN = "\n//#polyvoy-lazy-script-begin ";
/** The lazy script's modules: the targets of import()s outside the config loader (which every start runs). */
const NODE_LAZY_TARGET = /^(?!core\/config\/(?!xds\/)|runtimes\/node\/)/;

/**
 * What the node scripts' require()s answer, for `node polyvoy-node.mjs` (run as a module
 * here): bin/node-code-cache.js's own `link`, whose lazy scripts are compiled with their code
 * cache there and are functions of the module here. Self-contained (no outer names), so its
 * text is the function.
 */
const NODE_LINK = link.toString();

// The bun split build's entry (bunSplitEntry), made by a plugin.
const BUN_SPLIT_ENTRY = "polyvoy:bun-split-entry";

// The global (Symbol.for) where the node entry finds an import() of a real module's.
const IMPORT_HOOK = "polyvoy.import";

// `--entry node` (bun, deno): that runtime's one-file entry only, none of the rest (for a
// test that needs just it: test/e2e/node-code-cache.test.ts).
const onlyEntry = process.argv.includes("--entry") ? process.argv[process.argv.indexOf("--entry") + 1] : undefined;
const mains = [
  ["node", "dist/polyvoy-node.mjs"],
  ["bun", "dist/polyvoy-bun.js"],
  ["deno", "dist/polyvoy-deno.js"],
].filter(([runtime]) => onlyEntry === undefined || runtime === onlyEntry);
if (mains.length === 0) throw new Error(`--entry: no runtime '${onlyEntry}' (node, bun or deno)`);
// A fresh clone has no dist/ (`--entry node` may run before any other build).
mkdirSync(join(root, "dist"), { recursive: true });
for (const [runtime, outfile] of mains) {
  const banner = `// polyvoy ${version} on ${runtime}: \`${runtime === "deno" ? "deno run -A" : runtime} ${outfile.slice(5)} -c envoy.yaml\` (core and ${runtime} adapter in one file).`;
  if (runtime === "node") {
    writeFileSync(join(root, outfile), await nodeScriptModule(banner));
    continue;
  }
  if (runtime === "bun") {
    await bunBytecodeEntry(banner, join(root, outfile));
    await bunSplitEntry();
    continue;
  }
  // Deno: its code cache is made before the bundle runs; parenthesized module-init functions are in it.
  const out = await build({
    ...common,
    entryPoints: [join(root, `runtimes/${runtime}/main.ts`)],
    outfile: join(root, outfile),
    banner: { js: banner },
    write: false,
  });
  // Loaded only here: it brings TypeScript's parser (~1 s of CPU), which the other entries do not need.
  const { parenthesizeInitWrappers } = await import("./eager-init-wrappers.mjs");
  const { source } = parenthesizeInitWrappers(out.outputFiles[0].text);
  await transform(source, { loader: "js", format: "esm" }); // throws if the rewrite broke the syntax
  writeFileSync(join(root, outfile), source);
  await denoSplitEntry();
}

/**
 * The package's command on Deno (bin/polyvoy.js): runtimes/deno/main.ts split into
 * dist/deno/main.mjs and the chunks it imports, statically (what every start loads) or by
 * import() (a filter, the admin, TLS, xDS, re2js … loaded when a config names them). Deno
 * reads, compiles and looks up the code cache of every byte of a module it loads, so a
 * start reads only what it runs, not the whole 1.4 MB of dist/polyvoy-deno.js, which stays
 * the one file to vendor (`deno run -A polyvoy-deno.js`). Same sources and options as it.
 */
async function denoSplitEntry() {
  const outdir = join(root, "dist/deno");
  const out = await build({
    ...common,
    entryPoints: { main: join(root, "runtimes/deno/main.ts") },
    outdir,
    outExtension: { ".js": ".mjs" },
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    // No version in it: a chunk's name is its content's hash, and a chunk whose code did not
    // change keeps its name in the next release (a running proxy upgraded in place still
    // finds those; runtimes/README.md says to restart it).
    banner: { js: `// polyvoy on deno, the package's command (bin/polyvoy.js); dist/polyvoy-deno.js is the same in one file.` },
    write: false,
  });
  const { parenthesizeSplitOutputs } = await import("./eager-init-wrappers.mjs");
  const built = out.outputFiles.map(({ path, text }) => ({ path, text }));
  const { files } = parenthesizeSplitOutputs(built);
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(join(outdir, "chunks"), { recursive: true });
  for (const [i, { path, text }] of files.entries()) {
    if (text !== built[i].text) await transform(text, { loader: "js", format: "esm" }); // throws if the rewrite broke the syntax
    writeFileSync(path, text);
  }
}

/**
 * The Node entry as an ES module whose code is function expressions, each between two
 * marker lines: `node polyvoy-node.mjs` runs it as a module, and bin/polyvoy.js compiles
 * the text between the markers as scripts with V8's code cache (bin/node-code-cache.js),
 * which node 20 offers for scripts only (vm.Script's cachedData). Inside each function the
 * code is CommonJS: its node: imports are require() calls, and its exports go to `module`.
 *
 * The main script holds what a start loads: the entry (runtimes/node/main.ts' `started`,
 * which the bin waits for), what it imports statically and the config loader. The modules
 * only a config's subsystems import() (filters but the HCM and router, TLS, admin, xDS,
 * re2js, workers: NODE_LAZY_TARGET) are in lazy scripts, each compiled and run when a
 * module of it is first needed. In one script, every top-level function of every bundled
 * module gets its closure, SharedFunctionInfo and feedback cell when the script runs, even
 * one never called, and V8 keeps the script's whole source as long as the process lives.
 *
 * Each bundled module is in one script only: the lazy modules are grouped as esbuild's
 * splitting groups them (by the set of import() targets that reach them), so a lazy script
 * imports only from the main script and from scripts more shared than itself (no cycles).
 * A module of another script is an external `polyvoy-mod:<path>`, which NODE_LINK answers
 * with that script's `polyvoyModule(path)`: esbuild's require() of the module, i.e. its
 * init and then its exports by getters, so live bindings hold. The main script's
 * `polyvoyScripts` tells which lazy script has which module.
 */
async function nodeScriptModule(banner) {
  const base = {
    ...common,
    format: "cjs",
    // A dynamic import() inside a vm.Script compiled with cached data has no loader on
    // node 20 (with a callback: "needs --experimental-vm-modules"; with vm's main-context
    // constant: "callback not specified" once data is accepted). So none is left: node:
    // built-ins become require(), and a user's module goes through IMPORT_HOOK, a real
    // module's import() (runtimes/kit/import-module.ts).
    supported: { "dynamic-import": false },
    absWorkingDir: root,
    write: false,
    metafile: true,
  };
  const entry = "runtimes/node/main.ts";
  const { metafile } = await build({ ...base, entryPoints: [join(root, entry)], plugins: [...common.plugins, lazyYamlPlugin()] });
  const { main, loaded, lazy, imported } = nodeScriptGroups(metafile, entry);
  // A module reached from another script comes as esbuild's require() of it, whose
  // `.default` would be the whole module object, silently: none of ours may have a default
  // export (the dependencies' are imported by name: yaml's index has one, unused).
  for (const path of imported) {
    if (path.startsWith(YAML_STUB) || path.startsWith("node_modules/")) continue;
    if (/^\s*export\s+(default\b|\{[^}]*\bdefault\b)/m.test(readFileSync(join(root, path), "utf8"))) throw new Error(`node bundle: ${path} has a default export and is imported from another script`);
  }
  /** One script: the modules in `own` bundled, every other module an external `polyvoy-mod:`. */
  const scriptBuild = async (own, contents) => {
    const out = await build({
      ...base,
      stdin: { contents, resolveDir: root, sourcefile: "polyvoy-node-script.js", loader: "js" },
      plugins: [
        ...common.plugins,
        lazyYamlPlugin(own),
        {
          name: "polyvoy-scripts",
          setup(b) {
            b.onResolve({ filter: /.*/ }, async (args) => {
              if (args.path.startsWith("node:")) return undefined;
              if (args.pluginData === "resolving" || args.importer === "<stdin>") return undefined;
              const resolved = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: "resolving" });
              const path = relative(root, resolved.path);
              if (resolved.errors.length > 0 || own.has(path)) return undefined;
              return { path: `polyvoy-mod:${path}`, external: true };
            });
          },
        },
      ],
    });
    const bundled = Object.keys(out.metafile.inputs).filter((path) => path !== "polyvoy-node-script.js");
    const stray = bundled.filter((path) => !own.has(path));
    if (stray.length > 0) throw new Error(`node script bundles modules of another: ${stray.join(", ")}`);
    return out.outputFiles[0].text;
  };
  const registryOf = (own) => [...own].filter((path) => imported.has(path)).sort();
  const where = {};
  lazy.forEach((own, index) => registryOf(own).forEach((path) => (where[path] = index)));
  const scripts = [
    await scriptBuild(main, `export * from "./${entry}";\nexport const polyvoyScripts = ${JSON.stringify(where)};\n${registryFunction(registryOf(main), loaded)}`),
    ...(await Promise.all(lazy.map((own) => scriptBuild(own, registryFunction(registryOf(own)))))),
  ];
  for (const body of scripts) {
    if (/\bimport\(/.test(body)) throw new Error("the node bundle still has a dynamic import()");
    if (body.includes(NODE_SCRIPT_END)) throw new Error("the node bundle contains the script end marker");
    // bin/node-code-cache.js reads ASCII as latin1 (cheaper than UTF-8); esbuild escapes
    // everything else (its default charset), so this only fails if that default changes.
    if (!/^[\x00-\x7f]*$/.test(body)) throw new Error("the node bundle is not ASCII");
  }
  const lazyScripts = scripts.slice(1).map((body, index) => `${NODE_LAZY_BEGIN}${index}\n(function (require, module) {\n${body}\n})${NODE_SCRIPT_END}`);
  return (
    `${banner}\nimport { createRequire } from "node:module";\n` +
    `globalThis[Symbol.for("${IMPORT_HOOK}")] ??= (specifier) => import(specifier);\n` +
    `const lazyScripts = [${lazyScripts.join(",")}];\n` +
    `const linked = (${NODE_LINK})(createRequire(import.meta.url), (index) => lazyScripts[index]);\n` +
    `${NODE_SCRIPT_BEGIN}(function (require, module) {\n${scripts[0]}\n})${NODE_SCRIPT_END}(linked.require, linked.main);\n`
  );
}

/**
 * The node bundle's scripts (nodeScriptModule) from the whole bundle's module graph: `main`,
 * the modules a start loads (`loaded`: those its static imports load, before any import());
 * `lazy`, the other modules grouped by the set of lazy import()
 * targets that reach them through static imports; `imported`, the modules imported (or
 * import()ed) from another script than theirs.
 */
function nodeScriptGroups(metafile, entry) {
  const edges = (path) => (metafile.inputs[path]?.imports ?? []).filter((edge) => !edge.external && metafile.inputs[edge.path] !== undefined);
  const main = new Set([entry]);
  // The stub's import of yaml is an import() for this purpose: it runs at its first use.
  const isLazyEdge = (from, edge) => from === YAML_STUB || (edge.kind === "dynamic-import" && NODE_LAZY_TARGET.test(edge.path));
  for (const queue = [entry]; queue.length > 0; ) {
    const path = queue.pop();
    for (const edge of edges(path)) {
      if (main.has(edge.path) || isLazyEdge(path, edge)) continue;
      main.add(edge.path);
      queue.push(edge.path);
    }
  }
  const loaded = new Set([entry]);
  for (const queue = [entry]; queue.length > 0; ) {
    const path = queue.pop();
    for (const edge of edges(path)) {
      if (loaded.has(edge.path) || edge.kind === "dynamic-import" || path === YAML_STUB) continue;
      loaded.add(edge.path);
      queue.push(edge.path);
    }
  }
  const targets = new Set();
  const imported = new Set();
  for (const path of Object.keys(metafile.inputs)) {
    for (const edge of edges(path)) {
      const lazyEdge = edge.kind === "dynamic-import" || path === YAML_STUB;
      if (lazyEdge && !main.has(edge.path)) targets.add(edge.path);
      if (main.has(path) !== main.has(edge.path) || lazyEdge) imported.add(edge.path);
    }
  }
  /** For each lazy module, the targets that reach it through static imports. */
  const reachedBy = new Map();
  for (const target of [...targets].sort()) {
    const seen = new Set([target]);
    for (const queue = [target]; queue.length > 0; ) {
      const path = queue.pop();
      reachedBy.set(path, [...(reachedBy.get(path) ?? []), target]);
      for (const edge of edges(path)) {
        if (edge.kind === "dynamic-import" || path === YAML_STUB || main.has(edge.path) || seen.has(edge.path)) continue;
        seen.add(edge.path);
        queue.push(edge.path);
      }
    }
  }
  const groups = new Map();
  for (const [path, by] of reachedBy) {
    const key = by.join("\n");
    groups.set(key, (groups.get(key) ?? new Set()).add(path));
  }
  // A module imported from another lazy script than its own is registered there too.
  for (const [path] of reachedBy) for (const edge of edges(path)) if (!main.has(edge.path) && reachedBy.get(edge.path).join("\n") !== reachedBy.get(path).join("\n")) imported.add(edge.path);
  const lazy = [...groups.keys()].sort().map((key) => groups.get(key));
  return { main, loaded, lazy, imported };
}

/**
 * yaml's code (~100 KB of the main script, its classes built at load) in a lazy script:
 * the config loader and the runtime layers import it statically, yet only a YAML text
 * needs it (a JSON config never does). For the node bundle, `yaml` is a stub whose
 * functions load it at their first call, synchronously (a require of the lazy script):
 * the same results and errors. The stub has what polyvoy imports from yaml; a new import
 * fails the build (esbuild: no such export). `own`: the modules of the script being
 * built (the stub is the main script's; another script imports it from there).
 */
function lazyYamlPlugin(own) {
  return {
    name: "polyvoy-lazy-yaml",
    setup(b) {
      b.onResolve({ filter: /^yaml$|^polyvoy-stub:/ }, (args) => {
        if (args.namespace === "polyvoy-stub" || args.pluginData === "resolving") return undefined;
        if (own !== undefined && !own.has(YAML_STUB)) return { path: `polyvoy-mod:${YAML_STUB}`, external: true };
        return { path: "yaml", namespace: "polyvoy-stub" };
      });
      b.onLoad({ filter: /.*/, namespace: "polyvoy-stub" }, () => ({
        resolveDir: root,
        loader: "js",
        contents: [
          'const yaml = () => require("yaml");',
          "export const parse = (...args) => yaml().parse(...args);",
          "export const parseDocument = (...args) => yaml().parseDocument(...args);",
          // `new LineCounter()` makes yaml's own, which its parser fills in.
          "export function LineCounter() { return new (yaml().LineCounter)(); }",
        ].join("\n"),
      }));
    },
  };
}
/**
 * `polyvoyModule(path)`: the module at `path` (relative to the root), initialised. A module
 * in `loaded` (the main script's, which a start loads anyway) is given as its namespace, an
 * `import * as`: its exports are one getter away, as within one bundle, and a lazy filter
 * calls them on every request. Any other is esbuild's require() of it, which initialises it
 * at that call (its exports copied as getters onto another object: two getters away).
 */
function registryFunction(paths, loaded = new Set()) {
  const specifier = (path) => JSON.stringify(path.startsWith(YAML_STUB) ? path : `./${path}`);
  const imports = paths.map((path, i) => (loaded.has(path) ? `import * as m${i} from ${specifier(path)};\n` : "")).join("");
  const cases = paths.map((path, i) => `case ${JSON.stringify(path)}: return ${loaded.has(path) ? `m${i}` : `require(${specifier(path)})`};`).join("\n");
  return `${imports}export function polyvoyModule(path) {\nswitch (path) {\n${cases}\n}\nthrow new Error(\`polyvoy: no module \${path} in this script\`);\n}\n`;
}

/**
 * The Bun entry as CommonJS with JavaScriptCore's bytecode beside it (`polyvoy-bun.js.jsc`,
 * `bun build --bytecode`): Bun then skips parsing and compiling the 1.4 MB bundle
 * (docs/performance.md, "Start-up on bun and deno"). Bun writes bytecode for CommonJS only
 * outside `--compile`. The bytecode is for the Bun that built it (node_modules'); another
 * Bun, or a changed file, finds it stale and parses the source as before, so the .js alone
 * still runs anywhere (vendoring). esbuild bundles as for the other entries; Bun's bundler
 * only wraps that one file and compiles it.
 */
async function bunBytecodeEntry(banner, outfile) {
  const out = await build({
    ...common,
    format: "cjs",
    entryPoints: [join(root, "runtimes/bun/main.ts")],
    write: false,
  });
  const work = mkdtempSync(join(tmpdir(), "polyvoy-bun-entry-"));
  try {
    const input = join(work, "polyvoy-bun.js");
    writeFileSync(input, out.outputFiles[0].text);
    const outdir = join(work, "out");
    execFileSync(join(root, "node_modules/.bin/bun"), ["build", "--bytecode", "--format=cjs", "--target=bun", "--minify", `--banner=${banner}`, input, "--outdir", outdir], { stdio: ["ignore", "ignore", "inherit"] });
    copyFileSync(join(outdir, "polyvoy-bun.js"), outfile);
    copyFileSync(join(outdir, "polyvoy-bun.js.jsc"), `${outfile}.jsc`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * A bun chunk's missing file, as one line: an upgrade in place (`npm install` of another
 * version) replaces dist/bun/ under a running proxy, whose chunks not yet loaded are then
 * gone. The expression maps Bun's "Cannot find module './x.js'\nRequire stack:\n- <from>" to
 * the file's path and what to do (as bin/node-code-cache.js says on node); any other error
 * stays as it is.
 */
function bunChunkGone() {
  return (
    `(e=>{const m=/^Cannot find module '(\\.{1,2}\\/[^']+)'[\\s\\S]*?\\n- (\\/[^\\n]+)/.exec(String(e&&e.message));` +
    `const p=m&&require("node:path");return m?new Error("polyvoy: cannot load "+p.resolve(p.dirname(m[2]),m[1])+" (not found): restart the proxy after upgrading polyvoy"):e})`
  );
}

/**
 * The package's command on Bun (bin/polyvoy.js): runtimes/bun/main.ts split as the deno
 * entry is (denoSplitEntry), into dist/bun/main.js and chunks/, each file CommonJS with
 * its JavaScriptCore bytecode beside it. Bun reads a module's whole source and .jsc and
 * keeps both for the life of the process (functions are decoded from the .jsc lazily),
 * and every top-level function of a bundle gets its JSFunction when the bundle runs; so a
 * start reads, keeps and links only the modules it runs: not the admin, TLS, xDS, re2js
 * nor the filters a config does not name (docs/performance.md, "Bun from the package:
 * split at its import()s"). dist/polyvoy-bun.js stays the one file to vendor.
 *
 * Bun 1.4.5 writes bytecode for CommonJS only outside `--compile` ("ESM bytecode requires
 * --compile"), and splits ESM only. So esbuild splits to ESM, each chunk becomes CommonJS
 * (esbuild's transform: an import is a require() whose exports are read through the module
 * object, so live bindings hold; a chunk's import() of another is a require() in a
 * promise, as in the one-file CommonJS bundle), and `bun build --bytecode` compiles each
 * file alone, the other chunks external. A Bun of another version finds the .jsc stale and
 * parses the source, as with the one-file bundle.
 */
async function bunSplitEntry() {
  const outdir = join(root, "dist/bun");
  const out = await build({
    ...common,
    entryPoints: { main: BUN_SPLIT_ENTRY },
    outdir,
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    plugins: [
      ...common.plugins,
      {
        // yaml (~100 KB of source, ~250 KB of bytecode, its classes built at load) is imported
        // statically by the config loader and the runtime layers, yet only a YAML text needs
        // it: a stub of what polyvoy imports from it (a new import fails the build: no such
        // export) requires its own file (chunks/yaml-<hash>.js) at its first call, as the node
        // bundle's lazyYamlPlugin does.
        name: "polyvoy-bun-lazy-yaml",
        setup(b) {
          b.onResolve({ filter: /^yaml$/ }, () => ({ path: "yaml", namespace: "polyvoy-bun-yaml-stub" }));
          b.onResolve({ filter: /^polyvoy:bun-yaml$/ }, (args) => ({ path: args.path, external: true }));
          b.onLoad({ filter: /.*/, namespace: "polyvoy-bun-yaml-stub" }, () => ({
            resolveDir: root,
            loader: "js",
            contents: [
              'const load = () => require("polyvoy:bun-yaml");',
              `const yaml = () => { try { return load(); } catch (e) { throw ${bunChunkGone()}(e); } };`,
              "export const parse = (...args) => yaml().parse(...args);",
              "export const parseDocument = (...args) => yaml().parseDocument(...args);",
              // `new LineCounter()` makes yaml's own, which its parser fills in.
              "export function LineCounter() { return new (yaml().LineCounter)(); }",
            ].join("\n"),
          }));
        },
      },
      {
        name: "polyvoy-bun-split-entry",
        setup(b) {
          b.onResolve({ filter: /^polyvoy:bun-split-entry$/ }, (args) => ({ path: args.path, namespace: "polyvoy-bun-split-entry" }));
          // runtimes/bun/main.ts imports these two first: the process guards, and the JIT's
          // start-up policy before any core module runs (runtimes/bun/start-jit-policy.ts).
          // Split, esbuild evaluates an entry's chunks before its own code, where those two
          // would land; so the entry runs them, then main.ts as a chunk of its own.
          b.onLoad({ filter: /.*/, namespace: "polyvoy-bun-split-entry" }, () => ({
            resolveDir: root,
            loader: "js",
            contents: 'import "./runtimes/kit/process-guards.ts";\nimport "./runtimes/bun/start-jit-policy.ts";\nimport("./runtimes/bun/main.ts");\n',
          }));
        },
      },
    ],
    write: false,
  });
  // yaml alone, as CommonJS: what the stub above requires.
  const yaml = await build({
    ...common,
    format: "cjs",
    stdin: { contents: 'export { parse, parseDocument, LineCounter } from "yaml";', resolveDir: root, loader: "js" },
    write: false,
  });
  const yamlText = yaml.outputFiles[0].text;
  const yamlName = `chunks/yaml-${createHash("sha256").update(yamlText).digest("hex").slice(0, 8).toUpperCase()}.js`;
  const work = mkdtempSync(join(tmpdir(), "polyvoy-bun-split-"));
  try {
    const names = new Set([...out.outputFiles.map(({ path }) => relative(outdir, path)), yamlName]);
    const inputs = [];
    let yamlStubs = 0;
    const yamlInput = join(work, "in", yamlName);
    mkdirSync(join(yamlInput, ".."), { recursive: true });
    writeFileSync(yamlInput, yamlText);
    inputs.push(yamlInput);
    for (const { path, text: built } of out.outputFiles) {
      const name = relative(outdir, path);
      // The stub's require() is esbuild's helper for an external one (an ESM output), which
      // may live in another chunk and would resolve the path from there: the chunk's own
      // require() instead, with the path from this chunk.
      const stubs = built.split('"polyvoy:bun-yaml"').length - 1;
      yamlStubs += stubs;
      const text = built.replace(/[\w$]+\("polyvoy:bun-yaml"\)/g, () => `require(${JSON.stringify(relative(join(outdir, name, ".."), join(outdir, yamlName)).replace(/^(?!\.)/, "./"))})`);
      if (text.includes('"polyvoy:bun-yaml"')) throw new Error(`bun split: ${name}: ${stubs} yaml stub call(s) not rewritten`);
      // Only import()s of our own chunks become require()s; a user's module (a config's
      // path, runtimes/kit/import-module.ts) stays a real import().
      const own = text.replace(/\bimport\((["'])(\.{1,2}\/[^"']+)\1\)/g, (call, quote, specifier) => {
        if (!names.has(join(name, "..", specifier))) throw new Error(`bun split: ${name} imports ${specifier}, not a chunk of this build`);
        return `Promise.resolve().then(()=>require(${quote}${specifier}${quote})).catch(e=>{throw ${bunChunkGone()}(e)})`;
      });
      const { code } = await transform(own, { loader: "js", format: "cjs", target: "es2022", minify: true, legalComments: "eof" });
      if (/\bimport\((["'])\.{1,2}\//.test(code)) throw new Error(`bun split: ${name} still import()s a chunk`);
      const input = join(work, "in", name);
      mkdirSync(join(input, ".."), { recursive: true });
      writeFileSync(input, code);
      inputs.push(input);
    }
    if (yamlStubs === 0) throw new Error("bun split: no chunk requires yaml's file (the stub is gone?)");
    const built = join(work, "out");
    // Each file alone: a chunk's require() of another stays one (external).
    execFileSync(join(root, "node_modules/.bin/bun"), ["build", "--bytecode", "--format=cjs", "--target=bun", "--minify", "--external", "./*", "--external", "../*", "--root", join(work, "in"), ...inputs, "--outdir", built], { stdio: ["ignore", "ignore", "inherit"] });
    rmSync(outdir, { recursive: true, force: true });
    mkdirSync(join(outdir, "chunks"), { recursive: true });
    for (const name of names) {
      copyFileSync(join(built, name), join(outdir, name));
      copyFileSync(join(built, `${name}.jsc`), join(outdir, `${name}.jsc`));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (onlyEntry !== undefined) {
  for (const [, file] of mains) console.error(`${file}: ${(readFileSync(join(root, file)).length / 1024).toFixed(0)} KiB`);
  process.exit(0);
}

const lib = join(root, "dist/lib");
rmSync(lib, { recursive: true, force: true });
await build({
  ...common,
  entryPoints: {
    node: join(root, "runtimes/node/index.ts"),
    deno: join(root, "runtimes/deno/index.ts"),
    core: join(root, "core/index.ts"),
    kit: join(root, "runtimes/kit/index.ts"),
  },
  outdir: lib,
  outExtension: { ".js": ".mjs" },
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
});

// Declarations, with relative imports pointing at .js as declaration consumers expect.
const types = join(root, "dist/types");
rmSync(types, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [
    join(root, "node_modules/typescript/bin/tsc"),
    ...["--declaration", "--emitDeclarationOnly", "--outDir", types, "--rootDir", root],
    ...["--target", "es2022", "--module", "esnext", "--moduleResolution", "bundler", "--lib", "es2022", "--types", "node"],
    ...["--strict", "--skipLibCheck", "--allowImportingTsExtensions", "--verbatimModuleSyntax", "--isolatedModules"],
    ...["core/index.ts", "runtimes/node/index.ts", "runtimes/deno/index.ts", "runtimes/bun/index.ts", "runtimes/kit/index.ts", "runtimes/bun/bun-jsc.d.ts"].map((f) => join(root, f)),
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

for (const [, file] of mains) {
  const bytes = readFileSync(join(root, file));
  console.error(`${file}: ${(bytes.length / 1024).toFixed(0)} KiB (${(gzipSync(bytes).length / 1024).toFixed(0)} KiB gzipped)`);
}
if (mains.some(([runtime]) => runtime === "deno")) {
  const chunks = readdirSync(join(root, "dist/deno/chunks"));
  const bytes = [join(root, "dist/deno/main.mjs"), ...chunks.map((f) => join(root, "dist/deno/chunks", f))].reduce((n, f) => n + statSync(f).size, 0);
  console.error(`dist/deno: main.mjs and ${chunks.length} chunks, ${(bytes / 1024).toFixed(0)} KiB`);
}
if (mains.some(([runtime]) => runtime === "bun")) {
  const chunks = readdirSync(join(root, "dist/bun/chunks")).filter((f) => f.endsWith(".js"));
  const size = (suffix) => [join(root, "dist/bun/main.js"), ...chunks.map((f) => join(root, "dist/bun/chunks", f))].reduce((n, f) => n + statSync(f + suffix).size, 0);
  console.error(`dist/bun: main.js and ${chunks.length} chunks, ${(size("") / 1024).toFixed(0)} KiB (+ ${(size(".jsc") / 1024).toFixed(0)} KiB of bytecode)`);
}
console.error(`dist/lib: ${readdirSync(lib).length} files, ${(readdirSync(lib).filter((f) => f.endsWith(".mjs")).reduce((n, f) => n + statSync(join(lib, f)).size, 0) / 1024).toFixed(0)} KiB at top level`);
