/**
 * Earliest Deadline First scheduler for weighted round robin (Envoy's `EdfScheduler`,
 * source/common/upstream/edf_scheduler.h). Each pick takes the entry with the earliest
 * deadline and puts it back at `now + 1/weight`, so entries come up in proportion to
 * their weights with an O(log n) pick; ties go to the entry inserted first.
 *
 * Entries are never removed: a balancer rebuilds its schedulers whenever its hosts change.
 */
export class EdfScheduler<T> {
  // A binary min-heap in parallel arrays: deadline, then insertion order.
  private readonly deadlines: number[] = [];
  private readonly orders: number[] = [];
  private readonly items: T[] = [];
  private currentTime = 0;
  private orderOffset = 0;

  get size(): number {
    return this.items.length;
  }

  /** Insert with a deadline of now + 1/weight (weight > 0). */
  add(weight: number, item: T): void {
    this.push(this.currentTime + 1 / weight, this.orderOffset++, item);
  }

  /** The entry with the earliest deadline, put back with the weight `weightOf` gives it now. */
  pickAndAdd(weightOf: (item: T) => number): T | undefined {
    if (this.items.length === 0) return undefined;
    const item = this.items[0]!;
    this.currentTime = this.deadlines[0]!;
    this.pop();
    this.add(weightOf(item), item);
    return item;
  }

  /**
   * A scheduler over `items` as if `picks` picks had been made from a fresh one (Envoy's
   * `createWithPicks`, seeded with a random number so that every Envoy — and every
   * rebuild — does not start on the same host). Each weight gets 1e-13 added, as Envoy
   * does, so weights that are multiples of each other do not tie by rounding.
   */
  static createWithPicks<T>(items: readonly T[], weightOf: (item: T) => number, picks: number): EdfScheduler<T> {
    const scheduler = new EdfScheduler<T>();
    if (items.length === 0) return scheduler;
    picks = picks % 429496729;
    const augmented = (item: T): number => weightOf(item) + 1e-13;
    let weightsSum = 0;
    for (const item of items) weightsSum += augmented(item);
    let picksSoFar = 0;
    let maxPickTime = 0;
    for (let i = 0; i < items.length; i++) {
      const weight = augmented(items[i]!);
      let floorPicks = Math.floor((weight * picks) / weightsSum) >>> 0;
      // Floating point may disagree with the math (floor(A*B) > A*B): pick one fewer.
      if (floorPicks > 0 && floorPicks / weight >= picks / weightsSum) floorPicks--;
      const pickTime = floorPicks / weight;
      scheduler.push((floorPicks + 1) / weight, i, items[i]!);
      maxPickTime = Math.max(maxPickTime, pickTime);
      picksSoFar += floorPicks;
    }
    scheduler.currentTime = maxPickTime;
    scheduler.orderOffset = items.length;
    while (picksSoFar < picks) {
      scheduler.pickAndAdd(weightOf);
      picksSoFar++;
    }
    return scheduler;
  }

  private less(a: number, b: number): boolean {
    const da = this.deadlines[a]!;
    const db = this.deadlines[b]!;
    return da < db || (da === db && this.orders[a]! < this.orders[b]!);
  }

  private swap(a: number, b: number): void {
    const d = this.deadlines[a]!;
    this.deadlines[a] = this.deadlines[b]!;
    this.deadlines[b] = d;
    const o = this.orders[a]!;
    this.orders[a] = this.orders[b]!;
    this.orders[b] = o;
    const item = this.items[a]!;
    this.items[a] = this.items[b]!;
    this.items[b] = item;
  }

  private push(deadline: number, order: number, item: T): void {
    let i = this.items.length;
    this.deadlines.push(deadline);
    this.orders.push(order);
    this.items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private pop(): void {
    const last = this.items.length - 1;
    this.swap(0, last);
    this.deadlines.pop();
    this.orders.pop();
    this.items.pop();
    let i = 0;
    const n = last;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && this.less(right, left) ? right : left;
      if (!this.less(child, i)) break;
      this.swap(i, child);
      i = child;
    }
  }
}
