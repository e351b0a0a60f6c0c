import { nodeOs } from "./builtins.ts";

/**
 * The port's cpuCount (core/port.ts) through node:os, which Node, Bun and Deno all have:
 * `cpus()` lists the machine's online CPUs whatever this process's affinity (as glibc's
 * get_nprocs, behind Envoy's std::thread::hardware_concurrency()); `availableParallelism()`
 * counts those its affinity mask allows (sched_getaffinity, as Envoy's --cpuset-threads).
 * Measured under `taskset -c 0` on a 2-CPU machine: node, bun and deno all say 2 and 1.
 */
export function cpuCount(which: "hardware" | "cpuset"): number {
  let count = 0;
  try {
    count = which === "hardware" ? nodeOs().cpus().length : nodeOs().availableParallelism();
  } catch {
    // /proc not readable, or the runtime's sys permission refused: the fallbacks below
  }
  if (count < 1 && which === "hardware") count = cpuCount("cpuset");
  return count >= 1 ? count : 1;
}
