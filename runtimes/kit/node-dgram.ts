import type { DatagramBindOptions, DatagramCapability, DatagramHandler, DatagramSocket, SocketAddress } from "../../core/port.ts";
import { DATAGRAM_SEND_QUEUE_LIMIT } from "../../core/port.ts";
import { toPortError } from "./errors.ts";

type Dgram = typeof import("node:dgram");
let dgramModule: Promise<Dgram> | undefined;

/**
 * The port's UDP sockets over node:dgram, which Node, Deno (its Node compatibility layer:
 * Deno.listenDatagram needs --unstable-net, node:dgram does not) and Bun all have. It is
 * imported on the first bind, not at start: only a config with a UDP listener pays for it
 * (runtimes/README.md, "Deno: no node: module on the start path").
 *
 * `sharedUnsupported`: why worker processes (--concurrency) cannot share a UDP socket
 * (node:dgram's reusePort came with Node 22.12; Bun and Deno refuse a second bind with
 * EADDRINUSE): the core then serves a UDP listener from worker 0 alone.
 */
export function nodeDgramCapability(sharedUnsupported?: string): DatagramCapability {
  return {
    ...(sharedUnsupported !== undefined ? { sharedUnsupported } : {}),
    async bind(options: DatagramBindOptions, handler: DatagramHandler): Promise<DatagramSocket> {
      if (options.shared === true && sharedUnsupported !== undefined) throw { code: "ENOTSUP", message: sharedUnsupported };
      const dgram = await (dgramModule ??= import("node:dgram"));
      const family = options.address.includes(":") ? 6 : 4;
      const socket = dgram.createSocket({ type: family === 6 ? "udp6" : "udp4" });
      const max = options.maxDatagramSize;
      await new Promise<void>((resolve, reject) => {
        socket.once("error", (err) => {
          // libuv keeps the fd on the handle after a failed bind: close it, or each failed
          // listener or session bind leaks one.
          socket.close();
          reject(toPortError(err));
        });
        socket.bind({ address: options.address, port: options.port, exclusive: options.shared !== true }, () => resolve());
      });
      socket.removeAllListeners("error");
      socket.on("error", (err) => handler.onError(toPortError(err)));
      socket.on("message", (msg: Uint8Array, rinfo: { address: string; port: number; family: string }) => {
        const from: SocketAddress = { address: rinfo.address, port: rinfo.port, family: rinfo.family === "IPv6" ? 6 : 4 };
        // node:dgram reads whole datagrams (64 KiB buffers): cut as a read of max bytes would be.
        if (msg.length > max) handler.onMessage(msg.subarray(0, max), from, true);
        else handler.onMessage(msg, from, false);
      });
      const bound = socket.address();
      let pending = 0;
      let closed = false;
      const sent = (err: Error | null): void => {
        pending--;
        // A send's failure is the sender's (tx) error, not the socket's.
        if (err && !closed) handler.onSendError?.(toPortError(err));
      };
      return {
        address: { address: bound.address, port: bound.port, family: bound.family === "IPv6" ? 6 : 4 },
        send(data, to) {
          if (closed || pending >= DATAGRAM_SEND_QUEUE_LIMIT) return false;
          pending++;
          socket.send(data, to.port, to.address, sent);
          return true;
        },
        close() {
          if (closed) return;
          closed = true;
          socket.removeAllListeners("message");
          socket.close();
        },
      };
    },
  };
}
