/**
 * Envoy's Network::Address::CidrRange (source/common/network/cidr_range.cc): an address
 * prefix and its length, matched against a peer's or local address. Addresses are parsed
 * once per range and once per check, into 32-bit words (one for IPv4, four for IPv6).
 */

/** An IP address as words: [ipv4] or [w0, w1, w2, w3] for IPv6. */
type IpWords = readonly number[];

/** a.b.c.d, each 0–255 in decimal without leading zeros beyond one digit. */
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function parseIpv4(text: string): number | undefined {
  const m = IPV4.exec(text);
  if (m === null) return undefined;
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
}

/** RFC 4291 §2.2 text forms: eight groups, "::" once, an embedded IPv4 tail; no zone id. */
function parseIpv6(text: string): IpWords | undefined {
  if (text.includes("%")) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIpv4(piece);
        if (v4 === undefined) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return undefined;
      out.push(parseInt(piece, 16));
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const words: number[] = [];
  for (let i = 0; i < 8; i += 2) words.push(((all[i]! << 16) | all[i + 1]!) >>> 0);
  return words;
}

/**
 * An address as words. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack
 * socket reports for an IPv4 peer) is taken as the IPv4 address it carries, so that an
 * IPv4 range matches the peer whichever way the runtime's socket was opened.
 */
export function parseIp(text: string): IpWords | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return [v4];
  const v6 = parseIpv6(text);
  if (v6 === undefined) return undefined;
  if (v6[0] === 0 && v6[1] === 0 && v6[2] === 0xffff) return [v6[3]!];
  return v6;
}

export class CidrRange {
  private readonly words: IpWords;

  private constructor(
    words: IpWords,
    readonly prefixLen: number,
  ) {
    this.words = mask(words, prefixLen);
  }

  /** The range, or an error saying why not (Envoy refuses a bad address prefix; a too-long prefix_len is clamped there, refused here). */
  static parse(addressPrefix: string, prefixLen: number): CidrRange | { error: string } {
    const words = parseIp(addressPrefix);
    if (words === undefined) return { error: `"${addressPrefix}" is not an IP address` };
    const max = words.length * 32;
    if (prefixLen > max) return { error: `prefix_len ${prefixLen} is longer than the address (${max} bits)` };
    return new CidrRange(words, prefixLen);
  }

  /** Whether `address` (text) is in the range: same family, same first prefixLen bits. */
  contains(address: string): boolean {
    const words = parseIp(address);
    return words !== undefined && this.containsWords(words);
  }

  containsWords(words: IpWords): boolean {
    if (words.length !== this.words.length) return false;
    const masked = mask(words, this.prefixLen);
    for (let i = 0; i < masked.length; i++) if (masked[i] !== this.words[i]) return false;
    return true;
  }
}

function mask(words: IpWords, prefixLen: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < words.length; i++) {
    const bits = Math.max(0, Math.min(32, prefixLen - i * 32));
    const m = bits === 0 ? 0 : bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
    out.push((words[i]! & m) >>> 0);
  }
  return out;
}
