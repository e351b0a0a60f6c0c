/**
 * A monotonically increasing count (Envoy's Counter). Hot paths hold the object and
 * call `inc()`; nothing is looked up by name per request. `used` feeds /stats?usedonly.
 */
export class Counter {
  value = 0;
  used = false;
  /** What was added since the last latch() (Envoy's CounterImpl::pending_increment_). */
  private pending = 0;

  constructor(readonly name: string) {}

  inc(by = 1): void {
    this.value += by;
    this.pending += by;
    this.used = true;
  }

  /**
   * What was added since the last latch (Envoy's Counter::latch(), which the stats flush
   * calls once per flush for every sink's delta). A reset in between does not change it.
   */
  latch(): number {
    const delta = this.pending;
    this.pending = 0;
    return delta;
  }

  /**
   * /reset_counters: the value back to zero. Envoy's CounterImpl::reset() zeroes value_
   * only: `used` and the increments not yet latched stay (the next flush still sends them).
   */
  reset(): void {
    this.value = 0;
  }
}
