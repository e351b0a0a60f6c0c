/**
 * A JWKS document (RFC 7517 §5) read into the public keys jwt_authn can use — for a
 * provider's local_jwks at config time and for a remote_jwks response. Keys polyvoy cannot
 * use are skipped, as jwt_verify_lib's Jwks::createFrom does; a document with none is an
 * error (jwt_verify_lib's status texts).
 */
import type { JwtJwk } from "../../../config/bootstrap.ts";

export type JwksParse = { ok: true; keys: JwtJwk[] } | { ok: false; error: string };

export function parseJwks(text: string): JwksParse {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { ok: false, error: "Jwks is an invalid JSON" };
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (keys === undefined) return { ok: false, error: "Jwks does not have [keys] field" };
  if (!Array.isArray(keys)) return { ok: false, error: "[keys] in Jwks is not an array" };
  const jwks: JwtJwk[] = [];
  for (const key of keys as Record<string, unknown>[]) {
    const str = (name: string): string | undefined => (typeof key?.[name] === "string" ? (key[name] as string) : undefined);
    const kty = str("kty");
    const ok = (kty === "RSA" && str("n") && str("e")) || (kty === "EC" && str("crv") && str("x") && str("y")) || (kty === "OKP" && str("crv") === "Ed25519" && str("x"));
    if (!ok) continue;
    const jwk: JwtJwk = { kty: kty! };
    for (const field of ["kid", "alg", "n", "e", "crv", "x", "y"] as const) {
      const value = str(field);
      if (value !== undefined) jwk[field] = value;
    }
    jwks.push(jwk);
  }
  if (jwks.length === 0) return { ok: false, error: "Jwks doesn't have any valid public key" };
  return { ok: true, keys: jwks };
}
