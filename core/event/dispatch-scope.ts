/**
 * Writes made while the core handles one I/O event go out together when it returns.
 *
 * Envoy never writes from inside a read callback: a connection's write buffer is
 * flushed when the event loop reaches its write event, so a response head and body
 * produced by one upstream read leave in one syscall. Here the adapters call the core
 * synchronously, so the core marks where an event's handling starts and ends (the
 * Connection's socket callbacks do); writes inside are queued on their connection and
 * flushed, in order, when the outermost handler returns. Outside (timers, deferred
 * work) a write goes straight to the socket.
 *
 * On loopback each write syscall also runs the receiver's TCP path, so one write per
 * response instead of two or three is a large share of a small request's cost.
 */
import { resetArena } from "./event-arena.ts";

export interface BatchedWriter {
  /** Write what was queued during the event. */
  flushBatch(): void;
}

let depth = 0;
/**
 * Writers with queued bytes, `dirtyCount` of them: the array is kept and reused
 * (emptying it by `length = 0` would let the engine drop its storage, to grow again
 * on every event).
 */
const dirty: (BatchedWriter | undefined)[] = [];
let dirtyCount = 0;

/** True while an I/O event is being handled: writes should be queued. */
export function inDispatch(): boolean {
  return depth > 0;
}

/** Queue `writer` for the flush at the end of the event (once per event). */
export function flushAtEnd(writer: BatchedWriter): void {
  dirty[dirtyCount++] = writer;
}

export function enterDispatch(): void {
  depth++;
}

export function exitDispatch(): void {
  if (depth > 1) {
    depth--;
    return;
  }
  // Still "in" while flushing: a flush that triggers callbacks (a runtime that reports
  // a write error synchronously) queues behind rather than re-entering. Whatever
  // happens, the scope ends here (a throw must not leave every later write queued).
  try {
    for (let i = 0; i < dirtyCount; i++) dirty[i]!.flushBatch();
  } finally {
    for (let i = 0; i < dirtyCount; i++) dirty[i] = undefined;
    dirtyCount = 0;
    depth = 0;
    eventTime = undefined;
    // Every batch has left: the event's arena bytes are free again.
    resetArena();
  }
}

/** The clock read once per event (see approximateNow). */
let eventTime: number | undefined;
let eventClock: { now(): number } | undefined;

/**
 * Monotonic ms, read once per I/O event: Envoy's `approximateMonotonicTime()`, which
 * its dispatcher updates once per loop iteration. A request touches the clock a dozen
 * times (activity marks, timer deadlines, stats); one read per event is enough for
 * all of them. Outside an event it is the clock itself.
 */
export function approximateNow(clock: { now(): number }): number {
  if (depth === 0) return clock.now();
  if (eventTime === undefined || eventClock !== clock) {
    eventTime = clock.now();
    eventClock = clock;
  }
  return eventTime;
}
