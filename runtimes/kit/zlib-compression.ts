import type * as Zlib from "node:zlib";
import { nodeZlib } from "./builtins.ts";
import type {
  Compression,
  CompressionAlgorithm,
  CompressorOptions,
  DecompressError,
  DecompressorOptions,
  StreamCompressor,
  StreamDecompressor,
} from "../../core/port.ts";

/**
 * The port's `compression` through node:zlib (node natively, bun and deno through their
 * node compatibility; all three have gzip and brotli). It uses node: modules, so it is
 * not part of the bundled kit (see index.ts).
 *
 * node:zlib's public streaming API is asynchronous (a Transform whose work runs on the
 * thread pool) and its *Sync functions are one-shot. The port's compressor is
 * synchronous, flushed per chunk (stream-compressor.ts in the core explains why), so this
 * drives the engine's native handle the way node:zlib's own zlibBufferSync does:
 * `handle.writeSync(flush, in, inOff, inLen, out, outOff, outLen)`, then the
 * `_writeState` pair [availOut, availIn] says what was used. Node, Bun and Deno all
 * implement that handle (checked by test/port/compression.test.ts). Measured on 16 KiB
 * JSON at gzip level 6: per body, synchronous 195 µs (node), 116 µs (bun), 305 µs
 * (deno); node:zlib's asynchronous stream 334 µs, 218 µs and 107 µs — only deno's
 * asynchronous path is faster, and a synchronous one on every runtime keeps the
 * filters free of a hand-off per chunk.
 */

/** The engine internals used here (node's lib/zlib.js: ZlibBase). */
interface NativeEngine {
  _handle: NativeHandle;
  _writeState: Uint32Array;
  close(): void;
}

interface NativeHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  onerror: (message: string, errno: number) => void;
  reset(): void;
  close(): void;
}

/** node:zlib's constants, once it is loaded (a zlibCompression engine is made). */
let C: typeof Zlib.constants;

/** zlib's return codes (zlib.h) as Envoy's ZlibDecompressorImpl::chargeErrorStats names them. */
function zlibError(errno: number): DecompressError {
  switch (errno) {
    case C.Z_ERRNO:
      return "errno";
    case C.Z_STREAM_ERROR:
      return "stream_error";
    case C.Z_MEM_ERROR:
      return "mem_error";
    case C.Z_BUF_ERROR:
      return "buf_error";
    case C.Z_VERSION_ERROR:
      return "version_error";
    default:
      return "data_error";
  }
}

/**
 * One engine, run synchronously. Output goes through `scratch` (shared by every engine:
 * the calls are synchronous, so one is never interrupted by another) in pieces of the
 * configured chunk_size, copied out at the end — the output is small for what
 * compresses, and the caller owns it.
 */
class SyncEngine {
  private readonly handle: NativeHandle;
  private readonly state: Uint32Array;
  /** zlib's errno (or brotli's) from the handle's onerror, reported synchronously within writeSync. */
  errno: number | undefined;
  /** The input the last run left unread (the stream ended before it). */
  leftover = 0;

  constructor(
    private readonly engine: NativeEngine,
    private readonly chunkSize: number,
  ) {
    this.handle = engine._handle;
    this.state = engine._writeState;
    // Instead of node:zlib's handler, which destroys the stream asynchronously with an
    // 'error' event nobody would listen to.
    this.handle.onerror = (_message, errno) => {
      this.errno = errno;
    };
  }

  run(input: Uint8Array, flush: number, maxOutput: number): Uint8Array {
    let pieces: Uint8Array[] | undefined;
    let total = 0;
    let inOff = 0;
    let availIn = input.byteLength;
    const chunk = this.chunkSize;
    const buffer = (scratch ??= new Uint8Array(MAX_CHUNK_SIZE));
    for (;;) {
      this.handle.writeSync(flush, input, inOff, availIn, buffer, 0, chunk);
      if (this.errno !== undefined) break;
      const availOut = this.state[0]!;
      const availInAfter = this.state[1]!;
      const have = chunk - availOut;
      if (have > 0) {
        (pieces ??= []).push(buffer.slice(0, have));
        total += have;
      }
      inOff += availIn - availInAfter;
      availIn = availInAfter;
      // Room left in the output: the library has nothing more to give for this input.
      if (availOut !== 0 || total > maxOutput) break;
    }
    this.leftover = availIn;
    if (pieces === undefined) return EMPTY;
    if (pieces.length === 1) return pieces[0]!;
    const out = new Uint8Array(total);
    let offset = 0;
    for (const piece of pieces) {
      out.set(piece, offset);
      offset += piece.byteLength;
    }
    return out;
  }

  /** Ready for a new stream with the same settings (deflateReset, inflateReset, brotli's own). */
  reset(): void {
    this.handle.reset();
    this.errno = undefined;
    this.leftover = 0;
  }

  close(): void {
    this.engine.close();
  }
}

/**
 * Engines kept for reuse, per options object (one per filter config): making one is a
 * node:zlib Transform stream and a native init, 3–4 times the cost of compressing a
 * 16 KiB body at level 1 (node 350 µs made fresh against 81 µs reused; bun 102 / 34;
 * deno 219 / 65). At most POOL_SIZE idle engines per options, so a burst leaves behind
 * only that much of the libraries' memory (a brotli encoder's window and tables among it).
 */
const POOL_SIZE = 16;
const pools = new WeakMap<object, SyncEngine[]>();

function pooled(options: object): SyncEngine | undefined {
  return pools.get(options)?.pop();
}

/** Back to its pool, reset, unless it failed or the pool is full. */
function release(options: object, engine: SyncEngine): void {
  let pool = pools.get(options);
  if (pool === undefined) pools.set(options, (pool = []));
  if (engine.errno === undefined && pool.length < POOL_SIZE) {
    engine.reset();
    pool.push(engine);
  } else {
    engine.close();
  }
}

const EMPTY = new Uint8Array(0);
/** Envoy's largest chunk_size. */
const MAX_CHUNK_SIZE = 65536;
// Made at the first compression, not when the bundle loads: a proxy that never compresses
// does not carry it.
let scratch: Uint8Array | undefined;

function newCompressorEngine(options: CompressorOptions): SyncEngine {
  const zlib = nodeZlib();
  const engine =
    options.algorithm === "gzip"
      ? zlib.createGzip({ level: options.level, windowBits: options.windowBits, memLevel: options.memoryLevel, strategy: options.strategy, chunkSize: options.chunkSize })
      : zlib.createBrotliCompress({
          chunkSize: options.chunkSize,
          params: {
            [C.BROTLI_PARAM_QUALITY]: options.quality,
            [C.BROTLI_PARAM_LGWIN]: options.windowBits,
            [C.BROTLI_PARAM_LGBLOCK]: options.inputBlockBits,
            [C.BROTLI_PARAM_MODE]: options.mode,
            [C.BROTLI_PARAM_DISABLE_LITERAL_CONTEXT_MODELING]: options.disableLiteralContextModeling ? 1 : 0,
          },
        });
  return new SyncEngine(engine as unknown as NativeEngine, options.chunkSize);
}

class ZlibCompressor implements StreamCompressor {
  private engine: SyncEngine | undefined;
  private readonly flushFlag: number;
  private readonly finishFlag: number;

  constructor(
    private readonly options: CompressorOptions,
    private readonly reusable: boolean,
  ) {
    this.engine = (reusable ? pooled(options) : undefined) ?? newCompressorEngine(options);
    const gzip = options.algorithm === "gzip";
    this.flushFlag = gzip ? C.Z_SYNC_FLUSH : C.BROTLI_OPERATION_FLUSH;
    this.finishFlag = gzip ? C.Z_FINISH : C.BROTLI_OPERATION_FINISH;
  }

  compress(data: Uint8Array, finish: boolean): Uint8Array {
    const engine = this.engine;
    if (engine === undefined) throw new Error("compressor used after close");
    const out = engine.run(data, finish ? this.finishFlag : this.flushFlag, Infinity);
    if (engine.errno !== undefined) throw new Error(`compression failed (library error ${engine.errno})`);
    return out;
  }

  close(): void {
    if (this.engine === undefined) return;
    if (this.reusable) release(this.options, this.engine);
    else this.engine.close();
    this.engine = undefined;
  }
}

function newDecompressorEngine(options: DecompressorOptions): SyncEngine {
  const zlib = nodeZlib();
  const engine =
    options.algorithm === "brotli"
      ? zlib.createBrotliDecompress({
          chunkSize: options.chunkSize,
          params: { [C.BROTLI_DECODER_PARAM_DISABLE_RING_BUFFER_REALLOCATION]: options.disableRingBufferReallocation ? 1 : 0 },
        })
      : zlib.createGunzip({ windowBits: options.windowBits, chunkSize: options.chunkSize });
  return new SyncEngine(engine as unknown as NativeEngine, options.chunkSize);
}

class ZlibDecompressor implements StreamDecompressor {
  private engine: SyncEngine | undefined;
  private readonly brotli: boolean;
  error: DecompressError | undefined;

  constructor(
    private readonly options: DecompressorOptions,
    private readonly reusable: boolean,
  ) {
    this.brotli = options.algorithm === "brotli";
    this.engine = (reusable ? pooled(options) : undefined) ?? newDecompressorEngine(options);
  }

  decompress(data: Uint8Array, maxOutput: number): Uint8Array {
    const engine = this.engine;
    if (this.error !== undefined || engine === undefined) return EMPTY;
    const out = engine.run(data, this.brotli ? C.BROTLI_OPERATION_PROCESS : C.Z_NO_FLUSH, maxOutput);
    if (engine.errno !== undefined) this.error = this.brotli ? "brotli_error" : zlibError(engine.errno);
    else if (out.byteLength > maxOutput) this.error = "output_overflow";
    // Input after the end of a brotli stream: Envoy's brotli_redundant_input (zlib ignores
    // it). Deno's brotli decoder reports corrupt input this way too: it stops, error-free,
    // with input left — still a brotli_error for Envoy's stats.
    else if (this.brotli && engine.leftover > 0) this.error = "redundant_input";
    return out;
  }

  close(): void {
    if (this.engine === undefined) return;
    // A stream that failed, or stopped mid-way, is not reused: its engine may be in any state.
    if (this.error !== undefined || !this.reusable) this.engine.close();
    else release(this.options, this.engine);
    this.engine = undefined;
  }
}

/**
 * The port's `compression` through node:zlib. `brotliReset`: the runtime's brotli handles
 * can be reset for reuse — deno's cannot (a reset brotli encoder writes an empty stream:
 * test/port/compression.test.ts), so its brotli engines are made fresh for each stream.
 */
export function zlibCompression(options: { brotliReset: boolean }): Compression {
  // node:zlib is loaded with the first engine: a config with no compressor never loads it.
  const load = (): typeof Zlib => {
    const zlib = nodeZlib();
    C ??= zlib.constants;
    return zlib;
  };
  const reusable = (algorithm: CompressionAlgorithm) => algorithm === "gzip" || options.brotliReset;
  return {
    unsupported(_algorithm: CompressionAlgorithm): string | undefined {
      return undefined;
    },
    createCompressor(compressorOptions: CompressorOptions): StreamCompressor {
      load();
      return new ZlibCompressor(compressorOptions, reusable(compressorOptions.algorithm));
    },
    createDecompressor(decompressorOptions: DecompressorOptions): StreamDecompressor {
      load();
      return new ZlibDecompressor(decompressorOptions, reusable(decompressorOptions.algorithm));
    },
  };
}
