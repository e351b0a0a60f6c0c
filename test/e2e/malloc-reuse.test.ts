/**
 * Freed read buffers stay with the process for reuse (runtimes/kit/malloc-thresholds.ts):
 * after the node and deno adapters are created, 8 MiB of 64 KiB buffers freed by a
 * collection are reallocated without faulting their pages back in. Without it glibc
 * returns the freed heap to the kernel and each reallocation takes ~2,000 faults
 * (one per 4 KiB page), which is what cost node up to half its 1 MiB body throughput.
 *
 * Not on bun: Bun allocates ArrayBuffers with its own allocator, not glibc's malloc,
 * and there is no threshold to move (it refaults the same 8,000 pages either way).
 */
import { describe, expect, test } from "vitest";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { ROOT, RUNTIMES } from "../support/proxy-process.ts";

const fixture = join(ROOT, "test/fixtures/malloc-reuse.ts");
const commands: Record<string, [string, string[]]> = {
  node: [process.execPath, ["--expose-gc", "--import", "tsx", fixture]],
  deno: [join(ROOT, "node_modules/.bin/deno"), ["run", "-A", "--v8-flags=--expose-gc", fixture]],
};
const glibc = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;
const PAGES = (128 * 64 * 1024) / 4096;

describe.each(RUNTIMES.filter((runtime) => runtime !== "bun"))("on %s", (runtime) => {
  test.skipIf(!glibc)("8 MiB of freed 64 KiB buffers is reused without faulting its pages back in", () => {
    const [cmd, args] = commands[runtime]!;
    const out = JSON.parse(execFileSync(cmd, args, { cwd: ROOT, encoding: "utf8", timeout: 30_000 }));
    expect(out.runtime).toBe(runtime);
    const total = out.faults.reduce((sum: number, n: number) => sum + n, 0);
    // Three reallocations of 2,048 pages: ~0 faults when the heap is kept, ~2,000 each when trimmed.
    expect(total, `faults per reallocation: ${out.faults.join(", ")}`).toBeLessThan((3 * PAGES) / 8);
  });
});
