/**
 * gRPC's length-prefixed messages (PROTOCOL-HTTP2.md, "Length-Prefixed-Message"; Envoy's
 * Grpc::Encoder / Grpc::Decoder in source/common/grpc/codec.cc): a flags byte (bit 0:
 * compressed; gRPC-Web's bit 7: a trailers frame), a 4-byte big-endian length, the message.
 */

/** The frame header's size. */
export const GRPC_FRAME_HEADER_SIZE = 5;
/** Flags: an uncompressed message (Envoy's GRPC_FH_DEFAULT). */
export const GRPC_FH_DEFAULT = 0x00;
/** Flags: a compressed message. */
export const GRPC_FH_COMPRESSED = 0x01;
/** Flags: gRPC-Web's trailers frame (PROTOCOL-WEB.md). */
export const GRPC_FH_TRAILERS = 0x80;

export interface GrpcFrame {
  flags: number;
  data: Uint8Array;
}

/** The 5-byte header of a frame of `length` bytes. */
export function grpcFrameHeader(flags: number, length: number): Uint8Array {
  const header = new Uint8Array(GRPC_FRAME_HEADER_SIZE);
  header[0] = flags;
  header[1] = length >>> 24;
  header[2] = (length >>> 16) & 0xff;
  header[3] = (length >>> 8) & 0xff;
  header[4] = length & 0xff;
  return header;
}

/** One whole frame: header and message. */
export function encodeGrpcFrame(flags: number, message: Uint8Array): Uint8Array {
  const out = new Uint8Array(GRPC_FRAME_HEADER_SIZE + message.byteLength);
  out.set(grpcFrameHeader(flags, message.byteLength), 0);
  out.set(message, GRPC_FRAME_HEADER_SIZE);
  return out;
}

/**
 * Splits a byte stream into frames, whatever the chunking. A frame longer than
 * `maxFrameLength` is an error (it would have to be held whole), as are flags other than
 * those `allowedFlags` admits; after an error the decoder takes nothing more. A message
 * that comes whole in one chunk is one copy of it; one that comes in pieces is copied into
 * a buffer that grows with what came (doubling, up to the header's length): memory follows
 * the bytes received, not the length a header claims, and each byte is copied about once,
 * not into a piece and again into the joined message.
 */
export class GrpcFrameDecoder {
  private readonly header = new Uint8Array(GRPC_FRAME_HEADER_SIZE);
  private headerBytes = 0;
  /** The message being read: its length from the header (undefined between frames). */
  private messageLength: number | undefined;
  /** The message's bytes so far, in [0, messageBytes); the buffer at most twice that. */
  private message: Uint8Array = EMPTY;
  private messageBytes = 0;
  private flags = 0;
  failed = false;

  constructor(
    private readonly maxFrameLength: number,
    private readonly allowedFlags: (flags: number) => boolean = (flags) => flags === GRPC_FH_DEFAULT || flags === GRPC_FH_COMPRESSED,
  ) {}

  /** True while a frame is partly read. */
  get hasBufferedData(): boolean {
    return this.headerBytes > 0 || this.messageLength !== undefined;
  }

  /** The frames `data` completes, in order; undefined on a bad frame. */
  decode(data: Uint8Array, out: GrpcFrame[] = []): GrpcFrame[] | undefined {
    if (this.failed) return undefined;
    let at = 0;
    while (at < data.byteLength) {
      if (this.messageLength === undefined) {
        const take = Math.min(GRPC_FRAME_HEADER_SIZE - this.headerBytes, data.byteLength - at);
        this.header.set(data.subarray(at, at + take), this.headerBytes);
        this.headerBytes += take;
        at += take;
        if (this.headerBytes < GRPC_FRAME_HEADER_SIZE) break;
        const h = this.header;
        this.flags = h[0]!;
        const length = ((h[1]! << 24) | (h[2]! << 16) | (h[3]! << 8) | h[4]!) >>> 0;
        if (!this.allowedFlags(this.flags) || length > this.maxFrameLength) {
          this.failed = true;
          return undefined;
        }
        this.headerBytes = 0;
        this.messageLength = length;
        this.messageBytes = 0;
      }
      const take = Math.min(this.messageLength - this.messageBytes, data.byteLength - at);
      // Copies: the caller's buffer may be reused once decode returns.
      if (this.messageBytes === 0 && take === this.messageLength) out.push({ flags: this.flags, data: data.slice(at, at + take) });
      else {
        this.append(data.subarray(at, at + take));
        if (this.messageBytes < this.messageLength) break;
        out.push({ flags: this.flags, data: this.message });
      }
      at += take;
      this.message = EMPTY;
      this.messageBytes = 0;
      this.messageLength = undefined;
    }
    return out;
  }

  /** A piece of the message being read: the buffer grows to twice what came, at most to the message's length. */
  private append(piece: Uint8Array): void {
    const needed = this.messageBytes + piece.byteLength;
    if (needed > this.message.byteLength) {
      const grown = new Uint8Array(Math.min(this.messageLength!, 2 * needed));
      grown.set(this.message.subarray(0, this.messageBytes));
      this.message = grown;
    }
    this.message.set(piece, this.messageBytes);
    this.messageBytes = needed;
  }
}

const EMPTY = new Uint8Array(0);
