/**
 * Where the config worker's code is (bun-config.ts). From the sources it is the file
 * beside this one; the one-file bundles (scripts/build-runtimes.mjs) replace this module
 * with one that returns a blob: URL of the worker bundled into a string, so the bundle
 * needs no file beside it.
 */
export function configWorkerUrl(): string {
  return new URL("./config-worker.ts", import.meta.url).href;
}
