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
