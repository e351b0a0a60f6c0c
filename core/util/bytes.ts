/** The empty chunk, shared: a zero-length view carries nothing to mutate. */
export const EMPTY_BYTES = new Uint8Array(0);
