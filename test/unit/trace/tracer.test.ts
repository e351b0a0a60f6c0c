import { describe, expect, test } from "vitest";
import { Tracer } from "../../../core/trace/tracer.ts";

/** A hand-driven clock: tests move time themselves. */
function clock() {
  const timers: { at: number; cb: () => void }[] = [];
  const c = {
    t: 1000,
    now: () => c.t,
    wallClock: () => Date.UTC(2026, 10, 26) + c.t,
    setTimeout: (cb: () => void, ms: number) => {
      const timer = { at: c.t + ms, cb };
      timers.push(timer);
      return timer;
    },
    clearTimeout: (h: unknown) => {
      const i = timers.indexOf(h as (typeof timers)[number]);
      if (i >= 0) timers.splice(i, 1);
    },
    advance(ms: number) {
      c.t += ms;
      for (const timer of [...timers]) if (timer.at <= c.t) (timers.splice(timers.indexOf(timer), 1), timer.cb());
    },
  };
  return c;
}

describe("Tracer", () => {
  test("is off until started, and records nothing while off", () => {
    const tracer = new Tracer(clock());
    expect(tracer.on).toBe(false);
    tracer.record("accept", 1, -1);
    expect(tracer.recorded).toEqual([]);
    expect(tracer.admitConnection("l")).toBe(false);
  });

  test("admits connections by listener and up to maxConnections; streams by path prefix", () => {
    const tracer = new Tracer(clock());
    tracer.start({ durationMs: 10_000, maxConnections: 2, listener: "front", pathPrefix: "/api" });
    expect(tracer.admitConnection("admin")).toBe(false);
    expect(tracer.admitConnection("front")).toBe(true);
    expect(tracer.admitConnection("front")).toBe(true);
    expect(tracer.admitConnection("front")).toBe(false);
    expect(tracer.admitPath("/api/x")).toBe(true);
    expect(tracer.admitPath("/static")).toBe(false);
  });

  test("stops by itself after its duration", () => {
    const c = clock();
    const tracer = new Tracer(c);
    tracer.start({ durationMs: 500, maxConnections: 10 });
    c.advance(499);
    expect(tracer.on).toBe(true);
    c.advance(1);
    expect(tracer.on).toBe(false);
  });

  test("events carry time since the start; the text form is one line each", () => {
    const c = clock();
    const tracer = new Tracer(c);
    tracer.start({ durationMs: 10_000, maxConnections: 10 });
    c.advance(1.5);
    tracer.record("accept", 3, -1, "127.0.0.1:5000 on front");
    c.advance(0.25);
    tracer.record("headers_complete", 3, 0, "GET / a");
    expect(tracer.toText()).toBe("+     1.500ms C3 accept 127.0.0.1:5000 on front\n+     1.750ms C3 S0 headers_complete GET / a\n");
  });

  test("Chrome trace: instant events per step, a span per stream, named tracks", () => {
    const c = clock();
    const tracer = new Tracer(c);
    tracer.start({ durationMs: 10_000, maxConnections: 10 });
    tracer.record("accept", 7, -1);
    c.advance(2);
    tracer.record("headers_complete", 7, 0);
    c.advance(3);
    tracer.record("stream_end", 7, 0, "200 -");
    const trace = JSON.parse(JSON.stringify(tracer.toChromeTrace())) as { traceEvents: Record<string, unknown>[] };
    const names = trace.traceEvents.map((e) => `${e.ph}:${e.name}`);
    expect(names).toEqual(["i:accept", "i:headers_complete", "i:stream_end", "X:stream 0", "M:thread_name", "M:process_name"]);
    expect(trace.traceEvents[3]).toMatchObject({ ph: "X", ts: 2000, dur: 3000, tid: 7 });
    expect(trace.traceEvents[2]).toMatchObject({ ts: 5000, tid: 7, args: { stream: 0, detail: "200 -" } });
  });
});
