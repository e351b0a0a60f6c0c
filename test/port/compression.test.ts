/**
 * The port's `compression` on the runtime these tests run on (node:zlib's native handle
 * driven synchronously, runtimes/kit/zlib-compression.ts) and on the memory runtime
 * (stored-block gzip): what one compresses, node:zlib decodes; flushed output decodes as
 * far as it goes; corrupt input and the inflate-ratio limit are reported, never thrown.
 */
import { describe, expect, test } from "vitest";
import { brotliCompressSync, brotliDecompressSync, constants, gunzipSync, gzipSync, inflateRawSync } from "node:zlib";
import type { Compression, CompressorOptions, DecompressorOptions } from "../../core/port.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { currentRuntime, currentRuntimeName } from "./current-runtime.ts";

const GZIP: CompressorOptions = { algorithm: "gzip", level: -1, windowBits: 12, memoryLevel: 5, strategy: 0, chunkSize: 4096 };
const BROTLI: CompressorOptions = { algorithm: "brotli", quality: 3, windowBits: 18, inputBlockBits: 24, mode: 0, disableLiteralContextModeling: false, chunkSize: 4096 };
const GUNZIP: DecompressorOptions = { algorithm: "gzip", windowBits: 15, chunkSize: 4096, disableRingBufferReallocation: false };
const UNBROTLI: DecompressorOptions = { algorithm: "brotli", windowBits: 0, chunkSize: 4096, disableRingBufferReallocation: false };

const TEXT = new TextEncoder().encode(JSON.stringify(Array.from({ length: 3000 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ["a", String(i % 7)] }))));

function join(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

async function real(): Promise<Compression> {
  const compression = (await currentRuntime()).compression;
  if (compression === undefined) throw new Error(`${currentRuntimeName()} has no compression`);
  return compression;
}

describe(`compression on ${currentRuntimeName()}`, () => {
  test("gzip and brotli are supported", async () => {
    const compression = await real();
    expect(compression.unsupported("gzip")).toBeUndefined();
    expect(compression.unsupported("brotli")).toBeUndefined();
  });

  test.each([
    ["gzip", GZIP, (b: Uint8Array) => gunzipSync(b)],
    ["brotli", BROTLI, (b: Uint8Array) => brotliDecompressSync(b)],
  ] as const)("%s: streamed in chunks, flushed each time, finished: node:zlib decodes it", async (_name, options, decode) => {
    const compressor = (await real()).createCompressor(options);
    const parts: Uint8Array[] = [];
    for (let at = 0; at < TEXT.byteLength; at += 7000) {
      const out = compressor.compress(TEXT.subarray(at, at + 7000), false);
      // Flushed: every chunk gives output (the stream never waits for more input).
      expect(out.byteLength).toBeGreaterThan(0);
      parts.push(out);
    }
    parts.push(compressor.compress(new Uint8Array(0), true));
    compressor.close();
    const all = join(parts);
    expect(all.byteLength).toBeLessThan(TEXT.byteLength / 3);
    expect(Buffer.from(decode(all)).equals(Buffer.from(TEXT))).toBe(true);
  });

  test("gzip flushed output decodes as far as it goes before the stream is finished", async () => {
    const compressor = (await real()).createCompressor(GZIP);
    const first = compressor.compress(TEXT.subarray(0, 5000), false);
    expect(Buffer.from(inflateRawSync(first.subarray(10), { finishFlush: constants.Z_SYNC_FLUSH })).equals(Buffer.from(TEXT.subarray(0, 5000)))).toBe(true);
    compressor.close();
  });

  test.each([
    ["gzip", GUNZIP, gzipSync(TEXT)],
    ["brotli", UNBROTLI, brotliCompressSync(TEXT)],
  ] as const)("%s: decompressed in pieces", async (_name, options, compressed) => {
    const decompressor = (await real()).createDecompressor(options);
    const parts: Uint8Array[] = [];
    for (let at = 0; at < compressed.byteLength; at += 100) parts.push(decompressor.decompress(compressed.subarray(at, at + 100), 1000 * 100));
    expect(decompressor.error).toBeUndefined();
    expect(Buffer.from(join(parts)).equals(Buffer.from(TEXT))).toBe(true);
    decompressor.close();
  });

  test("corrupt gzip: data_error, no throw, later input ignored", async () => {
    const decompressor = (await real()).createDecompressor(GUNZIP);
    expect(decompressor.decompress(new TextEncoder().encode("definitely not gzip"), 1900).byteLength).toBe(0);
    expect(decompressor.error).toBe("data_error");
    expect(decompressor.decompress(gzipSync(TEXT), 1e9).byteLength).toBe(0);
    decompressor.close();
  });

  test("corrupt brotli: brotli_error (deno's decoder reports no error, only input it left: redundant_input)", async () => {
    const decompressor = (await real()).createDecompressor(UNBROTLI);
    decompressor.decompress(new Uint8Array(64).fill(0xff), 6400);
    expect(decompressor.error).toBe(currentRuntimeName() === "deno" ? "redundant_input" : "brotli_error");
    decompressor.close();
  });

  test.each([
    ["gzip", GUNZIP, gzipSync(new Uint8Array(10_000_000))],
    ["brotli", UNBROTLI, brotliCompressSync(new Uint8Array(10_000_000))],
  ] as const)("%s bomb: output stops soon after the limit, output_overflow", async (_name, options, bomb) => {
    const decompressor = (await real()).createDecompressor(options);
    const out = decompressor.decompress(bomb, 100 * bomb.byteLength);
    expect(decompressor.error).toBe("output_overflow");
    expect(out.byteLength).toBeGreaterThan(100 * bomb.byteLength);
    expect(out.byteLength).toBeLessThanOrEqual(100 * bomb.byteLength + 4096);
    decompressor.close();
  });
});

describe("compression on the memory runtime", () => {
  const compression = new MemoryRuntime().compression;

  test("stored-block gzip that node:zlib reads, and reads back", () => {
    const compressor = compression.createCompressor(GZIP);
    const gz = join([compressor.compress(TEXT.subarray(0, 70_000), false), compressor.compress(TEXT.subarray(70_000), true)]);
    expect(Buffer.from(gunzipSync(gz)).equals(Buffer.from(TEXT))).toBe(true);
    const decompressor = compression.createDecompressor(GUNZIP);
    const parts: Uint8Array[] = [];
    for (let at = 0; at < gz.byteLength; at += 999) parts.push(decompressor.decompress(gz.subarray(at, at + 999), 1e9));
    expect(decompressor.error).toBeUndefined();
    expect(Buffer.from(join(parts)).equals(Buffer.from(TEXT))).toBe(true);
  });

  test("no brotli, and it says so", () => {
    expect(compression.unsupported("gzip")).toBeUndefined();
    expect(compression.unsupported("brotli")).toMatch(/no brotli/);
  });
});

describe(`compression engines reused on ${currentRuntimeName()}`, () => {
  test("a compressor closed mid-stream, then another from the same options: a whole new stream", async () => {
    const compression = await real();
    const options: CompressorOptions = { ...GZIP };
    const first = compression.createCompressor(options);
    first.compress(TEXT.subarray(0, 10_000), false);
    first.close();
    for (const brotli of [false, true]) {
      const opts = brotli ? { ...BROTLI } : options;
      for (let i = 0; i < 3; i++) {
        const c = compression.createCompressor(opts);
        const out = join([c.compress(TEXT.subarray(0, 20_000), false), c.compress(new Uint8Array(0), true)]);
        c.close();
        const back = brotli ? brotliDecompressSync(out) : gunzipSync(out);
        expect(Buffer.from(back).equals(Buffer.from(TEXT.subarray(0, 20_000)))).toBe(true);
      }
    }
  });

  test("a decompressor that failed is not reused; the next one from the same options decodes", async () => {
    const compression = await real();
    const options: DecompressorOptions = { ...GUNZIP };
    const bad = compression.createDecompressor(options);
    bad.decompress(new TextEncoder().encode("not gzip"), 800);
    expect(bad.error).toBe("data_error");
    bad.close();
    const good = compression.createDecompressor(options);
    expect(Buffer.from(good.decompress(gzipSync(TEXT), 1e9)).equals(Buffer.from(TEXT))).toBe(true);
    expect(good.error).toBeUndefined();
    good.close();
    const again = compression.createDecompressor(options);
    expect(Buffer.from(again.decompress(gzipSync(TEXT), 1e9)).equals(Buffer.from(TEXT))).toBe(true);
    again.close();
  });
});
