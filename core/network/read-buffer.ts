/**
 * A connection's read buffer, as Envoy's: bytes read from the socket and not yet
 * drained by a network filter. A filter that consumes data drains it; a filter that
 * stops iteration without draining leaves it here, and `continueReading()` hands
 * it — plus anything read since — to the next filter, so nothing is lost.
 * Chunks are kept as the socket delivered them (no copying).
 */
export class ReadBuffer {
  private chunks: Uint8Array[] = [];
  length = 0;

  add(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.byteLength;
  }

  /** The buffered chunks, oldest first (views: do not keep them past a drain without copying). */
  slices(): readonly Uint8Array[] {
    return this.chunks;
  }

  /** Everything buffered as one array (copies when there is more than one chunk). */
  toBytes(): Uint8Array {
    if (this.chunks.length === 1) return this.chunks[0]!;
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.byteLength;
    }
    return out;
  }

  /** Drop the first `n` bytes. */
  drain(n: number): void {
    n = Math.min(n, this.length);
    this.length -= n;
    while (n > 0) {
      const first = this.chunks[0]!;
      if (n < first.byteLength) {
        this.chunks[0] = first.subarray(n);
        return;
      }
      n -= first.byteLength;
      this.chunks.shift();
    }
  }

  drainAll(): void {
    this.chunks = [];
    this.length = 0;
  }
}
