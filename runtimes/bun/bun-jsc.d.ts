/** The functions of Bun's `bun:jsc` module the adapter uses (declared here: no `@types/bun`, see bun-api.ts). */
declare module "bun:jsc" {
  /** Run a young-generation (eden) collection of JavaScriptCore's heap now; returns the heap's size after it. */
  export function edenGC(): number;
  /** JavaScriptCore's heap statistics: `heapSize` (bytes of live objects) and `extraMemorySize` (memory held outside the heap for them, array buffers included). */
  export function heapStats(): { heapSize: number; extraMemorySize: number };
}
