/**
 * HPACK's dynamic table (RFC 7541 §2.3.2, §4): a FIFO of fields, newest at index 1,
 * evicted oldest-first to stay within its maximum size, where a field's size is its
 * name's and value's octets plus 32 (§4.1). A ring buffer, so an insert or an eviction
 * moves nothing.
 *
 * The encoder's side also keeps maps from a field and from a name to its newest entry,
 * to find a match without scanning.
 */
export const HPACK_ENTRY_OVERHEAD = 32;

export function hpackEntrySize(name: string, value: string): number {
  return name.length + value.length + HPACK_ENTRY_OVERHEAD;
}

export class HpackDynamicTable {
  private names: string[] = new Array(16);
  private values: string[] = new Array(16);
  /** Ring position of the oldest entry. */
  private head = 0;
  private count = 0;
  /** Sum of the entries' sizes. */
  size = 0;
  /** Entries ever inserted: an entry's id is the count before its insertion (the encoder's maps hold ids). */
  private inserted = 0;
  private readonly fieldIds: Map<string, number> | undefined;
  private readonly nameIds: Map<string, number> | undefined;

  constructor(
    public maxSize: number,
    indexed = false,
  ) {
    if (indexed) {
      this.fieldIds = new Map();
      this.nameIds = new Map();
    }
  }

  get length(): number {
    return this.count;
  }

  /** Entry `index` (1 = newest) as [name, value], or undefined past the end. */
  name(index: number): string | undefined {
    if (index < 1 || index > this.count) return undefined;
    return this.names[this.slot(index)];
  }

  value(index: number): string {
    return this.values[this.slot(index)]!;
  }

  private slot(index: number): number {
    return (this.head + this.count - index) & (this.names.length - 1);
  }

  /**
   * Add a field (§4.4): evict until it fits; a field larger than the whole table empties
   * it and is not added.
   */
  add(name: string, value: string): void {
    const size = hpackEntrySize(name, value);
    this.evictTo(this.maxSize - size);
    if (size > this.maxSize) return;
    if (this.count === this.names.length) this.grow();
    const slot = (this.head + this.count) & (this.names.length - 1);
    this.names[slot] = name;
    this.values[slot] = value;
    this.count++;
    this.size += size;
    if (this.fieldIds) {
      this.fieldIds.set(`${name}\0${value}`, this.inserted);
      this.nameIds!.set(name, this.inserted);
    }
    this.inserted++;
  }

  /** A new maximum size (a dynamic table size update, §4.3 and §6.3): evicts to fit. */
  setMaxSize(maxSize: number): void {
    this.maxSize = maxSize;
    this.evictTo(maxSize);
  }

  /** The index (1 = newest) of the newest entry equal to `name`/`value`, or 0. */
  findField(name: string, value: string): number {
    return this.indexOf(this.fieldIds!.get(`${name}\0${value}`));
  }

  /** The index of the newest entry named `name`, or 0. */
  findName(name: string): number {
    return this.indexOf(this.nameIds!.get(name));
  }

  private indexOf(id: number | undefined): number {
    if (id === undefined) return 0;
    const index = this.inserted - id;
    return index <= this.count ? index : 0;
  }

  private evictTo(target: number): void {
    while (this.count > 0 && this.size > target) {
      const slot = this.head;
      const name = this.names[slot]!;
      const value = this.values[slot]!;
      this.size -= hpackEntrySize(name, value);
      if (this.fieldIds) {
        const id = this.inserted - this.count;
        const key = `${name}\0${value}`;
        if (this.fieldIds.get(key) === id) this.fieldIds.delete(key);
        if (this.nameIds!.get(name) === id) this.nameIds!.delete(name);
      }
      this.names[slot] = undefined as unknown as string;
      this.values[slot] = undefined as unknown as string;
      this.head = (this.head + 1) & (this.names.length - 1);
      this.count--;
    }
  }

  /** Double the ring (its length stays a power of two), oldest entry first. */
  private grow(): void {
    const names: string[] = new Array(this.names.length * 2);
    const values: string[] = new Array(this.names.length * 2);
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head + i) & (this.names.length - 1);
      names[i] = this.names[slot]!;
      values[i] = this.values[slot]!;
    }
    this.names = names;
    this.values = values;
    this.head = 0;
  }
}
