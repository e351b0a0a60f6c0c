import type * as net from "node:net";
import type { CloseReason, PortError, Socket, SocketAddress, SocketHandler } from "../../core/port.ts";
import { ReadDisableCount } from "../kit/read-disable-count.ts";
import { toPortError } from "../kit/errors.ts";
import { detachedHandler } from "../kit/detached-handler.ts";
import { HeldReads } from "../kit/held-reads.ts";
import { noteQueuedWrite, STREAMING_READ, type SocketReads } from "./socket-reads.ts";
import { raiseMallocThresholds } from "../kit/malloc-thresholds.ts";
import { watchForReset, type ResetProbed } from "../kit/reset-probe.ts";

/**
 * The port's Socket over a node `net.Socket`. Node buffers every write itself, so
 * the write queue is node's own (`writableLength`); we only add the drain signal
 * for any amount buffered (node's 'drain' fires only past its 16 KiB mark).
 */
export class NodeSocket implements Socket, ResetProbed {
  private handler: SocketHandler = detachedHandler;
  private readonly reads = new ReadDisableCount();
  private waitingDrain = false;
  private writeClosed = false;
  private closedLocally = false;
  private error: PortError | undefined;
  /** While reads are disabled node goes on reading until a chunk comes (held-reads.ts). */
  private readonly heldReads = new HeldReads();
  /** The peer's FIN came (the net.Socket reads no more). */
  private ended = false;
  /** Handed over by `detach`: nothing here touches the net.Socket any more. */
  private detached = false;

  /**
   * `buffers`: the socket's reusable read buffers (socket-reads.ts), given to the
   * net.Socket as `onread`; without them (see accepted-socket.ts) node's 'data' events.
   */
  constructor(
    private readonly socket: net.Socket,
    connecting: boolean,
    private readonly buffers?: SocketReads,
    /** A Unix socket's: both its addresses (node reports none for a Unix peer). */
    private readonly pipe?: SocketAddress,
  ) {
    // The port's sockets start with TCP_NODELAY, as Envoy's connections do: a proxy
    // writes a head and then a body, and Nagle would hold the second write for the
    // peer's delayed ACK (~40 ms).
    socket.setNoDelay(true);
    if (buffers) buffers.attach(socket, (data) => this.onRead(data));
    else {
      socket.on("data", (data: Uint8Array) => {
        // node's own fresh 64 KiB buffers: a large read is a streaming body (malloc-thresholds.ts)
        if (data.byteLength >= STREAMING_READ) raiseMallocThresholds();
        this.onRead(data);
      });
    }
    socket.on("end", () => {
      this.ended = true;
      if (!this.heldReads.holdEnd()) this.handler.onEnd();
    });
    socket.on("error", (err) => {
      this.error ??= toPortError(err);
    });
    socket.on("close", () => {
      buffers?.release();
      const reason: CloseReason = this.closedLocally ? "local" : this.error ? "error" : "remote";
      const handler = this.handler;
      this.handler = detachedHandler;
      handler.onClose(reason, reason === "local" ? undefined : this.error);
    });
    if (connecting) socket.once("connect", () => this.handler.onConnect());
  }

  /**
   * Hand the net.Socket over, paused, with the bytes held for a read-disabled handler (TLS
   * made on its handle: native-tls-socket.ts). This Socket is done with it: no event of the
   * net.Socket reaches the handler any more. Undefined (nothing changed) when it cannot be
   * handed over whole: closed or closing, or the peer's FIN already came (node reads no
   * more from the handle, so whoever takes it would never see that FIN).
   */
  detach(): { socket: net.Socket; held: Uint8Array | undefined } | undefined {
    const socket = this.socket;
    // `_readableState.ended`: node read the FIN into the paused stream's buffer but has not
    // emitted 'end' yet (readableEnded is only set once it has).
    const finRead = (socket as unknown as { _readableState?: { ended?: boolean } })._readableState?.ended === true;
    if (this.detached || this.closedLocally || this.writeClosed || this.ended || this.heldReads.endWaiting || socket.destroyed || socket.readableEnded || finRead || socket.connecting) return undefined;
    this.detached = true;
    // Whoever still holds this Socket can no longer write, close or reset the handle TLS now owns.
    this.closedLocally = true;
    this.writeClosed = true;
    socket.pause();
    for (const event of ["data", "end", "error", "close", "connect"]) socket.removeAllListeners(event);
    this.buffers?.attach(socket, ignoreData);
    this.buffers?.release();
    this.handler = detachedHandler;
    return { socket, held: this.heldReads.take() };
  }

  setHandler(handler: SocketHandler): void {
    this.handler = handler;
  }

  write(data: Uint8Array): void {
    if (this.writeClosed) return;
    this.socket.write(data, this.afterWrite);
    if (this.socket.writableLength > 0) {
      this.waitingDrain = true;
      noteQueuedWrite(data); // node keeps `data` itself until it is written
    }
  }

  /** Corked, node hands the chunks to libuv as one writev(2) when uncorked. */
  writev(chunks: readonly Uint8Array[]): void {
    if (this.writeClosed) return;
    const socket = this.socket;
    socket.cork();
    for (const chunk of chunks) socket.write(chunk, this.afterWrite);
    socket.uncork();
    if (socket.writableLength > 0) {
      this.waitingDrain = true;
      for (const chunk of chunks) noteQueuedWrite(chunk);
    }
  }

  /** A bound method, not an arrow: see SocketReads on closures made per connection under tsx. */
  private readonly afterWrite = this.onWritten.bind(this);

  private onWritten(): void {
    if (this.waitingDrain && this.socket.writableLength === 0) {
      this.waitingDrain = false;
      this.handler.onDrain();
    }
  }

  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  private onRead(data: Uint8Array): void {
    if (!this.reads.disabled) return this.handler.onData(data);
    const paused = this.heldReads.waiting;
    this.heldReads.hold(data, this.socket);
    // Paused now, node sees no reset from the peer unless it is probed (reset-probe.ts).
    if (!paused) watchForReset(this);
  }

  /** Held paused, writable: a peer's reset shows only through a write (reset-probe.ts). */
  get probeWanted(): boolean {
    return this.heldReads.waiting && !this.detached && !this.writeClosed && !this.socket.destroyed;
  }

  probeReset(): void {
    // A write pending keeps libuv polling the socket: that write sees the reset.
    if (this.socket.writableLength === 0) this.socket.write(EMPTY);
  }

  readDisable(disable: boolean): void {
    if (this.detached || this.reads.apply(disable) !== "resume") return;
    if (this.heldReads.waiting) queueMicrotask(this.deliverHeld);
    else this.heldReads.resume(this.socket);
  }

  /** Reading was enabled: what was held goes first (later, not inside readDisable's caller). */
  private readonly deliverHeld = (): void => {
    if (this.reads.disabled || this.socket.destroyed || this.detached) return;
    this.heldReads.deliver(this.handler, this.reads, this.socket);
  };

  get readDisabled(): boolean {
    return this.reads.disabled;
  }

  end(): void {
    if (this.writeClosed) return;
    this.writeClosed = true;
    this.socket.end();
  }

  close(): void {
    if (this.closedLocally) return;
    this.closedLocally = true;
    this.writeClosed = true;
    this.socket.pause();
    // end() flushes then sends FIN; destroy once flushed so a peer that never
    // closes its side cannot keep the socket alive.
    if (this.socket.writableLength === 0) this.socket.destroy();
    else this.socket.end(() => this.socket.destroy());
  }

  reset(): void {
    if (this.socket.destroyed || this.detached) return;
    this.closedLocally = true;
    this.writeClosed = true;
    // resetAndDestroy() on a socket still connecting waits for the connect; there is
    // nothing to reset yet, so just drop it.
    if (this.socket.connecting) this.socket.destroy();
    else this.socket.resetAndDestroy();
  }

  setNoDelay(noDelay: boolean): void {
    if (!this.detached) this.socket.setNoDelay(noDelay);
  }

  // Kept once known: the router reads it for every request it sends (%UPSTREAM_LOCAL_ADDRESS%).
  private local: SocketAddress | undefined;

  get localAddress(): SocketAddress | undefined {
    return (this.local ??= this.pipe ?? toAddress(this.socket.localAddress, this.socket.localPort, this.socket.localFamily));
  }

  get remoteAddress(): SocketAddress | undefined {
    return this.pipe ?? toAddress(this.socket.remoteAddress, this.socket.remotePort, this.socket.remoteFamily);
  }
}

function ignoreData(): void {}

const EMPTY = new Uint8Array(0);

export function toAddress(address: string | undefined, port: number | undefined, family: string | undefined): SocketAddress | undefined {
  if (address === undefined || port === undefined) return undefined;
  return { address, port, family: family === "IPv6" ? 6 : 4 };
}
