/**
 * The storage of SimpleHttpCacheConfig: an in-memory map from a request's key to the stored
 * response, one per worker, shared by every cache filter of the process (Envoy's
 * SimpleHttpCache is a singleton too: source/extensions/http/cache/simple_http_cache/). A
 * response with vary is stored under its key plus the request's values of the vary headers,
 * with a marker at the plain key naming them (Envoy's varyLookup / varyInsert).
 *
 * Unlike Envoy's, whose map grows without bound, this one is bounded: an entry larger than
 * MAX_ENTRY_BYTES is not stored, and past MAX_TOTAL_BYTES the least recently used entries are
 * evicted (a Map keeps insertion order: a hit moves its entry to the end).
 */
import { HeaderMap } from "../../header-map.ts";
import { HEADERS_NOT_TO_UPDATE, type VaryAllowList, varyHeaderNames } from "./cache-headers.ts";

/** The largest body stored: a larger one is served, not kept. max_body_bytes may lower it, not raise it. */
export const MAX_ENTRY_BYTES = 1 << 20;
/** What the store holds at most, bodies and headers counted (per worker). */
export const MAX_TOTAL_BYTES = 64 << 20;
/** What an entry costs besides its bytes (the objects holding it), counted so that many tiny entries stay bounded too. */
const ENTRY_OVERHEAD = 128;

/** A stored response. Immutable once stored: a validation replaces its head with a new entry. */
export interface CacheEntry {
  readonly status: number;
  readonly headers: HeaderMap;
  readonly body: Uint8Array;
  /** RFC 9111's response_time: when it was stored or last validated (ms since the epoch). */
  readonly responseTime: number;
}

interface Stored {
  /** Undefined for a vary marker. */
  entry: CacheEntry | undefined;
  /** A marker's (or a varied entry's) vary header names. */
  vary: string[] | undefined;
  size: number;
}

/** Where a lookup found (or an insert puts) the response for one request. */
export interface CacheKey {
  /** The request's key: scheme, host, path. */
  readonly base: string;
  /** The key of the variant for this request's vary header values, when the stored response varies. */
  readonly varied: string | undefined;
}

export class SimpleHttpCache {
  private readonly entries = new Map<string, Stored>();
  private totalBytes = 0;

  constructor(
    readonly maxEntryBytes: number = MAX_ENTRY_BYTES,
    readonly maxTotalBytes: number = MAX_TOTAL_BYTES,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** The stored response for a request, if any; the entry becomes the most recently used. */
  lookup(base: string, request: HeaderMap, allow: VaryAllowList): { key: CacheKey; entry: CacheEntry } | undefined {
    const stored = this.touch(base);
    if (stored === undefined) return undefined;
    if (stored.vary === undefined) return stored.entry && { key: { base, varied: undefined }, entry: stored.entry };
    // A vary marker: the request's own variant, if its vary headers are (still) allowed.
    const id = allow.varyIdentifier(stored.vary, request);
    if (id === undefined) return undefined;
    const varied = base + "\n" + id;
    const entry = this.touch(varied)?.entry;
    return entry && { key: { base, varied }, entry };
  }

  /** Store a complete response for the request `request` made under `base`. False when it is too large. */
  insert(base: string, request: HeaderMap, allow: VaryAllowList, entry: CacheEntry): boolean {
    const vary = varyHeaderNames(entry.headers);
    const size = entrySize(base, entry);
    if (entry.body.byteLength > this.maxEntryBytes || size > this.maxTotalBytes) return false;
    if (vary.length === 0) {
      this.put(base, { entry, vary: undefined, size });
      return true;
    }
    const id = allow.varyIdentifier(vary, request);
    if (id === undefined) return false;
    const varied = base + "\n" + id;
    const marker = this.entries.get(base);
    // A marker with other vary headers: its variants are unreachable now, as in Envoy (a vary change replaces them).
    if (marker === undefined || marker.vary === undefined || marker.vary.join(",") !== vary.join(",")) this.put(base, { entry: undefined, vary, size: base.length + ENTRY_OVERHEAD });
    this.put(varied, { entry, vary, size: size + id.length });
    return true;
  }

  /**
   * A 304 validated `key`'s entry: its head takes the 304's header fields but for
   * HEADERS_NOT_TO_UPDATE (Envoy's applyHeaderUpdate), and its response_time is now. The
   * updated entry is returned (also when it is no longer stored, or `store` is false).
   */
  updateHeaders(key: CacheKey, entry: CacheEntry, notModified: HeaderMap, responseTime: number, store = true): CacheEntry {
    const headers = new HeaderMap();
    const replaced = new Set<string>();
    notModified.forEach((name) => {
      if (!HEADERS_NOT_TO_UPDATE.has(name)) replaced.add(name);
    });
    entry.headers.forEach((name, value) => {
      if (!replaced.has(name)) headers.add(name, value);
    });
    notModified.forEach((name, value) => {
      if (replaced.has(name)) headers.add(name, value);
    });
    const updated: CacheEntry = { status: entry.status, headers, body: entry.body, responseTime };
    const at = key.varied ?? key.base;
    const stored = this.entries.get(at);
    if (store && stored?.entry === entry) this.put(at, { entry: updated, vary: stored.vary, size: entrySize(at, updated) });
    return updated;
  }

  /** Forget everything (tests). */
  clear(): void {
    this.entries.clear();
    this.totalBytes = 0;
  }

  private touch(key: string): Stored | undefined {
    const stored = this.entries.get(key);
    if (stored !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, stored);
    }
    return stored;
  }

  private put(key: string, stored: Stored): void {
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.totalBytes -= old.size;
      this.entries.delete(key);
    }
    this.entries.set(key, stored);
    this.totalBytes += stored.size;
    // Evict from the least recently used end; never the entry just put.
    for (const [oldest, value] of this.entries) {
      if (this.totalBytes <= this.maxTotalBytes || oldest === key) break;
      this.entries.delete(oldest);
      this.totalBytes -= value.size;
    }
  }
}

function entrySize(key: string, entry: CacheEntry): number {
  let size = ENTRY_OVERHEAD + key.length + entry.body.byteLength;
  entry.headers.forEach((name, value) => (size += name.length + value.length + 4));
  return size;
}

/** The process's (worker's) store: every cache filter with SimpleHttpCacheConfig shares it, as Envoy's singleton. */
let worker: SimpleHttpCache | undefined;

export function simpleHttpCache(): SimpleHttpCache {
  return (worker ??= new SimpleHttpCache());
}
