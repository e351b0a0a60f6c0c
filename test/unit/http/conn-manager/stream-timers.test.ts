import { describe, expect, test } from "vitest";
import { Timers } from "../../../../core/event/timers.ts";
import { StreamTimers, type TimedStream } from "../../../../core/http/conn-manager/stream-timers.ts";
import { MemoryRuntime } from "../../../../runtimes/memory/memory-runtime.ts";

function stream(name: string, fired: string[]): TimedStream {
  return {
    onRequestTimeout: () => fired.push(`${name} request`),
    onIdleTimeout: () => fired.push(`${name} idle`),
    onMaxDurationTimeout: () => fired.push(`${name} duration`),
  };
}

describe("StreamTimers (a connection's stream timers, armed by one stream at a time)", () => {
  test("the timers call the stream they are armed for", () => {
    const runtime = new MemoryRuntime();
    const timers = new StreamTimers(new Timers(runtime));
    const fired: string[] = [];
    timers.owner = stream("a", fired);
    timers.request.enable(10);
    timers.idle.enable(20);
    timers.duration.enable(22);
    runtime.advance(25);
    expect(fired).toEqual(["a request", "a idle", "a duration"]);
  });

  test("disarm(requestOnly) stops the request timer only; a full disarm stops both and lets go of the stream", () => {
    const runtime = new MemoryRuntime();
    const timers = new StreamTimers(new Timers(runtime));
    const fired: string[] = [];
    const a = stream("a", fired);
    timers.owner = a;
    timers.request.enable(10);
    timers.idle.enable(20);
    timers.duration.enable(20);
    timers.disarm(a, true);
    runtime.advance(15);
    expect(fired).toEqual([]);
    timers.disarm(a, false);
    expect(timers.owner).toBeUndefined();
    runtime.advance(100);
    expect(fired).toEqual([]);
  });

  test("a stream that no longer owns the timers cannot disarm the next stream's", () => {
    const runtime = new MemoryRuntime();
    const timers = new StreamTimers(new Timers(runtime));
    const fired: string[] = [];
    const a = stream("a", fired);
    const b = stream("b", fired);
    timers.owner = a;
    timers.idle.enable(20);
    timers.owner = b;
    timers.request.enable(10);
    timers.idle.enable(20);
    timers.disarm(a, false);
    runtime.advance(25);
    expect(fired).toEqual(["b request", "b idle"]);
  });
});
