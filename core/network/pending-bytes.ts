/**
 * Bytes of one direction of a protocol decoder kept between reads: at most one incomplete
 * message (postgres_proxy's and mysql_proxy's decoders). The buffer grows by doubling and a
 * read's bytes are appended, so a message arriving in many small reads is not copied whole
 * again on each of them.
 */
export class PendingBytes {
  private bytes: Uint8Array | undefined;
  length = 0;

  /** The kept bytes followed by `chunk` (the chunk itself when nothing is kept). */
  join(chunk: Uint8Array): Uint8Array {
    if (this.length === 0) return chunk;
    const need = this.length + chunk.byteLength;
    if (this.bytes!.byteLength < need) {
      const grown = new Uint8Array(Math.max(need, this.bytes!.byteLength * 2));
      grown.set(this.bytes!.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes!.set(chunk, this.length);
    this.length = need;
    return this.bytes!.subarray(0, need);
  }

  /** Keep `rest` (a copy: the chunk is lent) or nothing. */
  keep(rest: Uint8Array): void {
    const n = rest.byteLength;
    if (n === 0) {
      this.length = 0;
      // A large message's buffer is not held for the rest of the session.
      if (this.bytes !== undefined && this.bytes.byteLength > 64 * 1024) this.bytes = undefined;
      return;
    }
    if (this.bytes !== undefined && rest.buffer === this.bytes.buffer) {
      const from = rest.byteOffset - this.bytes.byteOffset;
      // Nothing read yet of an incomplete message: it is already in place.
      if (from !== 0) this.bytes.copyWithin(0, from, from + n);
    } else {
      if (this.bytes === undefined || this.bytes.byteLength < n) this.bytes = new Uint8Array(Math.max(256, n));
      this.bytes.set(rest);
    }
    this.length = n;
  }
}
