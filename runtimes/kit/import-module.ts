import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * The port's importModule on every runtime: a path from the config, relative to the
 * working directory (as Envoy reads the files a config names), imported by file URL so
 * that Windows drive letters and characters such as `#` or `%` in a name stay a path.
 * Node without a TypeScript loader (`node --import tsx`) imports .js/.mjs only; Bun and
 * Deno import .ts as well.
 */
export function importModule(path: string): Promise<unknown> {
  const absolute = isAbsolute(path) ? path : resolve(path);
  return import(pathToFileURL(absolute).href);
}
