import { allocBytes } from "./byte-slab.ts";

/**
 * HTTP/1 heads are bytes; field names and values are treated as ISO-8859-1, as the
 * HTTP/1 codecs of Envoy and Node do: one byte, one UTF-16 code unit, no validation cost.
 */
export function latin1Decode(bytes: Uint8Array, start: number, end: number): string {
  const n = end - start;
  if (n >= 16 && utf8) {
    // Nearly every head is ASCII, where UTF-8 and Latin-1 agree, and every engine's
    // UTF-8 decoder is native and fast. The result is ASCII exactly when no byte was
    // merged into a multi-byte character (same length) or replaced (no U+FFFD).
    const text = utf8.decode(start === 0 && end === bytes.byteLength ? bytes : bytes.subarray(start, end));
    if (text.length === n && text.indexOf("\uFFFD") < 0) return text;
  }
  if (n < 32) {
    let s = "";
    for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]!);
    return s;
  }
  // In slices: every argument of `apply` goes on the stack, and engines cap how many
  // (a 100 KB span overflows the common ones).
  let s = "";
  for (let at = start; at < end; at += APPLY_SLICE) {
    s += String.fromCharCode.apply(null, bytes.subarray(at, Math.min(at + APPLY_SLICE, end)) as unknown as number[]);
  }
  return s;
}

/**
 * The runtime's UTF-8 decoder: every runtime polyvoy ships for has one, but the core's
 * ES2022 library does not declare it, and a runtime the core is vendored into might
 * lack it (then the exact path above does all the work).
 */
const utf8 = (() => {
  const Decoder = (globalThis as unknown as { TextDecoder?: new () => { decode(bytes: Uint8Array): string } }).TextDecoder;
  return typeof Decoder === "function" ? new Decoder() : undefined;
})();
const APPLY_SLICE = 8192;

/** Write `text` (code units ≤ 0xff) as bytes into `out` at `at`; returns the new offset. */
export function latin1Write(text: string, out: Uint8Array, at: number): number {
  for (let i = 0; i < text.length; i++) out[at++] = text.charCodeAt(i);
  return at;
}

export function latin1Encode(text: string): Uint8Array {
  const out = allocBytes(text.length);
  latin1Write(text, out, 0);
  return out;
}
