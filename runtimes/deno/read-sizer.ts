/**
 * The size of a Deno connection's next read buffer. A pending `conn.read` pins its
 * buffer, so an idle connection must not hold a big one: start small, double while reads
 * fill the buffer (a bulk transfer), halve only after a run of mostly empty reads. The
 * tail of a message that overflowed the buffer is a small read too: halving on it made
 * every ~300-byte response take two reads (and two downstream writes) at 256/512 bytes,
 * which cost Deno a quarter of its throughput.
 */
export const MIN_READ = 256;
export const MAX_READ = 65536;
/** Consecutive small reads (under a quarter of the buffer) before the buffer halves. */
export const SHRINK_AFTER = 8;

export class ReadSizer {
  /** Bytes of the buffer to read into next. */
  size = MIN_READ;
  private smallReads = 0;

  /** A read returned `n` bytes into a buffer of `size`; `size` is then the size for the next read. */
  onRead(n: number): void {
    const full = n === this.size;
    if (full && this.size < MAX_READ) {
      this.size *= 2;
      this.smallReads = 0;
    } else if (n < this.size >> 2 && this.size > MIN_READ) {
      if (++this.smallReads >= SHRINK_AFTER) {
        this.size >>= 1;
        this.smallReads = 0;
      }
    } else {
      this.smallReads = 0;
    }
  }
}
