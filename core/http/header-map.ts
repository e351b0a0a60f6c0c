/**
 * An ordered multimap of HTTP header fields with lowercase names, as Envoy's
 * HeaderMap after the HTTP/1 codec (which lowercases names). Stored as one array of
 * name, value, name, value…: cheap to build from the parser and to serialize, one
 * allocation per message, and lookups are linear scans over the few dozen fields a
 * message carries.
 *
 * The array only grows: the first `fieldCount` pairs are the fields, the rest are unset.
 * Shortening an array lets the engine trim its storage, and a request whose Host field
 * moves out of the map would then grow it again from nothing.
 *
 * Requests and responses are header maps with their pseudo-headers beside the fields
 * (message.ts), as Envoy's RequestHeaderMap and ResponseHeaderMap are; trailers are
 * plain maps.
 */
export class HeaderMap {
  /** name, value, name, value… (names lowercase). */
  private fields: (string | undefined)[] = [];
  private fieldCount = 0;
  /**
   * Bit `lengthBit(name)` is set for every name ever added: a lookup whose bit is clear
   * needs no scan. Most lookups are for fields a message does not carry (hop-by-hop
   * fields, content-length on a GET, x-request-id from a client that sends none), and
   * names of the same length are few. Bits are never cleared (a removal may leave
   * another field of that length): a set bit only means "look".
   */
  private lengths = 0;

  get size(): number {
    return this.fieldCount;
  }

  /** The slot of the first `name` field at or after field `from`, or -1. */
  private slotOf(name: string, from = 0): number {
    if ((this.lengths & lengthBit(name)) === 0) return -1;
    const fields = this.fields;
    const end = this.fieldCount * 2;
    for (let slot = from * 2; slot < end; slot += 2) if (fields[slot] === name) return slot;
    return -1;
  }

  /** The first value of `name` (lowercase), or undefined. */
  get(name: string): string | undefined {
    const slot = this.slotOf(name);
    return slot < 0 ? undefined : this.fields[slot + 1];
  }

  /** Every value of `name`, joined with `separator` as RFC 9110 §5.3 allows for list fields; undefined if absent. */
  getJoined(name: string, separator = ", "): string | undefined {
    if ((this.lengths & lengthBit(name)) === 0) return undefined;
    const fields = this.fields;
    let joined: string | undefined;
    for (let slot = 0; slot < this.fieldCount * 2; slot += 2) {
      if (fields[slot] === name) joined = joined === undefined ? fields[slot + 1]! : `${joined}${separator}${fields[slot + 1]}`;
    }
    return joined;
  }

  has(name: string): boolean {
    return this.slotOf(name) >= 0;
  }

  count(name: string): number {
    if ((this.lengths & lengthBit(name)) === 0) return 0;
    let n = 0;
    for (let slot = 0; slot < this.fieldCount * 2; slot += 2) if (this.fields[slot] === name) n++;
    return n;
  }

  /** Append a field (names must already be lowercase). */
  add(name: string, value: string): void {
    const slot = this.fieldCount * 2;
    this.fields[slot] = name;
    this.fields[slot + 1] = value;
    this.fieldCount++;
    this.lengths |= lengthBit(name);
  }

  /** Replace every `name` field with one. */
  set(name: string, value: string): void {
    const slot = this.slotOf(name);
    if (slot < 0) return this.add(name, value);
    this.fields[slot + 1] = value;
    this.removeFrom(name, slot / 2 + 1);
  }

  remove(name: string): void {
    this.removeFrom(name, 0);
  }

  private removeFrom(name: string, from: number): void {
    // Most removals find nothing (hop-by-hop fields a message rarely has): look first.
    const first = this.slotOf(name, from);
    if (first < 0) return;
    const fields = this.fields;
    const end = this.fieldCount * 2;
    let out = first;
    for (let slot = first; slot < end; slot += 2) {
      if (fields[slot] === name) continue;
      fields[out] = fields[slot];
      fields[out + 1] = fields[slot + 1];
      out += 2;
    }
    for (let slot = out; slot < end; slot++) fields[slot] = undefined;
    this.fieldCount = out / 2;
  }

  /** The i-th field's name and value (0 ≤ i < size), for loops without a callback. */
  nameAt(i: number): string {
    return this.fields[i * 2]!;
  }

  valueAt(i: number): string {
    return this.fields[i * 2 + 1]!;
  }

  forEach(callback: (name: string, value: string) => void): void {
    for (let i = 0; i < this.fieldCount; i++) callback(this.fields[i * 2]!, this.fields[i * 2 + 1]!);
  }

  /** The fields as [name, value] pairs (for tests and debugging). */
  entries(): [string, string][] {
    const entries: [string, string][] = [];
    for (let i = 0; i < this.fieldCount; i++) entries.push([this.fields[i * 2]!, this.fields[i * 2 + 1]!]);
    return entries;
  }
}

/** A name's bit in a map's filter: its length, mod 32 (see HeaderMap.lengths). */
function lengthBit(name: string): number {
  return 1 << (name.length & 31);
}
