/**
 * Strings quoted as protobuf's JSON writer quotes them (json/internal/writer.cc), for the
 * gRPC-JSON printer.
 */

/**
 * Whether the JSON writer escapes a code point (json/internal/writer.cc MustEscape): controls,
 * quote and backslash, and — "to prevent security bugs in JavaScript" — < > and invisible or
 * formatting characters.
 */
function mustEscape(cp: number): boolean {
  if (cp <= 0x1f || cp === 0x22 || cp === 0x5c || cp === 0x3c || cp === 0x3e) return true;
  if (cp >= 0x7f && cp <= 0x9f) return true;
  switch (cp) {
    case 0xfeff:
    case 0xfff9:
    case 0xfffa:
    case 0xfffb:
    case 0x00ad:
    case 0x06dd:
    case 0x070f:
    case 0x17b4:
    case 0x17b5:
    case 0xe0001:
      return true;
  }
  return (
    (cp >= 0x0600 && cp <= 0x0603) ||
    (cp >= 0x200b && cp <= 0x200f) ||
    (cp >= 0x2028 && cp <= 0x202e) ||
    (cp >= 0x2060 && cp <= 0x2064) ||
    (cp >= 0x206a && cp <= 0x206f) ||
    (cp >= 0x1d173 && cp <= 0x1d17a) ||
    (cp >= 0xe0020 && cp <= 0xe007f)
  );
}

/** 1 for the bytes 0x20–0x7e that MustEscape leaves as they are (all but " \\ < >). */
const PLAIN_ASCII = new Uint8Array(256);
for (let b = 0x20; b < 0x7f; b++) PLAIN_ASCII[b] = mustEscape(b) ? 0 : 1;

/** Chunks bound fromCharCode's argument count. */
const ASCII_CHUNK = 8192;

function asciiText(bytes: Uint8Array, from: number, to: number): string {
  let text = "";
  for (let at = from; at < to; at += ASCII_CHUNK) text += String.fromCharCode.apply(null, bytes.subarray(at, Math.min(to, at + ASCII_CHUNK)) as unknown as number[]);
  return text;
}

const HEX = "0123456789abcdef";
function hex4(u: number): string {
  return `\\u${HEX[(u >> 12) & 15]}${HEX[(u >> 8) & 15]}${HEX[(u >> 4) & 15]}${HEX[u & 15]}`;
}

function escaped(cp: number): string {
  switch (cp) {
    case 0x0a:
      return "\\n";
    case 0x0d:
      return "\\r";
    case 0x09:
      return "\\t";
    case 0x22:
      return '\\"';
    case 0x0c:
      return "\\f";
    case 0x08:
      return "\\b";
    case 0x5c:
      return "\\\\";
  }
  if (cp < 0x10000) return hex4(cp);
  const v = cp - 0x10000;
  return hex4(0xd800 + (v >> 10)) + hex4(0xdc00 + (v & 0x3ff));
}

/** A JS string (a field name, a path) quoted as the JSON writer quotes text. */
export function quoteText(text: string): string {
  let out = '"';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    out += mustEscape(cp) ? escaped(cp) : ch;
  }
  return `${out}"`;
}

/**
 * A protobuf string's bytes quoted as the JSON writer quotes them (writer.cc WriteEscapedUtf8):
 * a sequence that does not decode (ConsumeUtf8Scalar's failure) becomes one space.
 */
export function quoteUtf8(bytes: Uint8Array): string {
  let out = '"';
  let i = 0;
  while (i < bytes.length) {
    // A run of printable ASCII that needs no escape is copied at once (a string per byte costs ~10×).
    let end = i;
    while (end < bytes.length && PLAIN_ASCII[bytes[end]!] === 1) end++;
    if (end > i) {
      out += asciiText(bytes, i, end);
      i = end;
      if (i >= bytes.length) break;
    }
    const b = bytes[i++]!;
    let cp = b;
    let more = 0;
    if (b >= 0x80) {
      if (b >= 0xc0 && b < 0xe0) [cp, more] = [b & 0x1f, 1];
      else if (b >= 0xe0 && b < 0xf0) [cp, more] = [b & 0x0f, 2];
      else if (b >= 0xf0 && b < 0xf8) [cp, more] = [b & 0x07, 3];
      else cp = -1;
    }
    for (let k = 0; k < more && cp >= 0; k++) {
      if (i >= bytes.length) {
        cp = -1;
        break;
      }
      const next = bytes[i++]!;
      if (next >> 6 !== 2) cp = -1;
      else cp = (cp << 6) | (next & 0x3f);
    }
    if (cp < 0 || cp > 0x10ffff) out += " ";
    else if (mustEscape(cp)) out += escaped(cp);
    else out += String.fromCodePoint(cp);
  }
  return `${out}"`;
}
