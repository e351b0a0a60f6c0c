import type { HeaderMap } from "./header-map.ts";
import type { Runtime } from "../port.ts";
import { imfFixdate } from "../util/civil-time.ts";

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1) that a proxy must not forward, as Envoy's
 * HTTP/1 codec and ConnectionManagerUtility strip them; `upgrade`/`connection` survive on
 * an upgrade the route allows. `te` is not among them, nor removed when `connection` names
 * it: a request's goes through sanitizeTe (as Envoy's sanitizeConnectionHeader keeps a
 * nominated TE that lists trailers), a response's is kept only as "trailers".
 */
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "proxy-authenticate-info"];

export function stripHopByHop(headers: HeaderMap, keepUpgrade: boolean): void {
  // Fields named in Connection are hop-by-hop too (RFC 9110 §7.6.1).
  const named = headers.getJoined("connection");
  if (named) {
    // Token by token without split(): most responses carry one ("keep-alive").
    for (let start = 0; start <= named.length; ) {
      let end = named.indexOf(",", start);
      if (end < 0) end = named.length;
      const token = start === 0 && end === named.length ? named : named.slice(start, end);
      const name = token.trim().toLowerCase();
      if (name && name !== "te" && !(keepUpgrade && name === "upgrade")) headers.remove(name);
      start = end + 1;
    }
  }
  for (const name of HOP_BY_HOP) {
    if (keepUpgrade && (name === "upgrade" || name === "connection")) continue;
    headers.remove(name);
  }
}

/**
 * A request's `te`, as Envoy's ConnectionManagerUtility::sanitizeTEHeader (since
 * envoyproxy/envoy#32255): "trailers" alone when one of its comma-separated members is
 * `trailers` (the one value HTTP/2 allows, RFC 9113 §8.2.2, and the one gRPC servers
 * require), removed otherwise — a transfer coding is hop-by-hop (RFC 9110 §10.1.4).
 */
export function sanitizeTe(headers: HeaderMap): void {
  const te = headers.getJoined("te");
  if (te === undefined) return;
  for (const member of te.split(",")) {
    if (member.trim().toLowerCase() === "trailers") {
      headers.set("te", "trailers");
      return;
    }
  }
  headers.remove("te");
}

/** Envoy's internal-address test (RFC 1918, loopback, unique-local): decides x-envoy-internal. */
export function isInternalAddress(address: string): boolean {
  if (address.startsWith("::ffff:")) address = address.slice(7);
  if (/^(10\.|127\.|192\.168\.)/.test(address)) return true;
  const m = address.match(/^172\.(\d+)\./);
  if (m && Number(m[1]) >= 16 && Number(m[1]) <= 31) return true;
  return address === "::1" || /^f[cd][0-9a-f]{2}:/i.test(address);
}

/**
 * A random UUID v4 for x-request-id (Envoy's default request ID extension), from the
 * runtime's random bytes (`Runtime.randomBytes`: a secure generator, or the memory
 * runtime's seeded one, which then reproduces every id). Bytes are fetched 4 KiB at a
 * time and formatted through a table: one 36-character string per request, where a
 * runtime's randomUUID() allocates several times that.
 */
export function uuid4(runtime: Runtime): string {
  if (randomAt + 16 > RANDOM_POOL || runtime !== poolRuntime) refillRandom(runtime);
  const codes = UUID_CODES;
  let out = 0;
  for (let i = 0; i < 16; i++) {
    let byte = randomBytes[randomAt + i]!;
    // Version 4 in the 7th byte's high nibble, variant 10xx in the 9th's (RFC 9562 §5.4).
    if (i === 6) byte = (byte & 0x0f) | 0x40;
    else if (i === 8) byte = (byte & 0x3f) | 0x80;
    if (i === 4 || i === 6 || i === 8 || i === 10) codes[out++] = 45; // '-'
    codes[out++] = HEX_CODES[byte >> 4]!;
    codes[out++] = HEX_CODES[byte & 15]!;
  }
  randomAt += 16;
  // One string from the 36 codes (concatenating pieces would build and flatten a rope).
  return String.fromCharCode.apply(null, codes);
}

/** A random 64-bit id as 16 hex digits (Zipkin's span and trace ids), from uuid4's pool of random bytes. */
export function randomHexId64(runtime: Runtime): string {
  if (randomAt + 8 > RANDOM_POOL || runtime !== poolRuntime) refillRandom(runtime);
  const codes = ID64_CODES;
  for (let i = 0; i < 8; i++) {
    const byte = randomBytes[randomAt + i]!;
    codes[2 * i] = HEX_CODES[byte >> 4]!;
    codes[2 * i + 1] = HEX_CODES[byte & 15]!;
  }
  randomAt += 8;
  return String.fromCharCode.apply(null, codes);
}

const HEX_CODES = Array.from("0123456789abcdef", (c) => c.charCodeAt(0));
const UUID_CODES: number[] = new Array<number>(36).fill(0);
const ID64_CODES: number[] = new Array<number>(16).fill(0);
const RANDOM_POOL = 4096;
const randomBytes = new Uint8Array(RANDOM_POOL);
let randomAt = RANDOM_POOL;
/** Whose bytes the pool holds: a process running two runtimes (tests) never mixes their streams. */
let poolRuntime: Runtime | undefined;

function refillRandom(runtime: Runtime): void {
  runtime.randomBytes(randomBytes);
  poolRuntime = runtime;
  randomAt = 0;
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
    cachedDate = imfFixdate(second * 1000);
  }
  return cachedDate;
}

/** RFC 9110 §5.1 field-name, lowercased. */
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const NUL_CR_LF = /[\0\r\n]/;

/**
 * A header a remote service asked for (ext_authz, ratelimit) that can go on the wire: a
 * lowercase token name and a value without NUL, CR or LF. Anything else would break the
 * message it joins (or split it in two), so it is dropped.
 */
export function isValidHeaderField(name: string, value: string): boolean {
  return FIELD_NAME.test(name) && !NUL_CR_LF.test(value);
}

/**
 * The characters Envoy lets through in an authority (`Host` or `:authority`): HTTP/2's
 * host:port set plus "@" for HTTP/1's userinfo (source/common/http/header_utility.cc,
 * check_authority_h1_h2). No space, control character, quote, "/", "?", "#", "\\", "<",
 * ">", "^", "`", "{", "|", "}", DEL or non-ASCII byte.
 */
const AUTHORITY = /^[!$%&'()*+,\-.0-9:;=@A-Z[\]_a-z~]*$/;

/** Whether `authority` passes Envoy's HeaderUtility::authorityIsValid. */
export function authorityIsValid(authority: string): boolean {
  return AUTHORITY.test(authority);
}
