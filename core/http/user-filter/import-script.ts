/**
 * Importing a Script's module (HTTP and network Scripts alike) through the port, once per
 * path, with a load failure told on one line.
 */
import { problemAt, type ConfigPath } from "../../config/errors.ts";
import type { Runtime } from "../../port.ts";

/**
 * A Script module's export (`default`, else `filter`), imported once per path; undefined
 * (with the problem added) when it cannot be loaded or exports neither.
 */
export async function importScript(path: string, moduleAt: ConfigPath, runtime: Pick<Runtime, "importModule">, modules: Map<string, Promise<unknown>>, problems: string[]): Promise<unknown> {
  if (runtime.importModule === undefined) {
    problems.push(problemAt(moduleAt, `cannot load '${path}': this runtime cannot import modules`));
    return undefined;
  }
  let loading = modules.get(path);
  if (loading === undefined) {
    loading = runtime.importModule(path);
    modules.set(path, loading);
  }
  let namespace: unknown;
  try {
    namespace = await loading;
  } catch (err) {
    problems.push(problemAt(moduleAt, `cannot load '${path}': ${loadFailure(err, path)}`));
    return undefined;
  }
  const exports = (namespace ?? {}) as { default?: unknown; filter?: unknown };
  const definition = exports.default ?? exports.filter;
  if (definition === undefined) {
    problems.push(problemAt(moduleAt, `'${path}' exports no filter (export default defineHttpFilter({ create() {…} }), or export const filter)`));
    return undefined;
  }
  return definition;
}

/** A load failure on one line; a .ts file node cannot read without a loader says what to do. */
function loadFailure(err: unknown, path: string): string {
  const e = err as { code?: unknown; message?: unknown };
  const message = (typeof e?.message === "string" ? e.message : String(err)).split("\n")[0]!;
  if (e?.code === "ERR_UNKNOWN_FILE_EXTENSION" && /\.[cm]?tsx?$/.test(path)) {
    return `${message} (node runs TypeScript modules with a loader: node --import tsx …; or give a .js/.mjs file)`;
  }
  return message;
}
