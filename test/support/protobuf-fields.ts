/**
 * A schema-less protobuf reader for tests: a message's fields by number, each with its
 * values (varints and I64 as bigint, LEN as bytes), to check hand-encoded messages against
 * their .proto's field numbers without a generated decoder.
 */
export type Fields = Map<number, (bigint | Uint8Array)[]>;

export function decodeFields(bytes: Uint8Array): Fields {
  const fields: Fields = new Map();
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (at >= bytes.length) throw new Error("truncated varint");
      const b = bytes[at++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (at < bytes.length) {
    const key = Number(varint());
    let value: bigint | Uint8Array;
    switch (key & 7) {
      case 0:
        value = varint();
        break;
      case 1:
        value = new DataView(bytes.buffer, bytes.byteOffset + at, 8).getBigUint64(0, true);
        at += 8;
        break;
      case 2: {
        const n = Number(varint());
        if (at + n > bytes.length) throw new Error("truncated field");
        value = bytes.subarray(at, at + n);
        at += n;
        break;
      }
      case 5:
        value = BigInt(new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0, true));
        at += 4;
        break;
      default:
        throw new Error(`wire type ${key & 7}`);
    }
    const list = fields.get(key >> 3);
    if (list === undefined) fields.set(key >> 3, [value]);
    else list.push(value);
  }
  return fields;
}

export const one = (f: Fields, n: number): bigint | Uint8Array | undefined => f.get(n)?.[0];
export const sub = (f: Fields, n: number): Fields => decodeFields((one(f, n) as Uint8Array | undefined) ?? new Uint8Array());
export const subs = (f: Fields, n: number): Fields[] => (f.get(n) ?? []).map((b) => decodeFields(b as Uint8Array));
export const text = (v: unknown): string => (v === undefined ? "" : new TextDecoder().decode(v as Uint8Array));
export const hex = (v: unknown): string => (v === undefined ? "" : Array.from(v as Uint8Array, (b) => b.toString(16).padStart(2, "0")).join(""));
