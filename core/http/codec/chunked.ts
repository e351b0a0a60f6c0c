import { latin1Encode } from "../../util/latin1.ts";

const CRLF = new Uint8Array([13, 10]);
/** The last chunk with no trailers: "0\r\n\r\n". */
export const LAST_CHUNK = latin1Encode("0\r\n\r\n");

/** The size line of a chunk (RFC 9112 §7.1): hex size and CRLF. */
export function chunkHeader(size: number): Uint8Array {
  return latin1Encode(`${size.toString(16)}\r\n`);
}

export { CRLF };
