import { EMPTY_BYTES, keepBytes } from "../util/bytes.ts";

/**
 * A connection's read buffer, as Envoy's: bytes read from the socket and not yet
 * drained by a network filter. A filter that consumes data drains it; a filter that
 * stops iteration without draining leaves it here, and `continueReading()` hands
 * it — plus anything read since — to the next filter, so nothing is lost.
 * Chunks are kept as the socket delivered them while the read is handled, and copied
 * only if some are left when it is over (the socket lends its bytes for the call).
 */
export class ReadBuffer {
  /**
   * The oldest chunk, then the others: most reads are drained before the next one
   * comes, so a field holds them and no array is made per read.
   */
  private first: Uint8Array | undefined;
  private rest: Uint8Array[] | undefined;
  length = 0;
  /** How many of the newest chunks are the socket's lent bytes (port.ts: onData), not copies. */
  private lent = 0;

  /** Add bytes just read; they are lent until `keepLent()` (or a drain) is done with them. */
  add(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    if (this.first === undefined) this.first = chunk;
    else (this.rest ??= []).push(chunk);
    this.length += chunk.byteLength;
    this.lent++;
  }

  /**
   * The read's event is over: copy what the filters left (a filter that stopped without
   * draining), since the socket may reuse the memory it lent. Usually nothing is left.
   */
  keepLent(): void {
    const count = this.chunkCount;
    for (let i = count - Math.min(this.lent, count); i < count; i++) {
      if (i === 0) this.first = keepBytes(this.first!);
      else this.rest![i - 1] = keepBytes(this.rest![i - 1]!);
    }
    this.lent = 0;
  }

  /** How many chunks are buffered; `chunkAt(i)` gives them oldest first (views: do not keep them past a drain without copying). */
  get chunkCount(): number {
    return this.first === undefined ? 0 : 1 + (this.rest?.length ?? 0);
  }

  chunkAt(i: number): Uint8Array {
    return i === 0 ? this.first! : this.rest![i - 1]!;
  }

  /** Everything buffered as one array (copies when there is more than one chunk). */
  toBytes(): Uint8Array {
    if (!this.rest?.length) return this.first ?? EMPTY_BYTES;
    const out = new Uint8Array(this.length);
    let at = 0;
    for (let i = 0; i < this.chunkCount; i++) {
      const chunk = this.chunkAt(i);
      out.set(chunk, at);
      at += chunk.byteLength;
    }
    return out;
  }

  /** Drop the first `n` bytes. */
  drain(n: number): void {
    n = Math.min(n, this.length);
    this.length -= n;
    if (this.length === 0) this.lent = 0;
    while (n > 0) {
      const first = this.first!;
      if (n < first.byteLength) {
        this.first = first.subarray(n);
        return;
      }
      n -= first.byteLength;
      this.first = this.rest?.shift();
      if (this.rest?.length === 0) this.rest = undefined;
    }
  }

  drainAll(): void {
    this.first = this.rest = undefined;
    this.length = 0;
    this.lent = 0;
  }
}
