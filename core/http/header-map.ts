/**
 * An ordered multimap of HTTP header fields with lowercase names, as Envoy's
 * HeaderMap after the HTTP/1 codec (which lowercases names). Stored as two parallel
 * arrays: cheap to build from the parser and to serialize, and lookups are linear
 * scans over the few dozen fields a message carries.
 *
 * The arrays only grow: the first `fieldCount` entries are the fields, the rest are unset.
 * Shortening an array lets the engine trim its storage, and a request whose Host field
 * moves out of the map would then grow it again from nothing.
 */
export class HeaderMap {
  private names: (string | undefined)[] = [];
  private values: (string | undefined)[] = [];
  private fieldCount = 0;

  get size(): number {
    return this.fieldCount;
  }

  /** The first value of `name` (lowercase), or undefined. */
  get(name: string): string | undefined {
    const i = this.names.indexOf(name);
    return i < 0 ? undefined : this.values[i];
  }

  /** Every value of `name`, joined with `separator` as RFC 9110 §5.3 allows for list fields; undefined if absent. */
  getJoined(name: string, separator = ", "): string | undefined {
    let joined: string | undefined;
    for (let i = 0; i < this.fieldCount; i++) {
      if (this.names[i] === name) joined = joined === undefined ? this.values[i]! : `${joined}${separator}${this.values[i]}`;
    }
    return joined;
  }

  has(name: string): boolean {
    return this.names.includes(name);
  }

  count(name: string): number {
    let n = 0;
    for (let i = 0; i < this.fieldCount; i++) if (this.names[i] === name) n++;
    return n;
  }

  /** Append a field (names must already be lowercase). */
  add(name: string, value: string): void {
    this.names[this.fieldCount] = name;
    this.values[this.fieldCount] = value;
    this.fieldCount++;
  }

  /** Replace every `name` field with one. */
  set(name: string, value: string): void {
    const i = this.names.indexOf(name);
    if (i < 0) return this.add(name, value);
    this.values[i] = value;
    this.removeFrom(name, i + 1);
  }

  remove(name: string): void {
    this.removeFrom(name, 0);
  }

  private removeFrom(name: string, start: number): void {
    // Most removals find nothing (hop-by-hop fields a message rarely has): look first.
    // (Unset entries past `fieldCount` never equal a name.)
    start = this.names.indexOf(name, start);
    if (start < 0) return;
    let out = start;
    for (let i = start; i < this.fieldCount; i++) {
      if (this.names[i] === name) continue;
      this.names[out] = this.names[i];
      this.values[out] = this.values[i];
      out++;
    }
    for (let i = out; i < this.fieldCount; i++) this.names[i] = this.values[i] = undefined;
    this.fieldCount = out;
  }

  /** The i-th field's name and value (0 ≤ i < size), for loops without a callback. */
  nameAt(i: number): string {
    return this.names[i]!;
  }

  valueAt(i: number): string {
    return this.values[i]!;
  }

  forEach(callback: (name: string, value: string) => void): void {
    for (let i = 0; i < this.fieldCount; i++) callback(this.names[i]!, this.values[i]!);
  }

  /** The fields as [name, value] pairs (for tests and debugging). */
  entries(): [string, string][] {
    const entries: [string, string][] = [];
    for (let i = 0; i < this.fieldCount; i++) entries.push([this.names[i]!, this.values[i]!]);
    return entries;
  }
}
