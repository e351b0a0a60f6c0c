import type * as tls from "node:tls";
import type { Duplex } from "node:stream";
import { nodeStream, nodeTls } from "../builtins.ts";
import type { Buffer } from "node:buffer";
import type { CloseReason, PortError, Socket, SocketAddress, SocketHandler, TlsSession } from "../../../core/port.ts";
import { keepBytes } from "../../../core/util/bytes.ts";
import { ReadDisableCount } from "../read-disable-count.ts";
import { HeldReads } from "../held-reads.ts";
import { detachedHandler } from "../detached-handler.ts";
import { toPortError } from "../errors.ts";
import type { NodeTlsContext } from "./node-tls-context.ts";
import { tlsSession } from "./tls-session.ts";

/**
 * A port Socket carrying TLS over another port Socket (the adapter's own plain one):
 * the runtime's `node:tls` TLSSocket runs over a Duplex whose ciphertext goes to and
 * comes from `inner`. Node, Bun and Deno each implement node:tls with their own TLS
 * library (OpenSSL, BoringSSL, rustls), and each runs a TLSSocket over a Duplex as a
 * server as well as a client; the Duplex is what lets a server-side handshake start
 * with bytes a listener filter already read (`peeked`). Bun and Deno use it; node makes
 * its TLS sockets on the net.Socket's own handle (runtimes/node/native-tls-socket.ts) and
 * comes here only for an accepted socket it cannot hand over whole.
 *
 * The inner socket keeps the port's write-queue promise (Bun and Deno write partially):
 * the Duplex's write completes only once `inner` has handed everything to the kernel,
 * so TLS output waiting on a slow peer shows in the TLSSocket's own writableLength and
 * in `bufferedAmount`, and node's stream stops encrypting more than its high-water mark.
 */
/** How long close() waits for a handshake still under way (as Envoy's default delayed_close_timeout). */
const CLOSE_HANDSHAKE_WAIT_MS = 1000;

export class NodeTlsSocket implements Socket, SocketHandler {
  tls: TlsSession | undefined;
  private handler: SocketHandler = detachedHandler;
  private readonly transport: Duplex;
  private readonly secure: tls.TLSSocket;
  private readonly reads = new ReadDisableCount();
  private readonly heldReads = new HeldReads();
  /** The transport's write waiting for `inner` to drain. */
  private pendingWrite: ((error?: Error | null) => void) | undefined;
  /** `inner`'s reads are disabled because the transport's read buffer is full. */
  private innerPaused = false;
  private innerClosed = false;
  private waitingDrain = false;
  private writeClosed = false;
  private closedLocally = false;
  /** `inner` is read-disabled (one count) while plaintext is held for a read-disabled handler. */
  private innerHeld = false;
  private handshakeDone = false;
  /** close() came before the handshake finished: how long it may still take. */
  private handshakeWait: ReturnType<typeof setTimeout> | undefined;
  private handshakeFailed = false;
  private done = false;
  private error: PortError | undefined;
  private remote: SocketAddress | undefined;
  private local: SocketAddress | undefined;

  constructor(
    private readonly inner: Socket,
    private readonly context: NodeTlsContext,
    serverName: string | undefined,
    peeked: Uint8Array | undefined,
  ) {
    inner.setHandler(this);
    this.transport = new (nodeStream().Duplex)({
      allowHalfOpen: true,
      read: () => this.resumeInner(),
      write: (chunk: Uint8Array, _encoding, callback) => this.writeCiphertext(chunk, callback),
      final: (callback) => {
        inner.end();
        callback();
      },
      destroy: (err, callback) => {
        this.closeInner(err !== null);
        callback(err);
      },
    });
    if (peeked && peeked.byteLength > 0) this.transport.push(keepBytes(peeked));
    this.secure =
      context.side === "server"
        ? new (nodeTls().TLSSocket)(this.transport, context.serverSocketOptions())
        : nodeTls().connect(context.clientConnectOptions(this.transport, serverName));
    const secure = this.secure;
    secure.on(context.side === "server" ? "secure" : "secureConnect", () => this.onSecure(serverName));
    secure.on("data", (data: Uint8Array) => this.onPlaintext(data));
    secure.on("end", () => {
      if (!this.heldReads.holdEnd()) this.handler.onEnd();
    });
    secure.on("error", (err: unknown) => this.onSecureError(err));
    secure.on("close", () => this.onSecureClose());
    if (context.side === "client" && context.keepsSessions) secure.on("session", (session: Buffer) => context.keepSession(serverName, session));
  }

  // ---- the inner (ciphertext) socket's events ----

  onConnect(): void {
    // The handshake's first flight is already queued on `inner`; `onConnect` goes to
    // the handler once the handshake is done (onSecure).
  }

  onData(data: Uint8Array): void {
    // `data` is lent for this call; the transport's buffer keeps it past the call.
    if (!this.transport.push(keepBytes(data)) && !this.innerPaused) {
      this.innerPaused = true;
      this.inner.readDisable(true);
    }
  }

  onEnd(): void {
    this.transport.push(null);
  }

  onDrain(): void {
    const callback = this.pendingWrite;
    this.pendingWrite = undefined;
    callback?.();
    // The TLSSocket's own write callbacks may all have run while `inner` still held bytes.
    if (this.waitingDrain && this.bufferedAmount === 0) this.onWritten();
  }

  onClose(reason: CloseReason, error?: PortError): void {
    this.innerClosed = true;
    if (error) this.error ??= error;
    const callback = this.pendingWrite;
    this.pendingWrite = undefined;
    callback?.(reason === "error" ? new Error(error?.message ?? "connection reset") : null);
    if (!this.done) {
      // The peer's FIN arrived already as onEnd; whatever the reason, the TLS stream is over.
      this.transport.push(null);
      this.secure.destroy(reason === "error" && error ? Object.assign(new Error(error.message), { code: error.code }) : undefined);
    }
  }

  private resumeInner(): void {
    if (!this.innerPaused) return;
    this.innerPaused = false;
    this.inner.readDisable(false);
  }

  private writeCiphertext(chunk: Uint8Array, callback: (error?: Error | null) => void): void {
    if (this.innerClosed) return callback(new Error("socket closed"));
    this.inner.write(chunk);
    if (this.inner.bufferedAmount === 0) callback();
    else this.pendingWrite = callback;
  }

  private closeInner(abort: boolean): void {
    if (this.innerClosed) return;
    this.innerClosed = true;
    if (abort) this.inner.reset();
    else this.inner.close();
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
    this.heldReads.hold(data, this.secure);
    // Pausing the TLSSocket should stop it reading the transport, and the transport's full
    // buffer then stops `inner`; Deno's node:tls reads on regardless, so `inner` stops here
    // too (its readDisable is counted: this hold is one count, released on resume).
    if (!this.innerHeld) {
      this.innerHeld = true;
      this.inner.readDisable(true);
    }
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
    this.closeInner(this.error !== undefined && !this.closedLocally);
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
    // `data` may be bytes a runtime lent to an onData still running: keep a copy.
    this.secure.write(keepBytes(data), this.afterWrite);
    if (this.bufferedAmount > 0) this.waitingDrain = true;
  }

  /** `write` copies anyway, so the caller's buffer is free as soon as this returns. */
  writeCopying(data: Uint8Array, offset: number, length: number): void {
    this.write(data.subarray(offset, offset + length));
  }

  private readonly afterWrite = this.onWritten.bind(this);

  private onWritten(): void {
    if (this.waitingDrain && this.bufferedAmount === 0 && !this.done) {
      this.waitingDrain = false;
      this.handler.onDrain();
    }
  }

  get bufferedAmount(): number {
    return this.secure.writableLength + this.transport.writableLength + this.inner.bufferedAmount;
  }

  readDisable(disable: boolean): void {
    if (this.reads.apply(disable) !== "resume") return;
    if (this.heldReads.waiting) queueMicrotask(this.deliverHeld);
    else this.heldReads.resume(this.secure);
    if (this.innerHeld) {
      this.innerHeld = false;
      if (!this.innerClosed) this.inner.readDisable(false);
    }
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
    // close_notify, then the transport's FIN (its `final`).
    this.secure.end();
  }

  close(): void {
    if (this.closedLocally || this.done) return;
    this.closedLocally = true;
    this.writeClosed = true;
    if (this.handshakeDone) return this.shutdown();
    // Queued bytes can only leave once the handshake is done (and pausing the TLSSocket
    // would stall the handshake itself), and a peer that already counts itself connected
    // would see a reset if we closed under its last handshake flight: onSecure (or the
    // handshake's failure) decides. A peer that never finishes its handshake must not keep
    // the socket, though: past CLOSE_HANDSHAKE_WAIT_MS it is closed without a TLS shutdown
    // (Envoy's SslSocket::closeSocket sends close_notify only after a complete handshake).
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
    this.closeInner(true);
    this.secure.destroy();
  }

  setNoDelay(noDelay: boolean): void {
    this.inner.setNoDelay(noDelay);
  }

  get localAddress(): SocketAddress | undefined {
    return (this.local ??= this.inner.localAddress);
  }

  get remoteAddress(): SocketAddress | undefined {
    return (this.remote ??= this.inner.remoteAddress);
  }
}
