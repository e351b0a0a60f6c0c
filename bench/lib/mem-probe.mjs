// Preloaded into a measured process by bench/rss-breakdown.mjs (node --import, bun
// --preload, deno run --preload): every 250 ms it writes the runtime's own view of its
// memory (process.memoryUsage(), V8's heap spaces or JSC's heap statistics, GC counts on
// node) to the file named by POLYVOY_MEM_PROBE, as one JSON object. Measuring, not shipped.
import { writeFileSync, renameSync } from "node:fs";
import v8 from "node:v8";

const out = process.env.POLYVOY_MEM_PROBE;
if (out) {
  let jsc = null;
  if (typeof globalThis.Bun !== "undefined") jsc = await import("bun:jsc");
  const gc = { scavenge: 0, markSweep: 0, other: 0 };
  if (typeof globalThis.Bun === "undefined" && typeof globalThis.Deno === "undefined") {
    const { PerformanceObserver, constants } = await import("node:perf_hooks");
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const kind = entry.detail?.kind ?? entry.kind;
        if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gc.scavenge++;
        else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gc.markSweep++;
        else gc.other++;
      }
    }).observe({ entryTypes: ["gc"] });
  }
  const write = () => {
    const sample = { memory: process.memoryUsage(), gc };
    if (jsc) {
      const s = jsc.heapStats();
      sample.jsc = { heapSize: s.heapSize, heapCapacity: s.heapCapacity, extraMemorySize: s.extraMemorySize, objectCount: s.objectCount };
    } else sample.spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size, physical: s.physical_space_size }]));
    writeFileSync(`${out}.tmp`, JSON.stringify(sample));
    renameSync(`${out}.tmp`, out);
  };
  const timer = setInterval(write, 250);
  timer.unref?.();
  if (typeof Deno !== "undefined") Deno.unrefTimer?.(timer);
}
