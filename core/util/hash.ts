/**
 * The 64-bit hashes Envoy's consistent hashing is built on (source/common/common/hash.h):
 * xxHash64 (`HashUtil::xxHash64`, seed 0 unless given) and the 64-bit MurmurHash2 of
 * libstdc++'s std::hash (`MurmurHash::murmurHash2`, seed 0xc70f6907). Same input bytes,
 * same 64-bit result as Envoy, so a ring hash or Maglev key lands where Envoy's would.
 *
 * BigInt arithmetic modulo 2^64: these run when a ring or table is built and once per
 * hashed request on a short key, not per byte moved.
 */

import { utf8ByteString } from "../access-log/byte-string.ts";

const MASK64 = 0xffff_ffff_ffff_ffffn;

const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;

function rotl(x: bigint, r: bigint): bigint {
  return ((x << r) | (x >> (64n - r))) & MASK64;
}

function read64(b: Uint8Array, at: number): bigint {
  const lo = (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
  const hi = (b[at + 4]! | (b[at + 5]! << 8) | (b[at + 6]! << 16) | (b[at + 7]! << 24)) >>> 0;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function read32(b: Uint8Array, at: number): bigint {
  return BigInt((b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0);
}

function round(acc: bigint, input: bigint): bigint {
  acc = (acc + input * P2) & MASK64;
  return (rotl(acc, 31n) * P1) & MASK64;
}

function mergeRound(acc: bigint, value: bigint): bigint {
  acc ^= round(0n, value);
  return (acc * P1 + P4) & MASK64;
}

/** XXH64 of `input` (github.com/Cyan4973/xxHash, the 64-bit algorithm of xxhash.h). */
export function xxHash64(input: Uint8Array, seed = 0n): bigint {
  const len = input.byteLength;
  let at = 0;
  let h: bigint;
  if (len >= 32) {
    let v1 = (seed + P1 + P2) & MASK64;
    let v2 = (seed + P2) & MASK64;
    let v3 = seed & MASK64;
    let v4 = (seed - P1) & MASK64;
    const limit = len - 32;
    do {
      v1 = round(v1, read64(input, at));
      v2 = round(v2, read64(input, at + 8));
      v3 = round(v3, read64(input, at + 16));
      v4 = round(v4, read64(input, at + 24));
      at += 32;
    } while (at <= limit);
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & MASK64;
    h = mergeRound(h, v1);
    h = mergeRound(h, v2);
    h = mergeRound(h, v3);
    h = mergeRound(h, v4);
  } else {
    h = (seed + P5) & MASK64;
  }
  h = (h + BigInt(len)) & MASK64;
  while (at + 8 <= len) {
    h ^= round(0n, read64(input, at));
    h = (rotl(h, 27n) * P1 + P4) & MASK64;
    at += 8;
  }
  if (at + 4 <= len) {
    h ^= (read32(input, at) * P1) & MASK64;
    h = (rotl(h, 23n) * P2 + P3) & MASK64;
    at += 4;
  }
  while (at < len) {
    h ^= (BigInt(input[at]!) * P5) & MASK64;
    h = (rotl(h, 11n) * P1) & MASK64;
    at++;
  }
  h ^= h >> 33n;
  h = (h * P2) & MASK64;
  h ^= h >> 29n;
  h = (h * P3) & MASK64;
  h ^= h >> 32n;
  return h;
}

const MURMUR_MUL = 0xc6a4a7935bd1e995n;
/** libstdc++'s seed for std::hash<std::string> (Envoy's MurmurHash::STD_HASH_SEED). */
export const STD_HASH_SEED = 0xc70f6907n;

function shiftMix(v: bigint): bigint {
  return v ^ (v >> 47n);
}

/** libstdc++'s 64-bit _Hash_bytes (MurmurHash2), as Envoy's MurmurHash::murmurHash2. */
export function murmurHash2(input: Uint8Array, seed = STD_HASH_SEED): bigint {
  const len = input.byteLength;
  const aligned = len & ~7;
  let hash = (seed ^ (BigInt(len) * MURMUR_MUL)) & MASK64;
  for (let at = 0; at < aligned; at += 8) {
    const data = (shiftMix((read64(input, at) * MURMUR_MUL) & MASK64) * MURMUR_MUL) & MASK64;
    hash ^= data;
    hash = (hash * MURMUR_MUL) & MASK64;
  }
  if ((len & 7) !== 0) {
    // load_bytes: the tail as a little-endian integer, mixed in without shift_mix.
    let data = 0n;
    for (let i = len - 1; i >= aligned; i--) data = (data << 8n) | BigInt(input[i]!);
    hash ^= data;
    hash = (hash * MURMUR_MUL) & MASK64;
  }
  hash = (shiftMix(hash) * MURMUR_MUL) & MASK64;
  return shiftMix(hash);
}

/**
 * A byte string's bytes: one char (≤ 0xff) per byte, as header values and addresses are
 * held; a char above 0xff (only from config text) goes in as its UTF-8 bytes.
 */
export function byteStringBytes(text: string): Uint8Array {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0xff) {
      text = utf8ByteString(text);
      break;
    }
  }
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** xxHash64 of a byte string (see byteStringBytes), Envoy's `HashUtil::xxHash64(string_view)`. */
export function xxHash64Text(text: string, seed = 0n): bigint {
  return xxHash64(byteStringBytes(text), seed);
}

/** Envoy's Hex::uint64ToHex: 16 lowercase hex digits, zero-padded. */
export function uint64ToHex(value: bigint): string {
  return value.toString(16).padStart(16, "0");
}
