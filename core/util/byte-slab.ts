/**
 * Small byte arrays carved from shared slabs (as Node's Buffer pool does). On some
 * engines every `new Uint8Array(n)` gets its own backing store, which costs microseconds
 * however small — more than parsing a request head — while a view into a slab costs a
 * tenth of that. Each request encodes a head or two and joins a few writes, so this is
 * on the hot path. On others it is the other way round: the runtime says so
 * (`Runtime.ownSmallArrays` in port.ts; the server applies it with `useSlabs`), and its
 * adapter says why.
 *
 * Slab space is never reused: a slab is garbage once every view into it is. A view
 * kept long (queued for a peer that does not read) keeps its slab, so only arrays of
 * up to MAX_SLABBED bytes come from slabs.
 */
const SLAB_BYTES = 16 * 1024;
const MAX_SLABBED = 2048;

let slab = new Uint8Array(SLAB_BYTES);
let used = 0;

let slabs = true;

/**
 * Whether small arrays come from slabs (the default) or are allocated one by one. One
 * setting for the process: the server sets it from its runtime's `ownSmallArrays`.
 */
export function useSlabs(enabled: boolean): void {
  slabs = enabled;
}

/** A zero-filled array of `n` bytes (a view into a slab when small). */
export function allocBytes(n: number): Uint8Array {
  if (n > MAX_SLABBED || !slabs) return new Uint8Array(n);
  if (used + n > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    used = 0;
  }
  const bytes = slab.subarray(used, used + n);
  used += n;
  return bytes;
}

/** Largest range `bodyBytes` copies when slabs are off. */
const MAX_COPIED_RANGE = 1024;

/**
 * TypedArray's own slice, a copy. A Node-style Buffer (what some runtimes' sockets
 * deliver unless told otherwise) overrides `slice` to return a view, and where small
 * arrays are cheaper than views, a view costs what the copy is there to avoid.
 */
const copyRange = Uint8Array.prototype.slice;

/**
 * Bytes `start`..`end` of `chunk` for a receiver that may keep them (a body piece).
 * Where slabs are on, a view: a new array there costs more than the view. Where they
 * are off (the runtime's arrays of their own are cheaper than views), a small range is
 * copied into an array of its own.
 */
export function bodyBytes(chunk: Uint8Array, start: number, end: number): Uint8Array {
  if (!slabs && end - start <= MAX_COPIED_RANGE) return copyRange.call(chunk, start, end);
  return chunk.subarray(start, end);
}
