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

/**
 * WebCrypto refuses a zero-length HMAC key (Node, Bun and Deno alike); RFC 2104 §2 pads a
 * key with zeros to the block size (64 bytes for SHA-256), so 64 zero bytes give the same MAC.
 */
const EMPTY_KEY_EQUIVALENT = new Uint8Array(64);

export async function hmacSha256(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const subtle = nodeCrypto().webcrypto.subtle;
  let imported = KEYS.get(key);
  if (imported === undefined) {
    const raw = key.length === 0 ? EMPTY_KEY_EQUIVALENT : key;
    imported = subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    KEYS.set(key, imported);
  }
  return new Uint8Array(await subtle.sign("HMAC", await imported, data));
}
