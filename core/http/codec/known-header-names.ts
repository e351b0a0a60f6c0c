/**
 * The header names most messages carry, recognised straight from the bytes in any
 * letter case and returned as one shared lowercase string: no decoding, no
 * lowercasing, no allocation, and later comparisons against the same constant are
 * cheap. Envoy's header map does the same with its "inline headers".
 */
const NAMES = [
  "host", "user-agent", "accept", "accept-encoding", "accept-language", "accept-ranges", "age",
  "authorization", "cache-control", "connection", "content-encoding", "content-length",
  "content-type", "cookie", "date", "etag", "expect", "expires", "if-modified-since",
  "if-none-match", "keep-alive", "last-modified", "location", "origin", "pragma", "referer",
  "server", "set-cookie", "te", "transfer-encoding", "upgrade", "vary", "via",
  "x-forwarded-for", "x-forwarded-proto", "x-request-id", "x-envoy-upstream-service-time",
];

const key = (length: number, first: number, last: number): number => (length << 16) | ((first | 0x20) << 8) | (last | 0x20);

/** One candidate per (length, first letter, last letter); the few that collide take the slow path. */
const byKey = new Map<number, string>();
for (const name of NAMES) {
  const k = key(name.length, name.charCodeAt(0), name.charCodeAt(name.length - 1));
  if (!byKey.has(k)) byKey.set(k, name);
}

/** The shared lowercase name when bytes[start, end) spell a known name in any case, else undefined. */
export function knownHeaderName(bytes: Uint8Array, start: number, end: number): string | undefined {
  const length = end - start;
  if (length === 0) return undefined;
  const name = byKey.get(key(length, bytes[start]!, bytes[end - 1]!));
  if (name === undefined) return undefined;
  for (let i = 0; i < length; i++) {
    const c = bytes[start + i]!;
    const want = name.charCodeAt(i);
    // Equal, or the upper-case form of a letter (A-Z is a-z minus 0x20).
    if (c !== want && !(c >= 65 && c <= 90 && c + 32 === want)) return undefined;
  }
  return name;
}
