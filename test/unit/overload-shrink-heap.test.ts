/**
 * envoy.overload_actions.shrink_heap (Envoy's HeapShrinker, heap_shrinker.cc): while the
 * action is saturated, every 10 s the runtime's releaseFreeMemory runs and
 * overload.envoy.overload_actions.shrink_heap.shrink_count counts it; a runtime without
 * the call gets the action accepted and one info line saying it does nothing.
 */
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../core/config/load.ts";
import { Timers } from "../../core/event/timers.ts";
import { Logger } from "../../core/log.ts";
import { OverloadManager } from "../../core/overload/overload-manager.ts";
import { StatsStore } from "../../core/stats/stats-store.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";

const CONFIG = `
overload_manager:
  refresh_interval: 1s
  resource_monitors:
  - name: envoy.resource_monitors.fixed_heap
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig
      max_heap_size_bytes: 1000
  actions:
  - name: envoy.overload_actions.shrink_heap
    triggers:
    - name: envoy.resource_monitors.fixed_heap
      threshold: { value: 0.9 }
`;

function setup(canRelease: boolean) {
  const runtime = new MemoryRuntime({ seed: 1 });
  const lines: string[] = [];
  runtime.log.write = (line: string) => void lines.push(line);
  let released = 0;
  if (canRelease) runtime.releaseFreeMemory = () => void released++;
  const store = new StatsStore();
  const manager = new OverloadManager(loadBootstrap(CONFIG, "yaml").overloadManager, { runtime, timers: new Timers(runtime) }, store, new Logger(runtime, "info"));
  manager.start();
  const stat = (name: string) => (store.get(`overload.envoy.overload_actions.shrink_heap.${name}`) as { value: number } | undefined)?.value;
  return { runtime, manager, lines, stat, released: () => released };
}

describe("shrink_heap", () => {
  test("releases free memory every 10 s while saturated, and counts shrink_count", () => {
    const { runtime, stat, released } = setup(true);
    expect(stat("shrink_count")).toBe(0);
    runtime.advance(10_000);
    expect(released()).toBe(0);
    runtime.heapBytes = 950;
    runtime.advance(1_000);
    expect(stat("active")).toBe(1);
    runtime.advance(9_000);
    expect(released()).toBe(1);
    runtime.advance(20_000);
    expect(released()).toBe(3);
    expect(stat("shrink_count")).toBe(3);
    runtime.heapBytes = 100;
    runtime.advance(20_000);
    expect(released()).toBe(3);
  });

  test("a runtime without the call: accepted, one info line, nothing counted", () => {
    const { runtime, lines, stat } = setup(false);
    expect(lines.filter((l) => l.includes("shrink_heap"))).toHaveLength(1);
    expect(lines.join("")).toMatch(/\[info\].*shrink_heap: the memory runtime offers no call that releases free memory/);
    runtime.heapBytes = 950;
    runtime.advance(30_000);
    expect(stat("active")).toBe(1);
    expect(stat("shrink_count")).toBe(0);
  });
});
