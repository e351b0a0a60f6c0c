/**
 * --concurrency's count (core/concurrency.ts), as Envoy's OptionsImpl chooses it: given,
 * 0 made 1 by the parser; unset, the hardware threads, or with --cpuset-threads the CPUs
 * this process may run on; one where the runtime cannot run workers or count CPUs.
 */
import { describe, expect, test } from "vitest";
import { parseCommandLine } from "../../core/cli.ts";
import { resolveConcurrency } from "../../core/concurrency.ts";
import type { Runtime, WorkerProcesses } from "../../core/port.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";

/** The memory runtime with the two capabilities the count depends on replaced. */
function runtimeWith(cpus: { hardware: number; cpuset: number } | undefined, worker?: { index: number; count: number }): Runtime {
  const workers: WorkerProcesses = { worker, sharing: "reuse-port", supervise: () => Promise.resolve(0), announceStarted: () => Promise.resolve(), startConfig: () => Promise.resolve(undefined) };
  const runtime: Runtime = new MemoryRuntime();
  return Object.assign(Object.create(runtime) as Runtime, { workers, cpuCount: cpus && ((which: "hardware" | "cpuset") => cpus[which]) });
}

function count(argv: string[], runtime: Runtime): { count: number; warnings: string[] } {
  const warnings: string[] = [];
  return { count: resolveConcurrency(parseCommandLine(["-c", "x", ...argv]), runtime, (m) => warnings.push(m)), warnings };
}

describe("resolveConcurrency", () => {
  const eight = runtimeWith({ hardware: 8, cpuset: 3 });

  test("unset: one worker per hardware thread (Envoy's default); --cpuset-threads: per CPU of the affinity mask", () => {
    expect(count([], eight)).toEqual({ count: 8, warnings: [] });
    expect(count(["--cpuset-threads"], eight)).toEqual({ count: 3, warnings: [] });
  });

  test("given: as given, 0 as 1; with --cpuset-threads too, Envoy's warning and the flag wins", () => {
    expect(count(["--concurrency", "2"], eight).count).toBe(2);
    expect(count(["--concurrency", "0"], eight).count).toBe(1);
    expect(count(["--concurrency", "1"], eight).count).toBe(1);
    expect(count(["--concurrency", "5", "--cpuset-threads"], eight)).toEqual({
      count: 5,
      warnings: ["Both --concurrency and --cpuset-threads options are set; not applying --cpuset-threads."],
    });
  });

  test("the memory runtime counts one CPU; a runtime without workers or without a CPU count runs one process", () => {
    expect(count([], new MemoryRuntime()).count).toBe(1);
    expect(count([], Object.assign(Object.create(eight) as Runtime, { workers: undefined })).count).toBe(1);
    expect(count([], runtimeWith(undefined)).count).toBe(1);
  });

  test("a count the runtime gets wrong is one at least and 256 at most", () => {
    expect(count([], runtimeWith({ hardware: 0, cpuset: 0 })).count).toBe(1);
    expect(count([], runtimeWith({ hardware: 1000, cpuset: 1000 })).count).toBe(256);
    expect(count([], runtimeWith({ hardware: Number.NaN, cpuset: 1 })).count).toBe(1);
  });

  test("a worker takes its supervisor's count, whatever it would count itself", () => {
    expect(count([], runtimeWith({ hardware: 8, cpuset: 8 }, { index: 1, count: 3 })).count).toBe(3);
  });
});
