/**
 * The oauth2 filter's cookies (source/extensions/filters/http/oauth2/filter.cc): how they
 * are read from a request (Http::Utility::parseCookies), signed (encodeHmacBase64) and
 * checked (OAuth2CookieValidator: a valid HMAC and an expiry still ahead).
 */
import type { OAuth2CookieNames } from "../../../config/bootstrap.ts";
import { encodeBase64 } from "../../../util/base64.ts";
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

/** encodeHmacHexBase64: base64 of the HMAC's lowercase hex, what older Envoys set; still accepted. */
function hexBase64(mac: Uint8Array): string {
  let hex = "";
  for (const byte of mac) hex += HEX[byte >> 4]! + HEX[byte & 15]!;
  return encodeBase64(latin1Encode(hex));
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
  const hmacValid = encodeBase64(mac) === cookies.hmac || hexBase64(mac) === cookies.hmac;
  return hmacValid && expiresIsValid(cookies.expires, nowSeconds);
}

/** timestampIsValid: absl::SimpleAtoi of a uint64 (digits, an optional "+", surrounding whitespace). */
function expiresIsValid(expires: string, nowSeconds: number): boolean {
  const trimmed = expires.trim();
  if (!/^\+?[0-9]+$/.test(trimmed)) return false;
  const value = Number(trimmed);
  return Number.isFinite(value) && value > nowSeconds;
}
