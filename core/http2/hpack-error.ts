/**
 * The one error the HPACK decoder throws (RFC 7541 §2.3.3, §5, §6): a header block that
 * cannot be decoded. The dynamic table is then out of step with the peer's encoder, so
 * RFC 9113 §4.3 makes it a connection error of type COMPRESSION_ERROR.
 */
export class HpackError extends Error {
  override readonly name = "HpackError";
  constructor(message: string) {
    super(message);
  }
}
