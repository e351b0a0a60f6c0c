import type * as tls from "node:tls";
import type { Buffer } from "node:buffer";
import type { CloseReason, PortError, Socket, SocketAddress, SocketHandler, TlsSession } from "../../../core/port.ts";
import { concatBytes, keepBytes } from "../../../core/util/bytes.ts";
import { ReadDisableCount } from "../read-disable-count.ts";
import { HeldReads } from "../held-reads.ts";
import { detachedHandler } from "../detached-handler.ts";
import { toPortError } from "../errors.ts";
import type { NodeTlsContext } from "./node-tls-context.ts";
import { tlsSession } from "./tls-session.ts";

/** How long close() waits for a handshake still under way (as Envoy's default delayed_close_timeout). */
const CLOSE_HANDSHAKE_WAIT_MS = 1000;

/**
 * A port Socket carrying TLS on a `node:tls` TLSSocket, whatever carries the ciphertext
 * under it: the net.Socket's own handle (runtimes/node/native-tls-socket.ts) or a Duplex
 * over another port Socket (node-tls-socket.ts). Both are the same socket to the core:
 * the handshake reported once (a peer certificate the core refuses gets no data),
 * counted readDisable with a held chunk, drain once what is buffered is out, half-close
 * (close_notify, then FIN), close waiting (bounded) for a handshake under way and then
 * sending close_notify, reset, and the same close reasons. A subclass says what lies
 * under the TLSSocket: how much it buffers, how it is closed and reset, its addresses.
 */
export abstract class NodeTlsSocketBase implements Socket {
  tls: TlsSession | undefined;
  private handler: SocketHandler = detachedHandler;
  /** Set by the subclass's constructor (`attach`), once what it runs over exists. */
  protected secure!: tls.TLSSocket;
  private readonly reads = new ReadDisableCount();
  private readonly heldReads = new HeldReads();
  protected waitingDrain = false;
  private writeClosed = false;
  protected closedLocally = false;
  private handshakeDone = false;
  /** close() came before the handshake finished: how long it may still take. */
  private handshakeWait: ReturnType<typeof setTimeout> | undefined;
  private handshakeFailed = false;
  protected done = false;
  protected error: PortError | undefined;

  constructor(protected readonly context: NodeTlsContext) {}

  /** Takes `secure`'s events. */
  protected attach(secure: tls.TLSSocket, serverName: string | undefined): void {
    const context = this.context;
    this.secure = secure;
    if (context.side === "server") {
      // A server never renegotiates, as Envoy's BoringSSL: node's OpenSSL otherwise runs a
      // client's TLS 1.2 renegotiation (a full handshake each, up to tls.CLIENT_RENEG_LIMIT).
      secure.disableRenegotiation();
      // A TLS error after the handshake (that refusal among them) on a server TLSSocket
      // made without a tls.Server is only emitted as "_tlsError" (lib/_tls_wrap.js
      // _emitTLSError: control is never released), where a tls.Server would hear it; the
      // connection ends on it, as the server's would.
      secure.on("_tlsError", (err: Error) => secure.destroy(err));
    }
    secure.on(context.side === "server" ? "secure" : "secureConnect", () => this.onSecure(serverName));
    secure.on("data", (data: Uint8Array) => this.onPlaintext(data));
    secure.on("end", () => {
      // Before the handshake completes there is no plaintext EOF to report: a peer's FIN
      // during the handshake comes as "end" before its "error" on every runtime, and Bun's
      // TLSSocket emits "end" on the destroy() a refusal does; the core took either for the
      // peer's FIN and closed the connection itself (a local connection failure). The close
      // that follows is reported as the error it is, as Envoy's ConnectionImpl closes on a
      // failed handshake (RemoteClose: "remote connection failure"). After this side closed
      // or reset the connection, Bun's "end" on that destroy() is not the peer's either.
      if (!this.handshakeDone || this.closedLocally) return;
      if (!this.heldReads.holdEnd()) this.handler.onEnd();
    });
    secure.on("error", (err: unknown) => this.onSecureError(err));
    secure.on("close", () => this.onSecureClose());
    if (context.side === "client" && context.keepsSessions) secure.on("session", (session: Buffer) => context.keepSession(serverName, session));
  }

  /** Plaintext written and not yet handed to the kernel, in the TLSSocket and under it. */
  abstract get bufferedAmount(): number;
  /** The TLSSocket has closed: so is what carries it (a reset if the TLS stream failed). */
  protected abstract closeTransport(): void;
  /** reset(): what carries the TLSSocket is reset, before the TLSSocket is destroyed. */
  protected abstract resetTransport(): void;
  /** Plaintext came while reads are disabled and is held (the TLSSocket is paused). */
  protected onPlaintextHeld(): void {}
  /** Reads are enabled again. */
  protected onReadsEnabled(): void {}
  abstract setNoDelay(noDelay: boolean): void;
  abstract get localAddress(): SocketAddress | undefined;
  abstract get remoteAddress(): SocketAddress | undefined;

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
    // Both sides: a client's connect is done, an accepted socket's handshake is (the core's
    // transport_socket_connect_timeout waits for this, as Envoy's Connected event).
    this.handler.onConnect();
    if (this.waitingDrain && this.bufferedAmount === 0) this.onWritten();
  }

  private onPlaintext(data: Uint8Array): void {
    if (this.done || this.closedLocally) return;
    if (!this.reads.disabled) return this.handler.onData(data);
    // Paused, the TLSSocket buffers up to its high-water mark and then stops reading what is under it.
    this.heldReads.hold(data, this.secure);
    this.onPlaintextHeld();
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
    this.closeTransport();
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

  /**
   * Joined into the one copy `write` makes anyway, and written once: node:tls makes a record
   * per write, so an HTTP/2 DATA frame's 9-byte header would be a record of its own.
   */
  writev(chunks: readonly Uint8Array[]): void {
    if (this.writeClosed || this.done) return;
    let bytes = 0;
    for (const chunk of chunks) bytes += chunk.byteLength;
    if (bytes === 0) return;
    // A copy even of a single chunk: it may be bytes lent to an onData still running.
    const joined = chunks.length === 1 ? keepBytes(chunks[0]!) : concatBytes(chunks, bytes);
    this.secure.write(joined, this.afterWrite);
    if (this.bufferedAmount > 0) this.waitingDrain = true;
  }

  /** `write` copies anyway, so the caller's buffer is free as soon as this returns. */
  writeCopying(data: Uint8Array, offset: number, length: number): void {
    this.write(data.subarray(offset, offset + length));
  }

  /** A bound method, not an arrow: see SocketReads on closures made per connection under tsx. */
  private readonly afterWrite = this.onWritten.bind(this);

  protected onWritten(): void {
    if (this.waitingDrain && this.bufferedAmount === 0 && !this.done) {
      this.waitingDrain = false;
      this.handler.onDrain();
    }
  }

  readDisable(disable: boolean): void {
    if (this.reads.apply(disable) !== "resume") return;
    if (this.heldReads.waiting) queueMicrotask(this.deliverHeld);
    else this.heldReads.resume(this.secure);
    this.onReadsEnabled();
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
    // close_notify, then FIN: TLSWrap's shutdown shuts the TCP handle down after its
    // records; over a Duplex, the Duplex's `final` ends what it writes to.
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
    this.resetTransport();
    this.secure.destroy();
  }
}
