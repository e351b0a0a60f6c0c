import type { webcrypto } from "node:crypto";
import { nodeCrypto } from "./builtins.ts";
import type { JsonWebPublicKey } from "../../core/port.ts";

type CryptoKey = webcrypto.CryptoKey;

/**
 * The port's verifySignature through WebCrypto (`crypto.subtle`, the same API on Node,
 * Bun and Deno; taken from node:crypto, which all three have, so no global needs declaring). An imported key is kept per JWK object and algorithm: the filter's keys
 * live as long as its config, and importKey costs more than a verification.
 */
type Algorithm = { import: object; verify: object };

const HASH: Record<string, string> = { "256": "SHA-256", "384": "SHA-384", "512": "SHA-512" };
const CURVE: Record<string, string> = { ES256: "P-256", ES384: "P-384", ES512: "P-521" };

function algorithm(alg: string): Algorithm | undefined {
  const bits = alg.slice(2);
  const hash = HASH[bits];
  if (alg.startsWith("RS") && hash) return { import: { name: "RSASSA-PKCS1-v1_5", hash }, verify: { name: "RSASSA-PKCS1-v1_5" } };
  // RFC 7518 §3.5: the salt is as long as the hash.
  if (alg.startsWith("PS") && hash) return { import: { name: "RSA-PSS", hash }, verify: { name: "RSA-PSS", saltLength: Number(bits) / 8 } };
  if (alg.startsWith("ES") && hash && CURVE[alg]) return { import: { name: "ECDSA", namedCurve: CURVE[alg] }, verify: { name: "ECDSA", hash } };
  if (alg === "EdDSA") return { import: { name: "Ed25519" }, verify: { name: "Ed25519" } };
  return undefined;
}

const KEYS = new WeakMap<JsonWebPublicKey, Map<string, Promise<CryptoKey>>>();

function importKey(jwk: JsonWebPublicKey, alg: string, how: Algorithm): Promise<CryptoKey> {
  let byAlg = KEYS.get(jwk);
  if (byAlg === undefined) KEYS.set(jwk, (byAlg = new Map()));
  let key = byAlg.get(alg);
  if (key === undefined) {
    // Only the public fields: WebCrypto refuses a JWK whose alg/use/key_ops disagree with the import.
    const { kty, n, e, crv, x, y } = jwk;
    key = nodeCrypto().webcrypto.subtle.importKey("jwk", { kty, n, e, crv, x, y, ext: true }, how.import as never, false, ["verify"]);
    byAlg.set(alg, key);
  }
  return key;
}

export async function verifySignature(jwk: JsonWebPublicKey, alg: string, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
  const how = algorithm(alg);
  if (how === undefined) throw new Error(`unsupported JWS algorithm ${alg}`);
  const key = await importKey(jwk, alg, how);
  return nodeCrypto().webcrypto.subtle.verify(how.verify as never, key, signature as Uint8Array<ArrayBuffer>, data as Uint8Array<ArrayBuffer>);
}
