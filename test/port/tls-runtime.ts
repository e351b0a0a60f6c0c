/**
 * The runtime under test with every socket carried over its TLS (Runtime.tls): listen
 * terminates TLS on each accepted socket, connect originates it. The port conformance
 * suite runs against it as one more target, so a TLS socket is held to everything a
 * plain one is (write never drops, counted readDisable, half-close, close, reset).
 */
import type { ConnectOptions, Listener, ListenOptions, Runtime, Socket, TlsContext, TlsHandshakeCallbacks } from "../../core/port.ts";
import { mintTestCerts } from "../support/test-certs.ts";

const accept: TlsHandshakeCallbacks = { onHandshake: () => true, onHandshakeError() {} };

export function withTls(base: Runtime): Runtime {
  const tls = base.tls;
  if (!tls) throw new Error(`${base.name} offers no TLS`);
  const certs = mintTestCerts();
  const server: TlsContext = tls.serverContext(
    {
      certificates: [{ certificateChain: certs.read(certs.server.cert), privateKey: certs.read(certs.server.key) }],
      alpnProtocols: [],
      params: {},
      requestClientCertificate: false,
    },
    accept,
  );
  const client: TlsContext = tls.clientContext({ alpnProtocols: [], params: {}, trustedCa: certs.read(certs.ca) }, accept);
  return {
    ...base,
    listen(options: ListenOptions, onAccept: (socket: Socket) => void): Promise<Listener> {
      return base.listen(options, (socket) => onAccept(tls.accept(socket, server, undefined)));
    },
    connect(options: ConnectOptions): Socket {
      return tls.connect(options, client, "example.com");
    },
  };
}
