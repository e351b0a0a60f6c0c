import type { ConnectOptions, Socket, TlsCapability, TlsContext } from "../../../core/port.ts";
import { NodeTlsContext, type NodeTlsLimits } from "./node-tls-context.ts";
import { NodeTlsSocket } from "./node-tls-socket.ts";
import { describeCertificate } from "./describe-certificate.ts";

/**
 * The port's TLS capability over the runtime's `node:tls` (node-tls-socket.ts): the
 * same code on Node, Bun and Deno, each running its own TLS library under it. `connect`
 * is the adapter's plain connect, which the TLS socket then runs over.
 */
export function nodeTlsCapability(limits: NodeTlsLimits, connect: (options: ConnectOptions) => Socket): TlsCapability {
  return {
    serverContext: (options, callbacks) => NodeTlsContext.server(options, callbacks, limits),
    clientContext: (options, callbacks) => NodeTlsContext.client(options, callbacks, limits),
    accept(socket: Socket, context: TlsContext, peeked: Uint8Array | undefined): Socket {
      return new NodeTlsSocket(socket, asNodeContext(context, "server"), undefined, peeked);
    },
    connect(options: ConnectOptions, context: TlsContext, serverName: string | undefined): Socket {
      return new NodeTlsSocket(connect(options), asNodeContext(context, "client"), serverName, undefined);
    },
    describeCertificate,
  };
}

export function asNodeContext(context: TlsContext, side: "server" | "client"): NodeTlsContext {
  if (!(context instanceof NodeTlsContext) || context.side !== side) throw new Error(`not a ${side} context of this runtime's TLS`);
  return context;
}

export type { NodeTlsLimits } from "./node-tls-context.ts";
