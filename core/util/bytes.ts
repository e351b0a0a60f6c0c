import { allocBytes } from "./byte-slab.ts";

/** The empty chunk, shared: a zero-length view carries nothing to mutate. */
export const EMPTY_BYTES = new Uint8Array(0);

/**
 * A copy of `data` to keep: what a receiver holds past an `onData` call, whose bytes
 * are lent for that call only (port.ts). Small copies come from a slab where the
 * engine wants them (byte-slab.ts).
 */
export function keepBytes(data: Uint8Array): Uint8Array {
  const copy = allocBytes(data.byteLength);
  copy.set(data);
  return copy;
}

/** `chunks` (holding `total` bytes) as one array. */
export function concatBytes(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
