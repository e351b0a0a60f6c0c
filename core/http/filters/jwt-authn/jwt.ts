/**
 * A JSON Web Token in compact form (RFC 7519 §3, RFC 7515 §7.1), parsed as Envoy's
 * jwt_verify_lib parses it (jwt.cc): three base64url sections, a JSON header with a string
 * `alg`, a JSON payload whose registered claims have the right types. Failures are
 * jwt_verify_lib's status texts, which Envoy sends as the 401's body.
 */
import { utf8DecodeStrict } from "../../../util/utf8.ts";
import { decodeBase64Url } from "../../../util/base64.ts";

export const JWT_MISSED = "Jwt is missing";
export const JWT_EXPIRED = "Jwt is expired";
export const JWT_NOT_YET_VALID = "Jwt not yet valid";
export const JWT_UNKNOWN_ISSUER = "Jwt issuer is not configured";
export const JWT_AUDIENCE_NOT_ALLOWED = "Audiences in Jwt are not allowed";
export const JWT_VERIFICATION_FAIL = "Jwt verification fails";
/** jwt_verify_lib's Status::JwksFetchFail. */
export const JWKS_FETCH_FAIL = "Jwks remote fetch is failed";
export const JWKS_KID_ALG_MISMATCH = "Jwks doesn't have key to match kid or alg from Jwt";

/** The algorithms jwt_verify_lib implements (HS* aside: no shared secrets in local_jwks here). */
const ALGORITHMS = new Set(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]);

export interface Jwt {
  alg: string;
  kid: string | undefined;
  iss: string;
  audiences: string[];
  /** Seconds since the epoch; 0 when absent. */
  exp: number;
  nbf: number;
  /** The decoded header and payload (JSON objects), for claim_to_headers and *_in_metadata. */
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** The payload section as sent (base64url), for forward_payload_header. */
  payloadBase64Url: string;
  /** header "." payload, the bytes the signature covers. */
  signingInput: Uint8Array;
  signature: Uint8Array;
}

/** Parse `token`; a string is the reason it is not a JWT. */
export function parseJwt(token: string): Jwt | string {
  const parts = token.split(".");
  if (parts.length !== 3) return "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections";
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const headerBytes = decodeBase64Url(headerPart);
  if (headerBytes === undefined) return "Jwt header is an invalid Base64url encoded";
  const header = parseJsonObject(headerBytes);
  if (header === undefined) return "Jwt header is an invalid JSON";
  if (typeof header.alg !== "string") return "Jwt header [alg] field is required and must be a string";
  if (!ALGORITHMS.has(header.alg)) return "Jwt header [alg] is not supported";
  if (header.kid !== undefined && typeof header.kid !== "string") return "Jwt header [kid] field is not a string";
  const payloadBytes = decodeBase64Url(payloadPart);
  if (payloadBytes === undefined) return "Jwt payload is an invalid Base64url encoded";
  const payload = parseJsonObject(payloadBytes);
  if (payload === undefined) return "Jwt payload is an invalid JSON";
  if (payload.iss !== undefined && typeof payload.iss !== "string") return "Jwt payload [iss] field is not a string";
  if (payload.sub !== undefined && typeof payload.sub !== "string") return "Jwt payload [sub] field is not a string";
  for (const claim of ["iat", "nbf", "exp"] as const) {
    const value = payload[claim];
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isInteger(value)) return `Jwt payload [${claim}] field is not an integer`;
    if (value < 0) return `Jwt payload [${claim}] field is not a positive integer`;
  }
  if (payload.jti !== undefined && typeof payload.jti !== "string") return "Jwt payload [jti] field is not a string";
  const aud = payload.aud;
  let audiences: string[] = [];
  if (typeof aud === "string") audiences = [aud];
  else if (Array.isArray(aud) && aud.every((a) => typeof a === "string")) audiences = aud as string[];
  else if (aud !== undefined) return "Jwt payload [aud] field is not a string or string list";
  const signature = decodeBase64Url(signaturePart);
  if (signature === undefined) return "Jwt signature is an invalid Base64url encoded";
  const signingInput = asciiBytes(`${headerPart}.${payloadPart}`);
  return {
    alg: header.alg,
    kid: header.kid as string | undefined,
    iss: (payload.iss as string | undefined) ?? "",
    audiences,
    exp: (payload.exp as number | undefined) ?? 0,
    nbf: (payload.nbf as number | undefined) ?? 0,
    header,
    payload,
    payloadBase64Url: payloadPart,
    signingInput,
    signature,
  };
}


function parseJsonObject(bytes: Uint8Array): Record<string, unknown> | undefined {
  const text = utf8DecodeStrict(bytes);
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function asciiBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}
