import { clearLongTimeout, setLongTimeout } from "../kit/long-timeout.ts";
import type { AppendFile, ConnectOptions, DirectoryEntry, Listener, ListenOptions, PortError, Runtime, SignalName, Socket, SocketAddress } from "../../core/port.ts";
import { bindPathFor, pipeAddress, placeBoundSocket, runtimeSocketPath, unlinkBeforeBind, type UnixSocketFiles } from "../kit/unix-socket.ts";
import { SerialAppendFile } from "../kit/serial-append-file.ts";
import { toPortError } from "../kit/errors.ts";
import { nodeDgramCapability } from "../kit/node-dgram.ts";
import { randomBytes } from "../kit/random-bytes.ts";
import { resolveWithNodeDns } from "../kit/node-dns-resolver.ts";
import { zlibCompression } from "../kit/zlib-compression.ts";
import { importModule } from "../kit/import-module.ts";
import { verifySignature } from "../kit/web-crypto-verify.ts";
import { hmacSha256 } from "../kit/web-crypto-hmac.ts";
import { Deno, type DenoListener, type DenoNetAddr, type DenoWriter } from "./deno-api.ts";
import { DenoSocket } from "./deno-socket.ts";
import { guardInspector } from "../kit/inspector-guard.ts";
import { replayEarlySighup } from "../kit/early-sighup.ts";
import { denoProcessHost, writeStderrSync } from "./deno-process-host.ts";
import { nodeTlsCapability } from "../kit/tls/node-tls.ts";
import { watchDirectory } from "../kit/watch-directory.ts";
import { spawnLauncher, workerProcesses } from "../kit/workers/index.ts";
import { denoInterfaceAddresses } from "./deno-interface-addresses.ts";
import { denoCpuCount } from "./deno-cpu-count.ts";

/**
 * Deno's `setImmediate` global is node compatibility's: reading it loads node:timers (~10 ms
 * of a start that needs none: runtimes/README.md), so the first defer reads it.
 */
let setImmediateOnce: ((callback: () => void) => unknown) | undefined;

/** Accept until the listener closes; a transient accept error (EMFILE) only pauses it. */
const unixFiles: UnixSocketFiles = { unlink: (path) => Deno.removeSync(path), chmod: (path, mode) => Deno.chmodSync(path, mode), rename: (from, to) => Deno.renameSync(from, to) };

/** A listener on a Unix domain socket (ListenOptions.pipe): bound under a name of its own, chmod-ed and moved onto the path (kit/unix-socket.ts). */
function listenOnPipe(address: string, mode: number, onAccept: (socket: Socket) => void): Listener {
  const bound = bindPathFor(address);
  if (bound === address) unlinkBeforeBind(address, unixFiles);
  let listener: DenoListener;
  try {
    listener = Deno.listen({ path: bound, transport: "unix" });
  } catch (err) {
    throw toPortError(err);
  }
  try {
    placeBoundSocket(bound, address, mode, unixFiles);
  } catch (err) {
    listener.close();
    throw err;
  }
  let closed = false;
  const at = pipeAddress(address);
  void acceptLoop(listener, onAccept, () => closed, at);
  return {
    address: at,
    close() {
      if (closed) return;
      closed = true;
      listener.close();
    },
  };
}

async function acceptLoop(listener: DenoListener, onAccept: (socket: Socket) => void, isClosed: () => boolean, pipe?: SocketAddress): Promise<void> {
  while (!isClosed()) {
    let conn;
    try {
      conn = await listener.accept();
    } catch (err) {
      if (isClosed()) return;
      // A connection reset while it waited in the backlog: Deno's accept() took it and
      // then failed on it (getpeername: ENOTCONN, "NotConnected"). Only that connection is
      // lost; the next is accepted at once, as libevent's accept loop retries
      // ECONNABORTED (Envoy's TcpListenerImpl). Pausing here for each let a burst of
      // resets hold every new client 100 ms apiece.
      if (isLostConnection(err)) continue;
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    const socket = new DenoSocket();
    if (pipe) socket.pipe = pipe;
    // Attached first, so the core sees the addresses in onAccept; no data can be
    // delivered before onAccept sets the handler (the first read resolves later).
    socket.attach(conn, false);
    onAccept(socket);
  }
}

/** An accept error about the one connection accepted, not about the listener or the process (EMFILE). */
function isLostConnection(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  return name === "NotConnected" || name === "ConnectionReset" || name === "ConnectionAborted";
}

function connect(options: ConnectOptions): Socket {
  const socket = new DenoSocket();
  if (options.pipe === true) {
    socket.pipe = pipeAddress(options.address);
    Deno.connect({ path: runtimeSocketPath(options.address), transport: "unix" }).then(
      (conn) => socket.attach(conn, true),
      (err) => socket.fail(err),
    );
    return socket;
  }
  socket.keepalive = options.keepalive !== undefined;
  Deno.connect({ hostname: options.address, port: options.port, transport: "tcp" }).then(
    (conn) => socket.attach(conn, true),
    (err) => socket.fail(err),
  );
  return socket;
}

/** The port over Deno.listen / Deno.connect. */
export function createDenoRuntime(): Runtime {
  // SIGUSR1 reopens access logs; it must never leave deno's inspector open (inspector-guard.ts).
  guardInspector(denoProcessHost, "later");
  return {
    name: "deno",
    version: Deno.version.deno,

    async listen(options: ListenOptions, onAccept: (socket: Socket) => void): Promise<Listener> {
      if (options.pipe) return listenOnPipe(options.address, options.pipe.mode, onAccept);
      let listener: DenoListener;
      try {
        listener = Deno.listen({ hostname: options.address, port: options.port, transport: "tcp", ...(options.shared === true && { reusePort: true }) });
      } catch (err) {
        throw toPortError(err);
      }
      let closed = false;
      void acceptLoop(listener, onAccept, () => closed);
      const addr = listener.addr as DenoNetAddr;
      return {
        address: { address: addr.hostname, port: addr.port, family: addr.hostname.includes(":") ? 6 : 4 },
        close() {
          if (closed) return;
          closed = true;
          listener.close();
        },
      };
    },

    connect,
    // Deno.TcpConn.setKeepAlive(bool) turns SO_KEEPALIVE on and sets nothing else.
    tcpKeepalive: { unsupported: () => "deno's conn.setKeepAlive sets only SO_KEEPALIVE (the kernel's idle time, interval and probe count apply)" },
    // Deno's node:tls runs on rustls: versions are honoured, cipher and curve lists are
    // silently ignored (measured on Deno 2.9: a list naming one cipher, or none that
    // exists, still negotiated rustls' defaults), so the config refuses them here; a
    // `crl` is ignored as well (a revoked client certificate verified), and so are
    // ticketKeys, secureOptions' SSL_OP_NO_TICKET and sessionTimeout (sessions resumed
    // regardless, even across two servers given different keys): all refused.
    // node:dgram, not Deno.listenDatagram: that one needs --unstable-net, and its options have no reusePort either.
    udp: nodeDgramCapability("Deno's UDP sockets have no SO_REUSEPORT (node:dgram's reusePort, Deno.listenDatagram's options)"),
    tls: nodeTlsCapability({ runtime: "deno", cipherSuites: false, ecdhCurves: false, sniCallback: true, sniKeepsDefaultKeyTypes: false, namesExpiry: false, crl: false, ticketKeys: false, sessionSettings: false, ocspStapling: false, sessionCache: false }, connect),

    setTimeout: setLongTimeout,
    clearTimeout: clearLongTimeout,
    // After the I/O already delivered, as node's setImmediate. Not setTimeout(0): Deno
    // runs that 1–2 ms later, which held every released upstream connection that long
    // before reuse (measured: ~2.1 ms per setTimeout(0), ~8 µs per setImmediate).
    defer: (callback) => void (setImmediateOnce ??= globalThis.setImmediate)(callback),
    now: () => performance.now(),
    wallClock: () => Date.now(),

    // getaddrinfo through node:dns's lookup, as on node. No TTLs: Deno's resolver answers
    // /etc/hosts names too, with a TTL of its own (resolve4("localhost", { ttl: true })
    // gives 86400 s), so a TTL it reports need not be a DNS record's.
    resolve: (host, family, options) => resolveWithNodeDns(host, family, options, false),
    readTextFile: (path) => Deno.readTextFile(path).catch((err: unknown) => Promise.reject(toPortError(err))),
    readFileBytes: (path) => Deno.readFile(path).catch((err: unknown) => Promise.reject(toPortError(err))),
    watchDirectory,
    fileType: (path) =>
      Deno.stat(path)
        .then((info) => (info.isFile ? "file" : info.isDirectory ? "directory" : "other"))
        .catch((err: unknown) => Promise.reject(toPortError(err))),
    fileSize: (path) =>
      Deno.stat(path)
        .then((info) => info.size)
        .catch((err: unknown) => Promise.reject(toPortError(err))),
    async readDirectory(path: string): Promise<DirectoryEntry[]> {
      const entries: DirectoryEntry[] = [];
      try {
        for await (const entry of Deno.readDir(path)) {
          // A symbolic link is typed as what it points to (Deno.stat follows it).
          const target = entry.isSymlink ? await Deno.stat(`${path}/${entry.name}`).catch(() => undefined) : entry;
          entries.push({ name: entry.name, type: target?.isFile ? "file" : target?.isDirectory ? "directory" : "other" });
        }
      } catch (err) {
        throw toPortError(err);
      }
      return entries;
    },
    importModule,
    verifySignature,
    hmacSha256,
    async openAppendFile(path: string): Promise<AppendFile> {
      // The process's own streams are written as they are, never reopened (a socket cannot be).
      if (path === "/dev/stdout") return new SerialAppendFile(path, (data) => writeAll(Deno.stdout, data), undefined);
      if (path === "/dev/stderr") return new SerialAppendFile(path, (data) => writeAll(Deno.stderr, data), undefined);
      try {
        const file = await Deno.open(path, { write: true, append: true, create: true, mode: 0o644 });
        return new SerialAppendFile(path, (data) => writeAll(file, data), () => {
          try {
            file.close();
          } catch {
            // already closed
          }
        });
      } catch (err) {
        throw fsError(err);
      }
    },
    onSignal(signal: SignalName, callback: () => void) {
      Deno.addSignalListener(signal, callback);
      if (signal === "SIGHUP") replayEarlySighup(callback);
    },
    // Workers: this program again in Deno child processes. Deno.listen's reusePort (SO_REUSEPORT)
    // is unstable, so each worker runs with --unstable-net whatever the supervisor was given.
    // A worker has every permission (-A): spawning it took --allow-run already.
    workers: workerProcesses(
      async (argv) => {
        const { fileURLToPath } = await import("node:url");
        return spawnLauncher(Deno.execPath(), ["run", "-A", "--unstable-net", fileURLToPath(Deno.mainModule), ...argv]);
      },
      (signal, callback) => {
        Deno.addSignalListener(signal, callback);
        if (signal === "SIGHUP") replayEarlySighup(callback);
      },
      // Deno.listen takes no inherited socket: each worker binds its own.
      "reuse-port",
      denoProcessHost,
    ),
    log: { write: writeStderrSync },
    exit: (code) => Deno.exit(code),
    memoryUsage: () => Deno.memoryUsage().rss,
    cpuCount: denoCpuCount,
    interfaceAddresses: denoInterfaceAddresses,
    // V8's heap in use plus external memory (array buffers included).
    heapUsage() {
      const usage = Deno.memoryUsage();
      return usage.heapUsed + usage.external;
    },
    // shrink_heap: Deno has no call that returns free memory; with --v8-flags=--expose-gc,
    // a full garbage collection, as on Node.
    ...(typeof (globalThis as { gc?: unknown }).gc === "function" ? { releaseFreeMemory: () => (globalThis as unknown as { gc(): void }).gc() } : {}),
    environmentVariable(name) {
      try {
        return Deno.env.get(name);
      } catch {
        return undefined; // no --allow-env: as if unset
      }
    },
    random: Math.random,
    randomBytes,
    // node:zlib through deno's node compatibility.
    compression: zlibCompression({ brotliReset: false }),
  };
}

// ---- Append-only files (access logs) ---------------------------------------------------

/** Deno names fs errors by class (NotFound, …); the port speaks errno. */
function fsError(err: unknown): PortError {
  const error = toPortError(err);
  const errno: Record<string, string> = { NotFound: "ENOENT", IsADirectory: "EISDIR", AlreadyExists: "EEXIST", WouldBlock: "EAGAIN" };
  return { code: errno[error.code] ?? error.code, message: error.message };
}

/** Write every byte (stdio pipes take part of a large write); EAGAIN is retried after a pause, up to 100 ms. */
async function writeAll(writer: DenoWriter, data: Uint8Array): Promise<void> {
  let pause = 1;
  for (let at = 0; at < data.length; ) {
    try {
      at += await writer.write(data.subarray(at));
      pause = 1;
    } catch (err) {
      const error = fsError(err);
      if (error.code !== "EAGAIN") throw error;
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 100);
    }
  }
}
