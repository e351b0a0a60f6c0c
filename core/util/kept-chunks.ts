import { keepBytes } from "./bytes.ts";

/** Chunks under this many bytes are copied into a shared block. */
const SMALL_CHUNK = 1024;
const BLOCK_BYTES = 16 * 1024;

/**
 * Copies of the chunks a filter keeps while they wait (the router's body held for a
 * connection, a retry or a mirror). A small chunk is copied into the free part of a shared
 * 16 KiB block, as Envoy's Buffer::OwnedImpl appends into its last slice: kept one object
 * each, a body of 1-byte chunks cost ~100 bytes of objects per body byte, past any byte
 * limit. Bytes written into a block are never written again (a socket may hold a view of
 * them); the block's next chunk extends the last piece when it is the block's last bytes,
 * or starts a piece of its own, so what is held stays within the bytes kept plus one block
 * and one view per chunk that interrupted a run of small ones.
 */
export class KeptChunks {
  private block: Uint8Array | undefined;
  private used = 0;

  /** A copy of `data` appended to `pieces`. */
  keep(pieces: Uint8Array[], data: Uint8Array): void {
    const length = data.byteLength;
    if (length >= SMALL_CHUNK) {
      pieces.push(keepBytes(data));
      return;
    }
    let block = this.block;
    if (block === undefined || this.used + length > block.byteLength) {
      block = this.block = new Uint8Array(BLOCK_BYTES);
      this.used = 0;
    }
    const at = this.used;
    block.set(data, at);
    this.used = at + length;
    const last = pieces.length - 1;
    const piece = pieces[last];
    if (piece !== undefined && piece.buffer === block.buffer && piece.byteOffset + piece.byteLength === at) {
      pieces[last] = block.subarray(piece.byteOffset, this.used);
    } else {
      pieces.push(block.subarray(at, this.used));
    }
  }
}
