import type * as net from "node:net";
import { keepBytes } from "../../core/util/bytes.ts";
import { raiseMallocThresholds } from "../kit/malloc-thresholds.ts";

/**
 * Where node reads a socket: into buffers we reuse, through net's `onread` option,
 * instead of the fresh 64 KiB buffer node mallocs for every read.
 *
 * A proxied 1 MiB body is ~18 reads. Fresh buffers are freed only when V8 collects
 * them, so between collections the reads sweep tens of MiB of memory that is in no
 * cache; read into one reused buffer, the kernel's copy lands in cache and the write to
 * the other side copies it from there (nginx reads into its proxy_buffers likewise).
 * Measured: node's CPU per 1 MiB response ~850 → ~550 µs; 1 MiB uploads ÷ nginx
 * 1.05×, 0.69× → 1.04×, 1.48× (node's uploads were 0.46–0.72× in five full runs).
 *
 * The port lends onData's bytes for the call only (port.ts), and node asks for the next
 * read's buffer right after the callback, so a buffer can be reused unless a write
 * queued part of it (a peer slower than the sender): `noteQueuedWrite` tells, and
 * the socket then reads into another buffer while node's queue keeps the old one.
 *
 * Node offers `onread` on `net.connect`; accepted sockets get it through
 * accepted-socket.ts.
 */

/** One buffer's size: node's own read size. */
const ARENA_BYTES = 64 * 1024;
/** A read this large means a body is streaming: the socket gets a buffer of its own. */
export const STREAMING_READ = 8 * 1024;
/** Own buffers kept for reuse after their sockets stopped streaming (1 MiB). */
const SPARE_ARENAS = 16;

/**
 * Where idle sockets and small reads go: one buffer for every socket (node hands each
 * socket its next buffer in advance, so a shared one is never lent: its bytes are
 * copied out). An idle connection, either side, holds no buffer of its own.
 */
const shared = new Uint8Array(ARENA_BYTES);
const spare: Uint8Array[] = [];

function ignoreData(): void {}

/**
 * A new buffer for a streaming socket. node's ArrayBuffers are malloc'd, and the first
 * streaming read is when glibc's thresholds go up (malloc-thresholds.ts).
 */
function streamingBuffer(): Uint8Array {
  raiseMallocThresholds();
  return new Uint8Array(ARENA_BYTES);
}

/** The buffer lent to the onData running now, and whether a queued write kept part of it. */
let lentNow: ArrayBufferLike | undefined;
let lentKept = false;

/**
 * A write to a node socket left bytes queued (node keeps a reference to what it was
 * given, it does not copy): if they are lent bytes, that buffer must not be read into again.
 */
export function noteQueuedWrite(data: Uint8Array): void {
  if (data.buffer === lentNow) lentKept = true;
}

/**
 * One socket's reads: pass `onread` to the net.Socket, then `attach`.
 *
 * Per connection, so it holds no closures of its own making: under tsx (node runs our
 * TypeScript through it, with esbuild's `keepNames`) every arrow function created at
 * run time also redefines its `name`, ~1 µs and ~350 bytes each; bound methods are not
 * renamed (~110 bytes).
 */
export class SocketReads {
  /** This socket's own buffer while it streams; undefined: its reads go to `shared`. */
  private own: Uint8Array | undefined;
  private lastRead = 0;
  private socket: net.Socket | undefined;
  private deliver: (data: Uint8Array) => void = ignoreData;

  /** node calls `callback` after each read (its result: whether to read on) and then `buffer`. */
  readonly onread: { buffer: () => Uint8Array; callback: (n: number, buffer: Uint8Array) => boolean } = {
    buffer: this.nextBuffer.bind(this),
    callback: this.onRead.bind(this),
  };

  attach(socket: net.Socket, deliver: (data: Uint8Array) => void): void {
    this.socket = socket;
    this.deliver = deliver;
  }

  private onRead(n: number, buffer: Uint8Array): boolean {
    this.lastRead = n;
    if (buffer === shared) {
      this.deliver(keepBytes(shared.subarray(0, n)));
      return true;
    }
    lentNow = buffer.buffer;
    lentKept = false;
    try {
      this.deliver(buffer.subarray(0, n));
    } finally {
      // Kept by a queued write: node's queue holds it now; read elsewhere from here on.
      if (lentKept && this.own === buffer) this.own = undefined;
      lentNow = undefined;
    }
    return true; // reading stops by pause(), not here
  }

  /** node asks for the buffer of the next read (when the socket is made, then after each read). */
  private nextBuffer(): Uint8Array {
    if (this.lastRead >= STREAMING_READ && !this.socket?.destroyed) return (this.own ??= spare.pop() ?? streamingBuffer());
    this.release();
    return shared;
  }

  /** Stop using the own buffer (a small read, or the socket closed): keep it for another. */
  release(): void {
    if (this.own && spare.length < SPARE_ARENAS) spare.push(this.own);
    this.own = undefined;
  }
}
