import type { Timer, TimerTarget, Timers } from "../event/timers.ts";
import type { Runtime } from "../port.ts";

/** --drain-strategy (Envoy's `Server::DrainStrategy`). */
export type DrainStrategy = "gradual" | "immediate";

/** Envoy's default --drain-time-s. */
export const DEFAULT_DRAIN_TIME_S = 600;

/** What drains on a drain manager's word: a connection manager (Envoy's addOnDrainCloseCb). */
export interface DrainCloseTarget {
  /** Start closing gracefully: HTTP/1 Connection: close on the next response (or close after drain_timeout idle), HTTP/2 GOAWAY. */
  onDrainClose(): void;
}

/** How a drain is run: --drain-time-s and --drain-strategy. */
export interface DrainSettings {
  readonly drainTimeS: number;
  readonly strategy: DrainStrategy;
}

/**
 * One drain, of the server or of one listener being removed or replaced (Envoy's
 * `DrainManagerImpl`, source/server/drain_manager_impl.cc): once started, `drainClose()`
 * tells connections to close — always with `immediate`, with `gradual` with probability
 * elapsed / drain time in whole seconds — and the connections that registered a
 * DrainCloseTarget are told to close: all at once with `immediate`, spread evenly over
 * the drain time with `gradual`, as Envoy's drain-close callbacks are. `onComplete`
 * runs when the drain time is over.
 */
export class DrainManager implements TimerTarget {
  private readonly targets = new Set<DrainCloseTarget>();
  private started = false;
  /** When the drain time is over (runtime.now() ms). */
  private deadline = 0;
  private timer: Timer | undefined;
  /** Gradual: targets still to be told, in the order they will be. */
  private queue: DrainCloseTarget[] = [];
  private stepMs = 0;
  private completions: (() => void)[] = [];

  constructor(
    private readonly runtime: Runtime,
    private readonly timers: Timers,
    private readonly settings: DrainSettings,
  ) {}

  get draining(): boolean {
    return this.started;
  }

  /** Envoy's DrainManagerImpl::drainClose. */
  drainClose(): boolean {
    if (!this.started) return false;
    const drainTimeS = this.settings.drainTimeS;
    if (this.settings.strategy === "immediate" || drainTimeS === 0) return true;
    const remainingMs = this.deadline - this.runtime.now();
    if (remainingMs <= 0) return true;
    const elapsedS = drainTimeS - Math.floor(remainingMs / 1000);
    return elapsedS > Math.floor(this.runtime.random() * drainTimeS);
  }

  add(target: DrainCloseTarget): void {
    this.targets.add(target);
    // A connection that comes while an immediate drain runs is told at once.
    if (this.started && this.settings.strategy === "immediate") target.onDrainClose();
  }

  remove(target: DrainCloseTarget): void {
    this.targets.delete(target);
  }

  /** Start draining; `onComplete` after the drain time (of the drain already under way, if any). */
  startDrainSequence(onComplete?: () => void): void {
    if (onComplete) this.completions.push(onComplete);
    if (this.started) {
      if (this.timer === undefined) this.onTimer();
      return;
    }
    this.started = true;
    const drainMs = this.settings.drainTimeS * 1000;
    this.deadline = this.runtime.now() + drainMs;
    this.timer = this.timers.create(this);
    if (this.settings.strategy === "immediate" || this.targets.size === 0) {
      for (const target of [...this.targets]) target.onDrainClose();
      this.timer.enable(drainMs);
      return;
    }
    this.queue = [...this.targets];
    this.stepMs = drainMs / this.queue.length;
    this.timer.enable(0);
  }

  /** @internal The next gradual step, or the end of the drain time. */
  onTimer(): void {
    if (this.queue.length > 0) {
      const target = this.queue.shift()!;
      if (this.targets.has(target)) target.onDrainClose();
      if (this.queue.length > 0) return this.timer!.enable(this.stepMs);
      return this.timer!.enable(Math.max(0, this.deadline - this.runtime.now()));
    }
    this.timer = undefined;
    const completions = this.completions;
    this.completions = [];
    for (const done of completions) done();
  }

  /** Cancel the drain time's timer (the drain ended early, or the server stops). */
  stop(): void {
    this.timer?.disable();
    this.timer = undefined;
    this.queue = [];
    this.completions = [];
  }
}
