/**
 * The memory runtime's `compression`: real gzip (RFC 1952) whose deflate stream is made of
 * stored blocks only (RFC 1951 §3.2.4) — any gzip decoder reads it, and tests of the
 * filters' logic need no zlib. The decompressor reads the same format (a deflate block of
 * another type is a data error). No brotli: `unsupported` says so, which also lets tests
 * see a config refused on a runtime without it.
 */
import type { Compression, CompressionAlgorithm, CompressorOptions, DecompressError, DecompressorOptions, StreamCompressor, StreamDecompressor } from "../../core/port.ts";

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(crc: number, data: Uint8Array): number {
  let c = ~crc;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** ID1 ID2 CM=8 FLG=0 MTIME=0 XFL=0 OS=255 (unknown). */
const GZIP_HEADER = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
const MAX_STORED = 0xffff;

class StoredGzipCompressor implements StreamCompressor {
  private headerSent = false;
  private crc = 0;
  private size = 0;
  /** close() was called: the stream released it. */
  closed = false;

  compress(data: Uint8Array, finish: boolean): Uint8Array {
    const blocks = Math.ceil(data.byteLength / MAX_STORED);
    const out = new Uint8Array((this.headerSent ? 0 : GZIP_HEADER.length) + blocks * 5 + data.byteLength + 5 + (finish ? 8 : 0));
    let at = 0;
    if (!this.headerSent) {
      out.set(GZIP_HEADER, 0);
      at = GZIP_HEADER.length;
      this.headerSent = true;
    }
    for (let offset = 0; offset < data.byteLength; offset += MAX_STORED) {
      const piece = data.subarray(offset, offset + MAX_STORED);
      at = storedBlock(out, at, piece, false);
    }
    // The flush: an empty stored block (zlib's Z_SYNC_FLUSH marker), or the final one.
    at = storedBlock(out, at, data.subarray(0, 0), finish);
    this.crc = crc32(this.crc, data);
    this.size = (this.size + data.byteLength) >>> 0;
    if (finish) {
      const view = new DataView(out.buffer, out.byteOffset);
      view.setUint32(at, this.crc, true);
      view.setUint32(at + 4, this.size, true);
      at += 8;
    }
    return out.subarray(0, at);
  }

  close(): void {
    this.closed = true;
  }
}

function storedBlock(out: Uint8Array, at: number, data: Uint8Array, final: boolean): number {
  // BFINAL, BTYPE=00, then byte-aligned LEN and NLEN.
  out[at] = final ? 1 : 0;
  out[at + 1] = data.byteLength & 0xff;
  out[at + 2] = data.byteLength >>> 8;
  out[at + 3] = ~data.byteLength & 0xff;
  out[at + 4] = (~data.byteLength >>> 8) & 0xff;
  out.set(data, at + 5);
  return at + 5 + data.byteLength;
}

/** Reads stored-block gzip incrementally: input is kept only until a whole header or block is there. */
class StoredGzipDecompressor implements StreamDecompressor {
  error: DecompressError | undefined;
  private pending = new Uint8Array(0);
  private state: "header" | "block" | "trailer" | "done" = "header";

  decompress(data: Uint8Array, maxOutput: number): Uint8Array {
    if (this.error !== undefined || this.state === "done") return new Uint8Array(0);
    const input = new Uint8Array(this.pending.byteLength + data.byteLength);
    input.set(this.pending);
    input.set(data, this.pending.byteLength);
    const pieces: Uint8Array[] = [];
    let total = 0;
    let at = 0;
    for (;;) {
      if (this.state === "header") {
        if (input.byteLength - at < GZIP_HEADER.length) break;
        if (input[at] !== 0x1f || input[at + 1] !== 0x8b || input[at + 2] !== 8 || input[at + 3] !== 0) {
          this.error = "data_error";
          break;
        }
        at += GZIP_HEADER.length;
        this.state = "block";
      } else if (this.state === "block") {
        if (input.byteLength - at < 5) break;
        const type = (input[at]! >> 1) & 3;
        const length = input[at + 1]! | (input[at + 2]! << 8);
        if (type !== 0 || ((input[at + 3]! | (input[at + 4]! << 8)) ^ 0xffff) !== length) {
          this.error = "data_error";
          break;
        }
        if (input.byteLength - at < 5 + length) break;
        const final = (input[at]! & 1) === 1;
        pieces.push(input.slice(at + 5, at + 5 + length));
        total += length;
        at += 5 + length;
        if (final) this.state = "trailer";
        if (total > maxOutput) {
          this.error = "output_overflow";
          break;
        }
      } else if (this.state === "trailer") {
        if (input.byteLength - at < 8) break;
        at += 8;
        this.state = "done";
        break;
      } else {
        break;
      }
    }
    this.pending = input.slice(at);
    const out = new Uint8Array(total);
    let offset = 0;
    for (const piece of pieces) {
      out.set(piece, offset);
      offset += piece.byteLength;
    }
    return out;
  }

  close(): void {}
}

export const storedGzipCompression: Compression = {
  unsupported(algorithm: CompressionAlgorithm): string | undefined {
    return algorithm === "gzip" ? undefined : "the memory runtime has no brotli (only stored-block gzip)";
  },
  createCompressor(options: CompressorOptions): StreamCompressor {
    if (options.algorithm !== "gzip") throw new Error("the memory runtime has no brotli");
    return new StoredGzipCompressor();
  },
  createDecompressor(options: DecompressorOptions): StreamDecompressor {
    if (options.algorithm !== "gzip") throw new Error("the memory runtime has no brotli");
    return new StoredGzipDecompressor();
  },
};
