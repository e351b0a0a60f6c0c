/**
 * The HPACK encoder (RFC 7541 §6), with nghttp2's indexing policy (nghttp2_hd.c, which
 * Envoy's HTTP/2 codec uses):
 * - a field in a table is sent as an index; else its name is referenced when a table has it;
 * - `authorization`, and `cookie` values under 20 bytes, are sent "never indexed" (§7.1.3:
 *   short secrets are guessable through the table), as are fields the caller marks so;
 * - fields that change with every message (`:path`, `age`, `content-length`, `etag`,
 *   `if-modified-since`, `if-none-match`, `location`, `set-cookie`) and fields larger than
 *   ¾ of the table are sent without indexing, so they do not evict useful entries;
 * - everything else is added to the dynamic table.
 * Strings are Huffman-coded when that is shorter.
 */
import { hpackEntrySize, HpackDynamicTable } from "./hpack-dynamic-table.ts";
import { HpackWriter } from "./hpack-primitives.ts";
import { STATIC_FIELD_INDEX, STATIC_NAME_INDEX, STATIC_TABLE_LENGTH } from "./hpack-static-table.ts";
import { HPACK_DEFAULT_TABLE_SIZE } from "./hpack-decoder.ts";

const NOT_INDEXED_NAMES = new Set([":path", "age", "content-length", "etag", "if-modified-since", "if-none-match", "location", "set-cookie"]);

export class HpackEncoder {
  readonly table: HpackDynamicTable;
  /** The most we use of whatever the peer allows (nghttp2's deflater default, 4096). */
  private readonly ownLimit: number;
  /** Size updates to send at the next block's start (§4.2): the smallest since the last block, then the final size. */
  private pendingMinSize = -1;
  private pendingSize = -1;

  constructor(maxTableSize = HPACK_DEFAULT_TABLE_SIZE) {
    this.ownLimit = maxTableSize;
    this.table = new HpackDynamicTable(Math.min(maxTableSize, HPACK_DEFAULT_TABLE_SIZE), true);
  }

  /** The peer's SETTINGS_HEADER_TABLE_SIZE changed (RFC 9113 §6.5.2). */
  setPeerTableSize(peerSize: number): void {
    const size = Math.min(peerSize, this.ownLimit);
    if (size === this.table.maxSize && this.pendingSize < 0) return;
    this.pendingMinSize = this.pendingMinSize < 0 ? size : Math.min(this.pendingMinSize, size);
    this.pendingSize = size;
    this.table.setMaxSize(Math.min(this.pendingMinSize, size));
    this.table.setMaxSize(size);
  }

  /** Start a header block: the size updates owed (§4.2). */
  beginBlock(out: HpackWriter): void {
    if (this.pendingSize < 0) return;
    if (this.pendingMinSize < this.pendingSize) out.writeInteger(this.pendingMinSize, 5, 0x20);
    out.writeInteger(this.pendingSize, 5, 0x20);
    this.pendingMinSize = -1;
    this.pendingSize = -1;
  }

  /** One field; `name` lowercase. */
  encodeField(out: HpackWriter, name: string, value: string, neverIndex = false): void {
    const sensitive = neverIndex || name === "authorization" || (name === "cookie" && value.length < 20);
    if (!sensitive) {
      const s = STATIC_FIELD_INDEX.get(`${name}\0${value}`);
      if (s !== undefined) return out.writeInteger(s, 7, 0x80);
      const d = this.table.findField(name, value);
      if (d !== 0) return out.writeInteger(d + STATIC_TABLE_LENGTH, 7, 0x80);
    }
    let nameIndex = STATIC_NAME_INDEX.get(name) ?? 0;
    if (nameIndex === 0) {
      const d = this.table.findName(name);
      if (d !== 0) nameIndex = d + STATIC_TABLE_LENGTH;
    }
    if (sensitive) {
      out.writeInteger(nameIndex, 4, 0x10);
    } else if (NOT_INDEXED_NAMES.has(name) || hpackEntrySize(name, value) > (this.table.maxSize * 3) / 4) {
      out.writeInteger(nameIndex, 4, 0x00);
    } else {
      out.writeInteger(nameIndex, 6, 0x40);
      if (nameIndex === 0) out.writeString(name);
      out.writeString(value);
      this.table.add(name, value);
      return;
    }
    if (nameIndex === 0) out.writeString(name);
    out.writeString(value);
  }
}
