/**
 * The oauth2 filter's cookies (source/extensions/filters/http/oauth2/filter.cc): how they
 * are read from a request (Http::Utility::parseCookies), signed (encodeHmacBase64) and
 * checked (OAuth2CookieValidator: a valid HMAC and an expiry still ahead).
 */
import type { OAuth2CookieNames } from "../../../config/bootstrap.ts";
import { decodeBase64, encodeBase64 } from "../../../util/base64.ts";
import { latin1Encode } from "../../../util/latin1.ts";
import type { RequestHeaders } from "../../message.ts";

/** HMAC-SHA256 (the port's hmacSha256). */
export type HmacSha256 = (key: Uint8Array, data: Uint8Array) => Promise<Uint8Array>;

/**
 * The cookies of `names` in the request's Cookie headers (Envoy's parseCookies): pairs
 * split at ";", leading whitespace dropped, a value's surrounding double quotes removed;
 * the first of a name wins.
 */
export function parseCookies(headers: RequestHeaders, wanted: (name: string) => boolean): Map<string, string> {
  const cookies = new Map<string, string>();
  // Several Cookie fields read as one: each is split at ";" all the same.
  const joined = headers.getJoined("cookie", ";");
  if (joined === undefined) return cookies;
  for (const part of joined.split(";")) {
    const pair = part.replace(/^[ \t\r\n\f\v]+/, "");
    const eq = pair.indexOf("=");
    if (eq < 0) continue;
    const name = pair.slice(0, eq);
    if (!wanted(name) || cookies.has(name)) continue;
    let value = pair.slice(eq + 1);
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    cookies.set(name, value);
  }
  return cookies;
}

/** What the HMAC signs: host, expiry and the tokens, joined by "\n" (filter.cc, HmacPayloadSeparator). */
export interface HmacFields {
  readonly host: string;
  readonly expires: string;
  readonly token: string;
  readonly idToken: string;
  readonly refreshToken: string;
}

function payload(fields: HmacFields): Uint8Array {
  // Header values are byte strings: latin1 gives back their bytes.
  return latin1Encode([fields.host, fields.expires, fields.token, fields.idToken, fields.refreshToken].join("\n"));
}

/** encodeHmacBase64: base64 of the raw HMAC — what the filter sets in OauthHMAC. */
export async function encodeHmacBase64(hmac: HmacSha256, secret: Uint8Array, fields: HmacFields): Promise<string> {
  return encodeBase64(await hmac(secret, payload(fields)));
}

const HEX = "0123456789abcdef";

/** The HMAC's lowercase hex: encodeHmacHexBase64, what older Envoys set, is its base64; still accepted. */
function hex(mac: Uint8Array): string {
  let text = "";
  for (const byte of mac) text += HEX[byte >> 4]! + HEX[byte & 15]!;
  return text;
}

/** The cookies a request carries, as OAuth2CookieValidator::setParams reads them. */
export interface OAuth2Cookies extends HmacFields {
  readonly hmac: string;
}

export function readOAuth2Cookies(headers: RequestHeaders, names: OAuth2CookieNames): OAuth2Cookies {
  const cookies = parseCookies(
    headers,
    (name) => name === names.oauthExpires || name === names.bearerToken || name === names.oauthHmac || name === names.idToken || name === names.refreshToken,
  );
  return {
    host: headers.authority,
    expires: cookies.get(names.oauthExpires) ?? "",
    token: cookies.get(names.bearerToken) ?? "",
    idToken: cookies.get(names.idToken) ?? "",
    refreshToken: cookies.get(names.refreshToken) ?? "",
    hmac: cookies.get(names.oauthHmac) ?? "",
  };
}

/**
 * OAuth2CookieValidator::isValid: the HMAC matches (base64, or the older hex-base64) and
 * OauthExpires, whole seconds since the epoch, is after `nowSeconds`.
 */
export async function cookiesAreValid(hmac: HmacSha256, secret: Uint8Array, cookies: OAuth2Cookies, nowSeconds: number): Promise<boolean> {
  if (cookies.hmac === "") return false;
  const mac = await hmac(secret, payload(cookies));
  // Compared as decoded bytes in constant time; only a canonical base64 cookie is decoded
  // (the check looks at the cookie, not the secret), as Envoy compares the encoded strings.
  const given = decodeBase64(cookies.hmac);
  const canonical = encodeBase64(given) === cookies.hmac;
  const base64Valid = constantTimeEqual(mac, given);
  const hexValid = constantTimeEqual(latin1Encode(hex(mac)), given);
  const hmacValid = canonical && (base64Valid || hexValid);
  return hmacValid && expiresIsValid(cookies.expires, nowSeconds);
}

/**
 * Equal bytes, compared in a time that depends on the lengths only (as CRYPTO_memcmp): a
 * MAC check that stops at the first differing byte tells an attacker how much was right.
 */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  // The lengths are no secret (32 bytes, or 64 hex digits).
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * timestampIsValid: absl::SimpleAtoi of a uint64 (digits, an optional "+", surrounding
 * whitespace). At most 20 digits: 2^64-1 has 20, and a longer one is no uint64.
 */
function expiresIsValid(expires: string, nowSeconds: number): boolean {
  const value = parseExpires(expires);
  return value !== undefined && value > nowSeconds;
}

/** OauthExpires as a number of seconds, or undefined when timestampIsValid would refuse it. */
export function parseExpires(expires: string): number | undefined {
  const trimmed = expires.trim();
  if (!/^\+?[0-9]{1,20}$/.test(trimmed)) return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : undefined;
}
