import type { ConnectOptions, Listener, ListenOptions, Runtime, Socket } from "../../core/port.ts";
import { heapStats } from "bun:jsc";
import { chmodSync, readFileSync, renameSync, statSync, unlinkSync } from "node:fs";
import { bindPathFor, pipeAddress, placeBoundSocket, runtimeSocketPath, unlinkBeforeBind, type UnixSocketFiles } from "../kit/unix-socket.ts";
import { processServices } from "../kit/process-services.ts";
import { spawnLauncher, workerProcesses } from "../kit/workers/index.ts";
import { nodeDgramCapability } from "../kit/node-dgram.ts";
import { replayEarlySighup } from "../kit/early-sighup.ts";
import { toPortError } from "../kit/errors.ts";
import { Bun, type BunSocketHandle, type BunSocketHandlers } from "./bun-api.ts";
import { BunSocket } from "./bun-socket.ts";
import { DEFAULT_READS_PER_EDEN_COLLECTION, EdenCollections } from "./eden-collections.ts";
import { idleTimeOnlyKeepalive } from "../kit/tcp-keepalive.ts";
import { bunTlsCapability } from "./bun-tls.ts";
import { writeStderr } from "./bun-stderr.ts";

/** Set by createBunRuntime; the handlers below are shared by every socket. */
let edenCollections = new EdenCollections(0);

/** Bun's socket handlers are per listener, not per socket: route each event to its BunSocket. */
function handlers(onOpen: (socket: BunSocketHandle) => void): BunSocketHandlers {
  const of = (socket: BunSocketHandle) => socket.data as BunSocket;
  return {
    binaryType: "uint8array",
    open: onOpen,
    data: (socket, data) => {
      edenCollections.onRead();
      of(socket).onBunData(data);
    },
    end: (socket) => of(socket).onBunEnd(),
    drain: (socket) => of(socket).onBunDrain(),
    close: (socket, error) => of(socket)?.onBunClose(error),
    error: (socket, error) => of(socket)?.onBunError(error),
    connectError: (socket, error) => {
      of(socket).onBunError(error);
      of(socket).onBunClose(error);
    },
  };
}

const outboundHandlers = handlers((socket) => (socket.data as BunSocket).attach(socket, true));

export interface BunRuntimeOptions {
  /**
   * Socket reads between two young-generation collections run between polls
   * (eden-collections.ts); 0 leaves collections to JavaScriptCore alone. Default:
   * `POLYVOY_BUN_READS_PER_EDEN_GC` from the environment, else 5,000.
   */
  readsPerEdenCollection?: number;
}

function connect(options: ConnectOptions): Socket {
  const socket = new BunSocket();
  if (options.pipe === true) {
    socket.setPipeAddress(pipeAddress(options.address));
    Bun.connect({ unix: runtimeSocketPath(options.address), allowHalfOpen: true, data: socket, socket: outboundHandlers }).catch(() => {
      // Reported through connectError; this only keeps the rejection handled.
    });
    return socket;
  }
  socket.keepalive = options.keepalive;
  Bun.connect({
    hostname: options.address,
    port: options.port,
    allowHalfOpen: true,
    data: socket,
    socket: outboundHandlers,
  }).catch(() => {
    // Reported through connectError; this only keeps the rejection handled.
  });
  return socket;
}

const unixFiles: UnixSocketFiles = { unlink: unlinkSync, chmod: chmodSync, rename: renameSync };

/** A listener on a Unix domain socket (ListenOptions.pipe): bound under a name of its own, chmod-ed and moved onto the path (kit/unix-socket.ts). */
function listenOnPipe(address: string, mode: number, onAccept: (socket: Socket) => void): Listener {
  const bound = bindPathFor(address);
  if (bound === address) unlinkBeforeBind(address, unixFiles);
  const at = pipeAddress(address);
  let listener;
  try {
    listener = Bun.listen({
      unix: bound,
      allowHalfOpen: true,
      socket: handlers((handle) => {
        const socket = new BunSocket();
        handle.data = socket;
        socket.setPipeAddress(at);
        socket.attach(handle, false);
        onAccept(socket);
      }),
    });
  } catch (err) {
    throw toPortError(err);
  }
  try {
    placeBoundSocket(bound, address, mode, unixFiles);
  } catch (err) {
    listener.stop(true);
    throw err;
  }
  return { address: at, close: () => listener.stop(false) };
}

/** The port over Bun, and what its entry (main.ts) tells it. */
export interface BunRuntime extends Runtime {
  /**
   * Start-up is over (the listeners serve; Server.start() calls it, for the entry and an
   * embedding program alike): from now on readTextFile reads on Bun's file thread pool,
   * so a reload's or a watched file's read leaves the event loop serving.
   */
  serving(): void;
}

/** The port over Bun.listen / Bun.connect. */
export function createBunRuntime(options: BunRuntimeOptions = {}): BunRuntime {
  edenCollections = new EdenCollections(readsPerEdenCollection(options.readsPerEdenCollection));
  let starting = true;
  return {
    name: "bun",
    version: Bun.version,
    // JavaScriptCore allocates a small array of its own faster than it makes a view (a
    // new small array ~55 ns, a view ~145 ns, measured on Bun 1.4), and a view of an
    // array whose bytes live in the GC heap first moves them into an ArrayBuffer of
    // their own, which JavaScriptCore sweeps inside every collection's pause: two views
    // per request lengthened a bare Bun server's eden pauses from 0.21 to 0.50 ms, and
    // one Node-style `slice` view per request paused it 2.1 ms per eden collection
    // instead of 0.4. So the core makes small arrays one by one here
    // (core/util/byte-slab.ts). Bun's socket write also takes the bytes before it
    // returns, hence `writeCopying` (bun-socket.ts): without it each response head was
    // an array of its own, a fifth of what a small proxied request allocated, and
    // JavaScriptCore's collections come with what is allocated.
    ownSmallArrays: true,

    async listen(options: ListenOptions, onAccept: (socket: Socket) => void): Promise<Listener> {
      if (options.pipe) return listenOnPipe(options.address, options.pipe.mode, onAccept);
      try {
        const listener = Bun.listen({
          hostname: options.address,
          port: options.port,
          // Without exclusive, Bun binds with SO_REUSEPORT and a second proxy on the
          // same port would silently share it instead of failing with EADDRINUSE.
          exclusive: options.shared !== true,
          // A worker's shared listener (--concurrency): every worker binds the address with
          // SO_REUSEPORT and the kernel spreads connections over them (measured on Bun
          // 1.4.5: exclusive: false alone does not let a second process bind).
          ...(options.shared === true && { reusePort: true }),
          allowHalfOpen: true,
          socket: handlers((handle) => {
            const socket = new BunSocket();
            handle.data = socket;
            socket.attach(handle, false);
            onAccept(socket);
          }),
        });
        return {
          address: { address: listener.hostname, port: listener.port, family: listener.hostname.includes(":") ? 6 : 4 },
          close: () => listener.stop(false),
        };
      } catch (err) {
        throw toPortError(err);
      }
    },

    connect,
    tcpKeepalive: idleTimeOnlyKeepalive("bun"),
    // Bun's node:tls runs on BoringSSL and honours cipher and curve lists; it ignores
    // ticketKeys (two servers given one key do not resume each other's sessions). Accepted
    // sockets are upgraded to TLS in Bun itself (bun-tls.ts), whose server-name callback
    // chooses a certificate by SNI (its node:tls TLSSocket over a Duplex never calls
    // SNICallback, measured on Bun 1.4.5: such a socket is refused, never served the default).
    udp: nodeDgramCapability("Bun's UDP sockets have no SO_REUSEPORT (Bun.udpSocket, node:dgram refuse a second bind with EADDRINUSE)"),
    tls: bunTlsCapability({ runtime: "bun", cipherSuites: true, ecdhCurves: true, sniCallback: true, sniKeepsDefaultKeyTypes: false, ticketKeys: false, ocspStapling: false, sessionCache: false }, connect),

    ...processServices,
    log: { write: writeStderr },
    // Until serving(): read at once, as Envoy reads files on its main thread while it
    // starts (a blocking read: source/common/filesystem/posix/filesystem_impl.cc,
    // fileReadToEnd). On Bun the first asynchronous read starts its file thread pool, and
    // the event loop, idle while it waits, runs a full collection: the config's read then
    // cost ~10 ms at start-up instead of ~1 (docs/performance.md, "Start-up on bun and
    // deno"). Once the proxy serves, a read (SIGHUP's config, SDS and xDS files, runtime
    // layers) goes to the pool, as on node and deno: the event loop keeps serving.
    // A FIFO or a device (`-c /dev/stdin`, `-c <(…)`) is never read at once: a blocking
    // read there would wait for its writer.
    readTextFile: (path) => {
      if (starting) {
        try {
          if (statSync(path).isFile()) return Promise.resolve(readFileSync(path, "utf8"));
        } catch (err) {
          return Promise.reject(toPortError(err));
        }
      }
      return processServices.readTextFile(path);
    },
    serving() {
      starting = false;
    },
    // Workers: this program again in Bun child processes, listening with SO_REUSEPORT (Bun.listen without exclusive).
    workers: workerProcesses(
      (argv) => spawnLauncher(process.execPath, [...process.execArgv, ...workerEntry(), ...argv]),
      (signal, callback) => {
        process.on(signal, callback);
        if (signal === "SIGHUP") replayEarlySighup(callback);
      },
      // Bun.listen takes no inherited socket: each worker binds its own.
      "reuse-port",
    ),
    // Bun's process.memoryUsage() counts neither byte arrays nor most of JavaScriptCore's
    // heap; bun:jsc's statistics do (the same measure as heapUsed + external on V8).
    heapUsage() {
      const stats = heapStats();
      return stats.heapSize + stats.extraMemorySize;
    },
    // shrink_heap: a full collection, then JavaScriptCore's heap shrink, which returns free memory.
    releaseFreeMemory() {
      Bun.gc(true);
      Bun.shrink?.();
    },
    // After the I/O already received (the port's contract, which the HTTP/1 pool relies
    // on to see a FIN that came right behind a response before it reuses the connection).
    // Bun reads a socket's EOF on the poll after its data, and one setImmediate runs
    // before that poll (the conformance suite's defer test fails with it): two do not.
    defer: (callback) => void setImmediate(setImmediate, callback),
  };
}

/** The option, else the environment's setting, else the default; one rule for both: a whole number ≥ 0. */
function readsPerEdenCollection(option: number | undefined): number {
  const env = process.env.POLYVOY_BUN_READS_PER_EDEN_GC;
  if (option === undefined && (env === undefined || env === "")) return DEFAULT_READS_PER_EDEN_COLLECTION;
  const reads = option ?? Number(env);
  if (!Number.isInteger(reads) || reads < 0) {
    const name = option === undefined ? "POLYVOY_BUN_READS_PER_EDEN_GC" : "readsPerEdenCollection";
    throw new Error(`${name} must be a whole number of reads (0 turns scheduled collections off), not "${option ?? env}"`);
  }
  return reads;
}

/**
 * What a worker runs before its arguments: the program's file; nothing in an executable
 * `bun build --compile` made, which runs its embedded entry (process.argv[1] names it
 * under Bun's virtual /$bunfs/, Windows' B:/~BUN/) and would take that name for an argument.
 */
function workerEntry(): string[] {
  const entry = process.argv[1]!;
  return entry.startsWith("/$bunfs/") || entry.startsWith("B:/~BUN/") ? [] : [entry];
}
