import type { CloseReason, PortError, Socket, SocketAddress, SocketHandler, TcpKeepaliveOptions } from "../../core/port.ts";
import { keepaliveInitialDelayMs } from "../kit/tcp-keepalive.ts";
import { ReadDisableCount } from "../kit/read-disable-count.ts";
import { WriteQueue } from "../kit/write-queue.ts";
import { toPortError } from "../kit/errors.ts";
import { detachedHandler } from "../kit/detached-handler.ts";
import { HeldReads } from "../kit/held-reads.ts";
import { keepBytes } from "../../core/util/bytes.ts";
import type { BunSocketHandle } from "./bun-api.ts";

/**
 * The port's Socket over a Bun socket. Bun's `write` takes what the kernel accepts
 * right now and drops the rest, returning the count: the rest waits in our
 * WriteQueue until Bun's `drain` callback says the socket is writable again.
 */
export class BunSocket implements Socket {
  protected handler: SocketHandler = detachedHandler;
  protected socket: BunSocketHandle | undefined;
  private readonly queue = new WriteQueue();
  private readonly reads = new ReadDisableCount();
  /** end() or close() asked for: FIN (and for close, full close) once the queue flushes. */
  private pendingShutdown: "end" | "close" | undefined;
  private writeClosed = false;
  protected closedLocally = false;
  protected done = false;
  /** The peer's FIN was reported (Bun's `end`). */
  private gotEnd = false;
  protected error: PortError | undefined;
  private local: SocketAddress | undefined;
  private remote: SocketAddress | undefined;
  /** While reads are disabled Bun goes on reading until a chunk comes (held-reads.ts). */
  private readonly heldReads = new HeldReads();

  /** Called from Bun's `open` handler (at once for accepted sockets). */
  /** A Unix socket's: both its addresses are its path (Bun reports none for a Unix peer). */
  setPipeAddress(address: SocketAddress): void {
    this.local = address;
    this.remote = address;
  }

  /** @internal ConnectOptions.keepalive, applied once connected (Bun.connect's socket comes then). */
  keepalive: TcpKeepaliveOptions | undefined;

  attach(socket: BunSocketHandle, connecting: boolean): void {
    this.socket = socket;
    socket.setNoDelay(true); // TCP_NODELAY, as Envoy's connections (see port.ts)
    if (this.keepalive !== undefined) socket.setKeepAlive(true, keepaliveInitialDelayMs(this.keepalive));
    if (this.closedLocally) {
      // close()/reset() came while the connect was pending.
      socket.terminate();
      return;
    }
    if (connecting) this.handler.onConnect();
    this.flush();
  }

  setHandler(handler: SocketHandler): void {
    this.handler = handler;
  }

  /** handOver() would hand the socket over (Bun can upgrade it, and nothing was written, held or closed). */
  get canHandOver(): boolean {
    return this.socket?.upgradeTLS !== undefined && !this.done && !this.closedLocally && !this.writeClosed && !this.gotEnd && !this.error && this.queue.isEmpty && !this.reads.disabled && !this.heldReads.waiting;
  }

  /**
   * The Bun socket under this one, handed over for a TLS upgrade in Bun itself
   * (bun-tls-socket.ts), when nothing was written, queued, held or closed yet: from
   * then on this object hears nothing of it. Undefined when it cannot be handed over.
   */
  handOver(): BunSocketHandle | undefined {
    const socket = this.socket;
    if (!socket || !this.canHandOver) return undefined;
    this.socket = undefined;
    this.done = true;
    this.handler = detachedHandler;
    return socket;
  }

  // --- Bun's callbacks, forwarded by the handlers in bun-runtime.ts ---
  onBunData(data: Uint8Array): void {
    if (this.closedLocally) return;
    if (!this.reads.disabled) return this.handler.onData(data);
    this.heldReads.hold(data, this.socket);
  }
  onBunEnd(): void {
    this.gotEnd = true;
    if (this.closedLocally) return;
    if (!this.heldReads.holdEnd()) this.handler.onEnd();
  }
  onBunDrain(): void {
    this.flush();
  }
  onBunError(err: unknown): void {
    this.error ??= toPortError(err);
  }
  onBunClose(err?: unknown): void {
    if (this.done) return;
    this.done = true;
    if (err) this.error ??= toPortError(err);
    this.queue.clear();
    // When our side was already shut, Bun closes on the peer's FIN without calling
    // `end`: report the FIN anyway, so every adapter shows half-close the same way.
    if (!this.gotEnd && !this.error && !this.closedLocally && this.writeClosed) this.handler.onEnd();
    const reason: CloseReason = this.closedLocally ? "local" : this.error ? "error" : "remote";
    const handler = this.handler;
    this.handler = detachedHandler;
    handler.onClose(reason, reason === "local" ? undefined : this.error);
  }

  write(data: Uint8Array): void {
    if (this.writeClosed || data.byteLength === 0) return;
    if (this.socket && this.queue.isEmpty) {
      const written = this.socket.write(data);
      if (written >= data.byteLength) return;
      this.queue.push(written > 0 ? data.subarray(written) : data);
    } else {
      this.queue.push(data);
    }
  }

  /** Bun's write takes from `data` synchronously: only what the kernel did not take is copied (into the queue). */
  writeCopying(data: Uint8Array, offset: number, length: number): void {
    if (this.writeClosed || length === 0) return;
    let written = 0;
    if (this.socket && this.queue.isEmpty) {
      written = Math.max(this.socket.write(data, offset, length), 0);
      if (written >= length) return;
    }
    this.queue.push(keepBytes(data.subarray(offset + written, offset + length)));
  }

  /** Hand queued bytes to Bun until it stops taking them; then apply a pending end/close. */
  private flush(): void {
    const socket = this.socket;
    if (!socket || this.done) return;
    const hadQueued = !this.queue.isEmpty;
    for (let chunk = this.queue.peek(); chunk; chunk = this.queue.peek()) {
      const written = socket.write(chunk);
      if (written <= 0) return;
      this.queue.consume(written);
      if (written < chunk.byteLength) return;
    }
    if (this.pendingShutdown === "end") socket.shutdown();
    else if (this.pendingShutdown === "close") socket.end();
    this.pendingShutdown = undefined;
    if (hadQueued) this.handler.onDrain();
  }

  get bufferedAmount(): number {
    return this.queue.bytes;
  }

  readDisable(disable: boolean): void {
    if (this.reads.apply(disable) !== "resume" || this.done) return;
    if (this.heldReads.waiting) queueMicrotask(this.deliverHeld);
    else this.heldReads.resume(this.socket);
  }

  /** Reading was enabled: what was held goes first (later, not inside readDisable's caller). */
  private readonly deliverHeld = (): void => {
    if (this.reads.disabled || this.done || this.closedLocally) return;
    this.heldReads.deliver(this.handler, this.reads, this.socket);
  };

  get readDisabled(): boolean {
    return this.reads.disabled;
  }

  end(): void {
    if (this.writeClosed) return;
    this.writeClosed = true;
    this.pendingShutdown = "end";
    if (this.queue.isEmpty) this.flush();
  }

  close(): void {
    if (this.closedLocally) return;
    this.closedLocally = true;
    this.writeClosed = true;
    this.pendingShutdown = "close";
    if (this.queue.isEmpty) this.flush();
  }

  reset(): void {
    if (this.done) return;
    this.closedLocally = true;
    this.writeClosed = true;
    this.queue.clear();
    this.socket?.terminate();
  }

  setNoDelay(noDelay: boolean): void {
    this.socket?.setNoDelay(noDelay);
  }

  get localAddress(): SocketAddress | undefined {
    const s = this.socket;
    if (!this.local && s) this.local = { address: s.localAddress, port: s.localPort, family: s.localFamily === "IPv6" ? 6 : 4 };
    return this.local;
  }

  get remoteAddress(): SocketAddress | undefined {
    const s = this.socket;
    if (!this.remote && s) this.remote = { address: s.remoteAddress, port: s.remotePort, family: s.remoteFamily === "IPv6" ? 6 : 4 };
    return this.remote;
  }
}
