/** esbuild's `alias` for every build that may bundle the Lua filter (fengari-stubs.mjs). */
export declare const FENGARI_ALIASES: Record<string, string>;
/** esbuild plugin: fengari's computed require() in loadlib.js made an error (fengari-stubs.mjs). */
export declare function fengariPlugin(): import("esbuild").Plugin;
