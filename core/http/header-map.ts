/**
 * An ordered multimap of HTTP header fields with lowercase names, as Envoy's
 * HeaderMap after the HTTP/1 codec (which lowercases names). Stored as two parallel
 * arrays: cheap to build from the parser and to serialize, and lookups are linear
 * scans over the few dozen fields a message carries.
 */
export class HeaderMap {
  private names: string[] = [];
  private values: string[] = [];

  get size(): number {
    return this.names.length;
  }

  /** The first value of `name` (lowercase), or undefined. */
  get(name: string): string | undefined {
    const i = this.names.indexOf(name);
    return i < 0 ? undefined : this.values[i];
  }

  /** Every value of `name`, joined with `separator` as RFC 9110 §5.3 allows for list fields; undefined if absent. */
  getJoined(name: string, separator = ", "): string | undefined {
    let joined: string | undefined;
    for (let i = 0; i < this.names.length; i++) {
      if (this.names[i] === name) joined = joined === undefined ? this.values[i]! : `${joined}${separator}${this.values[i]}`;
    }
    return joined;
  }

  has(name: string): boolean {
    return this.names.includes(name);
  }

  count(name: string): number {
    let n = 0;
    for (const each of this.names) if (each === name) n++;
    return n;
  }

  /** Append a field (names must already be lowercase). */
  add(name: string, value: string): void {
    this.names.push(name);
    this.values.push(value);
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
    start = this.names.indexOf(name, start);
    if (start < 0) return;
    let out = start;
    for (let i = start; i < this.names.length; i++) {
      if (this.names[i] === name) continue;
      this.names[out] = this.names[i]!;
      this.values[out] = this.values[i]!;
      out++;
    }
    this.names.length = out;
    this.values.length = out;
  }

  /** The i-th field's name and value (0 ≤ i < size), for loops without a callback. */
  nameAt(i: number): string {
    return this.names[i]!;
  }

  valueAt(i: number): string {
    return this.values[i]!;
  }

  forEach(callback: (name: string, value: string) => void): void {
    for (let i = 0; i < this.names.length; i++) callback(this.names[i]!, this.values[i]!);
  }

  /** The fields as [name, value] pairs (for tests and debugging). */
  entries(): [string, string][] {
    return this.names.map((name, i) => [name, this.values[i]!]);
  }
}
