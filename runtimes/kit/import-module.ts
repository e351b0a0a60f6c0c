/**
 * The port's importModule on every runtime: a path from the config, relative to the
 * working directory (as Envoy reads the files a config names), imported by file URL so
 * that Windows drive letters and characters such as `#` or `%` in a name stay a path.
 * Node without a TypeScript loader (`node --import tsx`) imports .js/.mjs only; Bun and
 * Deno import .ts as well. node:path and node:url are imported here, when a config names a
 * module, not at start (on Deno each costs ~15 ms to load: runtimes/README.md).
 */
export async function importModule(path: string): Promise<unknown> {
  const [{ isAbsolute, resolve }, { pathToFileURL }] = await Promise.all([import("node:path"), import("node:url")]);
  const absolute = isAbsolute(path) ? path : resolve(path);
  return import(pathToFileURL(absolute).href);
}
