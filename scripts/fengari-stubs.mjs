// fengari (the Lua filter's VM, core/http/filters/lua/) require()s Node modules in the
// libraries polyvoy never opens (io: liolib; os: loslib; debug.debug: ldblib; package's file
// searchers: loadlib; loadfile: lauxlib) and asks os.platform() once at load (luaconf, for
// Windows' path separators). The bundles are platform "neutral": those names are answered
// by stubs here — empty modules, an `os` whose platform is not win32 and a readline-sync
// that takes the options ldblib sets when it loads — so no Node
// module comes in and nothing runs that a sandboxed script could reach.
import { readFile } from "node:fs/promises";
import { join } from "node:path";

const stubs = join(import.meta.dirname, "stubs");
const empty = join(stubs, "fengari-node-module.cjs");

/** esbuild's `alias` for every build that may bundle the Lua filter. */
export const FENGARI_ALIASES = {
  fs: empty,
  path: empty,
  tmp: empty,
  "readline-sync": join(stubs, "fengari-readline-sync.cjs"),
  child_process: empty,
  os: join(stubs, "fengari-os.cjs"),
};

/**
 * esbuild plugin for two things in fengari's sources:
 * - its package library loads a C-module-like .js file with a require() of a computed path
 *   (loadlib.js lsys_load), which esbuild can only leave as a call to its require shim;
 *   polyvoy never opens that library: the call becomes an error naming why;
 * - its license comment (fengari.js, kept in the bundles as a legal comment) has "©" and
 *   "–", which esbuild does not escape in comments, and the node bundle must be ASCII
 *   (bin/node-code-cache.js reads it as latin1): written "(C)" and "-".
 */
export function fengariPlugin() {
  return {
    name: "polyvoy-fengari",
    setup(b) {
      b.onLoad({ filter: /[\\/]fengari[\\/]src[\\/](loadlib|fengari)\.js$/ }, async (args) => {
        const source = await readFile(args.path, "utf8");
        const patched = args.path.endsWith("loadlib.js")
          ? source.replace("return require(path);", 'throw new Error("polyvoy: no package library in the Lua sandbox");')
          : source.replaceAll("\u00a9", "(C)").replaceAll("\u2013", "-");
        if (patched === source) throw new Error(`fengari's ${args.path} changed: update scripts/fengari-stubs.mjs`);
        return { contents: patched, loader: "js" };
      });
    },
  };
}
