/**
 * Kafka's framing, one direction of a connection: every request and response is an INT32
 * size and that many bytes (https://kafka.apache.org/protocol.html#protocol_common). The
 * reader hands each frame's size and its first `headSize` bytes (fewer if the frame is
 * shorter) to `onFrame` and steps over the rest without keeping it: the bytes themselves
 * pass on untouched, so at most `4 + headSize` bytes are ever held, however a frame is split
 * across reads. `onFrame` returning false is a frame that cannot be decoded: the reader then
 * stops, as Envoy's decoder does when a parser throws (contrib/kafka/filters/network/source/
 * codec.h, AbstractMessageDecoder::doParse; broker/filter.cc catches the exception).
 */
export type KafkaFrameHandler = (size: number, head: Uint8Array) => boolean;

export class KafkaFrameReader {
  private readonly scratch: Uint8Array;
  private filled = 0;
  /** The current frame's size, once its 4 bytes are in. */
  private size = -1;
  /** Bytes of the current frame still to step over. */
  private skip = 0;
  private failedAt = false;

  constructor(
    private readonly headSize: number,
    private readonly onFrame: KafkaFrameHandler,
  ) {
    this.scratch = new Uint8Array(4 + headSize);
  }

  /** True once a frame failed: nothing after it is read. */
  get failed(): boolean {
    return this.failedAt;
  }

  /** Read `chunk` (the next bytes of the direction); false when a frame in it failed. */
  feed(chunk: Uint8Array): boolean {
    let offset = 0;
    while (offset < chunk.byteLength && !this.failedAt) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.byteLength - offset);
        this.skip -= n;
        offset += n;
        continue;
      }
      const need = this.size < 0 ? 4 : 4 + Math.min(this.headSize, this.size);
      const n = Math.min(need - this.filled, chunk.byteLength - offset);
      this.scratch.set(chunk.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled < need) break;
      if (this.size < 0) {
        this.size = new DataView(this.scratch.buffer, 0, 4).getInt32(0);
        // A negative size has no head to wait for: the handler refuses it.
        if (this.size > 0) continue;
      }
      this.frameEnd();
    }
    return !this.failedAt;
  }

  private frameEnd(): void {
    const headLength = Math.max(0, this.filled - 4);
    if (!this.onFrame(this.size, this.scratch.subarray(4, 4 + headLength))) {
      this.failedAt = true;
      return;
    }
    this.skip = this.size - headLength;
    this.size = -1;
    this.filled = 0;
  }
}
