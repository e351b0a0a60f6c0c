/**
 * A monotonically increasing count (Envoy's Counter). Hot paths hold the object and
 * call `inc()`; nothing is looked up by name per request. `used` feeds /stats?usedonly.
 */
export class Counter {
  value = 0;
  used = false;
  /** The value at the last latch() (the stats flush's). */
  private latched = 0;

  constructor(readonly name: string) {}

  inc(by = 1): void {
    this.value += by;
    this.used = true;
  }

  /**
   * What was added since the last latch (Envoy's Counter::latch(), which the stats flush
   * calls once per flush for every sink's delta): a reset in between counts from zero.
   */
  latch(): number {
    const delta = this.value - this.latched;
    this.latched = this.value;
    return delta;
  }

  /** /reset_counters: back to zero (Envoy keeps `used`, and drops the increments not yet latched). */
  reset(): void {
    this.value = 0;
    this.latched = 0;
  }
}
