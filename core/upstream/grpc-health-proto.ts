/**
 * The two messages of grpc.health.v1.Health/Check (grpc's src/proto/grpc/health/v1/health.proto),
 * hand-encoded in protobuf's wire format (protobuf.dev/programming-guides/encoding):
 * `HealthCheckRequest { string service = 1; }` and
 * `HealthCheckResponse { ServingStatus status = 1; }`.
 */
import { utf8Encode } from "../util/utf8.ts";

/** HealthCheckResponse.ServingStatus. */
export const ServingStatus = {
  Unknown: 0,
  Serving: 1,
  NotServing: 2,
  ServiceUnknown: 3,
} as const;

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** A HealthCheckRequest: field 1 (LEN) the service's UTF-8 name; nothing for the empty name (proto3's default). */
export function encodeHealthCheckRequest(service: string): Uint8Array {
  if (service === "") return new Uint8Array(0);
  const name = utf8Encode(service);
  const length = varint(name.byteLength);
  const out = new Uint8Array(1 + length.length + name.byteLength);
  out[0] = (1 << 3) | WIRE_LEN;
  out.set(length, 1);
  out.set(name, 1 + length.length);
  return out;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/**
 * A HealthCheckResponse's status (the last field 1 wins, as protobuf parsers do; absent:
 * UNKNOWN), unknown fields skipped; undefined when the bytes are not a valid message.
 * An enum outside ServingStatus is kept as its number (proto3's open enums).
 */
export function decodeHealthCheckResponse(bytes: Uint8Array): number | undefined {
  let status: number = ServingStatus.Unknown;
  let at = 0;
  // BigInt: a varint has up to 64 bits (an int32 enum's negative values take all ten bytes).
  const readVarint = (): bigint | undefined => {
    let value = 0n;
    for (let i = 0; i < 10; i++) {
      if (at >= bytes.byteLength) return undefined;
      const b = bytes[at++]!;
      value |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) return BigInt.asUintN(64, value);
    }
    return undefined;
  };
  while (at < bytes.byteLength) {
    const key = readVarint();
    if (key === undefined || key > 0xffffffffn) return undefined;
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field === 0) return undefined;
    switch (wire) {
      case WIRE_VARINT: {
        const value = readVarint();
        if (value === undefined) return undefined;
        // An int32 enum: the low 32 bits, signed (negative values are sent as 10-byte varints).
        if (field === 1) status = Number(BigInt.asIntN(32, value));
        break;
      }
      case WIRE_I64:
        at += 8;
        break;
      case WIRE_LEN: {
        const length = readVarint();
        if (length === undefined || length > BigInt(bytes.byteLength)) return undefined;
        at += Number(length);
        break;
      }
      case WIRE_I32:
        at += 4;
        break;
      default:
        return undefined;
    }
    if (at > bytes.byteLength) return undefined;
  }
  return status;
}
