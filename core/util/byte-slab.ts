/**
 * Small byte arrays carved from shared slabs (as Node's Buffer pool does). On V8 every
 * `new Uint8Array(n)` gets its own backing store, which costs ~2 µs however small —
 * more than parsing a request head — while a view into a slab costs a tenth of that.
 * Each request encodes a head or two and joins a few writes, so this is on the hot path.
 * On JavaScriptCore it is the other way round (a new small array ~55 ns, a view ~145 ns,
 * measured on Bun 1.4): an adapter says which its engine wants (`useSlabs`).
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

/** Whether small arrays come from slabs (the default) or are allocated one by one. */
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
 * TypedArray's own slice, a copy. A Node-style Buffer (what Node's and Bun's sockets
 * deliver unless told otherwise) overrides `slice` to return a view, and on
 * JavaScriptCore a view of a small array costs what the copy is there to avoid: a
 * bare Bun server making one such view per request paused 2.1 ms per eden collection
 * instead of 0.4.
 */
const copyRange = Uint8Array.prototype.slice;

/**
 * Bytes `start`..`end` of `chunk` for a receiver that may keep them (a body piece).
 * Where slabs are on (V8), a view: a new array there costs more than the view. Where
 * they are off (JavaScriptCore), a small range is copied into an array of its own: a
 * view of an array whose bytes live in the GC heap first moves them into an ArrayBuffer
 * of its own, and JavaScriptCore sweeps those buffers inside every collection's pause
 * (two per request lengthened a bare Bun server's eden pauses from 0.21 to 0.50 ms).
 */
export function bodyBytes(chunk: Uint8Array, start: number, end: number): Uint8Array {
  if (!slabs && end - start <= MAX_COPIED_RANGE) return copyRange.call(chunk, start, end);
  return chunk.subarray(start, end);
}
