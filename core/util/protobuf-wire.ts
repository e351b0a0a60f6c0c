/**
 * Protobuf's wire format (protobuf.dev/programming-guides/encoding), for the few messages
 * polyvoy speaks by hand (grpc.health.v1, envoy.service.auth.v3, envoy.service.ratelimit.v3):
 * a writer that emits fields in order and a reader that walks them. Field numbers and types
 * are the caller's, each citing its .proto.
 */
import { utf8Length, utf8Write } from "./utf8.ts";

export const WireType = {
  Varint: 0,
  I64: 1,
  Len: 2,
  I32: 5,
} as const;

/** A message that is not valid protobuf (truncated, a bad wire type, field 0, a varint over 64 bits). */
export class ProtoDecodeError extends Error {}

/** Bytes of `n` as a varint. */
export function varintSize(n: number): number {
  let size = 1;
  while (n > 0x7f) {
    size++;
    n = Math.floor(n / 128);
  }
  return size;
}

/**
 * Builds one message. Scalars at proto3's default (0, "", empty bytes) are not written, as
 * proto3 encoders do not; sub-messages always are (their presence means something).
 */
/** explicitDouble's scratch: a double's 8 bytes, copied into the writer at once. */
const DOUBLE_BYTES = new Uint8Array(8);
const DOUBLE_VIEW = new DataView(DOUBLE_BYTES.buffer);

export class ProtoWriter {
  private bytes: Uint8Array;
  private length = 0;

  /**
   * `capacity`: the bytes reserved at first. A caller that knows the message's size gives
   * it: a message carrying a large `bytes` field is then written once, without the copies
   * growing the buffer would make, and finish() hands that buffer over as it is.
   */
  constructor(capacity = 64) {
    this.bytes = new Uint8Array(capacity);
  }

  /** An unsigned varint field (uint32, uint64 below 2^53, bool, an enum's non-negative value). */
  uint(field: number, value: number): this {
    if (value === 0) return this;
    this.tag(field, WireType.Varint);
    this.varint(value);
    return this;
  }

  /** An int64 field: a negative value is its 64-bit two's complement, ten bytes. */
  int64(field: number, value: number): this {
    if (value >= 0) return this.uint(field, value);
    this.tag(field, WireType.Varint);
    let v = BigInt.asUintN(64, BigInt(value));
    while (v > 0x7fn) {
      this.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.push(Number(v));
    return this;
  }

  string(field: number, value: string): this {
    return value === "" ? this : this.explicitString(field, value);
  }

  bytesField(field: number, value: Uint8Array): this {
    if (value.byteLength === 0) return this;
    this.tag(field, WireType.Len);
    this.varint(value.byteLength);
    this.append(value);
    return this;
  }

  /**
   * A oneof member or a field with presence: written even at its default (a Value's
   * null_value 0, number_value 0, string_value "" mean something).
   */
  explicitUint(field: number, value: number): this {
    this.tag(field, WireType.Varint);
    this.varint(value);
    return this;
  }

  explicitString(field: number, value: string): this {
    // Not a string is a caller's bug: thrown, never written as an empty field.
    if (typeof value !== "string") throw new TypeError(`protobuf field ${field}: a string expected, got ${typeof value}`);
    const size = utf8Length(value);
    this.tag(field, WireType.Len);
    this.varint(size);
    this.reserve(size);
    this.length = utf8Write(value, this.bytes, this.length);
    return this;
  }

  /** A double field (wire type I64, little-endian), written even when 0. */
  explicitDouble(field: number, value: number): this {
    this.tag(field, WireType.I64);
    DOUBLE_VIEW.setFloat64(0, value, true);
    this.append(DOUBLE_BYTES);
    return this;
  }

  /** Bytes already encoded as fields of this message (a cached part), written as they are. */
  raw(encoded: Uint8Array): this {
    this.append(encoded);
    return this;
  }

  /** A fixed64 field (wire type I64, little-endian); not written at 0. */
  fixed64(field: number, value: bigint): this {
    if (value === 0n) return this;
    this.tag(field, WireType.I64);
    const v = BigInt.asUintN(64, value);
    this.uint32le(Number(v & 0xffffffffn));
    this.uint32le(Number(v >> 32n));
    return this;
  }

  /** A fixed64 or sfixed64 field written even at 0 (a oneof member: OTLP's NumberDataPoint.as_int). */
  explicitFixed64(field: number, value: bigint): this {
    this.tag(field, WireType.I64);
    const v = BigInt.asUintN(64, value);
    this.uint32le(Number(v & 0xffffffffn));
    this.uint32le(Number(v >> 32n));
    return this;
  }

  /**
   * A sub-message, built by `build` into this writer's own buffer: one byte is kept for its
   * length, and the body moved along when the length needs more (a body of 128 bytes or more).
   * `build` writes only to the writer it is given.
   */
  message(field: number, build: (writer: ProtoWriter) => void): this {
    this.tag(field, WireType.Len);
    this.push(0);
    const start = this.length;
    build(this);
    const size = this.length - start;
    const extra = varintSize(size) - 1;
    if (extra > 0) {
      this.reserve(extra);
      this.bytes.copyWithin(start + extra, start, this.length);
      this.length += extra;
    }
    let at = start - 1;
    let n = size;
    while (n > 0x7f) {
      this.bytes[at++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.bytes[at] = n;
    return this;
  }

  /** One entry of a map<string, string> (a message of key = 1, value = 2). */
  mapEntry(field: number, key: string, value: string): this {
    return this.message(field, (entry) => entry.string(1, key).string(2, value));
  }

  /** The message. A buffer it fills exactly is returned itself (anything written later goes to a new one). */
  finish(): Uint8Array {
    return this.length === this.bytes.byteLength ? this.bytes : this.bytes.slice(0, this.length);
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  private varint(n: number): void {
    while (n > 0x7f) {
      this.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    this.push(n);
  }

  private uint32le(n: number): void {
    this.reserve(4);
    const b = this.bytes;
    b[this.length++] = n & 0xff;
    b[this.length++] = (n >>> 8) & 0xff;
    b[this.length++] = (n >>> 16) & 0xff;
    b[this.length++] = n >>> 24;
  }

  private reserve(size: number): void {
    if (this.length + size > this.bytes.byteLength) this.grow(size);
  }

  private push(byte: number): void {
    if (this.length === this.bytes.byteLength) this.grow(1);
    this.bytes[this.length++] = byte;
  }

  private append(data: Uint8Array): void {
    if (this.length + data.byteLength > this.bytes.byteLength) this.grow(data.byteLength);
    this.bytes.set(data, this.length);
    this.length += data.byteLength;
  }

  private grow(atLeast: number): void {
    const next = new Uint8Array(Math.max(this.bytes.byteLength * 2, this.length + atLeast));
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }
}

/**
 * Walks one message's fields: `next()` reads a key (false at the end), then the caller
 * reads the value with the method its .proto type calls for, or `skip()`s it. Every
 * malformation throws ProtoDecodeError.
 */
export class ProtoReader {
  private at = 0;
  field = 0;
  wire = 0;

  constructor(private readonly bytes: Uint8Array) {}

  next(): boolean {
    if (this.at >= this.bytes.byteLength) return false;
    const key = this.varint64();
    if (key > 0xffffffffn) throw new ProtoDecodeError("field key over 32 bits");
    this.field = Number(key >> 3n);
    this.wire = Number(key & 7n);
    if (this.field === 0) throw new ProtoDecodeError("field number 0");
    return true;
  }

  /** A varint field's 64 bits, unsigned. */
  varint64(): bigint {
    let value = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.bytes.byteLength) throw new ProtoDecodeError("truncated varint");
      const b = this.bytes[this.at++]!;
      value |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) return BigInt.asUintN(64, value);
    }
    throw new ProtoDecodeError("varint over ten bytes");
  }

  /** An int32 or enum field: the low 32 bits, signed (negative values come as ten-byte varints). */
  int32(): number {
    this.expect(WireType.Varint);
    return Number(BigInt.asIntN(32, this.varint64()));
  }

  /** A uint32 field: the low 32 bits. */
  uint32(): number {
    this.expect(WireType.Varint);
    return Number(BigInt.asUintN(32, this.varint64()));
  }

  bool(): boolean {
    this.expect(WireType.Varint);
    return this.varint64() !== 0n;
  }

  /** A double field (8 bytes, little-endian IEEE 754). */
  double(): number {
    this.expect(WireType.I64);
    this.advance(8);
    const b = this.bytes;
    return new DataView(b.buffer, b.byteOffset + this.at - 8, 8).getFloat64(0, true);
  }

  /** A length-delimited field's bytes (string, bytes, a sub-message), a view of the message's. */
  lengthDelimited(): Uint8Array {
    this.expect(WireType.Len);
    const length = this.varint64();
    if (length > BigInt(this.bytes.byteLength - this.at)) throw new ProtoDecodeError("truncated field");
    const start = this.at;
    this.at += Number(length);
    return this.bytes.subarray(start, this.at);
  }

  /** A fixed32/float field's four bytes as a little-endian view (wire type I32). */
  fixed32View(): DataView {
    this.expect(WireType.I32);
    return this.rawView(4);
  }

  /** A fixed64/double field's eight bytes as a little-endian view (wire type I64). */
  fixed64View(): DataView {
    this.expect(WireType.I64);
    return this.rawView(8);
  }

  /** The next `n` bytes, whatever the wire type (a packed repeated field's elements). */
  rawView(n: number): DataView {
    const start = this.at;
    this.advance(n);
    return new DataView(this.bytes.buffer, this.bytes.byteOffset + start, n);
  }

  /** Every byte was read (a packed field's elements end with it). */
  atEnd(): boolean {
    return this.at >= this.bytes.byteLength;
  }

  /** Passes over the current field's value. */
  skip(): void {
    switch (this.wire) {
      case WireType.Varint:
        this.varint64();
        return;
      case WireType.I64:
        this.advance(8);
        return;
      case WireType.Len:
        this.lengthDelimited();
        return;
      case WireType.I32:
        this.advance(4);
        return;
      default:
        // Groups (3, 4) are proto2's and deprecated; 6 and 7 do not exist.
        throw new ProtoDecodeError(`wire type ${this.wire}`);
    }
  }

  private advance(n: number): void {
    if (this.at + n > this.bytes.byteLength) throw new ProtoDecodeError("truncated field");
    this.at += n;
  }

  private expect(wire: number): void {
    if (this.wire !== wire) throw new ProtoDecodeError(`field ${this.field}: wire type ${this.wire}, expected ${wire}`);
  }
}
