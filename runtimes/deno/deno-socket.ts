import type { CloseReason, PortError, Socket, SocketAddress, SocketHandler } from "../../core/port.ts";
import { concatBytes, keepBytes } from "../../core/util/bytes.ts";
import { ReadDisableCount } from "../kit/read-disable-count.ts";
import { WriteQueue } from "../kit/write-queue.ts";
import { toPortError } from "../kit/errors.ts";
import { detachedHandler } from "../kit/detached-handler.ts";
import type { DenoConn, DenoNetAddr, DenoUnixAddr } from "./deno-api.ts";
import { ReadSizer } from "./read-sizer.ts";
import { watchForReset, type ResetProbed } from "../kit/reset-probe.ts";
import { lend, QueuedLentBytes, readBuffer, recycle } from "./lent-reads.ts";

/**
 * The port's Socket over a Deno TCP conn: a read loop (into a buffer sized by
 * ReadSizer, lent to onData and read into again unless a write queue holds it:
 * lent-reads.ts) and a write pump that re-queues what a short `conn.write` did not take.
 */
export class DenoSocket implements Socket, ResetProbed {
  private handler: SocketHandler = detachedHandler;
  private conn: DenoConn | undefined;
  private readonly queue = new WriteQueue();
  /** Lent read bytes (this or another socket's) in `queue`, held until written. */
  private readonly queuedLent = new QueuedLentBytes();
  private readonly reads = new ReadDisableCount();
  private writing = false;
  private pendingShutdown: "end" | "close" | undefined;
  private writeClosed = false;
  /** Our FIN has gone out. */
  private writeShut = false;
  /** The peer's FIN has arrived. */
  private readEnded = false;
  private closedLocally = false;
  private done = false;
  private error: PortError | undefined;
  private wakeReader: (() => void) | undefined;

  /** Start using `conn`: at once for accepted sockets, when the connect resolves for outbound ones. */
  /** @internal ConnectOptions.keepalive, applied once connected: SO_KEEPALIVE alone (Deno sets no TCP_KEEP* option). */
  keepalive = false;

  attach(conn: DenoConn, connecting: boolean): void {
    if (this.keepalive) conn.setKeepAlive?.(true);
    this.conn = conn;
    conn.setNoDelay?.(true); // TCP_NODELAY, as Envoy's connections (see port.ts); a Unix connection has none
    if (this.done) {
      conn.close(); // close()/reset() came while the connect was pending
      return;
    }
    if (connecting) this.handler.onConnect();
    void this.readLoop(conn);
    this.pump();
  }

  /** The connect failed. */
  fail(err: unknown): void {
    this.error ??= toPortError(err);
    this.finish("error");
  }

  setHandler(handler: SocketHandler): void {
    this.handler = handler;
  }

  private async readLoop(conn: DenoConn): Promise<void> {
    const sizer = new ReadSizer();
    let buffer = readBuffer(sizer.size);
    while (!this.done) {
      // One read stays pending even while reads are disabled, so that the peer's FIN or
      // reset still shows (port.ts, readDisable); bytes it brings are held below.
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch (err) {
        if (!this.done) this.fail(err);
        return;
      }
      if (this.done) return;
      if (n === null) {
        this.readEnded = true;
        if (!this.closedLocally) this.handler.onEnd();
        this.finishIfBothShut();
        return;
      }
      sizer.onRead(n);
      // Bytes read while reading is disabled are held until it is enabled again.
      // No read is pending while it waits: a peer's reset shows only through a write (reset-probe.ts).
      if (this.reads.disabled && !this.done) watchForReset(this);
      while (this.reads.disabled && !this.done) await new Promise<void>((resolve) => (this.wakeReader = resolve));
      const free = this.closedLocally || this.done || lend(buffer, n, this.deliver);
      if (!free) buffer = readBuffer(sizer.size);
      else if (buffer.length !== sizer.size) {
        recycle(buffer);
        buffer = readBuffer(sizer.size);
      }
    }
  }

  private readonly deliver = (data: Uint8Array): void => this.handler.onData(data);

  get probeWanted(): boolean {
    return this.wakeReader !== undefined && !this.done && !this.writeClosed;
  }

  probeReset(): void {
    const conn = this.conn;
    // A write pending sees the reset itself.
    if (!conn || this.writing || !this.queue.isEmpty) return;
    try {
      conn.write(EMPTY).then(undefined, this.onProbeFailed);
    } catch (err) {
      this.onProbeFailed(err);
    }
  }

  private readonly onProbeFailed = (err: unknown): void => {
    if (!this.done) this.fail(err);
  };

  write(data: Uint8Array): void {
    if (this.writeClosed || data.byteLength === 0) return;
    this.queue.push(data);
    this.queuedLent.queuedBytes(data);
    if (!this.writing) this.pump();
  }

  /**
   * Deno's `conn.write` takes one buffer, and each is an op awaited before the next: the
   * chunks leave joined (one copy) in one op rather than one op each.
   */
  writev(chunks: readonly Uint8Array[]): void {
    if (this.writeClosed) return;
    let bytes = 0;
    for (const chunk of chunks) bytes += chunk.byteLength;
    // A copy even of a single chunk: it may be bytes lent to an onData still running.
    const joined = chunks.length === 1 ? keepBytes(chunks[0]!) : concatBytes(chunks, bytes);
    this.write(joined);
  }

  /**
   * Write queued chunks one `conn.write` at a time; then apply a pending end/close.
   * Callbacks, not an async loop: a proxied request writes on two connections, and an
   * async function's frame and promises for each write were a fifth of what a request
   * allocated on Deno (V8's sampling heap profiler).
   */
  private pump(): void {
    const conn = this.conn;
    if (this.writing || !conn || this.done) return;
    const chunk = this.queue.peek();
    if (chunk) {
      this.writing = true;
      try {
        conn.write(chunk).then(this.onWritten, this.onWriteFailed);
      } catch (err) {
        this.onWriteFailed(err); // a conn the runtime already closed can throw at once
      }
    } else {
      this.afterQueue(conn, false);
    }
  }

  private readonly onWritten = (written: number): void => {
    this.writing = false;
    if (this.done) return;
    this.queue.consume(written);
    this.queuedLent.wroteBytes(written);
    if (!this.queue.isEmpty) this.pump();
    else this.afterQueue(this.conn!, true);
  };

  private readonly onWriteFailed = (err: unknown): void => {
    this.writing = false;
    if (!this.done) this.fail(err);
  };

  /** The queue is empty: apply a pending end/close; `wrote` tells the handler it drained. */
  private afterQueue(conn: DenoConn, wrote: boolean): void {
    if (this.pendingShutdown === "end") {
      this.pendingShutdown = undefined;
      this.writing = true;
      const shut = (): void => {
        this.writing = false;
        if (this.done) return;
        this.writeShut = true;
        // close() while the FIN was on its way: nothing is left to flush, so close now
        // rather than wait for the peer's FIN.
        if (this.pendingShutdown === "close") this.finish("local");
        else this.finishIfBothShut();
        if (wrote && !this.done) this.handler.onDrain();
      };
      try {
        conn.closeWrite().then(shut, this.onWriteFailed);
      } catch (err) {
        this.onWriteFailed(err);
      }
    } else if (this.pendingShutdown === "close") {
      this.finish("local");
    } else if (wrote) {
      this.handler.onDrain();
    }
  }

  get bufferedAmount(): number {
    return this.queue.bytes;
  }

  readDisable(disable: boolean): void {
    if (this.reads.apply(disable) === "resume") {
      const wake = this.wakeReader;
      this.wakeReader = undefined;
      wake?.();
    }
  }

  get readDisabled(): boolean {
    return this.reads.disabled;
  }

  end(): void {
    if (this.writeClosed) return;
    this.writeClosed = true;
    this.pendingShutdown = "end";
    this.pump();
  }

  close(): void {
    if (this.closedLocally || this.done) return;
    this.closedLocally = true;
    this.writeClosed = true;
    if (this.queue.isEmpty && !this.writing) this.finish("local");
    else this.pendingShutdown = "close";
  }

  /**
   * Deno has no SO_LINGER: closing drops the queue and closes the descriptor, which
   * the kernel turns into a RST only when unread bytes remain. Documented in
   * docs/architecture.md, "The port and how each runtime maps it".
   */
  reset(): void {
    if (this.done) return;
    this.closedLocally = true;
    this.writeClosed = true;
    this.finish("local");
  }

  /** Both directions are shut (the peer's FIN in, ours out): the connection is over. */
  private finishIfBothShut(): void {
    if (this.readEnded && this.writeShut) this.finish(this.closedLocally ? "local" : "remote");
  }

  private finish(reason: CloseReason): void {
    if (this.done) return;
    this.done = true;
    this.queue.clear();
    this.queuedLent.abandon();
    try {
      this.conn?.close();
    } catch {
      // already closed by the runtime
    }
    const wake = this.wakeReader;
    this.wakeReader = undefined;
    wake?.();
    const handler = this.handler;
    this.handler = detachedHandler;
    handler.onClose(reason, reason === "error" ? this.error : undefined);
  }

  setNoDelay(noDelay: boolean): void {
    this.conn?.setNoDelay?.(noDelay);
  }

  // Kept once known: the router reads it for every request it sends (%UPSTREAM_LOCAL_ADDRESS%).
  private local: SocketAddress | undefined;
  /** A Unix socket's: both its addresses are its listener's (or target's) path; Deno reports a null path for an unnamed peer. */
  pipe: SocketAddress | undefined;

  get localAddress(): SocketAddress | undefined {
    return (this.local ??= this.pipe ?? (this.conn && toAddress(this.conn.localAddr)));
  }

  get remoteAddress(): SocketAddress | undefined {
    return this.pipe ?? (this.conn && toAddress(this.conn.remoteAddr));
  }
}

function toAddress(addr: DenoNetAddr | DenoUnixAddr): SocketAddress | undefined {
  if (addr.transport === "unix") return addr.path === null ? undefined : { address: addr.path.startsWith("\0") ? `@${addr.path.slice(1)}` : addr.path, port: 0, family: "unix" };
  return { address: addr.hostname, port: addr.port, family: addr.hostname.includes(":") ? 6 : 4 };
}

const EMPTY = new Uint8Array(0);
