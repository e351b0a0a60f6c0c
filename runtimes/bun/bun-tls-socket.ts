import type * as tls from "node:tls";
import type { PortError, SocketHandler, TlsHandshakeCallbacks, TlsSession } from "../../core/port.ts";
import { concatBytes, keepBytes } from "../../core/util/bytes.ts";
import { toPortError } from "../kit/errors.ts";
import { tlsSession } from "../kit/tls/tls-session.ts";
import type { BunServerTlsOptions, BunSocketHandle, BunSocketHandlers, BunTlsSocketHandle } from "./bun-api.ts";
import { BunSocket } from "./bun-socket.ts";

/** How long close() waits for a handshake still under way (as the kit's node-tls-socket-base.ts, Envoy's default delayed_close_timeout). */
const CLOSE_HANDSHAKE_WAIT_MS = 1000;

/**
 * A server-side TLS connection terminated by Bun itself: the accepted socket is upgraded
 * in place (Bun's `upgradeTLS`, what its own tls.TLSSocket does on a net.Socket), with
 * the ClientHello the tls_inspector already read as the handshake's first bytes. The
 * ciphertext then stays in Bun's native code (BoringSSL under uSockets) and only
 * plaintext crosses into JavaScript, where the kit's TLSSocket over a Duplex
 * (runtimes/kit/tls/node-tls-socket.ts) moves every byte through JavaScript twice.
 * Everything else — the write queue, counted read-disable, half-close — is BunSocket's,
 * over the TLS socket's handle, which takes the same calls as a plain one.
 */
export class BunTlsSocket extends BunSocket {
  tls: TlsSession | undefined;
  private handshakeDone = false;
  /** The handshake's failure was reported (once). */
  private handshakeFailed = false;
  private handshakeWait: ReturnType<typeof setTimeout> | undefined;
  /** Inside upgradeTLS: a close that comes now (a bad ClientHello) is reported once the core has set its handler. */
  private upgrading = true;
  private closedWhileUpgrading: { error?: unknown } | undefined;

  private constructor(
    /** The native secure context for a server name (several certificates chosen by SNI). */
    readonly sni: ((serverName: string) => unknown) | undefined,
    private readonly callbacks: TlsHandshakeCallbacks,
    private readonly verifiesPeer: boolean,
  ) {
    super();
  }

  /**
   * `plain`'s Bun socket upgraded to TLS in Bun, or undefined when it cannot be handed
   * over (it was written to, holds reads, or is closing): the caller then keeps the kit's
   * path. An upgrade Bun refuses after the hand-over is a failed handshake.
   */
  static upgrade(plain: BunSocket, options: BunServerTlsOptions, sni: ((serverName: string) => unknown) | undefined, callbacks: TlsHandshakeCallbacks, verifiesPeer: boolean, peeked: Uint8Array | undefined): BunTlsSocket | undefined {
    if (!plain.canHandOver) return undefined;
    const handle = plain.handOver();
    if (!handle?.upgradeTLS) return undefined;
    const secure = new BunTlsSocket(sni, callbacks, verifiesPeer);
    // The raw socket's events still come to the listener's handlers (Bun reports the
    // ciphertext it reads there too, as to its own net.Socket under a TLSSocket): they go nowhere.
    handle.data = RAW_SINK;
    let pair: ReturnType<NonNullable<BunSocketHandle["upgradeTLS"]>>;
    try {
      pair = handle.upgradeTLS({
        data: secure,
        tls: options,
        socket: tlsHandlers,
        isServer: true,
        // Bun reads it inside the call; a copy, as `peeked` is the core's buffer.
        ...(peeked && peeked.byteLength > 0 ? { initialData: keepBytes(peeked) } : {}),
      });
    } catch (err) {
      pair = undefined;
      secure.onBunError(err);
    }
    secure.upgrading = false;
    if (!pair) {
      // The socket is handed over already: it fails as a handshake would (counted, closed).
      if (!secure.handshakeFailed) secure.onBunError(new Error("Bun could not upgrade the socket to TLS"));
      handle.terminate();
      secure.closedWhileUpgrading ??= {};
      return secure;
    }
    pair[0].data = RAW_SINK;
    if (!secure.socket && !secure.closedWhileUpgrading) secure.attach(pair[1], false);
    return secure;
  }

  /**
   * Joined and written once: each write to Bun's TLS socket is a record of its own, so an
   * HTTP/2 DATA frame's 9-byte header would otherwise travel as one.
   */
  writev(chunks: readonly Uint8Array[]): void {
    let bytes = 0;
    for (const chunk of chunks) bytes += chunk.byteLength;
    // A copy even of a single chunk: it may be bytes lent to an onData still running.
    const joined = chunks.length === 1 ? keepBytes(chunks[0]!) : concatBytes(chunks, bytes);
    this.write(joined);
  }

  override setHandler(handler: SocketHandler): void {
    super.setHandler(handler);
    const closed = this.closedWhileUpgrading;
    if (closed) {
      this.closedWhileUpgrading = undefined;
      queueMicrotask(() => super.onBunClose(closed.error));
    }
  }

  override onBunData(data: Uint8Array): void {
    // Plaintext comes only after a handshake the core accepted.
    if (this.handshakeDone) super.onBunData(data);
  }

  onBunHandshake(handle: BunSocketHandle, success: boolean, verifyError: (Error & { code?: string }) | null): void {
    if (this.done || this.handshakeFailed) return;
    if (!success) return this.reportHandshakeError(verifyError ?? new Error("TLS handshake failed"));
    const session = tlsSession(sessionView(handle as BunTlsSocketHandle, verifyError), undefined, this.verifiesPeer);
    this.tls = session;
    if (!this.callbacks.onHandshake(session)) {
      // Refused by the core's certificate checks: nothing is delivered, the peer gets no data.
      this.error = { code: "TLS_PEER_REFUSED", message: "peer certificate refused" };
      handle.terminate();
      return;
    }
    this.handshakeDone = true;
    clearTimeout(this.handshakeWait);
    // The accepted socket's handshake is done (the port's onConnect; the core's
    // transport_socket_connect_timeout waits for it, as Envoy's Connected event).
    if (!this.closedLocally) this.handler.onConnect();
  }

  override onBunError(err: unknown): void {
    super.onBunError(err);
    if (!this.handshakeDone) this.reportHandshakeError(err);
  }

  override onBunClose(err?: unknown): void {
    clearTimeout(this.handshakeWait);
    if (this.upgrading) {
      this.closedWhileUpgrading = { error: err };
      return;
    }
    super.onBunClose(err);
  }

  override close(): void {
    if (this.closedLocally || this.done) return;
    super.close();
    // Queued bytes leave once the handshake is done; a peer that never finishes it must
    // not keep the socket: past the wait it is closed without a TLS shutdown (Envoy's
    // SslSocket::closeSocket sends close_notify only after a complete handshake).
    if (!this.handshakeDone) {
      this.handshakeWait = setTimeout(() => {
        if (!this.handshakeDone && !this.done) this.socket?.terminate();
      }, CLOSE_HANDSHAKE_WAIT_MS);
    }
  }

  private reportHandshakeError(err: unknown): void {
    if (this.handshakeFailed || this.closedLocally) return;
    this.handshakeFailed = true;
    const error: PortError = toPortError(err);
    this.error ??= error;
    this.callbacks.onHandshakeError(error);
  }
}

/** What the kit's tlsSession reads of a node:tls TLSSocket, from Bun's TLS handle (as Bun's own TLSSocket reads it). */
function sessionView(handle: BunTlsSocketHandle, verifyError: (Error & { code?: string }) | null): tls.TLSSocket {
  const view = {
    alpnProtocol: handle.alpnProtocol,
    servername: handle.getServername() || false,
    getCipher: () => handle.getCipher(),
    getProtocol: () => handle.getTLSVersion(),
    isSessionReused: () => handle.isSessionReused(),
    getPeerCertificate: (...detailed: [boolean?]) => (detailed.length === 0 ? handle.getPeerCertificate() : handle.getPeerCertificate(!detailed[0])) ?? {},
    getCertificate: () => handle.getCertificate() ?? {},
    ssl: { verifyError: () => verifyError },
  };
  return view as unknown as tls.TLSSocket;
}

const of = (socket: BunSocketHandle) => socket.data as BunTlsSocket;

/** The TLS sockets' handlers (Bun's are per upgrade, shared by every socket). */
const tlsHandlers: BunSocketHandlers = {
  binaryType: "uint8array",
  // Bun opens the TLS socket inside upgradeTLS, before any handshake event.
  open: (socket) => of(socket).attach(socket, false),
  handshake: (socket, success, verifyError) => of(socket).onBunHandshake(socket, success, verifyError),
  // Bun asks during the handshake, with the client's SNI: a native secure context, or undefined for the default.
  serverName: (_server, serverName, socket) => (socket ? of(socket)?.sni?.(serverName) : undefined),
  data: (socket, data) => of(socket).onBunData(data),
  end: (socket) => of(socket).onBunEnd(),
  drain: (socket) => of(socket).onBunDrain(),
  close: (socket, error) => of(socket)?.onBunClose(error),
  error: (socket, error) => of(socket)?.onBunError(error),
};

/** The raw socket under an upgraded one: everything is the TLS socket's to report. */
const RAW_SINK = {
  onBunData() {},
  onBunEnd() {},
  onBunDrain() {},
  onBunClose() {},
  onBunError() {},
};
