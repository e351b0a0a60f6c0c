const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const LOOKUP = new Uint8Array(128);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

/** Decode standard base64 (padding optional). Pure, so the core needs no `atob`/`Buffer`. */
export function decodeBase64(text: string): Uint8Array {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 61 /* = */) end--;
  const out = new Uint8Array((end * 3) >> 2);
  let bits = 0;
  let acc = 0;
  let at = 0;
  for (let i = 0; i < end; i++) {
    acc = (acc << 6) | LOOKUP[text.charCodeAt(i)]!;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

/** Standard base64 with padding. */
export function encodeBase64(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!;
  }
  if (i < bytes.length) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8);
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + (i + 1 < bytes.length ? ALPHABET[(n >> 6) & 63]! : "=") + "=";
  }
  return out;
}

const STRICT = new Int16Array(256).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) STRICT[ALPHABET.charCodeAt(i)] = i;

/**
 * Decode base64 given as bytes, strictly: a whole number of 4-character groups, each of
 * the alphabet, padding only at a group's end ("xx==" or "xxx="). Each group may end in
 * padding — gRPC-Web text streams are base64 chunks joined. Undefined when not base64.
 */
export function decodeBase64Groups(text: Uint8Array): Uint8Array | undefined {
  if (text.length % 4 !== 0) return undefined;
  const out = new Uint8Array((text.length / 4) * 3);
  let at = 0;
  for (let i = 0; i < text.length; i += 4) {
    const a = STRICT[text[i]!]!;
    const b = STRICT[text[i + 1]!]!;
    const c3 = text[i + 2]!;
    const c4 = text[i + 3]!;
    if (a < 0 || b < 0) return undefined;
    if (c3 === 61 /* = */) {
      if (c4 !== 61) return undefined;
      out[at++] = (a << 2) | (b >> 4);
      continue;
    }
    const c = STRICT[c3]!;
    if (c < 0) return undefined;
    if (c4 === 61) {
      out[at++] = (a << 2) | (b >> 4);
      out[at++] = ((b & 15) << 4) | (c >> 2);
      continue;
    }
    const d = STRICT[c4]!;
    if (d < 0) return undefined;
    out[at++] = (a << 2) | (b >> 4);
    out[at++] = ((b & 15) << 4) | (c >> 2);
    out[at++] = ((c & 3) << 6) | d;
  }
  return out.subarray(0, at);
}
