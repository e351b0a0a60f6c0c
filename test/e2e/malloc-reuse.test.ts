/**
 * Freed read buffers stay with the process for reuse (runtimes/kit/malloc-thresholds.ts):
 * once the node or deno adapter has read a streaming body, 8 MiB of 64 KiB buffers freed
 * by a collection are reallocated without faulting their pages back in. Without it glibc
 * returns the freed heap to the kernel and each reallocation takes ~2,000 faults
 * (one per 4 KiB page), which is what cost node up to half its 1 MiB body throughput.
 * A process that has only read small messages keeps glibc's defaults (the raised
 * thresholds would keep memory in every thread's arena: RSS a small-request proxy does
 * not need), which the second case shows by the faults.
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
  const faults = (mode: "stream" | "small"): number[] => {
    const [cmd, args] = commands[runtime]!;
    const out = JSON.parse(execFileSync(cmd, [...args, mode], { cwd: ROOT, encoding: "utf8", timeout: 30_000 }));
    expect(out.runtime).toBe(runtime);
    return out.faults;
  };
  const sum = (values: number[]): number => values.reduce((total, n) => total + n, 0);

  // Three reallocations of 2,048 pages: ~0 faults when the heap is kept, ~2,000 each when trimmed.
  test.skipIf(!glibc)("after a streaming body, 8 MiB of freed 64 KiB buffers is reused without faulting its pages back in", () => {
    const got = faults("stream");
    expect(sum(got), `faults per reallocation: ${got.join(", ")}`).toBeLessThan((3 * PAGES) / 8);
  });

  // Node only: deno frees large mmap'd blocks of its own early, which raises glibc's
  // thresholds by glibc's own dynamic rule (partly: 400–2,000 faults per reallocation).
  // glibc only trims the heap's top, so an allocation made above the freed buffers keeps
  // them without any raised threshold (the likely cause of a CI run under load showing
  // 0, 0, 0 once). So up to three processes: with defaults one of them shows the trim; with
  // raised thresholds none can.
  test.skipIf(!glibc || runtime === "deno")("after small messages only, glibc's defaults: freed buffers go back to the kernel", () => {
    const seen: string[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const got = faults("small");
      seen.push(got.join(", "));
      if (Math.max(...got) > PAGES * 0.75) return;
    }
    expect.fail(`faults per reallocation, three processes: ${seen.join(" / ")}; expected one above ${PAGES * 0.75}`);
  });
});
