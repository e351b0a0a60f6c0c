/**
 * A RESP (REdis Serialization Protocol, RESP2) value, as Envoy's Common::Redis::RespValue
 * (source/extensions/filters/network/common/redis/codec.h). Simple strings and errors are
 * byte strings (one char per byte, as the wire has them); bulk strings stay bytes.
 * A null bulk string (`$-1`) and a null array (`*-1`) are both `null`, as Envoy's
 * RespType::Null, which it encodes as `$-1`.
 */
export type RespValue =
  | { readonly type: "simple"; readonly value: string }
  | { readonly type: "error"; readonly value: string }
  | { readonly type: "integer"; readonly value: bigint }
  | { readonly type: "bulk"; readonly value: Uint8Array }
  | { readonly type: "null" }
  | { readonly type: "array"; readonly value: readonly RespValue[] };

export const RESP_NULL: RespValue = { type: "null" };

export function respSimple(value: string): RespValue {
  return { type: "simple", value };
}

export function respError(value: string): RespValue {
  return { type: "error", value };
}

export function respInteger(value: bigint): RespValue {
  return { type: "integer", value };
}

export function respBulk(value: Uint8Array): RespValue {
  return { type: "bulk", value };
}

export function respArray(value: readonly RespValue[]): RespValue {
  return { type: "array", value };
}

/** Bytes as a byte string (one char per byte): keys are compared and hashed as the bytes they are. */
export function byteString(bytes: Uint8Array): string {
  let out = "";
  for (let at = 0; at < bytes.byteLength; at += 8192) out += String.fromCharCode(...bytes.subarray(at, at + 8192));
  return out;
}

/** A byte string's bytes (chars above 0xff keep their low byte: callers pass byte strings only). */
export function byteStringToBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** An ASCII-only bulk string (a command name polyvoy sends: GET, SET, AUTH). */
export function respBulkText(text: string): RespValue {
  return respBulk(byteStringToBytes(text));
}

/** About the bytes `value` takes on the wire (its payload and a header's worth per value). */
export function respValueBytes(value: RespValue): number {
  switch (value.type) {
    case "bulk":
      return value.value.byteLength + 16;
    case "simple":
    case "error":
      return value.value.length + 3;
    case "array": {
      let bytes = 16;
      for (const element of value.value) bytes += respValueBytes(element);
      return bytes;
    }
    default:
      return 24;
  }
}
