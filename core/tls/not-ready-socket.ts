/**
 * Envoy's NotReadySslSocket (source/common/tls/ssl_socket.cc): the transport socket of a
 * TLS context whose secret SDS has not supplied. It reads and writes nothing and closes
 * the connection at once: an accepted one as soon as its handler is set (the client sees
 * the connection closed before any handshake), an outbound one once TCP connected, its
 * handler told of a connect failure with Envoy's reason.
 */
import type { Socket, SocketHandler } from "../port.ts";

/** Envoy's NotReadySslSocket::failureReason. */
export const NOT_READY_REASON = "TLS error: Secret is not supplied by SDS";

/** `outbound`: a socket connecting (closed once connected), else an accepted one (closed when its handler is set). */
export function notReadySocket(socket: Socket, outbound: boolean): Socket {
  return new NotReadySocket(socket, outbound);
}

class NotReadySocket implements Socket {
  constructor(
    private readonly inner: Socket,
    private readonly outbound: boolean,
  ) {}

  setHandler(handler: SocketHandler): void {
    const inner = this.inner;
    let refused = false;
    inner.setHandler({
      // Outbound: connected, then closed before TLS could start; the user sees a failed connect.
      onConnect: () => {
        refused = true;
        inner.reset();
      },
      onData: () => undefined,
      onEnd: () => undefined,
      onDrain: () => undefined,
      onClose: (reason, error) => (refused ? handler.onClose("error", { code: "ENOTREADY", message: NOT_READY_REASON }) : handler.onClose(reason, error)),
    });
    if (!this.outbound) inner.close();
  }

  write(): void {}
  get bufferedAmount(): number {
    return 0;
  }
  readDisable(disable: boolean): void {
    this.inner.readDisable(disable);
  }
  get readDisabled(): boolean {
    return this.inner.readDisabled;
  }
  end(): void {
    this.inner.close();
  }
  close(): void {
    this.inner.close();
  }
  reset(): void {
    this.inner.reset();
  }
  setNoDelay(noDelay: boolean): void {
    this.inner.setNoDelay(noDelay);
  }
  get localAddress() {
    return this.inner.localAddress;
  }
  get remoteAddress() {
    return this.inner.remoteAddress;
  }
}
