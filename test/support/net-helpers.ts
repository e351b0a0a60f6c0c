/** Real sockets for black-box tests: free ports, upstream servers, raw clients. */
import * as net from "node:net";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

const handedOut = new Set<number>();

/** A port that was free a moment ago (a random one below the ephemeral range that could be bound). */
export async function freePort(): Promise<number> {
  // Below Linux's ephemeral range (32768-60999 by default): a port the kernel hands out
  // for listen(0) is also handed out as the local port of outgoing connections, and one
  // of those (a proxy's upstream connection in another test) took a port between this
  // check and the proxy's bind (EADDRINUSE).
  // Nor twice to one process: a test takes several ports before its proxy binds any, and a
  // port that was free for one call is still free for the next.
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("no free port found below the ephemeral range");
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

export interface TcpServer {
  port: number;
  server: net.Server;
  /** Sockets accepted so far. */
  accepted: number;
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1 running `onSocket` for each connection (allowHalfOpen so half-close can be tested). */
export async function tcpServer(onSocket: (socket: net.Socket) => void): Promise<TcpServer> {
  const sockets = new Set<net.Socket>();
  const result: TcpServer = {
    port: 0,
    accepted: 0,
    server: net.createServer({ allowHalfOpen: true }, (socket) => {
      result.accepted++;
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
      onSocket(socket);
    }),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        result.server.close(() => r());
      }),
  };
  await new Promise<void>((r) => result.server.listen(0, "127.0.0.1", r));
  result.port = (result.server.address() as net.AddressInfo).port;
  return result;
}

/** Connect to 127.0.0.1:port (allowHalfOpen). */
export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Collect everything a socket sends until it ends; resolves with the bytes. */
export function readAll(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.once("end", () => resolve(Buffer.concat(chunks)));
    socket.once("error", reject);
  });
}

/**
 * Resolves when the peer has closed the connection: its FIN ('end'; our sockets are
 * half-open capable, so 'close' alone would wait for our own end) or a reset.
 */
export function peerClosed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed || socket.readableEnded) return resolve();
    socket.once("end", () => resolve());
    socket.once("close", () => resolve());
    socket.once("error", () => resolve());
  });
}

/**
 * The most a pair of TCP connections through a proxy can hold in kernel buffers: for each
 * connection, the sender's send buffer and the receiver's receive buffer at Linux's autotuning
 * maxima (tcp_wmem[2] + tcp_rmem[2], read from /proc). A test that checks backpressure
 * reached the far end must allow this much, whatever the machine's settings: it is not the
 * proxy's doing (tcp_rmem's maximum is 32 MiB on some machines, 6 MiB by Linux's default).
 */
export function kernelBufferBound(connections = 2): number {
  const max = (file: string, fallback: number) => {
    try {
      const value = Number(readFileSync(file, "utf8").trim().split(/\s+/)[2]);
      return Number.isFinite(value) && value > 0 ? value : fallback;
    } catch {
      return fallback;
    }
  };
  const rmem = max("/proc/sys/net/ipv4/tcp_rmem", 6 * 1024 * 1024);
  const wmem = max("/proc/sys/net/ipv4/tcp_wmem", 4 * 1024 * 1024);
  return connections * (rmem + wmem);
}
