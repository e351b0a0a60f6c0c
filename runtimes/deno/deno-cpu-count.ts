import { cpuCount } from "../kit/cpu-count.ts";
import { Deno } from "./deno-api.ts";

/**
 * The port's cpuCount on Deno. core/concurrency.ts asks for the hardware count at every
 * start without --concurrency, and node:os would cost that start its load (runtimes/README.md,
 * "Deno: no node: module on the start path"): on Linux the online CPUs are read from
 * /sys/devices/system/cpu/online ("0-3,6"), the file glibc's get_nprocs reads (behind
 * Envoy's std::thread::hardware_concurrency(), and what node:os's cpus() lists). Elsewhere,
 * and for --cpuset-threads (sched_getaffinity: Deno's navigator.hardwareConcurrency also
 * applies cgroup quotas, so it is not that count), the kit's cpuCount through node:os.
 * The file is read only if read permission for it is already granted (no prompt).
 */
export function denoCpuCount(which: "hardware" | "cpuset"): number {
  if (which === "hardware") {
    const online = onlineCpus();
    if (online !== undefined) return online;
  }
  return cpuCount(which);
}

const ONLINE = "/sys/devices/system/cpu/online";

function onlineCpus(): number | undefined {
  // Only when reading it is already allowed: under a narrowed --allow-read, Deno would ask on
  // a terminal and hold the start on the answer; node:os then counts, as before this file.
  if (!readGranted(ONLINE)) return undefined;
  let list: string;
  try {
    list = Deno.readTextFileSync(ONLINE);
  } catch {
    return undefined;
  }
  return countCpuList(list);
}

/** Deno.permissions.querySync never prompts; a runtime without it (or an error) counts as not granted. */
function readGranted(path: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "read", path }).state === "granted";
  } catch {
    return false;
  }
}

/** The CPUs in a Linux CPU list ("0-3,6\n": 5), or undefined when it is not one. */
export function countCpuList(list: string): number | undefined {
  let count = 0;
  for (const range of list.trim().split(",")) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(range);
    if (!match) return undefined;
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    if (last < first) return undefined;
    count += last - first + 1;
  }
  return count >= 1 ? count : undefined;
}
