import type { ScaledTimerType, TimerMinimum } from "../config/overload-schema.ts";
import type { OverloadActionState } from "./overload-action.ts";

/** Something with scaled timers armed, told to re-arm them when the scale changes. */
export interface ScaledTimerUser {
  onTimerScaleChanged(): void;
}

/**
 * envoy.overload_actions.reduce_timeouts (Envoy's ScaledRangeTimerManagerImpl,
 * source/common/event/scaled_range_timer_manager_impl.cc): a timer of a listed type with
 * a configured timeout `max` fires after `min + (max − min) × (1 − state)`, `min` being
 * its timer_scale_factors entry (min_timeout, or min_scale of `max`); at or above `max`,
 * or unlisted, it keeps `max`. As in Envoy, a change of the action's state applies to the
 * timers already armed: their users re-arm them (`onTimerScaleChanged`).
 */
export class TimerScaling {
  private readonly users = new Set<ScaledTimerUser>();

  constructor(
    private readonly minimums: ReadonlyMap<ScaledTimerType, TimerMinimum>,
    private readonly state: OverloadActionState,
  ) {}

  /** How long a `type` timer configured for `maxMs` lasts now. */
  scaled(type: ScaledTimerType, maxMs: number): number {
    const minimum = this.minimums.get(type);
    const value = this.state.value;
    if (minimum === undefined || value === 0) return maxMs;
    const min = minimum.type === "absolute" ? minimum.ms : maxMs * minimum.fraction;
    if (min >= maxMs) return maxMs;
    return min + (maxMs - min) * (1 - value);
  }

  register(user: ScaledTimerUser): void {
    this.users.add(user);
  }

  unregister(user: ScaledTimerUser): void {
    this.users.delete(user);
  }

  /** @internal reduce_timeouts changed state. */
  onStateChanged(): void {
    for (const user of this.users) user.onTimerScaleChanged();
  }
}
