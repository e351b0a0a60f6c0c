/**
 * The port adapters the conformance suite runs against: the adapter of the runtime
 * these tests are running on (the suite runs in-process under node, bun and deno, see
 * test/run-all.mjs, each time against that runtime's own adapter), and the in-memory
 * runtime (runtimes/memory), which must honour the same contract.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Runtime } from "../../core/port.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { withTls } from "./tls-runtime.ts";

export async function currentRuntime(): Promise<Runtime> {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  if (g.Bun) return (await import("../../runtimes/bun/bun-runtime.ts")).createBunRuntime();
  if (g.Deno) return (await import("../../runtimes/deno/deno-runtime.ts")).createDenoRuntime();
  return (await import("../../runtimes/node/node-runtime.ts")).createNodeRuntime();
}

export function currentRuntimeName(): "node" | "bun" | "deno" {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  return g.Bun ? "bun" : g.Deno ? "deno" : "node";
}

export interface PortTarget {
  /** The runtime's `name`. */
  readonly name: string;
  /** What the suite calls it, when not its name. */
  readonly label?: string;
  /** Its sockets carry TLS (tls-runtime.ts). */
  readonly tls?: boolean;
  /** Its clock is virtual (the memory runtime): timers and `now` do not follow real time. */
  readonly virtual: boolean;
  create(): Promise<Runtime>;
  /** A fresh empty directory in the file system the runtime sees, and how to remove it. */
  makeTempDir(runtime: Runtime): { path: string; remove(): void };
  /** Write a file where the runtime will read it. */
  writeFile(runtime: Runtime, path: string, text: string): void;
}

/** The real file system, for the real runtimes. */
const realFs = {
  makeTempDir() {
    const path = mkdtempSync(join(tmpdir(), "polyvoy-port-"));
    return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
  },
  writeFile(_runtime: Runtime, path: string, text: string) {
    writeFileSync(path, text);
  },
};

let memoryDirs = 0;

/** The real runtime's package.json as the memory runtime's file system holds it (for the readTextFile check). */
const PACKAGE_JSON = new URL("../../package.json", import.meta.url).pathname;

export function portTargets(): PortTarget[] {
  return [
    { name: currentRuntimeName(), virtual: false, create: currentRuntime, ...realFs },
    // The same runtime with every socket over its TLS (tls-runtime.ts).
    { name: currentRuntimeName(), label: `${currentRuntimeName()} over TLS`, tls: true, virtual: false, create: async () => withTls(await currentRuntime()), ...realFs },
    {
      name: "memory",
      label: "memory",
      virtual: true,
      // autoRun: the suite awaits port events, so the scheduler runs from the real event loop.
      create: async () => new MemoryRuntime({ autoRun: true, files: { [PACKAGE_JSON]: '{\n  "name": "polyvoy"\n}\n' } }),
      // Its file system is in memory.
      makeTempDir(runtime) {
        const path = `/tmp/polyvoy-port-${++memoryDirs}`;
        (runtime as MemoryRuntime).mkdir(path);
        return { path, remove() {} };
      },
      writeFile(runtime, path, text) {
        (runtime as MemoryRuntime).files.set(path, text);
      },
    },
  ];
}
