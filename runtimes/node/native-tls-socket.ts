import type * as net from "node:net";
import type * as tls from "node:tls";
import type { Buffer } from "node:buffer";
import type { CloseReason, PortError, Socket, SocketAddress, SocketHandler, TlsSession } from "../../core/port.ts";
import { keepBytes } from "../../core/util/bytes.ts";
import { nodeTls } from "../kit/builtins.ts";
import { ReadDisableCount } from "../kit/read-disable-count.ts";
import { HeldReads } from "../kit/held-reads.ts";
import { detachedHandler } from "../kit/detached-handler.ts";
import { toPortError } from "../kit/errors.ts";
import type { NodeTlsContext } from "../kit/tls/node-tls-context.ts";
import { tlsSession } from "../kit/tls/tls-session.ts";
import { toAddress } from "./node-socket.ts";

/** How long close() waits for a handshake still under way (as Envoy's default delayed_close_timeout). */
const CLOSE_HANDSHAKE_WAIT_MS = 1000;

/**
 * A port Socket carrying TLS on a node `net.Socket`'s own handle: node's TLSSocket made
 * on the net.Socket puts its C++ TLSWrap right on the TCP handle (node's own tls.Server
 * does the same), so ciphertext never enters JavaScript. The kit's NodeTlsSocket, which
 * Bun and Deno use, runs a TLSSocket over a JS Duplex instead; on node that makes every
 * read and write cross into JS and back through a JSStreamSocket (node's JSStream),
 * ~12 µs of CPU per small request (docs/performance.md, "HTTPS keep-alive on node").
 *
 * Server side, bytes a listener filter already read (a TLS inspector's ClientHello) and
 * bytes the plain socket held for a read-disabled handler are `unshift`ed back onto the
 * paused net.Socket before wrapping: node's TLSSocket feeds what the socket has buffered
 * to TLSWrap first (lib/_tls_wrap.js, initRead), then reads the handle.
 *
 * The port's semantics are NodeTlsSocket's: counted readDisable with a held chunk,
 * bufferedAmount, close waiting (bounded) for a handshake under way and then sending
 * close_notify, reset, half-close, and the same close reasons and handshake callbacks.
 */
export class NativeTlsSocket implements Socket {
  tls: TlsSession | undefined;
  private handler: SocketHandler = detachedHandler;
  private readonly secure: tls.TLSSocket;
  private readonly reads = new ReadDisableCount();
  private readonly heldReads = new HeldReads();
  private waitingDrain = false;
  private writeClosed = false;
  private closedLocally = false;
  private handshakeDone = false;
  /** close() came before the handshake finished: how long it may still take. */
  private handshakeWait: ReturnType<typeof setTimeout> | undefined;
  private handshakeFailed = false;
  private done = false;
  private error: PortError | undefined;
  private remote: SocketAddress | undefined;
  private local: SocketAddress | undefined;

  /** A server socket on an accepted net.Socket, paused; `first`: what was read from it already. */
  static accept(raw: net.Socket, context: NodeTlsContext, first: Uint8Array | undefined): NativeTlsSocket {
    if (first && first.byteLength > 0) raw.unshift(keepBytes(first));
    return new NativeTlsSocket(raw, context, undefined, new (nodeTls().TLSSocket)(raw, context.serverSocketOptions()));
  }

  /** A client socket on a net.Socket still connecting: the handshake starts once it is connected. */
  static connect(raw: net.Socket, context: NodeTlsContext, serverName: string | undefined): NativeTlsSocket {
    return new NativeTlsSocket(raw, context, serverName, nodeTls().connect(context.clientConnectOptions(raw, serverName)));
  }

  private constructor(
    private readonly raw: net.Socket,
    private readonly context: NodeTlsContext,
    serverName: string | undefined,
    secure: tls.TLSSocket,
  ) {
    this.secure = secure;
    // The port's sockets start with TCP_NODELAY (node-socket.ts says why).
    raw.setNoDelay(true);
    secure.on(context.side === "server" ? "secure" : "secureConnect", () => this.onSecure(serverName));
    secure.on("data", (data: Uint8Array) => this.onPlaintext(data));
    secure.on("end", () => {
      if (!this.heldReads.holdEnd()) this.handler.onEnd();
    });
    secure.on("error", (err: unknown) => this.onSecureError(err));
    secure.on("close", () => this.onSecureClose());
    if (context.side === "client" && context.keepsSessions) secure.on("session", (session: Buffer) => context.keepSession(serverName, session));
  }

  // ---- the TLSSocket's events ----

  private onSecure(serverName: string | undefined): void {
    if (this.done || this.handshakeFailed) return;
    const session = tlsSession(this.secure, this.context.side === "client" ? serverName : undefined, this.context.verifiesPeer);
    this.tls = session;
    if (!this.context.callbacks.onHandshake(session)) {
      // Refused by the core's certificate checks: nothing is delivered, the peer gets no data.
      this.error = { code: "TLS_PEER_REFUSED", message: "peer certificate refused" };
      this.secure.destroy();
      return;
    }
    this.handshakeDone = true;
    clearTimeout(this.handshakeWait);
    if (this.closedLocally) return this.shutdown();
    if (this.context.side === "client") this.handler.onConnect();
    if (this.waitingDrain && this.bufferedAmount === 0) this.onWritten();
  }

  private onPlaintext(data: Uint8Array): void {
    if (this.done || this.closedLocally) return;
    if (!this.reads.disabled) return this.handler.onData(data);
    // Paused, the TLSSocket buffers up to its high-water mark and then stops reading the handle.
    this.heldReads.hold(data, this.secure);
  }

  private onSecureError(err: unknown): void {
    const error = toPortError(err);
    this.error ??= error;
    if (!this.handshakeDone && !this.handshakeFailed && !this.closedLocally) {
      this.handshakeFailed = true; // reported once
      this.context.callbacks.onHandshakeError(error);
    }
  }

  private onSecureClose(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.handshakeWait);
    // The TLSSocket's close has closed the net.Socket too (TLSWrap.close).
    if (!this.raw.destroyed) this.raw.destroy();
    const reason: CloseReason = this.closedLocally ? "local" : this.error ? "error" : "remote";
    const handler = this.handler;
    this.handler = detachedHandler;
    handler.onClose(reason, reason === "local" ? undefined : this.error);
  }

  // ---- the port's Socket ----

  setHandler(handler: SocketHandler): void {
    this.handler = handler;
  }

  write(data: Uint8Array): void {
    if (this.writeClosed || data.byteLength === 0 || this.done) return;
    // node:tls may keep `data` queued (before the handshake, behind a slow peer), and
    // `data` may be bytes lent to an onData still running: keep a copy.
    this.secure.write(keepBytes(data), this.afterWrite);
    if (this.bufferedAmount > 0) this.waitingDrain = true;
  }

  /** `write` copies anyway, so the caller's buffer is free as soon as this returns. */
  writeCopying(data: Uint8Array, offset: number, length: number): void {
    this.write(data.subarray(offset, offset + length));
  }

  /** A bound method, not an arrow: see SocketReads on closures made per connection under tsx. */
  private readonly afterWrite = this.onWritten.bind(this);

  private onWritten(): void {
    if (this.waitingDrain && this.bufferedAmount === 0 && !this.done) {
      this.waitingDrain = false;
      this.handler.onDrain();
    }
  }

  /** Plaintext not yet encrypted and handed to the kernel (TLSWrap completes a write once its records are written). */
  get bufferedAmount(): number {
    return this.secure.writableLength + this.raw.writableLength;
  }

  readDisable(disable: boolean): void {
    if (this.reads.apply(disable) !== "resume") return;
    if (this.heldReads.waiting) queueMicrotask(this.deliverHeld);
    else this.heldReads.resume(this.secure);
  }

  private readonly deliverHeld = (): void => {
    if (this.reads.disabled || this.done) return;
    this.heldReads.deliver(this.handler, this.reads, this.secure);
  };

  get readDisabled(): boolean {
    return this.reads.disabled;
  }

  end(): void {
    if (this.writeClosed) return;
    this.writeClosed = true;
    // close_notify, then FIN (TLSWrap's shutdown shuts the TCP handle down after its records).
    this.secure.end();
  }

  close(): void {
    if (this.closedLocally || this.done) return;
    this.closedLocally = true;
    this.writeClosed = true;
    if (this.handshakeDone) return this.shutdown();
    // As NodeTlsSocket.close (runtimes/kit/tls/node-tls-socket.ts): the handshake decides,
    // within CLOSE_HANDSHAKE_WAIT_MS (Envoy's SslSocket::closeSocket sends close_notify only
    // after a complete handshake).
    this.handshakeWait = setTimeout(() => {
      if (!this.handshakeDone && !this.done) this.secure.destroy();
    }, CLOSE_HANDSHAKE_WAIT_MS);
  }

  /** close_notify once what is queued is encrypted and out, then close (Envoy's SslSocket::closeSocket shuts TLS down first). */
  private shutdown(): void {
    this.secure.pause();
    if (this.secure.writableFinished) this.secure.destroy();
    else this.secure.end(() => this.secure.destroy());
  }

  reset(): void {
    if (this.done) return;
    this.closedLocally = true;
    this.writeClosed = true;
    // RST: the TLSSocket's close destroys the net.Socket (TLSWrap.close in lib/_tls_wrap.js),
    // and net's destroy resets when `resetAndClosing` is set, which is all resetAndDestroy()
    // does before it. Resetting the net.Socket first and then destroying the TLSSocket
    // crashes node 20 (SIGSEGV once the TLSWrap is freed under the closing TCP handle). A
    // socket still connecting has nothing to reset: it is dropped.
    if (!this.raw.destroyed && !this.raw.connecting) (this.raw as unknown as { resetAndClosing: boolean }).resetAndClosing = true;
    this.secure.destroy();
  }

  setNoDelay(noDelay: boolean): void {
    this.raw.setNoDelay(noDelay);
  }

  get localAddress(): SocketAddress | undefined {
    return (this.local ??= toAddress(this.raw.localAddress, this.raw.localPort, this.raw.localFamily));
  }

  get remoteAddress(): SocketAddress | undefined {
    return (this.remote ??= toAddress(this.raw.remoteAddress, this.raw.remotePort, this.raw.remoteFamily));
  }
}
