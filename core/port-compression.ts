/**
 * The port's compression capability (Runtime.compression in port.ts, which re-exports
 * these): streaming gzip and brotli with a runtime's own libraries, for the compressor
 * and decompressor HTTP filters. A file of its own so that config types can name the
 * options without importing the port (which imports the config).
 */

/** A content coding the compressor and decompressor filters may use (Envoy's compression libraries). */
export type CompressionAlgorithm = "gzip" | "brotli";

/**
 * How to make one stream's compressor: envoy.extensions.compression.gzip.compressor.v3.Gzip
 * and .brotli.compressor.v3.Brotli, resolved to the libraries' own numbers (zlib's
 * deflateInit2 and brotli's BrotliEncoderSetParameter).
 */
export type CompressorOptions =
  | {
      readonly algorithm: "gzip";
      /** zlib's level: -1 (its default, 6) or 0–9. */
      readonly level: number;
      /** 9–15: the base-two logarithm of the window; the output carries a gzip header and trailer. */
      readonly windowBits: number;
      /** 1–9. */
      readonly memoryLevel: number;
      /** zlib's strategy: 0 default, 1 filtered, 2 Huffman only, 3 RLE, 4 fixed. */
      readonly strategy: number;
      /** Bytes of output the library writes at a time. */
      readonly chunkSize: number;
    }
  | {
      readonly algorithm: "brotli";
      /** 0–11. */
      readonly quality: number;
      /** 10–24. */
      readonly windowBits: number;
      /** 16–24. */
      readonly inputBlockBits: number;
      /** brotli's mode: 0 generic, 1 text, 2 font. */
      readonly mode: number;
      readonly disableLiteralContextModeling: boolean;
      readonly chunkSize: number;
    };

/** How to make one stream's decompressor (envoy.extensions.compression.{gzip,brotli}.decompressor.v3). */
export interface DecompressorOptions {
  readonly algorithm: CompressionAlgorithm;
  /** gzip: 9–15, at least the compressor's. */
  readonly windowBits: number;
  readonly chunkSize: number;
  /** brotli: allocate the whole window at once instead of growing it. */
  readonly disableRingBufferReallocation: boolean;
}

/**
 * One body's compressor. Synchronous, so a runtime with only a synchronous zlib can
 * offer it and the filters need no asynchronous hand-off per chunk: what it holds
 * between calls is the library's own state (window and hash tables), bounded by the
 * options, never a queue of input.
 */
export interface StreamCompressor {
  /**
   * Compress `data` (lent for the call) and flush, so that everything given so far can
   * be decoded from the output (Envoy's State::Flush: a streamed response is not held
   * back), or with `finish` end the stream (State::Finish). Returns the output, owned by
   * the caller; it may be empty only when nothing is owed.
   */
  compress(data: Uint8Array, finish: boolean): Uint8Array;
  /** Release the library's state; called once, also for a stream that is reset. */
  close(): void;
}

/**
 * Why a body could not be decompressed: zlib's error codes (Envoy's zlib_* stats),
 * brotli's error, or the output passing the caller's limit (the compression-bomb guard).
 */
export type DecompressError = "errno" | "stream_error" | "data_error" | "mem_error" | "buf_error" | "version_error" | "brotli_error" | "output_overflow" | "redundant_input";

/** One body's decompressor; synchronous for the reasons StreamCompressor is. */
export interface StreamDecompressor {
  /**
   * Decompress `data` (lent for the call). Stops once the output passes `maxOutput`
   * bytes, setting `error` to "output_overflow"; on corrupt input sets `error` too. The
   * output is what was decoded before the error; after one, later calls return nothing.
   */
  decompress(data: Uint8Array, maxOutput: number): Uint8Array;
  /** Set once the stream cannot be decoded further. */
  readonly error: DecompressError | undefined;
  close(): void;
}

/** Compression with the runtime's own libraries (zlib, brotli). */
export interface Compression {
  /** Why this runtime cannot use `algorithm` (the filter is then refused at start), or undefined when it can. */
  unsupported(algorithm: CompressionAlgorithm): string | undefined;
  createCompressor(options: CompressorOptions): StreamCompressor;
  createDecompressor(options: DecompressorOptions): StreamDecompressor;
}
