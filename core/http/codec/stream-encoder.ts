import { writeEncoded, type ByteSink } from "../../network/byte-sink.ts";
import { latin1Encode } from "../../util/latin1.ts";
import type { HeaderMap } from "../header-map.ts";
import { headEncoder } from "./head-encoder.ts";

/**
 * What the HTTP/1 response and request encoders share (Envoy's `Http1::StreamEncoderImpl`):
 * the body's framing — its own content-length, `content-length: 0` when it ends at the
 * head, chunked (RFC 9112 §7.1) when its length is unknown, or none — and the chunks,
 * trailers and last chunk that follow. One per connection, reused by each of its
 * streams (HTTP/1 carries one at a time); `ResponseEncoderImpl` (http1-server-codec.ts)
 * and `RequestEncoderImpl` (http1-client-codec.ts) write the heads.
 */
export abstract class StreamEncoderImpl {
  /** The body goes out as chunks. */
  protected chunkEncoding = false;
  /**
   * No body goes on the wire whatever is encoded (a response to HEAD, a 204 or 304,
   * a tunnel's head): encodeData drops the bytes and only ends the stream.
   */
  protected bodyless = false;
  /**
   * Body bytes the head's own content-length still allows; -1 when the head has none. A
   * filter that rewrote a body without its length (a script) must not put bytes on the
   * wire past it: a peer reads them as the next message (request smuggling). They are
   * dropped.
   */
  private declaredRemaining = -1;

  constructor(
    protected readonly sink: ByteSink,
    /** Http1ProtocolOptions.enable_trailers: write trailers (false, Envoy's default: drop them). */
    private readonly writeTrailers = false,
  ) {}

  /**
   * Choose the body's framing for a head and add its field to `extra` (RFC 9112 §6):
   * nothing when the message has no body on the wire or carries its own content-length;
   * `content-length: 0` when it ends at the head and `zeroLength` allows it; chunked
   * when `mayChunk`. Returns false when none fits: the body then runs until the
   * connection closes (an HTTP/1.0 response).
   */
  protected frame(headers: HeaderMap, endStream: boolean, extra: string[], zeroLength: boolean, mayChunk: boolean): boolean {
    this.chunkEncoding = false;
    this.declaredRemaining = -1;
    if (this.bodyless) return true;
    const declared = headers.get("content-length");
    if (declared !== undefined) {
      const length = Number(declared);
      if (Number.isSafeInteger(length) && length >= 0) this.declaredRemaining = length;
      return true;
    }
    if (endStream) {
      if (zeroLength) extra.push("content-length", "0");
      return true;
    }
    if (!mayChunk) return false;
    extra.push("transfer-encoding", "chunked");
    this.chunkEncoding = true;
    return true;
  }

  encodeData(data: Uint8Array, endStream: boolean): void {
    // endStream may come with no bytes: nothing to write for it but the last chunk.
    if (data.byteLength > 0 && !this.bodyless) {
      if (this.chunkEncoding) {
        const sink = this.sink;
        sink.write(chunkHeader(data.byteLength), false);
        sink.write(data, false);
        sink.write(CRLF, false);
      } else {
        const remaining = this.declaredRemaining;
        if (remaining < 0) this.sink.write(data, false);
        else {
          const bytes = data.byteLength > remaining ? data.subarray(0, remaining) : data;
          this.declaredRemaining = remaining - bytes.byteLength;
          if (bytes.byteLength > 0) this.sink.write(bytes, false);
        }
      }
    }
    if (endStream) this.endEncode();
  }

  /**
   * Trailers exist only in a chunked body (RFC 9112 §7.1.2); otherwise, or without
   * enable_trailers (Envoy's encodeTrailersBase: endEncode), they are dropped and the
   * stream just ends.
   */
  encodeTrailers(trailers: HeaderMap): void {
    if (!this.writeTrailers) return this.endEncode();
    // The last chunk, the trailer fields and the blank line: one head-like write.
    if (this.chunkEncoding) writeEncoded(this.sink, headEncoder("0", trailers));
    this.chunkEncoding = false;
    this.onEncodeComplete();
  }

  encodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.sink.write(data, endStream);
  }

  /** The message ends after what was written: the last chunk if chunked. */
  protected endEncode(): void {
    if (this.chunkEncoding) this.sink.write(LAST_CHUNK, false);
    this.chunkEncoding = false;
    this.onEncodeComplete();
  }

  /** The whole message is written. */
  protected abstract onEncodeComplete(): void;
}

export const CRLF = new Uint8Array([13, 10]);

/** The last chunk with no trailers: "0\r\n\r\n" (RFC 9112 §7.1). */
export const LAST_CHUNK = latin1Encode("0\r\n\r\n");

/** The size line of a chunk (RFC 9112 §7.1): hex size and CRLF. */
export function chunkHeader(size: number): Uint8Array {
  return latin1Encode(`${size.toString(16)}\r\n`);
}
