/**
 * Reads a TLS ClientHello far enough to know whether a connection speaks TLS, and its
 * SNI and ALPN — what Envoy's tls_inspector asks of BoringSSL
 * (source/extensions/filters/listener/tls_inspector/tls_inspector.cc), with the checks
 * BoringSSL makes on the way (ssl/tls_record.cc, ssl/extensions.cc), written out here
 * because no TLS stack runs in the core.
 *
 * Incremental: `parse` is given everything read so far, each time a little more, and
 * goes on from where it stopped, so many small reads cost what one large one does. It
 * never looks past `limit` bytes. Records may split the handshake message anywhere
 * (RFC 8446 §5.1); the message is reassembled from their payloads.
 */

import { latin1Decode } from "../../util/latin1.ts";

/** RFC 8446 §5.1: TLSPlaintext.length MUST NOT exceed 2^14 (BoringSSL: SSL_R_DATA_LENGTH_TOO_LONG). */
const MAX_PLAINTEXT_RECORD = 16384;
/** SSL3_RT_MAX_ENCRYPTED_LENGTH: the largest record header BoringSSL waits on (2^14 + 2048). */
const MAX_ENCRYPTED_RECORD = 18432;
/** BoringSSL's kMaxMessageLen: a server that asks for no client certificate takes no larger ClientHello. */
const MAX_CLIENT_HELLO_BODY = 16384;
/** BoringSSL's kMaxEmptyRecords: empty handshake records tolerated before it gives up. */
const MAX_EMPTY_RECORDS = 32;
/** RFC 6066 §3 / BoringSSL's TLSEXT_MAXLEN_host_name. */
const MAX_HOST_NAME = 255;

const RECORD_HEADER = 5;
const CONTENT_TYPE_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXTENSION_SERVER_NAME = 0;
const EXTENSION_ALPN = 16;
const EXTENSION_SUPPORTED_GROUPS = 10;
const EXTENSION_EC_POINT_FORMATS = 11;

export type ClientHelloResult =
  /** Not decided yet: more bytes are needed. */
  | { readonly kind: "more" }
  /** Not a TLS ClientHello (or a malformed one): the connection is left as raw_buffer. */
  | { readonly kind: "not_tls" }
  | {
      readonly kind: "client_hello";
      /** SNI host name in lower case; "" when the hello has none. */
      readonly serverName: string;
      /** ALPN protocol names in the client's order; empty when none (or a malformed list, which the TLS stack will refuse). */
      readonly alpn: readonly string[];
      /** The JA3 fingerprint's text (before its MD5), when the parser was asked for it (`new ClientHelloParser(true)`). */
      readonly ja3?: string;
    };

const MORE: ClientHelloResult = { kind: "more" };
const NOT_TLS: ClientHelloResult = { kind: "not_tls" };

export class ClientHelloParser {
  /** `ja3`: also make the hello's JA3 fingerprint text (tls_inspector's enable_ja3_fingerprinting). */
  constructor(private readonly ja3 = false) {}

  /** Where the next record header starts in the bytes given to `parse`. */
  private recordAt = 0;
  /** The handshake bytes of the records read so far (at most the header and a maximal body). */
  private handshake = new Uint8Array(0);
  private handshakeLength = 0;
  private emptyRecords = 0;
  private result: ClientHelloResult = MORE;

  /**
   * `bytes`: everything read on the connection so far (each call a longer view of the
   * same stream). Returns "more" until it is decided, then the same answer each time.
   */
  parse(bytes: Uint8Array): ClientHelloResult {
    if (this.result !== MORE) return this.result;
    while (this.recordAt + RECORD_HEADER <= bytes.length) {
      const at = this.recordAt;
      // A handshake record, legacy_record_version 3.x (BoringSSL: SSL_R_WRONG_VERSION_NUMBER otherwise).
      if (bytes[at] !== CONTENT_TYPE_HANDSHAKE || bytes[at + 1] !== 3) return (this.result = NOT_TLS);
      const length = (bytes[at + 3]! << 8) | bytes[at + 4]!;
      // BoringSSL refuses a header over the encrypted maximum at once, but waits for the body
      // of one between the two maxima before refusing it (tls_open_record): with Envoy's read
      // limit below that, such a hello ends as client_hello_too_large, not as "not TLS".
      if (length > MAX_ENCRYPTED_RECORD) return (this.result = NOT_TLS);
      if (at + RECORD_HEADER + length > bytes.length) break;
      if (length > MAX_PLAINTEXT_RECORD) return (this.result = NOT_TLS);
      this.recordAt = at + RECORD_HEADER + length;
      if (length === 0) {
        if (++this.emptyRecords > MAX_EMPTY_RECORDS) return (this.result = NOT_TLS);
        continue;
      }
      const decided = this.addHandshakeBytes(bytes.subarray(at + RECORD_HEADER, at + RECORD_HEADER + length));
      if (decided !== MORE) return (this.result = decided);
    }
    // Also decided early when the first bytes already cannot start a record.
    if (this.recordAt < bytes.length && bytes[this.recordAt] !== CONTENT_TYPE_HANDSHAKE) return (this.result = NOT_TLS);
    if (this.recordAt + 1 < bytes.length && bytes[this.recordAt + 1] !== 3) return (this.result = NOT_TLS);
    return MORE;
  }

  private addHandshakeBytes(payload: Uint8Array): ClientHelloResult {
    const have = this.handshakeLength;
    // Only the message is kept (its header says how long it is; until then, at most the largest).
    const needed = have >= 4 ? 4 + this.bodyLength() : 4 + MAX_CLIENT_HELLO_BODY;
    const take = Math.min(payload.length, needed - have);
    if (this.handshake.length < have + take) {
      const grown = new Uint8Array(Math.min(4 + MAX_CLIENT_HELLO_BODY, Math.max(have + take, this.handshake.length * 2, 256)));
      grown.set(this.handshake.subarray(0, have));
      this.handshake = grown;
    }
    this.handshake.set(payload.subarray(0, take), have);
    this.handshakeLength = have + take;
    if (this.handshakeLength < 4) return MORE;
    if (this.handshake[0] !== HANDSHAKE_CLIENT_HELLO) return NOT_TLS;
    const bodyLength = this.bodyLength();
    if (bodyLength > MAX_CLIENT_HELLO_BODY) return NOT_TLS;
    if (this.handshakeLength < 4 + bodyLength) return MORE;
    return parseClientHelloBody(this.handshake.subarray(4, 4 + bodyLength), this.ja3);
  }

  private bodyLength(): number {
    const h = this.handshake;
    return (h[1]! << 16) | (h[2]! << 8) | h[3]!;
  }
}

/** A bounds-checked reader over a ClientHello (BoringSSL's CBS); each getter returns undefined past the end. */
class Reader {
  constructor(
    private readonly bytes: Uint8Array,
    private at = 0,
    private readonly end = bytes.length,
  ) {}

  get remaining(): number {
    return this.end - this.at;
  }

  u8(): number | undefined {
    return this.at < this.end ? this.bytes[this.at++] : undefined;
  }

  u16(): number | undefined {
    if (this.at + 2 > this.end) return undefined;
    const value = (this.bytes[this.at]! << 8) | this.bytes[this.at + 1]!;
    this.at += 2;
    return value;
  }

  skip(n: number): boolean {
    if (this.at + n > this.end) return false;
    this.at += n;
    return true;
  }

  /** A length-prefixed sub-reader (prefix of 1 or 2 bytes). */
  prefixed(prefixBytes: 1 | 2): Reader | undefined {
    const length = prefixBytes === 1 ? this.u8() : this.u16();
    if (length === undefined || this.at + length > this.end) return undefined;
    const sub = new Reader(this.bytes, this.at, this.at + length);
    this.at += length;
    return sub;
  }

  view(): Uint8Array {
    return this.bytes.subarray(this.at, this.end);
  }
}

/** RFC 8446 §4.1.2 ClientHello, with BoringSSL's ssl_client_hello_init checks. */
function parseClientHelloBody(body: Uint8Array, withJa3: boolean): ClientHelloResult {
  const r = new Reader(body);
  const version = r.u16(); // legacy_version
  if (version === undefined || !r.skip(32)) return NOT_TLS; // random
  const sessionId = r.prefixed(1);
  if (!sessionId || sessionId.remaining > 32) return NOT_TLS;
  const cipherSuites = r.prefixed(2);
  if (!cipherSuites || cipherSuites.remaining < 2 || (cipherSuites.remaining & 1) !== 0) return NOT_TLS;
  const ciphers = cipherSuites.view();
  const compression = r.prefixed(1);
  if (!compression || compression.remaining < 1) return NOT_TLS;
  let serverName = "";
  let alpn: readonly string[] = [];
  const extensionTypes: number[] = [];
  let groups: Uint8Array | undefined;
  let pointFormats: Uint8Array | undefined;
  // A ClientHello may end here, without extensions.
  if (r.remaining > 0) {
    const extensions = r.prefixed(2);
    if (!extensions || r.remaining !== 0) return NOT_TLS;
    const seen = new Set<number>();
    while (extensions.remaining > 0) {
      const type = extensions.u16();
      const data = extensions.prefixed(2);
      if (type === undefined || !data) return NOT_TLS;
      // BoringSSL's tls1_check_duplicate_extensions.
      if (seen.has(type)) return NOT_TLS;
      seen.add(type);
      extensionTypes.push(type);
      if (type === EXTENSION_SUPPORTED_GROUPS) groups = data.view();
      else if (type === EXTENSION_EC_POINT_FORMATS) pointFormats = data.view();
      if (type === EXTENSION_SERVER_NAME) {
        const name = parseServerName(data);
        if (name === undefined) return NOT_TLS;
        serverName = name;
      } else if (type === EXTENSION_ALPN) {
        alpn = parseAlpn(data);
      }
    }
  }
  if (!withJa3) return { kind: "client_hello", serverName, alpn };
  return { kind: "client_hello", serverName, alpn, ja3: ja3Text(version, ciphers, extensionTypes, groups, pointFormats) };
}

/** RFC 8701 GREASE values: 0x0a0a, 0x1a1a, … 0xfafa. */
function isGrease(id: number): boolean {
  return (id & 0x0f0f) === 0x0a0a && id >> 8 === (id & 0xff);
}

/**
 * JA3's text as Envoy's tls_inspector writes it (createJA3Hash, tls_inspector.cc):
 * `version,ciphers,extensions,groups,point_formats`, each list's values in decimal joined by
 * "-", GREASE left out of the ciphers and extensions (not of the groups: Envoy keeps them).
 * The groups' and point formats' own length prefix is skipped and the rest read to the end.
 */
function ja3Text(version: number, ciphers: Uint8Array, extensionTypes: readonly number[], groups: Uint8Array | undefined, pointFormats: Uint8Array | undefined): string {
  const cipherIds: number[] = [];
  for (let i = 0; i + 1 < ciphers.length; i += 2) {
    const id = (ciphers[i]! << 8) | ciphers[i + 1]!;
    if (!isGrease(id)) cipherIds.push(id);
  }
  const groupIds: number[] = [];
  if (groups !== undefined && groups.length >= 2) {
    for (let i = 2; i + 1 < groups.length; i += 2) groupIds.push((groups[i]! << 8) | groups[i + 1]!);
  }
  const formats: number[] = [];
  if (pointFormats !== undefined && pointFormats.length >= 1) {
    for (let i = 1; i < pointFormats.length; i++) formats.push(pointFormats[i]!);
  }
  return [String(version), cipherIds.join("-"), extensionTypes.filter((t) => !isGrease(t)).join("-"), groupIds.join("-"), formats.join("-")].join(",");
}

/** RFC 6066 §3 server_name, as BoringSSL's ext_sni_parse_clienthello: exactly one host_name, 1–255 bytes, no NUL. */
function parseServerName(data: Reader): string | undefined {
  const list = data.prefixed(2);
  if (!list || data.remaining !== 0) return undefined;
  const type = list.u8();
  const host = list.prefixed(2);
  if (type !== 0 || !host || list.remaining !== 0) return undefined;
  const bytes = host.view();
  if (bytes.length === 0 || bytes.length > MAX_HOST_NAME || bytes.includes(0)) return undefined;
  return latin1Decode(bytes, 0, bytes.length).toLowerCase();
}

/**
 * RFC 7301 §3.1 protocol_name_list, as Envoy's tls_inspector reads it (onALPN): a
 * malformed list is no ALPN, not an error ("let the real TLS stack do it").
 */
function parseAlpn(data: Reader): readonly string[] {
  const list = data.prefixed(2);
  if (!list || data.remaining !== 0 || list.remaining < 2) return [];
  const protocols: string[] = [];
  while (list.remaining > 0) {
    const name = list.prefixed(1);
    if (!name || name.remaining === 0) return [];
    protocols.push(latin1Decode(name.view(), 0, name.remaining));
  }
  return protocols;
}
