/**
 * envoy.config.core.v3.CidrRange and a list of them (Envoy's Network::Address::IpList):
 * whether an IP address lies in one of the ranges. An address of the other IP version
 * never does; an IPv4-mapped IPv6 address (::ffff:a.b.c.d, how dual-stack sockets report
 * IPv4 peers) is read as the IPv4 address.
 */

export interface CidrRangeConfig {
  addressPrefix: string;
  prefixLen: number;
}

/** The address as 4 or 16 bytes, or undefined when it is no IP literal. */
export function parseIp(address: string): Uint8Array | undefined {
  if (address.startsWith("::ffff:") && address.includes(".")) address = address.slice(7);
  if (address.includes(":")) return parseIpv6(address);
  return parseIpv4(address);
}

function parseIpv4(address: string): Uint8Array | undefined {
  const parts = address.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i]!)) return undefined;
    const n = Number(parts[i]);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseIpv6(address: string): Uint8Array | undefined {
  const zone = address.indexOf("%");
  if (zone >= 0) address = address.slice(0, zone);
  const halves = address.split("::");
  if (halves.length > 2) return undefined;
  const groups = (text: string): number[] | undefined => {
    if (text === "") return [];
    const out: number[] = [];
    for (const part of text.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return undefined;
      out.push(parseInt(part, 16));
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((group, i) => {
    out[2 * i] = group >> 8;
    out[2 * i + 1] = group & 0xff;
  });
  return out;
}

/** A compiled range: its network bytes and prefix length. */
class CidrRange {
  constructor(
    private readonly network: Uint8Array,
    private readonly prefixLen: number,
  ) {}

  contains(ip: Uint8Array): boolean {
    if (ip.length !== this.network.length) return false;
    let bits = this.prefixLen;
    for (let i = 0; bits > 0; i++, bits -= 8) {
      const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
      if ((ip[i]! & mask) !== (this.network[i]! & mask)) return false;
    }
    return true;
  }
}

/** Envoy's IpList: `contains` is true when any range holds the address. */
export class IpList {
  private readonly ranges: CidrRange[];

  /** Ranges must be valid (the config schema checked them). */
  constructor(configs: readonly CidrRangeConfig[]) {
    this.ranges = configs.map((c) => new CidrRange(parseIp(c.addressPrefix)!, c.prefixLen));
  }

  get size(): number {
    return this.ranges.length;
  }

  contains(address: string): boolean {
    const ip = parseIp(address);
    return ip !== undefined && this.ranges.some((range) => range.contains(ip));
  }
}
