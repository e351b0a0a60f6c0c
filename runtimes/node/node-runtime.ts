import * as net from "node:net";
import type { ConnectOptions, Listener, ListenOptions, Runtime, Socket } from "../../core/port.ts";
import { processServices } from "../kit/process-services.ts";
import { workerProcesses, type LaunchWorker } from "../kit/workers/index.ts";
import { replayEarlySighup } from "../kit/early-sighup.ts";
import { toPortError } from "../kit/errors.ts";
import { NodeSocket } from "./node-socket.ts";
import { SocketReads } from "./socket-reads.ts";
import { readThrough } from "./accepted-socket.ts";
import { guardInspector } from "../kit/inspector-guard.ts";
import { nodeNativeTlsCapability } from "./node-tls.ts";
import { nodeDgramCapability } from "../kit/node-dgram.ts";
import { bindPathFor, pipeAddress, placeBoundSocket, runtimeSocketPath, unlinkBeforeBind, type UnixSocketFiles } from "../kit/unix-socket.ts";
import { nodeFs } from "../kit/builtins.ts";
import { idleTimeOnlyKeepalive, keepAliveOnConnect } from "../kit/tcp-keepalive.ts";

/**
 * Node 20's net binds and connects an abstract Unix socket with the whole sun_path, the
 * name NUL-padded to 108 bytes (/proc/net/unix shows `@name@@@…`), where Envoy, curl
 * --abstract-unix-socket, Bun and Deno use the name's own length: the two never meet.
 */
const NODE_ABSTRACT_PIPE = "node's net pads an abstract name to sun_path's 108 bytes (seen in /proc/net/unix), so no client or server using the name's own length (Envoy, curl --abstract-unix-socket, Bun, Deno) reaches it";

function connect(options: ConnectOptions): Socket {
  const reads = new SocketReads();
  if (options.pipe === true) {
    if (options.address.startsWith("@")) {
      // A padded name would reach only another node process: the connect fails, saying why.
      const socket = new net.Socket({ allowHalfOpen: true });
      const wrapped = new NodeSocket(socket, true, undefined, pipeAddress(options.address));
      setImmediate(() => socket.destroy(Object.assign(new Error(`connect EAFNOSUPPORT ${options.address}: ${NODE_ABSTRACT_PIPE}`), { code: "EAFNOSUPPORT" })));
      return wrapped;
    }
    const socket = net.connect({ path: runtimeSocketPath(options.address), allowHalfOpen: true, onread: reads.onread });
    return new NodeSocket(socket, true, reads, pipeAddress(options.address));
  }
  const socket = net.connect({ host: options.address, port: options.port, allowHalfOpen: true, onread: reads.onread });
  if (options.keepalive !== undefined) keepAliveOnConnect(socket, options.keepalive);
  return new NodeSocket(socket, true, reads);
}

/** A server on a Unix domain socket (ListenOptions.pipe): bound under a name of its own, chmod-ed and moved onto the path (kit/unix-socket.ts). */
function listenOnPipe(server: net.Server, address: string, mode: number): Promise<Listener> {
  const bound = bindPathFor(address);
  if (bound === address) unlinkBeforeBind(address, unixFiles);
  return new Promise((resolve, reject) => {
    server.on("error", (err) => reject(toPortError(err)));
    server.listen({ path: bound, exclusive: true }, () => {
      try {
        placeBoundSocket(bound, address, mode, unixFiles);
      } catch (err) {
        server.close();
        return reject(err);
      }
      resolve({ address: pipeAddress(address), close: () => server.close() });
    });
  });
}

const unixFiles: UnixSocketFiles = { unlink: (path) => nodeFs().unlinkSync(path), chmod: (path, mode) => nodeFs().chmodSync(path, mode), rename: (from, to) => nodeFs().renameSync(from, to) };

/** The port over Node's `net`, timers and process. */
export function createNodeRuntime(): Runtime {
  // SIGUSR1 reopens access logs; it must never open node's inspector (inspector-guard.ts).
  guardInspector();
  return {
    name: "node",
    version: process.versions.node,

    listen(options: ListenOptions, onAccept: (socket: Socket) => void): Promise<Listener> {
      // allowHalfOpen: the core decides when to send FIN (tcp_proxy propagates half-close).
      // pauseOnConnect: the socket is given reused read buffers before its first read.
      const pipe = options.pipe;
      const pipeAt = pipe && pipeAddress(options.address);
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (paused) => {
        const reads = new SocketReads();
        const adopted = readThrough(paused, reads.onread);
        onAccept(new NodeSocket(paused, false, adopted ? reads : undefined, pipeAt));
      });
      if (pipe) return listenOnPipe(server, options.address, pipe.mode);
      return new Promise((resolve, reject) => {
        // Kept for the server's life: a later error (EMFILE on accept) must not crash the process.
        server.on("error", (err) => reject(toPortError(err)));
        // A worker's shared listener (--concurrency): Node 20's net has no reusePort, so the
        // workers are node:cluster's and a non-exclusive listen shares the primary's socket.
        server.listen({ host: options.address, port: options.port, exclusive: options.shared !== true }, () => {
          const bound = server.address() as net.AddressInfo;
          resolve({
            address: { address: bound.address, port: bound.port, family: bound.family === "IPv6" ? 6 : 4 },
            close: () => server.close(),
          });
        });
      });
    },

    connect,
    abstractPipeUnsupported: NODE_ABSTRACT_PIPE,
    tcpKeepalive: idleTimeOnlyKeepalive("node"),
    // node:cluster workers could share the primary's UDP socket (a non-exclusive bind), but
    // each datagram would go to whichever worker reads first: one peer's datagrams would be
    // split over sessions in several workers, where Envoy's SO_REUSEPORT hashes a peer to one.
    udp: nodeDgramCapability("Node 20's node:dgram has no reusePort (Node 22.12 added it), and node:cluster's shared UDP socket would split one peer's datagrams over several workers' sessions"),
    tls: nodeNativeTlsCapability({ runtime: "node", cipherSuites: true, ecdhCurves: true, sniCallback: true, sniKeepsDefaultKeyTypes: true }, connect),

    ...processServices,
    workers: workerProcesses(
      clusterLauncher,
      (signal, callback) => {
        process.on(signal, callback);
        if (signal === "SIGHUP") replayEarlySighup(callback);
      },
      "one-socket",
    ),

    // After the I/O already received (the port's contract: the HTTP/1 pool must see a FIN
    // that came right behind a response before it reuses the connection). Outbound
    // sockets read through `onread`, which stops reading from the kernel while reads are
    // disabled; libuv then reads the data and, on the next poll, the FIN behind it, so
    // one setImmediate would run between them (the conformance suite's defer test): two
    // do not, as on Bun.
    defer: (callback) => void setImmediate(() => setImmediate(callback)),
  };
}

/**
 * Node 20's net has no reusePort (Node 22.12 added it): the workers are node:cluster's,
 * whose shared listening socket spreads connections over them (round-robin from the
 * primary, Node's default on Linux). Each runs this same program (process.argv[1]) with
 * the same Node flags (tsx's --import among them).
 */
async function clusterLauncher(argv: readonly string[]): Promise<LaunchWorker> {
  // getBuiltinModule, not import(): a Node single-executable application has no dynamic import.
  // (It returns the module itself, which the types call the default export.)
  const cluster = process.getBuiltinModule("node:cluster") as unknown as typeof import("node:cluster").default;
  cluster.setupPrimary({ args: [...argv] });
  return (env) => {
    const worker = cluster.fork(env);
    return {
      pid: worker.process.pid,
      kill: (signal) => void worker.process.kill(signal),
      onExit: (callback) => void worker.on("exit", callback),
    };
  };
}
