/**
 * Log lines are byte strings: one char (≤ 0xff) per byte, like the header values the
 * HTTP/1 codec hands over, so a line is written with latin1Encode and every byte a
 * client sent is logged as it came. Text from the config is turned into its UTF-8
 * bytes once, when a format is compiled.
 */
import { latin1Encode } from "../util/latin1.ts";
import { utf8Decode } from "../util/utf8.ts";

const NON_ASCII = /[^\x00-\x7f]/;

/** `text` as its UTF-8 bytes, one char per byte (ASCII, the usual case, is returned as is). */
export function utf8ByteString(text: string): string {
  if (!NON_ASCII.test(text)) return text;
  let out = "";
  for (const char of text) {
    let c = char.codePointAt(0)!;
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate, as TextEncoder does
    if (c < 0x80) out += char;
    else if (c < 0x800) out += String.fromCharCode(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else if (c < 0x10000) out += String.fromCharCode(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    else out += String.fromCharCode(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  return out;
}

/**
 * A byte string (a header value, a format's output) as the text its UTF-8 bytes spell, for
 * what encodes text again (a span's tags: Zipkin's JSON, OTLP's string values), so "é" sent
 * as two bytes is tagged "é" and not "Ã©". Bytes that are not UTF-8 become U+FFFD.
 */
export function byteStringText(bytes: string): string {
  return NON_ASCII.test(bytes) ? utf8Decode(latin1Encode(bytes)) : bytes;
}

const NEEDS_ESCAPE = /["\\\x00-\x1f]/;

/**
 * A byte string as a JSON string literal: quotes, backslashes and control characters
 * escaped; bytes ≥ 0x80 pass through (UTF-8 stays UTF-8), as Envoy's JSON logs do.
 */
export function jsonString(bytes: string): string {
  if (!NEEDS_ESCAPE.test(bytes)) return `"${bytes}"`;
  let out = '"';
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes.charCodeAt(i);
    switch (c) {
      case 0x22:
        out += '\\"';
        break;
      case 0x5c:
        out += "\\\\";
        break;
      case 0x08:
        out += "\\b";
        break;
      case 0x0c:
        out += "\\f";
        break;
      case 0x0a:
        out += "\\n";
        break;
      case 0x0d:
        out += "\\r";
        break;
      case 0x09:
        out += "\\t";
        break;
      default:
        out += c < 0x20 ? `\\u00${c < 0x10 ? "0" : ""}${c.toString(16)}` : bytes[i];
    }
  }
  return out + '"';
}
