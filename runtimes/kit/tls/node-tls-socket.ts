import type { Duplex } from "node:stream";
import { nodeStream, nodeTls } from "../builtins.ts";
import type { CloseReason, PortError, Socket, SocketAddress, SocketHandler } from "../../../core/port.ts";
import { keepBytes } from "../../../core/util/bytes.ts";
import type { NodeTlsContext } from "./node-tls-context.ts";
import { NodeTlsSocketBase } from "./node-tls-socket-base.ts";

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
 * The port's side of it (handshake, reads, writes, closing) is NodeTlsSocketBase's.
 */
export class NodeTlsSocket extends NodeTlsSocketBase implements SocketHandler {
  private readonly transport: Duplex;
  /** The transport's write waiting for `inner` to drain. */
  private pendingWrite: ((error?: Error | null) => void) | undefined;
  /** `inner`'s reads are disabled because the transport's read buffer is full. */
  private innerPaused = false;
  private innerClosed = false;
  /** `inner` is read-disabled (one count) while plaintext is held for a read-disabled handler. */
  private innerHeld = false;
  private remote: SocketAddress | undefined;
  private local: SocketAddress | undefined;
  /**
   * Ciphertext (the listener filters' peeked bytes, then whatever `inner` reads) held
   * until the TLSSocket has started, and the FIN behind it. Deno's TLSSocket starts on a
   * later tick (`_start`, process.nextTick): a handshake failed on bytes it got before
   * then destroys the socket, and the start that follows dereferences the destroyed handle
   * and throws out of the tick queue, ending the process (Deno 2.9). One macrotask later,
   * every tick queued at construction has run.
   */
  private early: Uint8Array[] | undefined;
  private earlyEnd = false;

  constructor(
    private readonly inner: Socket,
    context: NodeTlsContext,
    serverName: string | undefined,
    peeked: Uint8Array | undefined,
  ) {
    super(context);
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
    if (peeked && peeked.byteLength > 0) {
      this.early = [keepBytes(peeked)];
      setImmediate(() => this.releaseEarly());
    }
    this.attach(
      context.side === "server"
        ? new (nodeTls().TLSSocket)(this.transport, context.serverSocketOptions())
        : nodeTls().connect(context.clientConnectOptions(this.transport, serverName)),
      serverName,
    );
  }

  // ---- the inner (ciphertext) socket's events ----

  onConnect(): void {
    // The handshake's first flight is already queued on `inner`; `onConnect` goes to
    // the handler once the handshake is done (onSecure).
  }

  onData(data: Uint8Array): void {
    // `data` is lent for this call; the transport's buffer keeps it past the call.
    if (this.early !== undefined) {
      this.early.push(keepBytes(data));
      return;
    }
    if (!this.transport.push(keepBytes(data)) && !this.innerPaused) {
      this.innerPaused = true;
      this.inner.readDisable(true);
    }
  }

  onEnd(): void {
    if (this.early !== undefined) this.earlyEnd = true;
    else this.transport.push(null);
  }

  private releaseEarly(): void {
    const early = this.early;
    this.early = undefined;
    if (early === undefined || this.innerClosed || this.done) return;
    for (const chunk of early) this.onData(chunk);
    if (this.earlyEnd) this.transport.push(null);
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

  // ---- what the base asks of the transport ----

  protected override closeTransport(): void {
    this.closeInner(this.error !== undefined && !this.closedLocally);
  }

  protected override resetTransport(): void {
    this.closeInner(true);
  }

  protected override onPlaintextHeld(): void {
    // Pausing the TLSSocket should stop it reading the transport, and the transport's full
    // buffer then stops `inner`; Deno's node:tls reads on regardless, so `inner` stops here
    // too (its readDisable is counted: this hold is one count, released on resume).
    if (!this.innerHeld) {
      this.innerHeld = true;
      this.inner.readDisable(true);
    }
  }

  protected override onReadsEnabled(): void {
    if (this.innerHeld) {
      this.innerHeld = false;
      if (!this.innerClosed) this.inner.readDisable(false);
    }
  }

  override get bufferedAmount(): number {
    return this.secure.writableLength + this.transport.writableLength + this.inner.bufferedAmount;
  }

  override setNoDelay(noDelay: boolean): void {
    this.inner.setNoDelay(noDelay);
  }

  override get localAddress(): SocketAddress | undefined {
    return (this.local ??= this.inner.localAddress);
  }

  override get remoteAddress(): SocketAddress | undefined {
    return (this.remote ??= this.inner.remoteAddress);
  }
}
