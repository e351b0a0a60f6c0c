import type { DatagramBindOptions, DatagramCapability, DatagramHandler, DatagramSocket, PortError, SocketAddress } from "../../core/port.ts";
import { DATAGRAM_SEND_QUEUE_LIMIT } from "../../core/port.ts";
import { Lane, type Scheduler } from "./scheduler.ts";

const FIRST_PORT = 40000;

/**
 * UDP on the memory runtime: datagrams between the sockets bound here, each delivered on a
 * later turn of the scheduler (a socket's queue holds at most DATAGRAM_SEND_QUEUE_LIMIT
 * undelivered, as the port's bound says). A datagram to an address nobody bound is lost,
 * as on a network; `sent` records every datagram sent, for tests.
 */
export class MemoryDatagramNetwork implements DatagramCapability {
  private readonly sockets = new Map<string, MemoryDatagramSocket>();
  private readonly lane = new Lane("udp");
  private nextPort = FIRST_PORT;
  /** Every datagram sent (from, to, length), in order. */
  readonly sent: { from: SocketAddress; to: { address: string; port: number }; length: number }[] = [];
  /** Datagrams sent to an address no socket is bound to. */
  lost = 0;

  constructor(private readonly scheduler: Scheduler) {}

  bind(options: DatagramBindOptions, handler: DatagramHandler): Promise<DatagramSocket> {
    let port = options.port;
    if (port === 0) {
      do port = this.nextPort++;
      while (this.sockets.has(`${options.address} ${port}`));
    } else if (this.conflict(options.address, port)) {
      return Promise.reject(error("EADDRINUSE", `bind EADDRINUSE ${options.address}:${port}`));
    }
    const socket = new MemoryDatagramSocket(this, { address: options.address, port, family: options.address.includes(":") ? 6 : 4 }, handler, options.maxDatagramSize);
    this.sockets.set(`${options.address} ${port}`, socket);
    return Promise.resolve(socket);
  }

  /** Sockets bound and not closed. */
  get boundCount(): number {
    return this.sockets.size;
  }

  /** @internal */
  unbind(socket: MemoryDatagramSocket): void {
    this.sockets.delete(`${socket.address.address} ${socket.address.port}`);
  }

  /** @internal */
  deliver(from: MemoryDatagramSocket, data: Uint8Array, to: { address: string; port: number }): void {
    const source: SocketAddress = isWildcard(from.address.address) ? { ...from.address, address: from.address.family === 6 ? "::1" : "127.0.0.1" } : from.address;
    this.sent.push({ from: source, to: { address: to.address, port: to.port }, length: data.length });
    from.queued++;
    this.scheduler.schedule(() => {
      from.queued--;
      const target = this.find(to.address, to.port);
      if (target === undefined || target.closed) {
        this.lost++;
        return;
      }
      const truncated = data.length > target.maxDatagramSize;
      target.handler.onMessage(truncated ? data.subarray(0, target.maxDatagramSize) : data, source, truncated);
    }, 0, this.lane);
  }

  private find(address: string, port: number): MemoryDatagramSocket | undefined {
    return this.sockets.get(`${address} ${port}`) ?? this.sockets.get(`${address.includes(":") ? "::" : "0.0.0.0"} ${port}`) ?? this.sockets.get(`:: ${port}`);
  }

  private conflict(address: string, port: number): boolean {
    for (const socket of this.sockets.values()) {
      if (socket.address.port !== port) continue;
      if (socket.address.address === address || isWildcard(socket.address.address) || isWildcard(address)) return true;
    }
    return false;
  }
}

class MemoryDatagramSocket implements DatagramSocket {
  closed = false;
  queued = 0;

  constructor(
    private readonly network: MemoryDatagramNetwork,
    readonly address: SocketAddress,
    readonly handler: DatagramHandler,
    readonly maxDatagramSize: number,
  ) {}

  send(data: Uint8Array, to: { address: string; port: number }): boolean {
    if (this.closed || this.queued >= DATAGRAM_SEND_QUEUE_LIMIT) return false;
    this.network.deliver(this, data.slice(), to);
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.network.unbind(this);
  }
}

function isWildcard(address: string): boolean {
  return address === "0.0.0.0" || address === "::";
}

function error(code: string, message: string): PortError {
  return { code, message };
}
