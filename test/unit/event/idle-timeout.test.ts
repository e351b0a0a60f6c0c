import { describe, expect, test } from "vitest";
import { Timers, type Timer } from "../../../core/event/timers.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

/**
 * Timer.idleTimeoutPassed: the one way an idle timeout is re-armed lazily from the last
 * activity (ActiveStream's stream_idle_timeout, tcp_proxy's idle_timeout).
 */
describe("Timer.idleTimeoutPassed (idle timeouts re-armed from the last activity)", () => {
  function idleTimer(timeoutMs: number) {
    const runtime = new MemoryRuntime();
    const timers = new Timers(runtime);
    const fired: number[] = [];
    let lastActivity = runtime.now();
    const timer: Timer = timers.create(() => {
      if (timer.idleTimeoutPassed(lastActivity, timeoutMs)) fired.push(runtime.now());
    });
    timer.enable(timeoutMs);
    return { runtime, fired, touch: () => (lastActivity = runtime.now()) };
  }

  test("without activity it fires once the timeout has passed", () => {
    const { runtime, fired } = idleTimer(100);
    runtime.advance(99);
    expect(fired).toEqual([]);
    runtime.advance(1);
    expect(fired).toEqual([100]);
  });

  test("activity pushes the timeout back: it waits out the rest since the last activity", () => {
    const { runtime, fired, touch } = idleTimer(100);
    runtime.advance(60);
    touch();
    runtime.advance(60);
    touch();
    runtime.advance(99);
    expect(fired).toEqual([]);
    runtime.advance(1);
    expect(fired).toEqual([220]);
  });
});
