import type { Dispatcher } from "../event/dispatcher.ts";
import type { Timer } from "../event/timers.ts";
import type { Logger } from "../log.ts";
import type { Counter } from "../stats/counter.ts";
import type { StatsScope } from "../stats/stats-store.ts";
import type { OverloadActionState } from "./overload-action.ts";
import { SHRINK_HEAP } from "./overload-names.ts";

/** Envoy's kTimerInterval (source/common/memory/heap_shrinker.cc): one look every 10 s. */
export const SHRINK_HEAP_INTERVAL_MS = 10_000;

/**
 * Envoy's HeapShrinker (source/common/memory/heap_shrinker.cc): while
 * envoy.overload_actions.shrink_heap is saturated, every 10 s, free memory is handed back
 * (the port's releaseFreeMemory) and `overload.envoy.overload_actions.shrink_heap.shrink_count`
 * counts it. Where the runtime has no such call the action is kept (its active and
 * scale_percent gauges follow the triggers) and said once, at info level, to do nothing.
 */
export class HeapShrinker {
  private readonly timer: Timer;
  private readonly shrinkCount: Counter;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly state: OverloadActionState,
    scope: StatsScope,
    log: Logger,
  ) {
    this.shrinkCount = scope.counter(`${SHRINK_HEAP}.shrink_count`);
    if (dispatcher.runtime.releaseFreeMemory === undefined) {
      log.info(`overload action ${SHRINK_HEAP}: the ${dispatcher.runtime.name} runtime offers no call that releases free memory, so the action changes nothing here (see docs/configuration.md, overload_manager)`);
    }
    this.timer = dispatcher.timers.create(() => this.onTimer());
  }

  start(): void {
    this.timer.enable(SHRINK_HEAP_INTERVAL_MS);
  }

  stop(): void {
    this.timer.disable();
  }

  private onTimer(): void {
    const release = this.dispatcher.runtime.releaseFreeMemory;
    if (this.state.saturated && release !== undefined) {
      release.call(this.dispatcher.runtime);
      this.shrinkCount.inc();
    }
    this.timer.enable(SHRINK_HEAP_INTERVAL_MS);
  }
}
