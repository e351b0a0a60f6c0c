/**
 * Bytes that live for one I/O event: where a connection on a socket that copies what it
 * keeps (`Socket.writeCopying` in port.ts, offered by runtimes whose write takes the
 * bytes before returning) has its head encoded and its small writes joined, to hand to
 * the socket when the event ends (dispatch-scope.ts). Without it each head is an array
 * of its own, used once: a fifth of what a small proxied request allocates, and on a
 * collector whose pauses grow with what is allocated that is tail latency
 * (docs/performance.md, "Tail latency").
 *
 * One arena for the process: an event's writes are synchronous and leave before the
 * next event starts, so the space is reused from the start at every event. Only as much
 * as an event needs is handed out; past ARENA_BYTES, writes get arrays of their own.
 */
const ARENA_BYTES = 64 * 1024;

let arena: Uint8Array | undefined;
let used = 0;

/** The arena's bytes (made on first use: runtimes whose sockets do not copy never need it). */
export function arenaBytes(): Uint8Array {
  return (arena ??= new Uint8Array(ARENA_BYTES));
}

/** Where the next bytes handed out start. */
export function arenaUsed(): number {
  return used;
}

/** Hand out the next `length` bytes; returns where they start, or -1 when they do not fit. */
export function arenaTake(length: number): number {
  if (used + length > ARENA_BYTES) return -1;
  const at = used;
  used += length;
  return at;
}

/** The event is over and its writes have left: the space is free again. */
export function resetArena(): void {
  used = 0;
}
