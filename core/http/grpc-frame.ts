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
 * those `allowedFlags` admits; after an error the decoder takes nothing more. A frame's
 * message is held as the pieces that came and joined when whole: memory follows the bytes
 * received, not the length a header claims.
 */
export class GrpcFrameDecoder {
  private readonly header = new Uint8Array(GRPC_FRAME_HEADER_SIZE);
  private headerBytes = 0;
  /** The message being read: its length from the header (undefined between frames) and the pieces so far. */
  private messageLength: number | undefined;
  private pieces: Uint8Array[] = [];
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
      // A copy: the caller's buffer may be reused once decode returns.
      if (take > 0) this.pieces.push(data.slice(at, at + take));
      this.messageBytes += take;
      at += take;
      if (this.messageBytes === this.messageLength) {
        out.push({ flags: this.flags, data: join(this.pieces, this.messageLength) });
        this.pieces = [];
        this.messageLength = undefined;
      } else break;
    }
    return out;
  }
}

function join(pieces: readonly Uint8Array[], length: number): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}
