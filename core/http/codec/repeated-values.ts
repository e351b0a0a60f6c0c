/**
 * The last value seen for each known header name, process-wide. Most messages repeat
 * their neighbours' values (an origin's `server`, `content-type`, `accept-ranges`, this
 * second's `date`; a client's `host`, `accept-encoding`), so a value whose bytes equal
 * the last one is that same string: no new string, less garbage for the collector
 * (whose pauses are much of a proxy's tail latency on some engines; docs/performance.md,
 * "Tail latency"). Field
 * values are Latin-1 here (one byte, one code unit), so equal bytes mean an equal string.
 *
 * Bounded: one value per known name (known-header-names.ts), of at most MAX_LENGTH
 * bytes: longer ones cost more to compare than to decode. Credentials are never kept (a
 * proxy should not hold a client's secret past its request), nor ids that differ on
 * every message.
 */
interface Remembered {
  readonly value: string;
  readonly bytes: Uint8Array;
}

const lastValue = new Map<string, Remembered>();

const MAX_LENGTH = 48;

const NOT_KEPT = new Set(["authorization", "cookie", "set-cookie", "x-request-id"]);

/** The remembered value of `name` when bytes[start, end) spell it exactly, else undefined. */
export function repeatedValue(name: string, bytes: Uint8Array, start: number, end: number): string | undefined {
  const remembered = lastValue.get(name);
  if (remembered === undefined) return undefined;
  const kept = remembered.bytes;
  if (kept.length !== end - start) return undefined;
  for (let i = 0; i < kept.length; i++) if (kept[i] !== bytes[start + i]) return undefined;
  return remembered.value;
}

/** Remember `value`, read from bytes[start, end), as the last one of the known name `name` (unless it is one not kept). */
export function rememberValue(name: string, value: string, bytes: Uint8Array, start: number, end: number): void {
  if (end - start > MAX_LENGTH || NOT_KEPT.has(name)) return;
  // A copy, byte by byte: the read buffer is lent for this read only and may be reused
  // (port.ts, SocketHandler.onData), a Node-style Buffer's `slice` is a view of it, and
  // on some engines any view of a small array costs more than these few bytes (byte-slab.ts).
  const kept = new Uint8Array(end - start);
  for (let i = 0; i < kept.length; i++) kept[i] = bytes[start + i]!;
  lastValue.set(name, { value, bytes: kept });
}
