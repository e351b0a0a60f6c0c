/**
 * A MessagePack decoder for tests (https://github.com/msgpack/msgpack/blob/master/spec.md),
 * written from the spec apart from core/util/msgpack.ts: every format but ext and bin's
 * typed extensions. 64-bit integers come back as bigint, other integers as numbers.
 */
export type MsgpackValue = null | boolean | number | bigint | string | Uint8Array | MsgpackValue[] | Map<MsgpackValue, MsgpackValue>;

export function decodeMsgpack(bytes: Uint8Array): MsgpackValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const text = new TextDecoder("utf-8", { fatal: true });
  const take = (n: number): Uint8Array => {
    if (at + n > bytes.length) throw new Error(`truncated at ${at}`);
    const out = bytes.subarray(at, at + n);
    at += n;
    return out;
  };
  const u8 = () => take(1)[0]!;
  const u16 = () => view.getUint16((at += 2) - 2);
  const u32 = () => view.getUint32((at += 4) - 4);
  const array = (n: number): MsgpackValue[] => Array.from({ length: n }, () => value());
  const map = (n: number): Map<MsgpackValue, MsgpackValue> => {
    const m = new Map<MsgpackValue, MsgpackValue>();
    for (let i = 0; i < n; i++) {
      const k = value();
      m.set(k, value());
    }
    return m;
  };
  const value = (): MsgpackValue => {
    const b = u8();
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if ((b & 0xf0) === 0x80) return map(b & 0x0f);
    if ((b & 0xf0) === 0x90) return array(b & 0x0f);
    if ((b & 0xe0) === 0xa0) return text.decode(take(b & 0x1f));
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return take(u8()).slice();
      case 0xc5: return take(u16()).slice();
      case 0xc6: return take(u32()).slice();
      case 0xca: { const v = view.getFloat32(at); at += 4; return v; }
      case 0xcb: { const v = view.getFloat64(at); at += 8; return v; }
      case 0xcc: return u8();
      case 0xcd: return u16();
      case 0xce: return u32();
      case 0xcf: { const v = view.getBigUint64(at); at += 8; return v; }
      case 0xd0: { const v = view.getInt8(at); at += 1; return v; }
      case 0xd1: { const v = view.getInt16(at); at += 2; return v; }
      case 0xd2: { const v = view.getInt32(at); at += 4; return v; }
      case 0xd3: { const v = view.getBigInt64(at); at += 8; return v; }
      case 0xd9: return text.decode(take(u8()));
      case 0xda: return text.decode(take(u16()));
      case 0xdb: return text.decode(take(u32()));
      case 0xdc: return array(u16());
      case 0xdd: return array(u32());
      case 0xde: return map(u16());
      case 0xdf: return map(u32());
      default: throw new Error(`unsupported MessagePack byte 0x${b.toString(16)} at ${at - 1}`);
    }
  };
  const result = value();
  if (at !== bytes.length) throw new Error(`${bytes.length - at} bytes left over`);
  return result;
}

/** A /v0.4/traces span as plain data: maps to objects (meta, metrics included). */
export interface DecodedDatadogSpan {
  service: string;
  name: string;
  resource: string;
  trace_id: bigint;
  span_id: bigint;
  parent_id: bigint;
  start: bigint;
  duration: bigint;
  error: bigint;
  type: string;
  meta: Record<string, string>;
  metrics: Record<string, number>;
}

function plain(v: MsgpackValue): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), plain(x)]));
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

/** A /v0.4/traces body: its trace chunks. */
export function decodeTraces(bytes: Uint8Array): DecodedDatadogSpan[][] {
  return plain(decodeMsgpack(bytes)) as DecodedDatadogSpan[][];
}
