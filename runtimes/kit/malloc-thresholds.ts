/**
 * Keep glibc's malloc from handing read buffers back to the kernel between garbage
 * collections.
 *
 * Node reads every chunk into a fresh 64 KiB malloc'd buffer (and our Deno adapter into
 * fresh ArrayBuffers, which Deno's V8 also takes from malloc); they are freed only when
 * V8 collects them, so a proxy moving large bodies builds up tens of MiB of them between
 * collections and frees them in one batch. glibc's default trim threshold (128 KiB)
 * then returns the freed top of the heap to the kernel (brk shrinks), and the next
 * reads fault every page back in: measured here, 35–180 page faults per 1 MiB response
 * in a fresh node process, 89 % of them inside read()'s copy to user space, at up to
 * half the throughput.
 *
 * glibc raises its thresholds itself when a block it had mmap'd is freed (mallopt(3),
 * M_MMAP_THRESHOLD: "dynamic adjustment"): the mmap threshold becomes that block's size
 * (at most 32 MiB on 64-bit) and the trim threshold twice that. Allocating and dropping
 * one 8 MiB block at startup moves the process to the state glibc would reach on its
 * own after its first free of such a block: up to 16 MiB of freed heap top is kept for
 * reuse instead of being returned. Envoy avoids the same churn by linking tcmalloc; a
 * JavaScript process cannot pick its allocator.
 *
 * Why 8 MiB and not glibc's largest (32 MiB, keeping up to 64 MiB): what is kept counts
 * in the process's RSS the whole time, and under many small requests most of it is never
 * needed again; 8 MiB still keeps what large bodies free between two collections, a
 * smaller block does not (docs/performance.md, "RSS under load").
 *
 * Only once a body streams (the adapters call this at the first read that fills a
 * streaming-size buffer), not at startup: the thresholds are global, and every thread's
 * malloc arena then keeps up to twice the block of what it freed. V8 compiles llhttp's
 * WebAssembly with TurboFan on a background thread at the first requests, ~35 MiB of
 * compiler memory freed at once: with the thresholds raised at startup that thread's
 * arena kept 14 MiB of it for the process's life (node: 81 MiB idle instead of 65), where
 * glibc's default returns it. A proxy of small requests never needs the raise.
 *
 * Harmless elsewhere: with GLIBC_TUNABLES setting a malloc threshold glibc ignores the
 * dynamic rule, and under another allocator it costs one 8 MiB allocation and free
 * (glibc's calloc skips zeroing fresh mmap'd pages, so there it touches nothing).
 * Bun's adapter does not call it: Bun's ArrayBuffers do not come from glibc's malloc.
 * V8 frees the block at its next collection, which bulk reads soon trigger.
 */
export function raiseMallocThresholds(): void {
  if (raised) return;
  raised = true;
  void new ArrayBuffer(WARMUP_BLOCK_BYTES);
}

let raised = false;

/** See above: twice this is the freed heap top glibc keeps. */
const WARMUP_BLOCK_BYTES = 8 << 20;
