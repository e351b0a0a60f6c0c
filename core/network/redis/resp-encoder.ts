import type { RespValue } from "./resp-value.ts";
import { concatBytes } from "../../util/bytes.ts";

/**
 * RESP2's wire form of a value (Envoy's EncoderImpl, common/redis/codec_impl.cc): `+` simple
 * string, `-` error, `:` integer, `$len` bulk string, `*n` array, each line ending CRLF; a
 * null is `$-1`. Bulk strings are appended by reference: the chunks are written, not copied.
 */
export class RespEncoder {
  private chunks: Uint8Array[] = [];
  private head = "";
  length = 0;

  encode(value: RespValue): void {
    switch (value.type) {
      case "simple":
        return this.text(`+${value.value}\r\n`);
      case "error":
        return this.text(`-${value.value}\r\n`);
      case "integer":
        return this.text(`:${value.value}\r\n`);
      case "null":
        return this.text("$-1\r\n");
      case "bulk":
        this.text(`$${value.value.byteLength}\r\n`);
        this.bytes(value.value);
        return this.text("\r\n");
      case "array":
        this.text(`*${value.value.length}\r\n`);
        for (const element of value.value) this.encode(element);
    }
  }

  /** What was encoded since the last take, as chunks (small pieces joined). */
  take(): Uint8Array[] {
    this.flushText();
    const chunks = this.chunks;
    this.chunks = [];
    this.length = 0;
    return chunks;
  }

  /** What was encoded since the last take, as one array. */
  takeBytes(): Uint8Array {
    const length = this.length + this.head.length;
    return concatBytes(this.take(), length);
  }

  private text(text: string): void {
    this.head += text;
  }

  private bytes(bytes: Uint8Array): void {
    // Small bulk strings join the text around them: one chunk per reply, not three.
    if (bytes.byteLength <= 256) {
      for (let i = 0; i < bytes.byteLength; i++) this.head += String.fromCharCode(bytes[i]!);
      return;
    }
    this.flushText();
    this.chunks.push(bytes);
    this.length += bytes.byteLength;
  }

  private flushText(): void {
    const text = this.head;
    if (text === "") return;
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    this.chunks.push(out);
    this.length += out.byteLength;
    this.head = "";
  }
}

/** One value's wire bytes. */
export function encodeResp(value: RespValue): Uint8Array {
  const encoder = new RespEncoder();
  encoder.encode(value);
  return encoder.takeBytes();
}
