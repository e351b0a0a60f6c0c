/**
 * A FIFO of byte chunks waiting for the kernel, for adapters whose runtime writes
 * partially (Bun's `socket.write` returns how much it took and drops the rest;
 * Deno's `conn.write` resolves with a count that can be short). The adapter pushes
 * what the kernel did not take and consumes as later writes succeed, so the port's
 * promise holds: `write` never drops data.
 */
export class WriteQueue {
  private chunks: Uint8Array[] = [];
  private head = 0;
  /** Total bytes queued. */
  bytes = 0;

  get isEmpty(): boolean {
    return this.bytes === 0;
  }

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.chunks.push(chunk);
    this.bytes += chunk.byteLength;
  }

  /** The oldest chunk, or undefined when empty. */
  peek(): Uint8Array | undefined {
    return this.chunks[this.head];
  }

  /** Drop `n` bytes from the front (the kernel took them). */
  consume(n: number): void {
    this.bytes -= n;
    while (n > 0) {
      const first = this.chunks[this.head]!;
      if (n < first.byteLength) {
        this.chunks[this.head] = first.subarray(n);
        return;
      }
      n -= first.byteLength;
      this.chunks[this.head++] = undefined as unknown as Uint8Array;
    }
    if (this.head === this.chunks.length) {
      this.chunks.length = 0;
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.bytes = 0;
  }
}
