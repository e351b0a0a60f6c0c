import type { ConnectOptions, Socket, TlsCapability, TlsContext } from "../../core/port.ts";
import { Buffer } from "node:buffer";
import { nodeTlsCapability, type NodeTlsLimits } from "../kit/tls/node-tls.ts";
import { NodeTlsContext } from "../kit/tls/node-tls-context.ts";
import type { BunServerTlsOptions } from "./bun-api.ts";
import { BunSocket } from "./bun-socket.ts";
import { BunTlsSocket } from "./bun-tls-socket.ts";

/**
 * Bun's TLS capability: contexts, client connections and certificate descriptions are
 * the kit's node:tls ones (runtimes/kit/tls); a server-side accept upgrades the accepted
 * socket in Bun itself (bun-tls-socket.ts), with the same node:tls secure context, so
 * certificates, trusted CA, CRL, versions, ciphers, curves and session settings are
 * those the kit built and checked. A socket that cannot be handed over (something was
 * written or held), or a context that needs what the upgrade cannot give (a certificate
 * chosen by SNI, a `server` answering OCSP or session-cache events), keeps the kit's
 * TLSSocket over a Duplex, which serves the same config the same way.
 */
export function bunTlsCapability(limits: NodeTlsLimits, connect: (options: ConnectOptions) => Socket): TlsCapability {
  const kit = nodeTlsCapability(limits, connect);
  const upgrades = new WeakMap<NodeTlsContext, UpgradeOptions | null>();
  return {
    ...kit,
    accept(socket: Socket, context: TlsContext, peeked: Uint8Array | undefined): Socket {
      if (socket instanceof BunSocket && context instanceof NodeTlsContext && context.side === "server") {
        let options = upgrades.get(context);
        if (options === undefined) upgrades.set(context, (options = upgradeOptions(context)));
        const upgraded = options && BunTlsSocket.upgrade(socket, options.tls, options.sni, context.callbacks, context.verifiesPeer, peeked);
        if (upgraded) return upgraded;
        if (options?.sni) {
          // The kit's TLSSocket on Bun never asks for a certificate by SNI: it would serve the
          // default to every name. Refused like a failed handshake rather than served wrongly.
          context.callbacks.onHandshakeError({ code: "TLS_SNI_UNAVAILABLE", message: "certificates chosen by SNI need Bun's own TLS, and this socket could not be handed over to it" });
          socket.reset();
          return socket;
        }
      }
      return kit.accept(socket, context, peeked);
    },
  };
}

/** What an upgrade needs: Bun's TLS options, and the certificate chosen by SNI when there are several. */
interface UpgradeOptions {
  readonly tls: BunServerTlsOptions;
  /** The native secure context for a server name (undefined: the default), when certificates are chosen by SNI. */
  readonly sni: ((serverName: string) => unknown) | undefined;
}

/** The upgrade's options from the kit's server socket options, or null when the upgrade cannot honour them all. */
function upgradeOptions(context: NodeTlsContext): UpgradeOptions | null {
  const options = context.serverSocketOptions();
  const { isServer, secureContext, requestCert, rejectUnauthorized, ALPNProtocols, SNICallback, ...rest } = options;
  if (Object.keys(rest).length > 0 || isServer !== true || rejectUnauthorized !== false) return null;
  const native = nativeOf(secureContext);
  if (native === undefined) return null;
  return {
    tls: {
      secureContext: native,
      requestCert: requestCert === true,
      rejectUnauthorized: false,
      ...(ALPNProtocols ? { ALPNProtocols: alpnWire(ALPNProtocols as string[]) } : {}),
    },
    // The kit's selection (Envoy's: the first certificate naming the server, else the
    // default) answers at once, so Bun's server-name callback can take its answer.
    sni: SNICallback
      ? (serverName: string) => {
          let chosen: unknown;
          SNICallback(serverName, (err, ctx) => {
            if (!err) chosen = nativeOf(ctx);
          });
          return chosen;
        }
      : undefined,
  };
}

function nativeOf(secureContext: unknown): unknown {
  return (secureContext as { context?: unknown } | undefined)?.context;
}

/** RFC 7301 §3.1's protocol list: each name after its length byte. */
function alpnWire(protocols: readonly string[]): Uint8Array {
  return Buffer.concat(protocols.map((name) => Buffer.concat([Buffer.from([Buffer.byteLength(name)]), Buffer.from(name, "latin1")])));
}
