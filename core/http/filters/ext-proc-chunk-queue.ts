/**
 * Envoy's ext_proc ChunkQueue (source/extensions/filters/http/ext_proc/processor_state.cc):
 * the body chunks of one direction sent to the processor (STREAMED) or gathered for it
 * (BUFFERED_PARTIAL), held in order until their answers come back. Its size is what the
 * filter's watermarks look at: over the stream's buffer limit the sender is paused, under
 * half of it resumed (processor_state.h queueOverHighLimit / queueBelowLowLimit).
 */
import { EMPTY_BYTES, keepBytes } from "../../util/bytes.ts";

export interface QueuedChunk {
  data: Uint8Array;
  endStream: boolean;
}

export class ChunkQueue {
  private chunks: QueuedChunk[] = [];
  private head = 0;
  private bytes = 0;

  /** Bytes held. */
  get bytesEnqueued(): number {
    return this.bytes;
  }

  get empty(): boolean {
    return this.head === this.chunks.length;
  }

  /** Hold a copy of `data` (the codec lends its bytes for one call only). */
  push(data: Uint8Array, endStream: boolean): void {
    this.chunks.push({ data: data.byteLength === 0 ? EMPTY_BYTES : keepBytes(data), endStream });
    this.bytes += data.byteLength;
  }

  /** The oldest chunk, taken out; undefined when none is held. */
  pop(): QueuedChunk | undefined {
    if (this.empty) return undefined;
    const chunk = this.chunks[this.head]!;
    this.chunks[this.head++] = undefined as unknown as QueuedChunk;
    if (this.empty) {
      this.chunks = [];
      this.head = 0;
    }
    this.bytes -= chunk.data.byteLength;
    return chunk;
  }

  /** All held chunks become one (Envoy's consolidate): its end is the last one's. */
  consolidate(): QueuedChunk {
    const held = this.chunks.slice(this.head);
    if (held.length === 1) return held[0]!;
    const data = new Uint8Array(this.bytes);
    let at = 0;
    for (const chunk of held) {
      data.set(chunk.data, at);
      at += chunk.data.byteLength;
    }
    const one = { data, endStream: held.length > 0 && held[held.length - 1]!.endStream };
    this.chunks = [one];
    this.head = 0;
    return one;
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.bytes = 0;
  }
}
