import { latin1Encode } from "../../util/latin1.ts";

const CRLF = new Uint8Array([13, 10]);
/** The last chunk with no trailers: "0\r\n\r\n". */
export const LAST_CHUNK = latin1Encode("0\r\n\r\n");

/** The size line of a chunk (RFC 9112 §7.1): hex size and CRLF. */
export function chunkHeader(size: number): Uint8Array {
  return latin1Encode(`${size.toString(16)}\r\n`);
}

export { CRLF };

/** One chunk of a chunked body (RFC 9112 §7.1): size line, the bytes, CRLF. */
export function writeChunk(sink: { write(data: Uint8Array, endStream: boolean): void }, data: Uint8Array): void {
  sink.write(chunkHeader(data.byteLength), false);
  sink.write(data, false);
  sink.write(CRLF, false);
}
