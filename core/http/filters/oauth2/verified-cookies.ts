/**
 * The oauth2 filter's memory of cookie sets it has verified: a request carrying the same
 * cookies (OauthHMAC, OauthExpires, the tokens) for the same host as one whose HMAC was
 * checked needs no new HMAC, until OauthExpires passes. Envoy recomputes the HMAC for every
 * request (OAuth2CookieValidator::isValid); the answer is the same, so this only saves the
 * work. A hit is as strict as a fresh check: the whole cookie tuple and the host are the key,
 * the expiry is compared with the current time, and a new hmac_secret (SDS rotation) drops
 * every entry at the first check with it. Bounded: at most MAX_ENTRIES, least recently used dropped first, and a tuple
 * longer than MAX_KEY_LENGTH characters is not kept.
 */
import { cookiesAreValid, parseExpires, type HmacSha256, type OAuth2Cookies } from "./oauth2-cookies.ts";

export const MAX_ENTRIES = 1024;
/** Tokens are a few KiB at most in practice; a larger tuple is checked every time. */
export const MAX_KEY_LENGTH = 16 * 1024;

export class VerifiedCookies {
  /** Key → OauthExpires (seconds), in least-recently-used order (a Map keeps insertion order). */
  private readonly entries = new Map<string, number>();
  /** A copy of the hmac_secret the entries were verified with. */
  private secret: Uint8Array | undefined;

  constructor(
    private readonly maxEntries = MAX_ENTRIES,
    private readonly maxKeyLength = MAX_KEY_LENGTH,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** cookiesAreValid, answered from memory for a tuple verified before with this secret and not expired now. */
  async verify(hmac: HmacSha256, secret: Uint8Array, cookies: OAuth2Cookies, nowSeconds: number): Promise<boolean> {
    if (this.has(secret, cookies, nowSeconds)) return true;
    const valid = await cookiesAreValid(hmac, secret, cookies, nowSeconds);
    // Valid means OauthExpires parsed.
    if (valid) this.add(secret, cookies, parseExpires(cookies.expires)!);
    return valid;
  }

  /** True when these cookies were verified with this secret and their expiry is still after `nowSeconds`. */
  has(secret: Uint8Array, cookies: OAuth2Cookies, nowSeconds: number): boolean {
    if (!this.verifiedWith(secret)) {
      // A new secret (SDS rotation): nothing verified with the old one may be served.
      this.entries.clear();
      this.secret = secret.slice();
      return false;
    }
    const key = keyOf(cookies);
    const expires = this.entries.get(key);
    if (expires === undefined) return false;
    this.entries.delete(key);
    if (!(expires > nowSeconds)) return false;
    this.entries.set(key, expires);
    return true;
  }

  /** Remember cookies that a full check (cookiesAreValid) found valid with `secret`, their OauthExpires `expires`. */
  add(secret: Uint8Array, cookies: OAuth2Cookies, expires: number): void {
    if (!this.verifiedWith(secret)) {
      this.entries.clear();
      this.secret = secret.slice();
    }
    const key = keyOf(cookies);
    if (key.length > this.maxKeyLength) return;
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, expires);
  }

  /** Compared by its bytes (a few dozen): the same secret delivered again keeps the entries, another drops them. */
  private verifiedWith(secret: Uint8Array): boolean {
    const known = this.secret;
    if (known === undefined || known.length !== secret.length) return false;
    for (let i = 0; i < known.length; i++) if (known[i] !== secret[i]) return false;
    return true;
  }
}

/** Every field the check reads, each length-prefixed so that no two tuples share a key. */
function keyOf(c: OAuth2Cookies): string {
  return `${c.host.length}:${c.host}${c.expires.length}:${c.expires}${c.token.length}:${c.token}${c.idToken.length}:${c.idToken}${c.refreshToken.length}:${c.refreshToken}${c.hmac}`;
}
