import type { Runtime } from "../port.ts";

/**
 * True when the config file `path` can be read only once: a FIFO, a pipe or a device
 * (`-c <(…)`, /dev/stdin), whose content a second read does not give again.
 */
export async function readsOnce(runtime: Pick<Runtime, "fileType">, path: string | undefined): Promise<boolean> {
  if (path === undefined || runtime.fileType === undefined) return false;
  // A path that cannot be stat()ed is read as before, and that read says why it fails.
  return (await runtime.fileType(path).catch(() => "file")) === "other";
}
