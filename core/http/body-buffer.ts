import { EMPTY_BYTES, keepBytes } from "../util/bytes.ts";

/**
 * Body held by the filter manager while a filter stops iteration (Envoy's
 * `buffered_request_data_` / `buffered_response_data_`). Chunks are copied in: the bytes
 * a codec hands over are lent for that call only (port.ts: onData). A filter may read
 * it (decodingBuffer/encodingBuffer) or replace its contents before continuing.
 */
export class BodyBuffer {
  private chunks: Uint8Array[] = [];
  private bytes = 0;

  get length(): number {
    return this.bytes;
  }

  /** Append a copy of `data`. */
  add(data: Uint8Array): void {
    if (data.byteLength === 0) return;
    this.chunks.push(keepBytes(data));
    this.bytes += data.byteLength;
  }

  /** Replace the contents (a filter rewriting the body it buffered). */
  replace(data: Uint8Array): void {
    this.chunks = data.byteLength > 0 ? [keepBytes(data)] : [];
    this.bytes = data.byteLength;
  }

  /** The contents as one view (no copy when there is one chunk). */
  toBytes(): Uint8Array {
    const chunks = this.chunks;
    if (chunks.length === 0) return EMPTY_BYTES;
    if (chunks.length === 1) return chunks[0]!;
    const all = new Uint8Array(this.bytes);
    let at = 0;
    for (const chunk of chunks) {
      all.set(chunk, at);
      at += chunk.byteLength;
    }
    this.chunks = [all];
    return all;
  }

  /** The contents, leaving the buffer empty. */
  take(): Uint8Array {
    const all = this.toBytes();
    this.chunks = [];
    this.bytes = 0;
    return all;
  }
}
