/**
 * The protobuf wire format (protobuf.dev/programming-guides/encoding) for every field type the
 * gRPC-JSON codec writes: varints of 32 or 64 bits, zigzag, fixed 32 and 64, float, double,
 * length-delimited. The caller decides what is written (defaults, order); this only encodes.
 */
import { utf8Length, utf8Write } from "../util/utf8.ts";

export class WireWriter {
  private bytes = new Uint8Array(64);
  private length = 0;
  private readonly scratch = new DataView(new ArrayBuffer(8));

  tag(field: number, wire: number): void {
    this.uint32(field * 8 + wire);
  }

  /** A non-negative number below 2^53 as a varint (tags, lengths, uint32, bool). */
  uint32(n: number): void {
    this.reserve(10);
    while (n > 0x7f) {
      this.bytes[this.length++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.bytes[this.length++] = n;
  }

  /** int32 and enum values: a negative one is sign-extended to ten bytes (encoding#signed-ints). */
  int32(n: number): void {
    if (n >= 0) this.uint32(n);
    else this.varint64(BigInt(n));
  }

  /** A 64-bit value as a varint, taken as its two's complement when negative. */
  varint64(value: bigint): void {
    let v = BigInt.asUintN(64, value);
    this.reserve(10);
    while (v > 0x7fn) {
      this.bytes[this.length++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.bytes[this.length++] = Number(v);
  }

  sint32(n: number): void {
    this.uint32(((n << 1) ^ (n >> 31)) >>> 0);
  }

  sint64(value: bigint): void {
    this.varint64((value << 1n) ^ (value >> 63n));
  }

  fixed32(n: number): void {
    this.scratch.setUint32(0, n >>> 0, true);
    this.append(new Uint8Array(this.scratch.buffer, 0, 4));
  }

  fixed64(value: bigint): void {
    this.scratch.setBigUint64(0, BigInt.asUintN(64, value), true);
    this.append(new Uint8Array(this.scratch.buffer, 0, 8));
  }

  float(n: number): void {
    this.scratch.setFloat32(0, n, true);
    this.append(new Uint8Array(this.scratch.buffer, 0, 4));
  }

  double(n: number): void {
    this.scratch.setFloat64(0, n, true);
    this.append(new Uint8Array(this.scratch.buffer, 0, 8));
  }

  /** A length-delimited value: its length, then the bytes. */
  lengthDelimited(data: Uint8Array): void {
    this.uint32(data.byteLength);
    this.append(data);
  }

  string(text: string): void {
    const size = utf8Length(text);
    this.uint32(size);
    this.reserve(size);
    this.length = utf8Write(text, this.bytes, this.length);
  }

  finish(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }

  private append(data: Uint8Array): void {
    this.reserve(data.byteLength);
    this.bytes.set(data, this.length);
    this.length += data.byteLength;
  }

  private reserve(size: number): void {
    if (this.length + size <= this.bytes.byteLength) return;
    const next = new Uint8Array(Math.max(this.bytes.byteLength * 2, this.length + size));
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }
}
