import { approximateNow } from "./dispatch-scope.ts";
import type { Runtime, TimerHandle } from "../port.ts";

/**
 * Cheap timers for the per-request and per-connection timeouts (Envoy's
 * `Event::Timer`, created by `Dispatcher::createTimer`). A request arms and disarms
 * several timeouts (stream idle, request, route) that almost never fire; one runtime
 * timer for each would cost more than the request itself (a runtime's setTimeout may
 * be a native call, and clearTimeout another).
 *
 * So timers of the same duration share one list, ordered by deadline because each is
 * appended at now + duration, and one runtime timer per list, armed for its head:
 * enabling is an append, disabling an unlink, neither touches the runtime. This is how
 * Node's own timers lists work, and it is exact: a timer fires at its deadline.
 */
export class Timers {
  private readonly lists = new Map<number, TimerList>();

  constructor(readonly runtime: Runtime) {}

  /**
   * A disabled timer that calls `callback` when it fires: a function, or an object's
   * `onTimer` (an object made per request then needs no closure as well).
   */
  create(callback: (() => void) | TimerTarget): Timer {
    return new Timer(this, callback);
  }

  /** @internal */
  listFor(ms: number): TimerList {
    let list = this.lists.get(ms);
    if (!list) {
      list = new TimerList(this, ms);
      this.lists.set(ms, list);
    }
    return list;
  }

  /** Cancel every runtime timer the lists hold (at shutdown); enabled timers will not fire. */
  close(): void {
    for (const list of this.lists.values()) list.close();
    this.lists.clear();
  }

  /** @internal An emptied list goes, so one-off durations (the rest of an idle wait) do not pile up. */
  dropList(list: TimerList): void {
    if (this.lists.get(list.ms) === list) this.lists.delete(list.ms);
  }
}

/** What a timer can call instead of a function. */
export interface TimerTarget {
  /** `timer` fired (one target can own several). */
  onTimer(timer: Timer): void;
}

export class Timer {
  /** @internal the list it is in while enabled, and its neighbours there */
  list: TimerList | undefined;
  /** @internal */
  prev: Timer | undefined;
  /** @internal */
  next: Timer | undefined;
  /** @internal monotonic ms when it fires */
  deadline = 0;

  constructor(
    private readonly timers: Timers,
    /** @internal */
    readonly callback: (() => void) | TimerTarget,
  ) {}

  /** Fire `ms` milliseconds from now (re-enabling restarts the wait). */
  enable(ms: number): void {
    this.disable();
    this.timers.listFor(Math.max(1, Math.round(ms))).append(this);
  }

  disable(): void {
    this.list?.unlink(this);
  }

  /**
   * An idle timeout re-armed lazily (stream_idle_timeout, tcp_proxy's idle_timeout):
   * activity only records when it happened, costing a clock read instead of a timer
   * reset, and the timer, when it fires, calls this. True when `timeoutMs` has passed
   * since `lastActivity`; otherwise the timer is re-armed for the rest and it is false.
   */
  idleTimeoutPassed(lastActivity: number, timeoutMs: number): boolean {
    const idle = this.timers.runtime.now() - lastActivity;
    if (idle >= timeoutMs) return true;
    this.enable(timeoutMs - idle);
    return false;
  }

  get enabled(): boolean {
    return this.list !== undefined;
  }
}

const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** @internal Timers of one duration, oldest (earliest deadline) first. */
class TimerList {
  private head: Timer | undefined;
  private tail: Timer | undefined;
  /** The runtime timer, armed while the list may hold timers. */
  private handle: TimerHandle | undefined;
  /** Callbacks are running: the list re-arms for its head once they are done. */
  private firing = false;

  private readonly runtime: Runtime;

  constructor(
    private readonly owner: Timers,
    readonly ms: number,
  ) {
    this.runtime = owner.runtime;
  }

  append(timer: Timer): void {
    timer.deadline = approximateNow(this.runtime) + this.ms;
    timer.list = this;
    timer.prev = this.tail;
    timer.next = undefined;
    if (this.tail) this.tail.next = timer;
    else this.head = timer;
    this.tail = timer;
    // The appended timer is the head unless others wait (then the handle is armed for them).
    if (this.handle === undefined && !this.firing) this.arm(this.ms);
  }

  unlink(timer: Timer): void {
    if (timer.prev) timer.prev.next = timer.next;
    else this.head = timer.next;
    if (timer.next) timer.next.prev = timer.prev;
    else this.tail = timer.prev;
    timer.list = timer.prev = timer.next = undefined;
    // The runtime timer stays armed: it finds the list empty and stops, which is
    // cheaper than cancelling and re-arming it for every request.
  }

  private arm(ms: number): void {
    // The port takes any delay (port.ts); this list's one runtime timer is armed for at
    // most 2^31-1 ms at a time anyway (a later deadline is reached in steps).
    this.handle = this.runtime.setTimeout(this.fire, Math.min(ms, MAX_TIMEOUT_MS));
  }

  close(): void {
    if (this.handle !== undefined) this.runtime.clearTimeout(this.handle);
    this.handle = undefined;
    for (let timer = this.head; timer; timer = this.head) this.unlink(timer);
  }

  private readonly fire = (): void => {
    this.handle = undefined;
    const now = this.runtime.now();
    // Fire in deadline order; a callback may enable timers again (they go to the tail,
    // with a later deadline) or disable others (unlinked at once).
    this.firing = true;
    try {
      for (let timer = this.head; timer && timer.deadline <= now; timer = this.head) {
        this.unlink(timer);
        const callback = timer.callback;
        if (typeof callback === "function") callback();
        else callback.onTimer(timer);
      }
    } finally {
      this.firing = false;
      if (!this.head) this.owner.dropList(this);
      else this.arm(Math.max(1, Math.ceil(this.head.deadline - now)));
    }
  };
}
