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

/** Base64's 64 values by character code (below 128); -1 for a character not in the table. */
function alphabetTable(urlSafe: boolean, standard: boolean): Int8Array {
  const table = new Int8Array(128).fill(-1);
  for (let i = 0; i < 62; i++) table[ALPHABET.charCodeAt(i)] = i;
  if (standard) {
    table[0x2b /* + */] = 62;
    table[0x2f /* / */] = 63;
  }
  if (urlSafe) {
    table[0x2d /* - */] = 62;
    table[0x5f /* _ */] = 63;
  }
  return table;
}

const URL_ONLY = alphabetTable(true, false);
const EITHER = alphabetTable(true, true);
const STANDARD_ONLY = alphabetTable(false, true);

/**
 * The characters text[0, end) of `table`'s alphabet as bytes; undefined for any other
 * character (whitespace and "=" included) or a length no encoding gives (4n + 1). The
 * unused low bits of the last character are not checked, as neither caller's reference does.
 */
function decodeAlphabet(text: string, end: number, table: Int8Array): Uint8Array | undefined {
  if (end % 4 === 1) return undefined;
  const out = new Uint8Array((end * 3) >> 2);
  let acc = 0;
  let bits = 0;
  let at = 0;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? table[c]! : -1;
    if (v < 0) return undefined;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

/** base64url without padding (RFC 7515 §2, a JWT's parts); undefined for any other character or a stray length. */
export function decodeBase64Url(text: string): Uint8Array | undefined {
  return decodeAlphabet(text, text.length, URL_ONLY);
}

/**
 * Base64, standard or URL-safe (RFC 4648 §4, §5; the two alphabets may mix), padding
 * optional but only as a whole group's end ("xx==", "xxx="): what protobuf's JSON parser
 * takes for `bytes`. Undefined when not base64.
 */
export function decodeBase64Any(text: string): Uint8Array | undefined {
  let end = text.length;
  if (end % 4 === 0 && end > 0 && text.charCodeAt(end - 1) === 61 /* = */) end -= text.charCodeAt(end - 2) === 61 ? 2 : 1;
  return decodeAlphabet(text, end, EITHER);
}

/**
 * Standard base64 (RFC 4648 §4), its "=" padding optional (cpp2sky's
 * Base64::decodeWithoutPadding, for sw8's fields); undefined for any other character or a
 * stray length.
 */
export function decodeBase64Standard(text: string): Uint8Array | undefined {
  let end = text.length;
  while (end > 0 && end > text.length - 2 && text.charCodeAt(end - 1) === 61 /* = */) end--;
  return decodeAlphabet(text, end, STANDARD_ONLY);
}
