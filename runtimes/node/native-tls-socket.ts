import type * as net from "node:net";
import type * as tls from "node:tls";
import type { SocketAddress } from "../../core/port.ts";
import { keepBytes } from "../../core/util/bytes.ts";
import { nodeTls } from "../kit/builtins.ts";
import type { NodeTlsContext } from "../kit/tls/node-tls-context.ts";
import { NodeTlsSocketBase } from "../kit/tls/node-tls-socket-base.ts";
import { toAddress } from "./node-socket.ts";

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
 * The port's semantics are NodeTlsSocket's, from their shared base (NodeTlsSocketBase);
 * what is this file's is the net.Socket under the TLSSocket.
 */
export class NativeTlsSocket extends NodeTlsSocketBase {
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
    context: NodeTlsContext,
    serverName: string | undefined,
    secure: tls.TLSSocket,
  ) {
    super(context);
    // The port's sockets start with TCP_NODELAY (node-socket.ts says why).
    raw.setNoDelay(true);
    this.attach(secure, serverName);
  }

  protected override closeTransport(): void {
    // The TLSSocket's close has closed the net.Socket too (TLSWrap.close).
    if (!this.raw.destroyed) this.raw.destroy();
  }

  protected override resetTransport(): void {
    // RST: the TLSSocket's close destroys the net.Socket (TLSWrap.close in lib/_tls_wrap.js),
    // and net's destroy resets when `resetAndClosing` is set, which is all resetAndDestroy()
    // does before it. Resetting the net.Socket first and then destroying the TLSSocket
    // crashes node 20 (SIGSEGV once the TLSWrap is freed under the closing TCP handle). A
    // socket still connecting has nothing to reset: it is dropped. (The base's reset then
    // destroys the TLSSocket.)
    if (!this.raw.destroyed && !this.raw.connecting) (this.raw as unknown as { resetAndClosing: boolean }).resetAndClosing = true;
  }

  /** Plaintext not yet encrypted and handed to the kernel (TLSWrap completes a write once its records are written). */
  override get bufferedAmount(): number {
    return this.secure.writableLength + this.raw.writableLength;
  }

  override setNoDelay(noDelay: boolean): void {
    this.raw.setNoDelay(noDelay);
  }

  override get localAddress(): SocketAddress | undefined {
    return (this.local ??= toAddress(this.raw.localAddress, this.raw.localPort, this.raw.localFamily));
  }

  override get remoteAddress(): SocketAddress | undefined {
    return (this.remote ??= toAddress(this.raw.remoteAddress, this.raw.remotePort, this.raw.remoteFamily));
  }
}
