import { nodePath, nodeUrl } from "./builtins.ts";

/**
 * The port's importModule on every runtime: a path from the config, relative to the
 * working directory (as Envoy reads the files a config names), imported by file URL so
 * that Windows drive letters and characters such as `#` or `%` in a name stay a path.
 * Node without a TypeScript loader (`node --import tsx`) imports .js/.mjs only; Bun and
 * Deno import .ts as well. node:path and node:url load here, when a config names a
 * module, not at start (on Deno each costs ~15 ms to load: runtimes/README.md).
 *
 * The package's node entry runs as a vm.Script with V8's code cache, where import() has no
 * loader on node 20: there the launcher puts a real module's import() at IMPORT_HOOK
 * (bin/node-code-cache.js, scripts/build-runtimes.mjs).
 */
export async function importModule(path: string): Promise<unknown> {
  const absolute = nodePath().isAbsolute(path) ? path : nodePath().resolve(path);
  const href = nodeUrl().pathToFileURL(absolute).href;
  const hook = (globalThis as { [key: symbol]: unknown })[IMPORT_HOOK] as ((specifier: string) => Promise<unknown>) | undefined;
  return hook !== undefined ? hook(href) : import(href);
}

const IMPORT_HOOK = Symbol.for("polyvoy.import");
