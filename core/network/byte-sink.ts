import { allocBytes } from "../util/byte-slab.ts";

/**
 * Bytes made on demand (an HTTP head): their length first, then written into whatever
 * buffer the writer picks — a connection's event arena where the socket copies what
 * it keeps (event-arena.ts), else an array of their own. Used at once, never kept: one
 * encoder object can serve every write.
 */
export interface ByteEncoder {
  readonly byteLength: number;
  /** Write the bytes into `out` from `at` (which has room for `byteLength`). */
  encodeInto(out: Uint8Array, at: number): void;
}

/** Where a codec writes bytes (a connection). */
export interface ByteSink {
  write(data: Uint8Array, endStream: boolean): void;
  /** Optional: write what `encoder` makes, into a buffer of the sink's choosing, before returning. */
  writeEncoded?(encoder: ByteEncoder): void;
}

/** Write what `encoder` makes to `sink`: where it picks the buffer, else in an array of its own. */
export function writeEncoded(sink: ByteSink, encoder: ByteEncoder): void {
  if (sink.writeEncoded) return sink.writeEncoded(encoder);
  sink.write(encodedBytes(encoder), false);
}

/** What `encoder` makes, in an array of its own. */
export function encodedBytes(encoder: ByteEncoder): Uint8Array {
  const out = allocBytes(encoder.byteLength);
  encoder.encodeInto(out, 0);
  return out;
}
