import type { HeaderMap } from "./header-map.ts";

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1) that a proxy must not forward, as Envoy's
 * HTTP/1 codec and ConnectionManagerUtility strip them. `te` is kept only as
 * "trailers"; `upgrade`/`connection` survive on an upgrade the route allows.
 */
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "proxy-authenticate-info"];

export function stripHopByHop(headers: HeaderMap, keepUpgrade: boolean): void {
  // Fields named in Connection are hop-by-hop too (RFC 9110 §7.6.1).
  const named = headers.getJoined("connection");
  if (named) {
    for (const token of named.split(",")) {
      const name = token.trim().toLowerCase();
      if (name && !(keepUpgrade && name === "upgrade")) headers.remove(name);
    }
  }
  for (const name of HOP_BY_HOP) {
    if (keepUpgrade && (name === "upgrade" || name === "connection")) continue;
    headers.remove(name);
  }
  const te = headers.get("te");
  if (te !== undefined && te.trim().toLowerCase() !== "trailers") headers.remove("te");
}

/** Envoy's internal-address test (RFC 1918, loopback, unique-local): decides x-envoy-internal. */
export function isInternalAddress(address: string): boolean {
  if (address.startsWith("::ffff:")) address = address.slice(7);
  if (/^(10\.|127\.|192\.168\.)/.test(address)) return true;
  const m = address.match(/^172\.(\d+)\./);
  if (m && Number(m[1]) >= 16 && Number(m[1]) <= 31) return true;
  return address === "::1" || /^f[cd][0-9a-f]{2}:/i.test(address);
}

/** A random UUID v4 for x-request-id (Envoy's default request ID extension). */
export function uuid4(): string {
  const c = (globalThis as unknown as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  const hex = "0123456789abcdef";
  let s = "";
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) s += "-";
    else if (i === 14) s += "4";
    else if (i === 19) s += hex[8 + Math.floor(Math.random() * 4)];
    else s += hex[Math.floor(Math.random() * 16)];
  }
  return s;
}

let cachedSecond = -1;
let cachedDate = "";

/**
 * RFC 9110 §5.6.7 IMF-fixdate, for the `date` header. It changes once a second, so it is
 * formatted once a second (Envoy's DateProvider caches it the same way).
 */
export function httpDate(wallClockMs: number): string {
  const second = Math.floor(wallClockMs / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedDate = new Date(second * 1000).toUTCString();
  }
  return cachedDate;
}
