import type { OverloadActionConfig, TriggerConfig } from "../config/overload-schema.ts";
import type { Gauge } from "../stats/gauge.ts";
import type { StatsScope } from "../stats/stats-store.ts";

/**
 * An overload action's state (Envoy's OverloadActionState, envoy/server/overload/
 * thread_local_overload_state.h): 0 inactive, 1 saturated, in between scaling. What an
 * action guards holds this object and reads `value` where it decides, so the hot path
 * pays one field read and no lookup.
 */
export class OverloadActionState {
  value = 0;

  get saturated(): boolean {
    return this.value >= 1;
  }
}

/** A trigger's state from its resource's pressure; `update` says whether it changed. */
interface Trigger {
  readonly value: number;
  update(pressure: number): boolean;
}

/** ThresholdTrigger: saturated at or above `value`, else inactive. */
class ThresholdTrigger implements Trigger {
  value = 0;

  constructor(private readonly threshold: number) {}

  update(pressure: number): boolean {
    const old = this.value;
    this.value = pressure >= this.threshold ? 1 : 0;
    return old !== this.value;
  }
}

/**
 * ScaledTrigger: inactive at or below scaling_threshold, saturated at or above
 * saturation_threshold, and in between the fraction of the way from one to the other.
 */
class ScaledTrigger implements Trigger {
  value = 0;

  constructor(
    private readonly scaling: number,
    private readonly saturation: number,
  ) {}

  update(pressure: number): boolean {
    const old = this.value;
    if (pressure <= this.scaling) this.value = 0;
    else if (pressure >= this.saturation) this.value = 1;
    else this.value = (pressure - this.scaling) / (this.saturation - this.scaling);
    return old !== this.value;
  }
}

function makeTrigger(config: TriggerConfig): Trigger {
  return config.type === "threshold" ? new ThresholdTrigger(config.value) : new ScaledTrigger(config.scalingThreshold, config.saturationThreshold);
}

/**
 * One configured overload action (Envoy's OverloadAction in source/server/
 * overload_manager_impl.cc): its triggers by resource name, and its state, the highest
 * of its triggers'. Gauges `overload.<action>.active` and `overload.<action>.scale_percent`
 * show the trigger that changed last, as Envoy's do.
 */
export class OverloadAction {
  readonly state = new OverloadActionState();
  private readonly triggers = new Map<string, Trigger>();
  private readonly active: Gauge;
  private readonly scalePercent: Gauge;

  constructor(
    readonly config: OverloadActionConfig,
    scope: StatsScope,
  ) {
    for (const trigger of config.triggers) this.triggers.set(trigger.resource, makeTrigger(trigger));
    this.active = scope.gauge(`${config.name}.active`);
    this.scalePercent = scope.gauge(`${config.name}.scale_percent`);
    this.active.set(0);
    this.scalePercent.set(0);
  }

  /** A resource this action watches reported `pressure`; true when the action's state changed. */
  updateResourcePressure(resource: string, pressure: number): boolean {
    const trigger = this.triggers.get(resource);
    if (trigger === undefined || !trigger.update(pressure)) return false;
    this.active.set(trigger.value >= 1 ? 1 : 0);
    this.scalePercent.set(Math.trunc(trigger.value * 100));
    const old = this.state.value;
    let value = 0;
    for (const each of this.triggers.values()) if (each.value > value) value = each.value;
    this.state.value = value;
    return value !== old;
  }
}
