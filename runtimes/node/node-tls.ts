import * as net from "node:net";
import type { ConnectOptions, Socket, TlsCapability, TlsContext } from "../../core/port.ts";
import { asNodeContext, nodeTlsCapability, type NodeTlsLimits } from "../kit/tls/node-tls.ts";
import { NodeSocket } from "./node-socket.ts";
import { NativeTlsSocket } from "./native-tls-socket.ts";
import { keepAliveOnConnect } from "../kit/tcp-keepalive.ts";

/**
 * Node's TLS capability: the kit's contexts, with every TLS socket made on a net.Socket's
 * own handle (native-tls-socket.ts) rather than over a JS Duplex. An accepted socket the
 * node adapter cannot hand over whole (see NodeSocket.detach) goes the kit's way.
 */
export function nodeNativeTlsCapability(limits: NodeTlsLimits, connect: (options: ConnectOptions) => Socket): TlsCapability {
  const kit = nodeTlsCapability(limits, connect);
  return {
    ...kit,
    accept(socket: Socket, context: TlsContext, peeked: Uint8Array | undefined): Socket {
      const server = asNodeContext(context, "server");
      // A Unix socket stays wrapped (the kit's TLS over the port's socket): node's TLSWrap
      // would report no address for it, where the port's socket reports its path.
      const taken = socket instanceof NodeSocket && socket.remoteAddress?.family !== "unix" ? socket.detach() : undefined;
      if (!taken) return kit.accept(socket, context, peeked);
      return NativeTlsSocket.accept(taken.socket, server, concat(peeked, taken.held));
    },
    connect(options: ConnectOptions, context: TlsContext, serverName: string | undefined): Socket {
      if (options.pipe === true) return kit.connect(options, context, serverName);
      const client = asNodeContext(context, "client");
      // No `onread` (socket-reads.ts): TLSWrap reads the handle into buffers of its own.
      const raw = net.connect({ host: options.address, port: options.port, allowHalfOpen: true });
      if (options.keepalive !== undefined) keepAliveOnConnect(raw, options.keepalive);
      return NativeTlsSocket.connect(raw, client, serverName);
    },
  };
}

function concat(a: Uint8Array | undefined, b: Uint8Array | undefined): Uint8Array | undefined {
  if (!a || a.byteLength === 0) return b;
  if (!b || b.byteLength === 0) return a;
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}
