/**
 * The last `capacity` stream ids added, in a ring of 4-byte slots allocated on first use:
 * a connection keeps 4 KiB at most for them, where a Set of 1,024 numbers costs several
 * times that on every connection whose peer had streams reset. `has` scans the ring; it is
 * asked only about frames on streams no longer open.
 */
export class RecentStreamIds {
  private ids: Uint32Array | undefined;
  private next = 0;
  private size = 0;

  constructor(private readonly capacity: number) {}

  add(id: number): void {
    const ids = (this.ids ??= new Uint32Array(this.capacity));
    ids[this.next] = id;
    this.next = (this.next + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
  }

  has(id: number): boolean {
    const ids = this.ids;
    if (ids === undefined) return false;
    // Stream ids are never 0 (RFC 9113 §5.1.1), so an unused slot never matches.
    for (let i = 0; i < this.size; i++) if (ids[i] === id) return true;
    return false;
  }
}
