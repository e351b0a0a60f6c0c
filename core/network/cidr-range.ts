import type { CidrRangeConfig } from "../config/bootstrap.ts";

/**
 * IP addresses as bytes and CIDR ranges over them (Envoy's `Network::Address::CidrRange`),
 * for filter_chain_match's prefix_ranges, source_prefix_ranges and
 * direct_source_prefix_ranges, and for the addresses a PROXY protocol header carries.
 */

/** An IPv4 address as 4 bytes, or IPv6 as 16; undefined when `text` is neither. */
export function parseIp(text: string): Uint8Array | undefined {
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

/** Dotted-quad IPv4, each part 0–255 in decimal without leading zeros (as inet_pton). */
export function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    out[i] = value;
  }
  return out;
}

/** IPv6 text (RFC 4291 §2.2: `::` once, an embedded IPv4 tail), as 16 bytes. */
export function parseIpv6(text: string): Uint8Array | undefined {
  if (text.length > 45 || text.length < 2) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === "") return [];
    const out: number[] = [];
    const parts = half.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = parseIpv4(part);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return undefined;
        out.push(parseInt(part, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const count = head.length + tail.length;
  if (halves.length === 2 ? count > 7 : count !== 8) return undefined;
  const all = [...head, ...new Array<number>(8 - count).fill(0), ...tail];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i]! >> 8;
    out[2 * i + 1] = all[i]! & 0xff;
  }
  return out;
}

/** 16 bytes as IPv6 text in RFC 5952 form (lower case, the longest run of zero groups as `::`). */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  let bestAt = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestAt = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) => groups.slice(from, to).map((g) => g.toString(16)).join(":");
  return bestAt < 0 ? hex(0, 8) : `${hex(0, bestAt)}::${hex(bestAt + bestLength, 8)}`;
}

export function formatIpv4(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/** A CIDR range: `bytes` with the bits past `length` zeroed (Envoy's CidrRange does the same). */
export class CidrRange {
  private constructor(
    readonly bytes: Uint8Array,
    readonly length: number,
  ) {}

  /** address_prefix and prefix_len; undefined when the address is not an IP or the length exceeds its bits. */
  static create(addressPrefix: string, prefixLength: number): CidrRange | undefined {
    const bytes = parseIp(addressPrefix);
    if (!bytes || !Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > bytes.length * 8) return undefined;
    for (let bit = prefixLength; bit < bytes.length * 8; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
    return new CidrRange(bytes, prefixLength);
  }

  /** The catch-all ranges an empty prefix list stands for: 0.0.0.0/0 and ::/0. */
  static readonly ANY_V4 = CidrRange.create("0.0.0.0", 0)!;
  static readonly ANY_V6 = CidrRange.create("::", 0)!;

  get family(): 4 | 6 {
    return this.bytes.length === 4 ? 4 : 6;
  }

  /** As Envoy prints it (`10.0.0.0/8`, `2001:db8::/32`): two equal ranges print the same. */
  toString(): string {
    return `${this.family === 4 ? formatIpv4(this.bytes) : formatIpv6(this.bytes)}/${this.length}`;
  }

  /** Whether `address` (4 or 16 bytes) is in the range; an address of the other family never is. */
  contains(address: Uint8Array): boolean {
    if (address.length !== this.bytes.length) return false;
    const whole = this.length >> 3;
    for (let i = 0; i < whole; i++) if (address[i] !== this.bytes[i]) return false;
    const rest = this.length & 7;
    if (rest === 0) return true;
    const mask = (0xff << (8 - rest)) & 0xff;
    return (address[whole]! & mask) === this.bytes[whole];
  }
}

/**
 * A list of ranges (Envoy's Network::Address::IpList): `contains` is true when any range
 * holds the address. An address of the other IP version never matches; an IPv4-mapped IPv6
 * address (::ffff:a.b.c.d, how dual-stack sockets report IPv4 peers) is read as the IPv4
 * address, and an IPv6 zone (`%eth0`) is ignored.
 */
export class IpList {
  private readonly ranges: CidrRange[];

  /** Ranges must be valid (the config schema checked them). */
  constructor(configs: readonly CidrRangeConfig[]) {
    this.ranges = configs.map((c) => CidrRange.create(c.addressPrefix, c.prefixLen)!);
  }

  get size(): number {
    return this.ranges.length;
  }

  contains(address: string): boolean {
    if (address.startsWith("::ffff:") && address.includes(".")) address = address.slice(7);
    const zone = address.indexOf("%");
    if (zone >= 0) address = address.slice(0, zone);
    const ip = parseIp(address);
    return ip !== undefined && this.ranges.some((range) => range.contains(ip));
  }
}
