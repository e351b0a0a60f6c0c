import { describe, expect, test } from "vitest";
import { Timers } from "../../../core/event/timers.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

/** Timers over the memory runtime's virtual clock: exact, checkable firing times. */
function setup() {
  const runtime = new MemoryRuntime();
  const timers = new Timers(runtime);
  const fired: [string, number][] = [];
  const make = (name: string) => timers.create(() => fired.push([name, runtime.now()]));
  return { runtime, timers, fired, make };
}

describe("Timers (shared lists per duration)", () => {
  test("an object's onTimer is called with the timer that fired (one object, several timers)", () => {
    const runtime = new MemoryRuntime();
    const timers = new Timers(runtime);
    const fired: string[] = [];
    const target = {
      onTimer(timer: unknown) {
        fired.push(`${timer === a ? "a" : timer === b ? "b" : "?"}@${runtime.now()}`);
      },
    };
    const a = timers.create(target);
    const b = timers.create(target);
    a.enable(10);
    b.enable(5);
    runtime.advance(20);
    expect(fired).toEqual(["b@5", "a@10"]);
  });

  test("a timer fires once, at its deadline", () => {
    const { runtime, fired, make } = setup();
    make("a").enable(100);
    runtime.advance(99);
    expect(fired).toEqual([]);
    runtime.advance(1);
    expect(fired).toEqual([["a", 100]]);
    runtime.advance(1000);
    expect(fired).toEqual([["a", 100]]);
  });

  test("timers of one duration enabled at different times each fire at their own deadline", () => {
    const { runtime, fired, make } = setup();
    const a = make("a");
    a.enable(100);
    runtime.advance(30);
    make("b").enable(100);
    runtime.advance(10);
    a.disable();
    make("c").enable(100);
    runtime.advance(500);
    expect(fired).toEqual([
      ["b", 130],
      ["c", 140],
    ]);
  });

  test("re-enabling restarts the wait; disabling stops it; enabled tells which", () => {
    const { runtime, fired, make } = setup();
    const a = make("a");
    a.enable(100);
    runtime.advance(60);
    a.enable(100);
    expect(a.enabled).toBe(true);
    runtime.advance(60);
    expect(fired).toEqual([]);
    runtime.advance(40);
    expect(fired).toEqual([["a", 160]]);
    expect(a.enabled).toBe(false);
    a.enable(50);
    a.disable();
    runtime.advance(1000);
    expect(fired).toEqual([["a", 160]]);
  });

  test("a timer enabled from another's callback does not delay the earlier ones in its list", () => {
    const { runtime, timers, fired, make } = setup();
    const b = make("b");
    const again = timers.create(() => {
      fired.push(["a", runtime.now()]);
      again.enable(100); // appended behind b, which is due first
    });
    again.enable(100);
    runtime.advance(10);
    b.enable(100);
    runtime.advance(300);
    expect(fired).toEqual([
      ["a", 100],
      ["b", 110],
      ["a", 200],
      ["a", 300],
    ]);
  });

  test("different durations run independently, and an emptied list is not kept", () => {
    const { runtime, fired, make } = setup();
    for (let ms = 1; ms <= 50; ms++) make(`t${ms}`).enable(ms);
    runtime.advance(50);
    expect(fired.length).toBe(50);
    expect(fired.every(([name, at]) => name === `t${at}`)).toBe(true);
    expect(runtime.pendingTimers).toBe(0);
  });
});

describe("Timers: limits and shutdown", () => {
  test("a wait longer than a runtime timer can take (2^31-1 ms) is reached in steps, not early", () => {
    const { runtime, fired, make } = setup();
    const long = 3 * 2 ** 31;
    make("far").enable(long);
    runtime.advance(2 ** 31);
    expect(fired).toEqual([]);
    runtime.advance(long - 2 ** 31);
    expect(fired).toEqual([["far", long]]);
  });

  test("close() cancels the runtime timers: nothing stays armed, nothing fires", () => {
    const { runtime, timers, fired, make } = setup();
    const a = make("a");
    a.enable(100);
    a.disable(); // its list's runtime timer stays armed until close
    make("b").enable(200);
    expect(runtime.pendingTimers).toBe(2);
    timers.close();
    expect(runtime.pendingTimers).toBe(0);
    runtime.advance(1000);
    expect(fired).toEqual([]);
  });
});
