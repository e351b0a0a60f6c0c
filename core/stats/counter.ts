/**
 * A monotonically increasing count (Envoy's Counter). Hot paths hold the object and
 * call `inc()`; nothing is looked up by name per request. `used` feeds /stats?usedonly.
 */
export class Counter {
  value = 0;
  used = false;

  constructor(readonly name: string) {}

  inc(by = 1): void {
    this.value += by;
    this.used = true;
  }

  /** /reset_counters: back to zero (Envoy keeps `used`). */
  reset(): void {
    this.value = 0;
  }
}
