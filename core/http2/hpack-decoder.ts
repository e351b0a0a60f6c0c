/**
 * The HPACK decoder (RFC 7541 §3, §6): one per connection, fed each complete header block
 * in order, since every block may change the dynamic table the next one reads.
 *
 * Limits, as Envoy applies them to an HTTP/2 stream's headers (codec_impl.cc checks the
 * header map after each header against `max_request_headers_kb` and `max_headers_count`):
 * past `maxHeaderListBytes` (names and values, no per-field overhead) or `maxHeaderCount`
 * fields the block is still decoded to the end — the dynamic table must stay in step with
 * the peer's encoder — but the remaining fields are dropped and the result says
 * "overflow", for the connection to reset that stream. A block that expands past
 * `maxDecodedBytes` (a compression bomb: a few bytes naming a large table entry again and
 * again) is refused outright with HpackError, so decoding work stays proportional to it.
 */
import { HpackDynamicTable } from "./hpack-dynamic-table.ts";
import { HpackError } from "./hpack-error.ts";
import { HpackReader, HuffmanScratch } from "./hpack-primitives.ts";
import { STATIC_TABLE, STATIC_TABLE_LENGTH } from "./hpack-static-table.ts";

/** Receives one header block's fields, in order. */
export interface HpackHeaderSink {
  /** `neverIndex`: sent as "never indexed" (§6.2.3): an intermediary must forward it so (§7.1.3). */
  onHeader(name: string, value: string, neverIndex: boolean): void;
}

export interface HpackDecoderOptions {
  /** The SETTINGS_HEADER_TABLE_SIZE we advertise (RFC 9113 §6.5.2 default 4096). */
  maxTableSize?: number;
  /** Envoy's `max_request_headers_kb` × 1024 (default 60 KiB). */
  maxHeaderListBytes?: number;
  /** Envoy's `max_headers_count` (default 100). */
  maxHeaderCount?: number;
  /** What one block may expand to, dropped fields included, before it is refused (default 4 × maxHeaderListBytes). */
  maxDecodedBytes?: number;
}

export type HpackDecodeResult = "ok" | "overflow";

export const HPACK_DEFAULT_TABLE_SIZE = 4096;

export class HpackDecoder {
  readonly table: HpackDynamicTable;
  /** The largest table size the peer may set (our SETTINGS_HEADER_TABLE_SIZE). */
  private sizeLimit: number;
  /** We lowered the limit: the next block must start with a size update (§4.2). */
  private sizeUpdateRequired = false;
  maxHeaderListBytes: number;
  maxHeaderCount: number;
  maxDecodedBytes: number;
  private readonly scratch = new HuffmanScratch();

  constructor(options: HpackDecoderOptions = {}) {
    this.sizeLimit = options.maxTableSize ?? HPACK_DEFAULT_TABLE_SIZE;
    this.table = new HpackDynamicTable(this.sizeLimit);
    this.maxHeaderListBytes = options.maxHeaderListBytes ?? 60 * 1024;
    this.maxHeaderCount = options.maxHeaderCount ?? 100;
    this.maxDecodedBytes = options.maxDecodedBytes ?? 4 * this.maxHeaderListBytes;
  }

  /**
   * A new SETTINGS_HEADER_TABLE_SIZE of ours, once the peer has acknowledged it. Lowered
   * below the table's current maximum, the peer's next block must shrink the table first.
   */
  setMaxTableSizeLimit(limit: number): void {
    if (limit < this.table.maxSize) this.sizeUpdateRequired = true;
    this.sizeLimit = limit;
  }

  /** Decode one complete header block into `sink`. Throws HpackError on a malformed block. */
  decode(block: Uint8Array, sink: HpackHeaderSink): HpackDecodeResult {
    const reader = new HpackReader(block);
    const table = this.table;
    let listBytes = 0;
    let count = 0;
    let decoded = 0;
    let overflow = false;
    let fieldSeen = false;
    while (!reader.done) {
      const first = reader.peek();
      let name: string;
      let value: string;
      let neverIndex = false;
      if (first & 0x80) {
        // Indexed field (§6.1).
        const index = reader.readInteger(7);
        if (index === 0) throw new HpackError("indexed field with index 0");
        if (index <= STATIC_TABLE_LENGTH) {
          [name, value] = STATIC_TABLE[index - 1]!;
        } else {
          const n = table.name(index - STATIC_TABLE_LENGTH);
          if (n === undefined) throw new HpackError(`index ${index} past the tables`);
          name = n;
          value = table.value(index - STATIC_TABLE_LENGTH);
        }
      } else if ((first & 0xe0) === 0x20) {
        // Dynamic table size update (§6.3): only before the block's first field (§4.2).
        if (fieldSeen) throw new HpackError("table size update after a field");
        const size = reader.readInteger(5);
        if (size > this.sizeLimit) throw new HpackError(`table size update ${size} above the limit ${this.sizeLimit}`);
        table.setMaxSize(size);
        this.sizeUpdateRequired = false;
        continue;
      } else {
        // Literal field (§6.2): with incremental indexing (01), without (0000), never indexed (0001).
        const incremental = (first & 0xc0) === 0x40;
        neverIndex = (first & 0xf0) === 0x10;
        const index = reader.readInteger(incremental ? 6 : 4);
        if (index === 0) {
          name = reader.readString(this.scratch);
        } else if (index <= STATIC_TABLE_LENGTH) {
          name = STATIC_TABLE[index - 1]![0];
        } else {
          const n = table.name(index - STATIC_TABLE_LENGTH);
          if (n === undefined) throw new HpackError(`name index ${index} past the tables`);
          name = n;
        }
        value = reader.readString(this.scratch);
        if (incremental) table.add(name, value);
      }
      if (this.sizeUpdateRequired) throw new HpackError("missing the table size update the settings required");
      fieldSeen = true;
      const bytes = name.length + value.length;
      decoded += bytes + 32;
      if (decoded > this.maxDecodedBytes) throw new HpackError("header block expands past the decoded size limit");
      if (overflow) continue;
      listBytes += bytes;
      count++;
      if (listBytes > this.maxHeaderListBytes || count > this.maxHeaderCount) {
        overflow = true;
        continue;
      }
      sink.onHeader(name, value, neverIndex);
    }
    if (this.sizeUpdateRequired) throw new HpackError("missing the table size update the settings required");
    return overflow ? "overflow" : "ok";
  }
}
