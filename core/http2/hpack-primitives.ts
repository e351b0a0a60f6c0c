/**
 * HPACK's two primitive representations (RFC 7541 §5): integers with an N-bit prefix
 * (§5.1) and string literals, raw or Huffman-coded (§5.2). Reading works on a cursor
 * over one complete header block: HTTP/2 hands HPACK whole blocks (HEADERS plus its
 * CONTINUATIONs), so a truncated representation is an error, never "wait for more".
 */
import { HpackError } from "./hpack-error.ts";
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from "./huffman.ts";

/**
 * Integers above this are refused: no legal HPACK integer (an index, a string length, a
 * table size) needs more, and it keeps the arithmetic exact (nghttp2 caps at 2^32−1 too).
 */
export const HPACK_MAX_INTEGER = 0xffffffff;

/** A read position in one header block. */
export class HpackReader {
  at = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly end: number = bytes.length,
  ) {}

  get done(): boolean {
    return this.at >= this.end;
  }

  /** The next byte, not consumed. */
  peek(): number {
    if (this.at >= this.end) throw new HpackError("header block truncated");
    return this.bytes[this.at]!;
  }

  /** An integer whose first byte's low `prefixBits` bits start it (RFC 7541 §5.1). */
  readInteger(prefixBits: number): number {
    if (this.at >= this.end) throw new HpackError("header block truncated in an integer");
    const max = (1 << prefixBits) - 1;
    let value = this.bytes[this.at++]! & max;
    if (value < max) return value;
    let shift = 0;
    for (;;) {
      if (this.at >= this.end) throw new HpackError("header block truncated in an integer");
      const b = this.bytes[this.at++]!;
      value += (b & 0x7f) * 2 ** shift;
      if (value > HPACK_MAX_INTEGER) throw new HpackError("integer too large");
      if ((b & 0x80) === 0) return value;
      shift += 7;
      // Zero continuation bytes add nothing: refuse an encoding longer than any legal value's.
      if (shift > 28) throw new HpackError("integer encoding too long");
    }
  }

  /**
   * A string literal (RFC 7541 §5.2), as latin1 text (one code unit per byte, as the
   * HTTP/1 codec reads header bytes). `scratch` holds a Huffman-decoded string.
   */
  readString(scratch: HuffmanScratch): string {
    const huffman = (this.peek() & 0x80) !== 0;
    const length = this.readInteger(7);
    if (length > this.end - this.at) throw new HpackError("string literal longer than the header block");
    const start = this.at;
    this.at += length;
    if (!huffman) return latin1(this.bytes, start, start + length);
    const out = scratch.room(length);
    const n = huffmanDecode(this.bytes, start, start + length, out);
    return latin1(out, 0, n);
  }
}

/** A reusable output buffer for Huffman decoding: at most 8/5 bytes per coded byte (5-bit codes are the shortest). */
export class HuffmanScratch {
  private buf = new Uint8Array(256);
  room(codedLength: number): Uint8Array {
    const need = Math.ceil((codedLength * 8) / 5);
    if (this.buf.length < need) this.buf = new Uint8Array(Math.max(need, this.buf.length * 2));
    return this.buf;
  }
}

function latin1(bytes: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i += 4096) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(end, i + 4096)) as unknown as number[]);
  }
  return s;
}

/** A growable output for one header block. */
export class HpackWriter {
  buf: Uint8Array;
  length = 0;
  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
  }

  reset(): void {
    this.length = 0;
  }

  /** The bytes written so far (a view: copy before the next `reset`). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  /** An integer in a `prefixBits` prefix, the first byte's other bits being `flags` (RFC 7541 §5.1). */
  writeInteger(value: number, prefixBits: number, flags: number): void {
    this.ensure(6);
    const max = (1 << prefixBits) - 1;
    if (value < max) {
      this.buf[this.length++] = flags | value;
      return;
    }
    this.buf[this.length++] = flags | max;
    value -= max;
    while (value >= 128) {
      this.buf[this.length++] = (value % 128) | 0x80;
      value = Math.floor(value / 128);
    }
    this.buf[this.length++] = value;
  }

  /** A string literal, Huffman-coded when that is shorter (as nghttp2 chooses). Code units above 0xff keep their low byte. */
  writeString(text: string): void {
    const huffLength = huffmanEncodedLength(text);
    if (huffLength < text.length) {
      this.writeInteger(huffLength, 7, 0x80);
      this.ensure(huffLength);
      huffmanEncode(text, this.buf, this.length);
      this.length += huffLength;
      return;
    }
    this.writeInteger(text.length, 7, 0);
    this.ensure(text.length);
    for (let i = 0; i < text.length; i++) this.buf[this.length++] = text.charCodeAt(i) & 0xff;
  }
}
