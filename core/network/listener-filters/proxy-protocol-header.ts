/**
 * The HAProxy PROXY protocol header, versions 1 (text) and 2 (binary), read as Envoy's
 * proxy_protocol listener filter reads it
 * (source/extensions/filters/listener/proxy_protocol/proxy_protocol.cc: readProxyHeader,
 * parseV1Header, parseV2Header, parseTlvs), with its limits: a v1 line within 108 bytes,
 * a v2 header of 16 bytes plus the length it declares.
 *
 * Incremental like the ClientHello parser: `parse` is given everything read so far and
 * goes on from where it stopped.
 */
import type { SocketAddress } from "../../port.ts";
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from "../cidr-range.ts";
import { latin1Decode } from "../../util/latin1.ts";

const V1_SIGNATURE = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20]; // "PROXY "
const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
export const V2_HEADER_LENGTH = 16;
/** Envoy's MAX_PROXY_PROTO_LEN_V1: the longest v1 line, CRLF included (the spec's 107 plus one). */
export const MAX_V1_LENGTH = 108;
/** Envoy's MAX_PROXY_PROTO_LEN_V2 (header and an AF_UNIX address block): what is read before a v2 header says how long it is. */
export const MAX_V2_LENGTH = V2_HEADER_LENGTH + 216;
const V2_ADDRESS_LENGTH_INET = 12;
// The spec's "TCP over IPv6: len = 36": two 16-byte addresses, two ports.
const V2_ADDRESS_LENGTH_INET6 = 36;

export type ProxyProtocolVersion = 1 | 2;

export type ProxyHeaderResult =
  | { readonly kind: "more" }
  /** The bytes cannot start a PROXY header (with allow_requests_without_proxy_protocol: go on without one). */
  | { readonly kind: "not_found" }
  /** A malformed header; `version` when it was recognized as one. */
  | { readonly kind: "error"; readonly version: ProxyProtocolVersion | undefined }
  | {
      readonly kind: "header";
      readonly version: ProxyProtocolVersion;
      /** Bytes the header takes (drained before the connection's filters see the rest). */
      readonly length: number;
      /** The addresses it carries; absent for a v1 UNKNOWN or v2 LOCAL header (the real ones stay). */
      readonly remote?: SocketAddress;
      readonly local?: SocketAddress;
    };

const MORE: ProxyHeaderResult = { kind: "more" };

export class ProxyProtocolParser {
  /** Where the search for the v1 CRLF goes on (Envoy's search_index_). */
  private searchAt = 1;
  private version: ProxyProtocolVersion | undefined;

  /**
   * How many bytes it may need: 232 until a v2 header says it is longer (its TLVs), then
   * that length (Envoy's maxReadBytes).
   */
  maxReadBytes = MAX_V2_LENGTH;

  parse(bytes: Uint8Array): ProxyHeaderResult {
    // Bytes that can start neither signature: no header. Envoy decides so at once with
    // allow_requests_without_proxy_protocol, and otherwise at 16 bytes or the first CRLF
    // (closing either way); deciding at once for both makes the answer the same however
    // the bytes arrive.
    if (!startsWith(bytes, V2_SIGNATURE) && !startsWith(bytes, V1_SIGNATURE)) return { kind: "not_found" };
    if (bytes.length >= V2_HEADER_LENGTH && startsWith(bytes, V2_SIGNATURE)) this.version = 2;
    return this.version === 2 ? this.parseV2(bytes) : this.parseV1(bytes);
  }

  private parseV1(bytes: Uint8Array): ProxyHeaderResult {
    let end = -1;
    for (; this.searchAt < bytes.length; this.searchAt++) {
      if (bytes[this.searchAt] === 0x0a && bytes[this.searchAt - 1] === 0x0d) {
        // "\r\n" at the very start may be v2's signature: wait for more.
        if (this.searchAt === 1) break;
        end = ++this.searchAt;
        break;
      }
    }
    if (this.searchAt > MAX_V1_LENGTH) return { kind: "error", version: end < 0 ? undefined : 1 };
    if (end < 0) return MORE;
    this.version = 1;
    // Envoy right-trims the line (StringUtil::rtrim), CRLF and any whitespace before it.
    return parseV1Line(latin1Decode(bytes, 0, end).replace(/[ \t\f\v\r\n]+$/, ""), end);
  }

  private parseV2(bytes: Uint8Array): ProxyHeaderResult {
    const versionAndCommand = bytes[12]!;
    if (versionAndCommand >> 4 !== 2) return { kind: "error", version: 2 };
    const command = versionAndCommand & 0x0f;
    const familyAndTransport = bytes[13]!;
    const family = familyAndTransport >> 4;
    const declared = (bytes[14]! << 8) | bytes[15]!;
    const whole = V2_HEADER_LENGTH + declared;
    // LOCAL (health checks from the proxy itself): no address to use, whatever follows.
    const addressLength = command === 0 ? 0 : family === 1 ? V2_ADDRESS_LENGTH_INET : family === 2 ? V2_ADDRESS_LENGTH_INET6 : -1;
    if (addressLength < 0 || declared < addressLength) return { kind: "error", version: 2 };
    if (whole > this.maxReadBytes) this.maxReadBytes = whole;
    if (bytes.length < whole) return MORE;
    if (command === 0) return { kind: "header", version: 2, length: whole };
    const transport = familyAndTransport & 0x0f;
    if (command !== 1 || (transport !== 1 && transport !== 2)) return { kind: "error", version: 2 };
    const at = V2_HEADER_LENGTH;
    let remote: SocketAddress;
    let local: SocketAddress;
    if (family === 1) {
      remote = { address: formatIpv4(bytes.subarray(at, at + 4)), port: (bytes[at + 8]! << 8) | bytes[at + 9]!, family: 4 };
      local = { address: formatIpv4(bytes.subarray(at + 4, at + 8)), port: (bytes[at + 10]! << 8) | bytes[at + 11]!, family: 4 };
    } else {
      remote = { address: formatIpv6(bytes.subarray(at, at + 16)), port: (bytes[at + 32]! << 8) | bytes[at + 33]!, family: 6 };
      local = { address: formatIpv6(bytes.subarray(at + 16, at + 32)), port: (bytes[at + 34]! << 8) | bytes[at + 35]!, family: 6 };
    }
    if (!validTlvs(bytes.subarray(at + addressLength, whole))) return { kind: "error", version: 2 };
    if (!isUnicast(remote) || !isUnicast(local)) return { kind: "error", version: 2 };
    return { kind: "header", version: 2, length: whole, remote, local };
  }
}

/** "PROXY TCP4 1.2.3.4 5.6.7.8 1234 80": single spaces, six parts (or "PROXY UNKNOWN …"). */
function parseV1Line(line: string, length: number): ProxyHeaderResult {
  const parts = line.split(" ");
  const error: ProxyHeaderResult = { kind: "error", version: 1 };
  if (parts.length < 2 || parts[0] !== "PROXY") return error;
  // UNKNOWN: the real connection's addresses are used (the rest of the line is ignored).
  if (parts[1] === "UNKNOWN") return { kind: "header", version: 1, length };
  if (parts.length !== 6 || (parts[1] !== "TCP4" && parts[1] !== "TCP6")) return error;
  const family = parts[1] === "TCP4" ? 4 : 6;
  const remote = v1Address(parts[2]!, parts[4]!, family);
  const local = v1Address(parts[3]!, parts[5]!, family);
  if (!remote || !local || !isUnicast(remote) || !isUnicast(local)) return error;
  return { kind: "header", version: 1, length, remote, local };
}

function v1Address(ip: string, port: string, family: 4 | 6): SocketAddress | undefined {
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535) return undefined;
  const bytes = family === 4 ? parseIpv4(ip) : parseIpv6(ip);
  if (!bytes) return undefined;
  return { address: family === 4 ? formatIpv4(bytes) : formatIpv6(bytes), port: Number(port), family };
}

/** Envoy's parseTlvs: type, a 16-bit length and that many bytes, to the end of the header. */
function validTlvs(tlvs: Uint8Array): boolean {
  let at = 0;
  while (at < tlvs.length) {
    if (at + 3 > tlvs.length) return false;
    const length = (tlvs[at + 1]! << 8) | tlvs[at + 2]!;
    at += 3 + length;
    if (at > tlvs.length) return false;
  }
  return true;
}

/** Envoy's Ip::isUnicastAddress: not the any address, not broadcast, not multicast. */
function isUnicast(address: SocketAddress): boolean {
  if (address.family === 4) {
    const b = parseIpv4(address.address)!;
    if (b.every((x) => x === 0) || b.every((x) => x === 255)) return false;
    return b[0]! < 224 || b[0]! > 239;
  }
  const b = parseIpv6(address.address)!;
  return !b.every((x) => x === 0) && b[0] !== 0xff;
}

/** Whether `bytes` starts with `prefix`, compared over the bytes there are. */
function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  const n = Math.min(bytes.length, prefix.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}
