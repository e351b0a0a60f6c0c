/**
 * A small MessagePack encoder (https://github.com/msgpack/msgpack/blob/master/spec.md): what
 * the Datadog tracer's /v0.4/traces payload needs — arrays, maps, strings, 64-bit integers and
 * doubles. Integers are written as dd-trace-cpp's msgpack.h writes them: a uint64 always as
 * `uint 64` (0xcf) and an int64 always as `int 64` (0xd3), whatever their size; strings and
 * headers take the shortest form the spec allows.
 */
import { utf8Length, utf8Write } from "./utf8.ts";

/** A MessagePack byte string being written; it grows by doubling, up to `maxBytes`. */
export class MsgpackWriter {
  private bytes: Uint8Array;
  private view: DataView;
  private at = 0;

  constructor(
    initialBytes = 1024,
    /** The most the payload may hold: past it a write throws MsgpackOverflow (every buffer has a limit). */
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {
    this.bytes = new Uint8Array(initialBytes);
    this.view = new DataView(this.bytes.buffer);
  }

  get length(): number {
    return this.at;
  }

  /** The bytes written so far (a view, not a copy). */
  finish(): Uint8Array {
    return this.bytes.subarray(0, this.at);
  }

  private reserve(n: number): number {
    const at = this.at;
    const need = at + n;
    if (need > this.bytes.length) {
      if (need > this.maxBytes) throw new MsgpackOverflow(this.maxBytes);
      let size = this.bytes.length * 2;
      while (size < need) size *= 2;
      const grown = new Uint8Array(Math.min(size, this.maxBytes));
      grown.set(this.bytes.subarray(0, at));
      this.bytes = grown;
      this.view = new DataView(grown.buffer);
    }
    this.at = need;
    return at;
  }

  arrayHeader(count: number): void {
    this.header(count, 0x90, 0xdc, 0xdd);
  }

  mapHeader(count: number): void {
    this.header(count, 0x80, 0xde, 0xdf);
  }

  /** fixarray/fixmap up to 15, then 16- and 32-bit counts. */
  private header(count: number, fix: number, c16: number, c32: number): void {
    if (count < 16) {
      // reserve() first: it may replace this.bytes (`this.bytes[this.reserve(1)]` would write to the old one).
      const at = this.reserve(1);
      this.bytes[at] = fix | count;
    } else if (count < 0x10000) {
      const at = this.reserve(3);
      this.bytes[at] = c16;
      this.view.setUint16(at + 1, count);
    } else {
      const at = this.reserve(5);
      this.bytes[at] = c32;
      this.view.setUint32(at + 1, count);
    }
  }

  /** A UTF-8 string: fixstr, str 8, str 16 or str 32; written straight into the buffer (no copy per string). */
  string(value: string): void {
    const n = utf8Length(value);
    if (n < 32) {
      const at = this.reserve(1);
      this.bytes[at] = 0xa0 | n;
    } else if (n < 0x100) {
      const at = this.reserve(2);
      this.bytes[at] = 0xd9;
      this.bytes[at + 1] = n;
    } else if (n < 0x10000) {
      const at = this.reserve(3);
      this.bytes[at] = 0xda;
      this.view.setUint16(at + 1, n);
    } else {
      const at = this.reserve(5);
      this.bytes[at] = 0xdb;
      this.view.setUint32(at + 1, n);
    }
    // reserve() first: it may replace this.bytes.
    const at = this.reserve(n);
    utf8Write(value, this.bytes, at);
  }

  /** `uint 64` (0xcf): an unsigned 64-bit integer (taken modulo 2^64). */
  uint64(value: bigint): void {
    const at = this.reserve(9);
    this.bytes[at] = 0xcf;
    this.view.setBigUint64(at + 1, BigInt.asUintN(64, value));
  }

  /** `int 64` (0xd3): a signed 64-bit integer. */
  int64(value: number | bigint): void {
    const at = this.reserve(9);
    this.bytes[at] = 0xd3;
    this.view.setBigInt64(at + 1, BigInt.asIntN(64, typeof value === "bigint" ? value : BigInt(Math.trunc(value))));
  }

  /** `float 64` (0xcb). */
  double(value: number): void {
    const at = this.reserve(9);
    this.bytes[at] = 0xcb;
    this.view.setFloat64(at + 1, value);
  }
}

/** The payload would pass its limit. */
export class MsgpackOverflow extends Error {
  constructor(limit: number) {
    super(`MessagePack payload over its limit of ${limit} bytes`);
  }
}
