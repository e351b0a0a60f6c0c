import type { webcrypto } from "node:crypto";
import { nodeCrypto } from "./builtins.ts";

type CryptoKey = webcrypto.CryptoKey;

/**
 * The port's hmacSha256 through WebCrypto (`crypto.subtle`, from node:crypto, which Node,
 * Bun and Deno all have). The imported key is kept per secret's bytes object: the oauth2
 * filter holds one secret for as long as its config (or until SDS replaces it), and
 * importKey costs more than a signature.
 */
const KEYS = new WeakMap<Uint8Array, Promise<CryptoKey>>();

export async function hmacSha256(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const subtle = nodeCrypto().webcrypto.subtle;
  let imported = KEYS.get(key);
  if (imported === undefined) {
    imported = subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    KEYS.set(key, imported);
  }
  return new Uint8Array(await subtle.sign("HMAC", await imported, data));
}
