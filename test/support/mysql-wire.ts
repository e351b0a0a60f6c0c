/**
 * MySQL client/server protocol packets as bytes, for tests (the protocol's
 * page_protocol_connection_phase_packets and COM_QUERY response pages): each packet is a
 * 3-byte little-endian payload length, a sequence id, then the payload.
 */
const encoder = new TextEncoder();

export const CLIENT_CONNECT_WITH_DB = 0x8;
export const CLIENT_PROTOCOL_41 = 0x200;
export const CLIENT_SSL = 0x800;
export const CLIENT_SECURE_CONNECTION = 0x8000;
export const CLIENT_PLUGIN_AUTH = 0x80000;
const BASE_CAPS = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

const bytes = (...values: number[]) => Uint8Array.from(values);
const u16 = (v: number) => bytes(v & 0xff, (v >> 8) & 0xff);
const u32 = (v: number) => bytes(v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff);
const nul = (s: string) => concat(encoder.encode(s), bytes(0));
/** A length-encoded string (under 251 bytes). */
const lenenc = (s: string) => concat(bytes(encoder.encode(s).byteLength), encoder.encode(s));

export function packet(seq: number, payload: Uint8Array): Uint8Array {
  const n = payload.byteLength;
  return concat(bytes(n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, seq), payload);
}

/** The server's Protocol::HandshakeV10 (seq 0), mysql_native_password. */
export function greeting(version = "8.0.35-polyvoy-test"): Uint8Array {
  const scramble = encoder.encode("abcdefghijklmnopqrst");
  return packet(0, concat(
    bytes(10), nul(version), u32(7), scramble.subarray(0, 8), bytes(0),
    u16(0xffff & (BASE_CAPS | CLIENT_SSL | CLIENT_CONNECT_WITH_DB)), bytes(0x21), u16(2), u16(BASE_CAPS >>> 16),
    bytes(21), new Uint8Array(10), scramble.subarray(8), bytes(0), nul("mysql_native_password"),
  ));
}

/** The client's HandshakeResponse41 (seq 1, or 2 after an SSL request). */
export function login(user: string, options: { database?: string; seq?: number } = {}): Uint8Array {
  const caps = BASE_CAPS | (options.database !== undefined ? CLIENT_CONNECT_WITH_DB : 0);
  const auth = new Uint8Array(20).fill(7);
  return packet(options.seq ?? 1, concat(
    u32(caps), u32(16 * 1024 * 1024), bytes(0x21), new Uint8Array(23), nul(user),
    bytes(auth.byteLength), auth, options.database !== undefined ? nul(options.database) : new Uint8Array(0), nul("mysql_native_password"),
  ));
}

/** The client's SSLRequest (seq 1): the first 32 bytes of a HandshakeResponse41 with CLIENT_SSL. */
export function sslRequest(): Uint8Array {
  return packet(1, concat(u32(BASE_CAPS | CLIENT_SSL), u32(16 * 1024 * 1024), bytes(0x21), new Uint8Array(23)));
}

export function ok(seq: number): Uint8Array {
  return packet(seq, bytes(0x00, 0, 0, 2, 0, 0, 0));
}

export function err(seq: number, code: number, state: string, message: string): Uint8Array {
  return packet(seq, concat(bytes(0xff), u16(code), encoder.encode(`#${state}`), encoder.encode(message)));
}

/** The server's AuthSwitchRequest (0xfe, the plugin and its data). */
export function authSwitch(seq: number, plugin = "mysql_native_password"): Uint8Array {
  return packet(seq, concat(bytes(0xfe), nul(plugin), encoder.encode("abcdefghijklmnopqrst"), bytes(0)));
}

/** The client's answer to an auth switch. */
export function authData(seq: number): Uint8Array {
  return packet(seq, new Uint8Array(20).fill(9));
}

export function query(sql: string): Uint8Array {
  return packet(0, concat(bytes(0x03), encoder.encode(sql)));
}

export function quit(): Uint8Array {
  return packet(0, bytes(0x01));
}

/** A text result set (seq from 1): column count, each column, EOF, each row, EOF. */
export function resultSet(columns: string[], rows: string[][]): Uint8Array {
  let seq = 1;
  const parts = [packet(seq++, bytes(columns.length))];
  for (const name of columns) {
    parts.push(packet(seq++, concat(lenenc("def"), lenenc(""), lenenc(""), lenenc(""), lenenc(name), lenenc(name), bytes(0x0c), u16(0x21), u32(21), bytes(0x08), u16(0), bytes(0), u16(0))));
  }
  const eof = () => packet(seq++, bytes(0xfe, 0, 0, 2, 0));
  parts.push(eof());
  for (const row of rows) parts.push(packet(seq++, concat(...row.map(lenenc))));
  parts.push(eof());
  return concat(...parts);
}

/** Splits a stream of packets into [seq, payload] (a reader for the stand-ins). */
export class PacketReader {
  private buffered: Uint8Array = new Uint8Array(0);

  push(chunk: Uint8Array): [number, Uint8Array][] {
    this.buffered = concat(this.buffered, chunk);
    const out: [number, Uint8Array][] = [];
    for (;;) {
      if (this.buffered.byteLength < 4) return out;
      const n = this.buffered[0]! | (this.buffered[1]! << 8) | (this.buffered[2]! << 16);
      if (this.buffered.byteLength < 4 + n) return out;
      out.push([this.buffered[3]!, this.buffered.slice(4, 4 + n)]);
      this.buffered = this.buffered.slice(4 + n);
    }
  }
}
