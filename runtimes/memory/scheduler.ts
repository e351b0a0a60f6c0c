/**
 * The memory runtime's virtual clock and event queue.
 *
 * Every timer, deferred callback and socket event is a Task due at a virtual time.
 * Tasks run in time order; tasks due at the same time run in an order drawn from the
 * seeded PRNG (or in scheduling order when shuffling is off), except that tasks of one
 * Lane keep their (time, scheduling) order — timers with equal deadlines, deferred
 * callbacks, and the bytes in flight in one direction of a connection.
 *
 * Nothing runs by itself: `advance`, `runDue` and `runUntilIdle` run tasks synchronously
 * and instantly, however much virtual time they cover.
 */
import type { Prng } from "./prng.ts";

export class Task {
  cancelled = false;
  done = false;
  /** In the ready heap (at most once). */
  inHeap = false;
  /** Orders same-time tasks in the ready heap: random, or the scheduling order. */
  key = 0;
  constructor(
    readonly at: number,
    readonly seq: number,
    readonly fn: () => void,
    readonly lane: Lane | undefined,
  ) {}
}

/** Tasks that must keep their relative order; only the lane's head competes for its time slot. */
export class Lane {
  /** @internal */ readonly heap = new MinHeap<Task>((a, b) => a.at - b.at || a.seq - b.seq);
  /** Tasks of this lane scheduled and neither run nor cancelled. */
  live = 0;

  /**
   * `late`: the lane's tasks run after every other task due at the same time (the
   * runtime's deferred callbacks: after the I/O already received, as the port requires).
   */
  constructor(
    readonly name: string,
    readonly late = false,
  ) {}

  /** @internal The first live task, dropping cancelled ones. */
  head(): Task | undefined {
    let top = this.heap.peek();
    while (top && top.cancelled) {
      this.heap.pop();
      top = this.heap.peek();
    }
    return top;
  }
}

/** A binary min-heap. */
export class MinHeap<T> {
  private readonly items: T[] = [];
  constructor(private readonly less: (a: T, b: T) => number) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const items = this.items;
    let i = items.length;
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.less(items[parent]!, item) <= 0) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = item;
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let i = 0;
    const n = items.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && this.less(items[r]!, items[l]!) < 0 ? r : l;
      if (this.less(last, items[child]!) <= 0) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = last;
    return top;
  }

  clear(): void {
    this.items.length = 0;
  }
}

/** Added to a late lane's keys: above any random key (< 1) or sequence number (fewer than 2^40 tasks). */
const LATE_KEY = 2 ** 40;

export class LivelockError extends Error {}

export class Scheduler {
  /** Virtual monotonic milliseconds. */
  now: number;
  /** Tasks run so far. */
  steps = 0;
  private seq = 0;
  private live = 0;
  /** Runnable tasks: those without a lane, and each lane's head (plus stale entries, dropped when met). */
  private readonly ready = new MinHeap<Task>((a, b) => a.at - b.at || a.key - b.key);
  /** Called whenever a task is scheduled (the auto-run pump hooks in here). */
  onSchedule: (() => void) | undefined;

  constructor(
    private readonly prng: Prng,
    private readonly shuffle: boolean,
    start = 0,
  ) {
    this.now = start;
  }

  /** Tasks scheduled and neither run nor cancelled. */
  get pending(): number {
    return this.live;
  }

  /** Schedule `fn` `delay` ms from now (0: at the current time, after the running task). */
  schedule(fn: () => void, delay = 0, lane?: Lane): Task {
    const at = this.now + (delay > 0 ? delay : 0);
    return this.scheduleAt(fn, at, lane);
  }

  /** Schedule at an absolute virtual time (never earlier than now). */
  scheduleAt(fn: () => void, at: number, lane?: Lane): Task {
    const task = new Task(Math.max(at, this.now), this.seq++, fn, lane);
    this.live++;
    if (!lane) {
      this.enter(task);
    } else {
      lane.live++;
      const before = lane.head();
      lane.heap.push(task);
      if (lane.head() !== before) this.enter(task);
    }
    this.onSchedule?.();
    return task;
  }

  cancel(task: Task): void {
    if (task.cancelled || task.done) return;
    const lane = task.lane;
    const wasHead = lane !== undefined && lane.head() === task;
    task.cancelled = true;
    this.live--;
    if (lane) lane.live--;
    if (wasHead) {
      // The next task of the lane now competes for its time slot.
      const head = lane.head();
      if (head) this.enter(head);
    }
  }

  private enter(task: Task): void {
    if (task.inHeap) return;
    task.inHeap = true;
    task.key = (this.shuffle ? this.prng.random() : task.seq) + (task.lane?.late ? LATE_KEY : 0);
    this.ready.push(task);
  }

  /** The next runnable task, dropping stale entries (cancelled, or no longer their lane's head). */
  private peek(): Task | undefined {
    for (;;) {
      const task = this.ready.peek();
      if (!task) return undefined;
      if (!task.cancelled && !task.done && (!task.lane || task.lane.head() === task)) return task;
      this.ready.pop();
      task.inHeap = false;
    }
  }

  /** When the next task is due, or undefined when nothing is scheduled. */
  nextAt(): number | undefined {
    return this.peek()?.at;
  }

  private run(task: Task): void {
    this.ready.pop();
    task.inHeap = false;
    if (task.at > this.now) this.now = task.at;
    task.done = true;
    this.live--;
    this.steps++;
    const lane = task.lane;
    if (lane) {
      lane.live--;
      lane.heap.pop();
      const next = lane.head();
      if (next) this.enter(next);
    }
    task.fn();
  }

  /** Run the next task (moving the clock to it); false when nothing is scheduled. */
  runNext(): boolean {
    const task = this.peek();
    if (!task) return false;
    this.run(task);
    return true;
  }

  /** Run every task due at or before `until` (in order), leaving the clock at the last one run. */
  runUntil(until: number, maxSteps = Infinity): number {
    let ran = 0;
    for (let task = this.peek(); task && task.at <= until; task = this.peek()) {
      if (ran >= maxSteps) throw new LivelockError(`memory runtime: more than ${maxSteps} events without going idle (at t=${this.now}ms)`);
      this.run(task);
      ran++;
    }
    return ran;
  }
}
