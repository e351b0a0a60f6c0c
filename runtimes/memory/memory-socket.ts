/**
 * One endpoint of an in-memory TCP connection.
 *
 * Each direction of a connection is modelled as:
 *   sender's write queue (bufferedAmount)  →  [in flight, when delayed]  →  receiver's
 *   receive buffer (at most `receiveWindow` bytes, counting those in flight)  →  onData
 * The sender's "kernel" takes bytes from the write queue while the receiver's window has
 * room (and at most `writeWindow` bytes per turn when that fault is set); the receiver
 * delivers them to onData while reading is enabled. So a receiver that disables reading
 * fills its window, and the sender's writes then stay queued on the sender's side, as
 * with real sockets.
 *
 * Every event reaches the handler from a scheduler task, never from inside a port call.
 */
import type { CloseReason, PortError, Socket, SocketAddress, SocketHandler, TcpKeepaliveOptions } from "../../core/port.ts";
import { detachedHandler } from "../kit/detached-handler.ts";
import { ReadDisableCount } from "../kit/read-disable-count.ts";
import { WriteQueue } from "../kit/write-queue.ts";
import { keepBytes } from "../../core/util/bytes.ts";
import type { DirectionFaults } from "./faults.ts";
import type { Prng } from "./prng.ts";
import { Lane, type Scheduler, type Task } from "./scheduler.ts";

/** What a socket needs of the runtime it lives in. */
export interface SocketNetwork {
  readonly scheduler: Scheduler;
  readonly prng: Prng;
  readonly maxReadSize: number;
  /**
   * The memory every read is lent from (port.ts: onData), overwritten with POISON once
   * the handler returns, so a receiver that keeps lent bytes without copying them sees
   * garbage in a test instead of a corrupted body in production.
   */
  readonly lendBuffer: Uint8Array;
  /** The socket closed (for the runtime's registry of open sockets). */
  socketClosed(socket: MemorySocket): void;
  /** Trace hook; undefined when tracing is off. */
  readonly trace: ((line: string) => void) | undefined;
}

/** What lent bytes become once onData returns. */
export const POISON = 0xee;

export const ECONNRESET: PortError = { code: "ECONNRESET", message: "read ECONNRESET" };

/** Counters a test can check after the fact. */
export interface SocketStats {
  /** Bytes accepted by write(). */
  bytesWritten: number;
  /** Bytes the kernel took from the write queue (sent toward the peer). */
  bytesSent: number;
  /** Bytes delivered to onData. */
  bytesRead: number;
  /** onData calls. */
  reads: number;
  /** The highest bufferedAmount seen. */
  maxBuffered: number;
  /** onDrain calls. */
  drains: number;
}

type State = "connecting" | "open" | "closed";

export class MemorySocket implements Socket {
  /** Connecting sockets are "client", accepted ones "server". */
  readonly role: "client" | "server";
  /** The other endpoint, once connected. */
  peer: MemorySocket | undefined;
  /** Faults on the bytes this endpoint sends; may be changed at any time. */
  faults: DirectionFaults;
  /** Bytes this endpoint's kernel buffers for reading (counting bytes in flight to it). */
  receiveWindow: number;
  readonly stats: SocketStats = { bytesWritten: 0, bytesSent: 0, bytesRead: 0, reads: 0, maxBuffered: 0, drains: 0 };
  /** ConnectOptions.keepalive of a connecting socket, as a test reads it (the memory network sends no probes). */
  keepalive: TcpKeepaliveOptions | undefined;
  /** How it closed, once closed. */
  closeReason: CloseReason | undefined;
  closeError: PortError | undefined;
  noDelay = false;
  local: SocketAddress | undefined;
  remote: SocketAddress | undefined;

  private handler: SocketHandler = detachedHandler;
  private state: State;
  /** Events may reach the handler: accepted (server) or onConnect delivered (client). */
  private ready: boolean;
  /** @internal The pending connect attempt, cancelled by close/reset. */
  connectTask: Task | undefined;

  private readonly queue = new WriteQueue();
  private waitingDrain = false;
  private writeClosed = false;
  private pendingShutdown: "end" | "close" | undefined;
  private finSent = false;
  private closedLocally = false;
  private resetCalled = false;
  private finishing = false;
  private pumpScheduled = false;
  /** Bytes sent so far (for resetAfterBytes). */
  private sent = 0;
  private flight: Lane | undefined;
  private flightBytes = 0;
  private flightCount = 0;
  private lastFlightAt = 0;

  private recv: (Uint8Array | undefined)[] = [];
  private recvHead = 0;
  private recvBytes = 0;
  private finArrived = false;
  private finReported = false;
  private rstArrived = false;
  private readonly reads = new ReadDisableCount();
  private readScheduled = false;

  constructor(
    private readonly net: SocketNetwork,
    readonly id: number,
    role: "client" | "server",
    faults: DirectionFaults,
    receiveWindow: number,
  ) {
    this.role = role;
    this.faults = faults;
    this.receiveWindow = receiveWindow;
    this.state = role === "client" ? "connecting" : "open";
    this.ready = false;
  }

  // ---------------------------------------------------------------- the port

  setHandler(handler: SocketHandler): void {
    if (this.state !== "closed") this.handler = handler;
  }

  write(data: Uint8Array): void {
    if (this.writeClosed || this.state === "closed" || data.byteLength === 0) return;
    // Bytes lent to the onData running now are poisoned when it returns: queue a copy,
    // as a lending adapter must (port.ts: Socket.write).
    if (data.buffer === this.net.lendBuffer.buffer) data = data.slice();
    this.stats.bytesWritten += data.byteLength;
    const wasEmpty = this.queue.isEmpty;
    this.queue.push(data);
    // A write to an idle socket goes straight to the kernel (as far as it takes it), like a non-blocking send().
    if (wasEmpty && this.state === "open" && !this.pumpScheduled) this.transfer();
    if (!this.queue.isEmpty) {
      this.waitingDrain = true;
      if (this.queue.bytes > this.stats.maxBuffered) this.stats.maxBuffered = this.queue.bytes;
      this.schedulePump();
    }
  }

  /** Offered as Bun's adapter does (port.ts), so the in-memory tests run the connection's copying path too. */
  writeCopying(data: Uint8Array, offset: number, length: number): void {
    if (length > 0) this.write(keepBytes(data.subarray(offset, offset + length)));
  }

  get bufferedAmount(): number {
    return this.queue.bytes;
  }

  readDisable(disable: boolean): void {
    const transition = this.reads.apply(disable);
    if (transition) this.trace(transition === "pause" ? "reads disabled" : "reads enabled");
    if (transition === "resume") this.scheduleRead();
  }

  get readDisabled(): boolean {
    return this.reads.disabled;
  }

  end(): void {
    if (this.writeClosed || this.state === "closed") return;
    this.writeClosed = true;
    this.trace("end");
    if (this.state === "open" && this.queue.isEmpty) this.sendFin();
    else this.pendingShutdown = "end";
  }

  close(): void {
    if (this.closedLocally || this.state === "closed") return;
    this.closedLocally = true;
    this.writeClosed = true;
    this.trace(`close (${this.queue.bytes} bytes queued)`);
    if (this.state === "connecting") {
      this.cancelConnect();
      this.scheduleFinish("local");
      return;
    }
    if (this.queue.isEmpty) {
      this.sendFin();
      this.scheduleFinish("local");
    } else {
      this.pendingShutdown = "close";
    }
  }

  reset(): void {
    if (this.state === "closed" || this.resetCalled) return;
    this.resetCalled = true;
    this.closedLocally = true;
    this.writeClosed = true;
    this.trace(`reset (${this.queue.bytes} bytes dropped)`);
    this.queue.clear();
    this.pendingShutdown = undefined;
    this.waitingDrain = false;
    if (this.state === "connecting") this.cancelConnect();
    else this.sendRst();
    this.scheduleFinish("local");
  }

  setNoDelay(noDelay: boolean): void {
    this.noDelay = noDelay;
  }

  get localAddress(): SocketAddress | undefined {
    return this.local;
  }

  get remoteAddress(): SocketAddress | undefined {
    return this.remote;
  }

  // ---------------------------------------------------------------- for tests

  get isClosed(): boolean {
    return this.state === "closed";
  }

  /** Bytes arrived and not yet delivered to onData. */
  get unreadBytes(): number {
    return this.recvBytes;
  }

  /** Reset the connection from the network: both endpoints get onClose("error", ECONNRESET). */
  resetFromNetwork(): void {
    if (this.state === "closed") return;
    this.trace("network reset");
    this.queue.clear();
    this.pendingShutdown = undefined;
    this.arriveRst();
    this.peer?.queue.clear();
    this.peer?.arriveRst();
  }

  // ---------------------------------------------------------------- connecting (driven by the runtime)

  /** @internal The connect reached a listener: this (client) and `server` are wired together. */
  established(server: MemorySocket): void {
    this.peer = server;
    server.peer = this;
    this.state = "open";
    this.connectTask = undefined;
    // Bytes written while connecting go out now, then a pending end().
    if (!this.queue.isEmpty) this.schedulePump();
    else if (this.pendingShutdown === "end") this.flushed();
  }

  /** @internal The client learns it is connected (its own turn, possibly after the server's accept). */
  connected(): void {
    if (this.state !== "open" || this.closedLocally) return;
    this.ready = true;
    this.trace(`connected ${fmt(this.local)} -> ${fmt(this.remote)}`);
    this.handler.onConnect();
    this.scheduleRead();
  }

  /** @internal The server side was handed to the listener's onAccept. */
  accepted(): void {
    this.ready = true;
    this.scheduleRead();
  }

  /** @internal The connect failed (ECONNREFUSED, …). */
  fail(error: PortError): void {
    this.trace(`connect failed: ${error.code}`);
    this.finish("error", error);
  }

  private cancelConnect(): void {
    if (this.connectTask) this.net.scheduler.cancel(this.connectTask);
    this.connectTask = undefined;
  }

  // ---------------------------------------------------------------- sending

  /** Room left in the peer's receive window. */
  private room(): number {
    const peer = this.peer;
    if (!peer) return 0;
    if (peer.state === "closed") return Number.MAX_SAFE_INTEGER; // bytes to a closed socket only bounce a RST
    return peer.receiveWindow - this.flightBytes - peer.recvBytes;
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.state !== "open" || this.queue.isEmpty || this.room() <= 0) return;
    this.pumpScheduled = true;
    this.net.scheduler.schedule(this.pump);
  }

  private readonly pump = (): void => {
    this.pumpScheduled = false;
    if (this.state !== "open") return;
    this.transfer();
    if (this.state !== "open") return;
    if (!this.queue.isEmpty) this.schedulePump();
    else this.flushed();
  };

  /** The write queue emptied: onDrain, then a pending end/close. */
  private flushed(): void {
    if (this.waitingDrain) {
      this.waitingDrain = false;
      if (!this.closedLocally) {
        this.stats.drains++;
        this.handler.onDrain();
      }
    }
    if (!this.queue.isEmpty || this.state !== "open") return;
    const shutdown = this.pendingShutdown;
    this.pendingShutdown = undefined;
    if (shutdown) this.sendFin();
    if (shutdown === "close") this.scheduleFinish("local");
  }

  /** Hand bytes from the write queue to the "kernel", as far as the window (and the faults) allow. */
  private transfer(): void {
    const faults = this.faults;
    let budget = Math.min(this.room(), faults.writeWindow ?? Number.MAX_SAFE_INTEGER);
    const limit = faults.resetAfterBytes;
    if (limit !== undefined) budget = Math.min(budget, limit - this.sent);
    while (budget > 0) {
      const chunk = this.queue.peek();
      if (!chunk) break;
      const take = Math.min(chunk.byteLength, budget);
      const piece = take === chunk.byteLength ? chunk : chunk.subarray(0, take);
      this.queue.consume(take);
      budget -= take;
      this.sent += take;
      this.stats.bytesSent += take;
      this.send(piece);
    }
    if (limit !== undefined && this.sent >= limit && !this.queue.isEmpty) this.networkReset();
  }

  private delay(): number {
    const d = this.faults.delayMs;
    if (d === undefined) return 0;
    if (typeof d === "number") return d;
    return d[0] + this.net.prng.random() * (d[1] - d[0]);
  }

  /** Move one piece (data, FIN or RST) toward the peer: at once, or through the flight lane when delayed. */
  private deliver(arrive: () => void, bytes: number): void {
    const delay = this.delay();
    if (delay <= 0 && this.flightCount === 0) {
      arrive();
      return;
    }
    const scheduler = this.net.scheduler;
    this.flight ??= new Lane(`flight ${this.id}`);
    const at = Math.max(scheduler.now + delay, this.lastFlightAt);
    this.lastFlightAt = at;
    this.flightBytes += bytes;
    this.flightCount++;
    scheduler.scheduleAt(
      () => {
        this.flightBytes -= bytes;
        this.flightCount--;
        arrive();
        // Bytes that were in flight to a closed peer leave room for more (which bounce).
        if (this.peer?.state === "closed") this.schedulePump();
      },
      at,
      this.flight,
    );
  }

  private send(piece: Uint8Array): void {
    const peer = this.peer!;
    if (this.faults.delayMs === undefined && this.flightCount === 0) peer.arrive(piece, this);
    else this.deliver(() => peer.arrive(piece, this), piece.byteLength);
  }

  private sendFin(): void {
    if (this.finSent || !this.peer) return;
    this.finSent = true;
    const peer = this.peer;
    this.deliver(() => peer.arriveFin(), 0);
    if (this.finReported && !this.closedLocally) this.scheduleFinish("remote");
  }

  private sendRst(): void {
    const peer = this.peer;
    if (!peer) return;
    this.deliver(() => peer.arriveRst(), 0);
  }

  /** resetAfterBytes reached: the network resets the connection (both ends, the peer after the bytes in flight). */
  private networkReset(): void {
    this.trace(`injected reset after ${this.sent} bytes`);
    this.queue.clear();
    this.pendingShutdown = undefined;
    this.sendRst();
    this.arriveRst();
  }

  // ---------------------------------------------------------------- receiving

  private arrive(piece: Uint8Array, from: MemorySocket): void {
    if (this.state === "closed") {
      // Data for a closed socket: its kernel answers with a RST.
      from.arriveRst();
      return;
    }
    if (this.closedLocally) return; // closing: nobody reads any more
    this.recv.push(piece);
    this.recvBytes += piece.byteLength;
    this.scheduleRead();
  }

  private arriveFin(): void {
    if (this.state === "closed") return;
    this.finArrived = true;
    this.scheduleRead();
  }

  private arriveRst(): void {
    if (this.state === "closed" || this.rstArrived) return;
    this.rstArrived = true;
    this.scheduleRead();
  }

  private scheduleRead(): void {
    if (this.readScheduled || this.state === "closed" || !this.ready) return;
    if (!this.rstArrived) {
      if (this.closedLocally) return;
      if (this.recvBytes === 0 && (!this.finArrived || this.finReported)) return;
      // Disabled reads still report a FIN with nothing unread before it (port.ts, readDisable).
      if (this.reads.disabled && this.recvBytes > 0) return;
    }
    this.readScheduled = true;
    this.net.scheduler.schedule(this.read);
  }

  private readonly read = (): void => {
    this.readScheduled = false;
    if (this.state === "closed") return;
    if (this.rstArrived && (this.recvBytes === 0 || this.reads.disabled || this.closedLocally)) {
      // A RST: what was read before it was delivered (while reading); the rest is lost.
      this.trace(`RST (${this.recvBytes} unread bytes dropped)`);
      this.finish(this.closedLocally ? "local" : "error", ECONNRESET);
      return;
    }
    if (this.closedLocally) return;
    if (this.recvBytes > 0) {
      if (this.reads.disabled) return;
      const size = this.readSize();
      const data = this.net.lendBuffer.subarray(0, size);
      this.take(size, data);
      this.stats.bytesRead += size;
      this.stats.reads++;
      this.peer?.schedulePump(); // the window has room again
      if (this.net.trace) this.trace(`onData ${size}: ${preview(data)}`);
      try {
        this.handler.onData(data);
      } finally {
        data.fill(POISON);
      }
      this.scheduleRead();
      return;
    }
    if (this.finArrived && !this.finReported) {
      this.finReported = true;
      this.trace("FIN received");
      this.handler.onEnd();
      if (this.finSent && !this.closedLocally) this.scheduleFinish("remote");
    }
  };

  private readSize(): number {
    const cap = Math.min(this.recvBytes, this.net.maxReadSize);
    const split = this.peer?.faults.split;
    if (split === undefined) return cap;
    if (split === "byte") return 1;
    if (split === "random") return 1 + this.net.prng.int(cap);
    return Math.max(1, Math.min(cap, split));
  }

  /** Move the first `size` bytes of the receive buffer into `into` (the lent read). */
  private take(size: number, into: Uint8Array): void {
    const recv = this.recv;
    let at = 0;
    while (at < size) {
      const chunk = recv[this.recvHead]!;
      const n = Math.min(chunk.byteLength, size - at);
      into.set(n === chunk.byteLength ? chunk : chunk.subarray(0, n), at);
      at += n;
      if (n === chunk.byteLength) recv[this.recvHead++] = undefined;
      else recv[this.recvHead] = chunk.subarray(n);
    }
    this.recvBytes -= size;
    if (this.recvHead === recv.length) {
      recv.length = 0;
      this.recvHead = 0;
    } else if (this.recvHead > 64 && this.recvHead * 2 > recv.length) {
      this.recv = recv.slice(this.recvHead);
      this.recvHead = 0;
    }
  }

  // ---------------------------------------------------------------- closing

  private scheduleFinish(reason: CloseReason, error?: PortError): void {
    if (this.finishing || this.state === "closed") return;
    this.finishing = true;
    this.net.scheduler.schedule(() => this.finish(reason, error));
  }

  private finish(reason: CloseReason, error?: PortError): void {
    if (this.state === "closed") return;
    const wasOpen = this.state === "open";
    this.state = "closed";
    this.queue.clear();
    this.recv = [];
    this.recvHead = 0;
    this.recvBytes = 0;
    this.waitingDrain = false;
    this.closeReason = reason;
    this.closeError = reason === "local" ? undefined : error;
    this.trace(`closed: ${reason}${this.closeError ? ` (${this.closeError.code})` : ""}`);
    this.net.socketClosed(this);
    const handler = this.handler;
    this.handler = detachedHandler;
    // The peer's queued bytes may now go out (and bounce a RST, as a closed socket's kernel would).
    if (wasOpen) this.peer?.schedulePump();
    handler.onClose(reason, this.closeError);
  }

  private trace(what: string): void {
    this.net.trace?.(`t=${this.net.scheduler.now} S${this.id}(${this.role}) ${what}`);
  }
}

function preview(data: Uint8Array): string {
  let s = "";
  for (let i = 0; i < Math.min(data.byteLength, 60); i++) {
    const c = data[i]!;
    s += c === 13 ? "\\r" : c === 10 ? "\\n" : c >= 32 && c < 127 ? String.fromCharCode(c) : ".";
  }
  return JSON.stringify(data.byteLength > 60 ? `${s}…` : s);
}

function fmt(address: SocketAddress | undefined): string {
  if (!address) return "?";
  return address.family === 6 ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}
