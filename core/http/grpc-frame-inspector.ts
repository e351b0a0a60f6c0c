/**
 * Counts gRPC length-prefixed messages in a byte stream without keeping them (Envoy's
 * Grpc::FrameInspector, source/common/grpc/codec.cc): a message is counted at its flags
 * byte, before its body has come; the body is skipped by its length. Nothing is held
 * between chunks but the header's position and the length left to skip.
 */
import { GRPC_FRAME_HEADER_SIZE } from "./grpc-frame.ts";

export class GrpcFrameInspector {
  /** Messages begun so far. */
  frameCount = 0;
  /** Header bytes read of the current frame (0: the next byte is a frame's flags). */
  private headerAt = 0;
  private length = 0;
  /** Body bytes still to skip. */
  private bodyLeft = 0;

  /** The messages `data` begins. */
  inspect(data: Uint8Array): number {
    let begun = 0;
    let at = 0;
    while (at < data.byteLength) {
      if (this.bodyLeft > 0) {
        const skip = Math.min(this.bodyLeft, data.byteLength - at);
        this.bodyLeft -= skip;
        at += skip;
        continue;
      }
      const byte = data[at++]!;
      if (this.headerAt === 0) {
        begun++;
        this.length = 0;
      } else {
        // Big-endian uint32; multiplied, not shifted, so that 2^31 and above stay positive.
        this.length = this.length * 256 + byte;
      }
      if (++this.headerAt === GRPC_FRAME_HEADER_SIZE) {
        this.headerAt = 0;
        this.bodyLeft = this.length;
      }
    }
    this.frameCount += begun;
    return begun;
  }
}
