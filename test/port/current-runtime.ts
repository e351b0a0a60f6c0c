/**
 * The port adapter of the runtime these tests are running on: the conformance suite
 * runs in-process under node, bun and deno (test/run-all.mjs), each time against that
 * runtime's own adapter.
 */
import type { Runtime } from "../../core/port.ts";

export async function currentRuntime(): Promise<Runtime> {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  if (g.Bun) return (await import("../../runtimes/bun/bun-runtime.ts")).createBunRuntime();
  if (g.Deno) return (await import("../../runtimes/deno/deno-runtime.ts")).createDenoRuntime();
  return (await import("../../runtimes/node/node-runtime.ts")).createNodeRuntime();
}
