/** UTF-8 without TextEncoder, which the core's ES2022 library does not declare. */
export function utf8Encode(text: string): Uint8Array {
  const out: number[] = [];
  for (const char of text) {
    let c = char.codePointAt(0)!;
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate, as TextEncoder does
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  return Uint8Array.from(out);
}

const decoder = (() => {
  const Decoder = (globalThis as unknown as { TextDecoder?: new () => { decode(bytes: Uint8Array): string } }).TextDecoder;
  return typeof Decoder === "function" ? new Decoder() : undefined;
})();

/** UTF-8 bytes as text, malformed sequences as U+FFFD (the runtime's TextDecoder where there is one). */
export function utf8Decode(bytes: Uint8Array): string {
  if (decoder) return decoder.decode(bytes);
  let out = "";
  for (let i = 0; i < bytes.byteLength; ) {
    const b = bytes[i]!;
    const need = b < 0x80 ? 0 : b >= 0xf0 && b < 0xf8 ? 3 : b >= 0xe0 ? 2 : b >= 0xc0 ? 1 : -1;
    let c = need === 0 ? b : need === 1 ? b & 0x1f : need === 2 ? b & 0x0f : b & 0x07;
    let ok = need >= 0 && i + need < bytes.byteLength + (need === 0 ? 1 : 0);
    for (let k = 1; ok && k <= need; k++) {
      const next = bytes[i + k]!;
      if ((next & 0xc0) !== 0x80) ok = false;
      else c = (c << 6) | (next & 0x3f);
    }
    if (!ok) {
      out += "\ufffd";
      i++;
      continue;
    }
    out += String.fromCodePoint(c);
    i += need + 1;
  }
  return out;
}
