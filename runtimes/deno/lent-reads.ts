import { MAX_READ } from "./read-sizer.ts";
import { raiseMallocThresholds } from "../kit/malloc-thresholds.ts";

/**
 * Deno's read buffers, lent to onData (port.ts) and read into again once nothing holds
 * them, instead of a fresh buffer for every large read: a fresh `Uint8Array` is zeroed,
 * then filled by the kernel, then written out, all in memory no cache has seen.
 *
 * What can hold a lent buffer past onData is a write queue: `conn.write` is a promise,
 * and the buffer is the runtime's until it settles. So each socket's queue records the
 * lent bytes it takes (`QueuedLentBytes`), a buffer with holds is not read into, and it
 * goes back to the pool when the last write holding it has completed.
 */

/** Full-size buffers kept for reuse (1 MiB). */
const SPARE_BUFFERS = 16;
const pool: Uint8Array[] = [];

/**
 * Holds per lent buffer: writes not yet completed. NEVER_REUSE marks a buffer a closed
 * socket's write may still be using. Weak: a buffer no one uses is garbage as usual.
 */
const holds = new WeakMap<ArrayBufferLike, number>();
const NEVER_REUSE = -1;

/** The buffer lent to the onData running now. */
let lentNow: ArrayBufferLike | undefined;

/** Run `deliver(data)` with `buffer`'s bytes lent. Returns whether the buffer may be read into again. */
export function lend(buffer: Uint8Array, n: number, deliver: (data: Uint8Array) => void): boolean {
  lentNow = buffer.buffer;
  try {
    deliver(buffer.subarray(0, n));
  } finally {
    lentNow = undefined;
  }
  return !holds.has(buffer.buffer);
}

/** A buffer to read `size` bytes into: a spare one when full-size. */
export function readBuffer(size: number): Uint8Array {
  if (size !== MAX_READ) return new Uint8Array(size);
  // Deno's V8 mallocs ArrayBuffers: the first full-size read buffer (a body streaming) is
  // when glibc's thresholds go up (malloc-thresholds.ts).
  raiseMallocThresholds();
  return pool.pop() ?? new Uint8Array(size);
}

/** A buffer the reader no longer uses (its size changed) and nothing holds: keep it for reuse. */
export function recycle(buffer: Uint8Array): void {
  if (buffer.length === MAX_READ && pool.length < SPARE_BUFFERS && !holds.has(buffer.buffer)) pool.push(buffer);
}

function release(buffer: ArrayBufferLike): void {
  const count = holds.get(buffer)!;
  if (count === NEVER_REUSE) return;
  if (count > 1) return void holds.set(buffer, count - 1);
  holds.delete(buffer);
  // The reader moved on to another buffer when this one was held: it is spare now.
  if (buffer.byteLength === MAX_READ && pool.length < SPARE_BUFFERS) pool.push(new Uint8Array(buffer));
}

/** One socket's write queue's holds on lent buffers, released as its writes complete. */
export class QueuedLentBytes {
  /** Bytes ever queued, and ever written. */
  private queued = 0;
  private written = 0;
  /** Held buffers, oldest first, each with the `queued` count its bytes end at. */
  private buffers: ArrayBufferLike[] = [];
  private ends: number[] = [];
  private head = 0;

  /** `data` was queued; if it is lent bytes, hold their buffer until they are written. */
  queuedBytes(data: Uint8Array): void {
    this.queued += data.byteLength;
    if (data.buffer !== lentNow) return;
    holds.set(data.buffer, (holds.get(data.buffer) ?? 0) + 1);
    this.buffers.push(data.buffer);
    this.ends.push(this.queued);
  }

  /** `n` more bytes were written (their write completed). */
  wroteBytes(n: number): void {
    this.written += n;
    while (this.head < this.ends.length && this.ends[this.head]! <= this.written) {
      release(this.buffers[this.head]!);
      this.head++;
    }
    if (this.head === this.ends.length) {
      this.buffers.length = this.ends.length = this.head = 0;
    }
  }

  /** The socket is gone with bytes still queued, perhaps in a write still running: never reuse those buffers. */
  abandon(): void {
    for (let i = this.head; i < this.buffers.length; i++) holds.set(this.buffers[i]!, NEVER_REUSE);
    this.buffers = [];
    this.ends = [];
    this.head = 0;
  }
}
