/**
 * Envoy's DiskLayer (source/common/runtime/runtime_impl.cc): a runtime layer read from a
 * directory tree, each regular file a key named by its path below the layer's directory
 * with "/" as "." (`fault/http/abort/abort_percent` → `fault.http.abort.abort_percent`),
 * its value the file's text without comment lines (lines starting with "#") and with the
 * last line's trailing white space trimmed. At most 16 directory levels.
 *
 * The directory is symlink_root/subdirectory (/<service cluster> with
 * append_service_cluster); a directory that does not exist gives no layer, as in Envoy's
 * LoaderImpl::createNewSnapshot, and a layer that cannot be read is left out and counted
 * in runtime.load_error. polyvoy reads the layer once, at start-up: Envoy's watch of
 * symlink_root (a reload when the symlink is swapped) is not done.
 */
import type { Runtime } from "../port.ts";

/** DiskLayer::walkDirectory's MaxWalkDepth. */
const MAX_WALK_DEPTH = 16;

/** The directory a disk layer reads (LoaderImpl::createNewSnapshot). */
export function diskLayerPath(symlinkRoot: string, subdirectory: string, serviceCluster: string | undefined): string {
  const path = `${symlinkRoot}/${subdirectory}`;
  return serviceCluster === undefined ? path : `${path}/${serviceCluster}`;
}

export type DiskLayerResult =
  /** The directory does not exist: no layer. */
  | { kind: "absent" }
  | { kind: "loaded"; values: [string, string][] }
  /** Reading it failed: the layer is left out. */
  | { kind: "error"; message: string };

export async function readDiskLayer(runtime: Pick<Runtime, "readDirectory" | "readTextFile">, path: string): Promise<DiskLayerResult> {
  if (runtime.readDirectory === undefined) return { kind: "error", message: "this runtime cannot read directories" };
  const readDirectory = runtime.readDirectory.bind(runtime);
  const values: [string, string][] = [];
  try {
    await readDirectory(path);
  } catch {
    // Envoy's directoryExists(path) is false: the layer is not there.
    return { kind: "absent" };
  }
  try {
    await walkDirectory(runtime, readDirectory, path, "", 1, values);
  } catch (err) {
    return { kind: "error", message: err instanceof Error ? err.message : String(err) };
  }
  return { kind: "loaded", values };
}

async function walkDirectory(
  runtime: Pick<Runtime, "readTextFile">,
  readDirectory: NonNullable<Runtime["readDirectory"]>,
  path: string,
  prefix: string,
  depth: number,
  values: [string, string][],
): Promise<void> {
  if (depth > MAX_WALK_DEPTH) throw new Error(`Walk recursion depth exceeded ${MAX_WALK_DEPTH}`);
  for (const entry of await readDirectory(path)) {
    const fullPath = `${path}/${entry.name}`;
    const fullPrefix = prefix === "" ? entry.name : `${prefix}.${entry.name}`;
    if (entry.type === "directory") await walkDirectory(runtime, readDirectory, fullPath, fullPrefix, depth + 1, values);
    else if (entry.type === "file") values.push([fullPrefix, fileValue(await runtime.readTextFile(fullPath))]);
  }
}

/**
 * The file's text as Envoy keeps it: split on "\n" with empty lines dropped
 * (StringUtil::splitToken), comment lines skipped, the last line right-trimmed and every
 * other line kept with its "\n". (Envoy finds "the last line" by comparing text, so a line
 * equal to the last one is trimmed too; kept.)
 */
export function fileValue(text: string): string {
  const lines = text.split("\n").filter((line) => line !== "");
  const last = lines[lines.length - 1];
  let value = "";
  for (const line of lines) {
    if (line.startsWith("#")) continue;
    value += line === last ? line.replace(/\s+$/, "") : `${line}\n`;
  }
  return value;
}
