/**
 * ClientHello records built by hand for tests of the tls_inspector (RFC 8446 §4.1.2,
 * RFC 6066 §3 server_name, RFC 7301 ALPN), with options to split them into records.
 */
export interface ClientHelloOptions {
  serverName?: string;
  alpn?: string[];
  /** Extra extensions (type, data) after SNI and ALPN. */
  extensions?: [number, Uint8Array][];
  /** Split the handshake message into records of at most this many bytes (default: one record). */
  recordSize?: number;
  /** Leave the extensions block out entirely (a TLS 1.2 hello may). */
  noExtensions?: boolean;
  /** The cipher suites offered (default TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384). */
  cipherSuites?: number[];
}

const u16 = (n: number) => [n >> 8, n & 0xff];
const u24 = (n: number) => [n >> 16, (n >> 8) & 0xff, n & 0xff];

export function extension(type: number, data: number[] | Uint8Array): number[] {
  return [...u16(type), ...u16(data.length), ...data];
}

export function serverNameExtension(name: string): number[] {
  const host = [...new TextEncoder().encode(name)];
  const entry = [0, ...u16(host.length), ...host];
  return extension(0, [...u16(entry.length), ...entry]);
}

export function alpnExtension(protocols: string[]): number[] {
  const list = protocols.flatMap((p) => {
    const bytes = [...new TextEncoder().encode(p)];
    return [bytes.length, ...bytes];
  });
  return extension(16, [...u16(list.length), ...list]);
}

/** The handshake message (type 1, length, body). */
export function clientHelloMessage(options: ClientHelloOptions = {}): number[] {
  const extensions: number[] = [];
  if (options.serverName !== undefined) extensions.push(...serverNameExtension(options.serverName));
  if (options.alpn !== undefined) extensions.push(...alpnExtension(options.alpn));
  for (const [type, data] of options.extensions ?? []) extensions.push(...extension(type, data));
  const ciphers = options.cipherSuites ?? [0x1301, 0x1302];
  const body = [
    3, 3, // legacy_version TLS 1.2
    ...new Array<number>(32).fill(7), // random
    0, // session id
    ...u16(ciphers.length * 2), ...ciphers.flatMap(u16), // cipher suites
    1, 0, // compression: null
    ...(options.noExtensions ? [] : [...u16(extensions.length), ...extensions]),
  ];
  return [1, ...u24(body.length), ...body];
}

/** The message in TLS records (content type 22, version 3.1). */
export function clientHelloRecords(options: ClientHelloOptions = {}): Uint8Array {
  const message = clientHelloMessage(options);
  const size = options.recordSize ?? message.length;
  const out: number[] = [];
  for (let at = 0; at < message.length; at += size) {
    const piece = message.slice(at, at + size);
    out.push(22, 3, 1, ...u16(piece.length), ...piece);
  }
  return new Uint8Array(out);
}

export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
