import { lookup } from "node:dns/promises";
import type { AppendFile, ConnectOptions, Listener, ListenOptions, PortError, Runtime, SignalName, Socket } from "../../core/port.ts";
import { toPortError } from "../../core/adapter-kit/errors.ts";
import { Deno, type DenoFsFile, type DenoListener, type DenoWriter } from "./deno-api.ts";
import { DenoSocket } from "./deno-socket.ts";

const encoder = new TextEncoder();

/** Accept until the listener closes; a transient accept error (EMFILE) only pauses it. */
async function acceptLoop(listener: DenoListener, onAccept: (socket: Socket) => void, isClosed: () => boolean): Promise<void> {
  while (!isClosed()) {
    let conn;
    try {
      conn = await listener.accept();
    } catch {
      if (isClosed()) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    const socket = new DenoSocket();
    // Attached first, so the core sees the addresses in onAccept; no data can be
    // delivered before onAccept sets the handler (the first read resolves later).
    socket.attach(conn, false);
    onAccept(socket);
  }
}

/** The port over Deno.listen / Deno.connect. */
export function createDenoRuntime(): Runtime {
  return {
    name: "deno",
    version: Deno.version.deno,

    async listen(options: ListenOptions, onAccept: (socket: Socket) => void): Promise<Listener> {
      let listener: DenoListener;
      try {
        listener = Deno.listen({ hostname: options.address, port: options.port, transport: "tcp" });
      } catch (err) {
        throw toPortError(err);
      }
      let closed = false;
      void acceptLoop(listener, onAccept, () => closed);
      const addr = listener.addr;
      return {
        address: { address: addr.hostname, port: addr.port, family: addr.hostname.includes(":") ? 6 : 4 },
        close() {
          if (closed) return;
          closed = true;
          listener.close();
        },
      };
    },

    connect(options: ConnectOptions): Socket {
      const socket = new DenoSocket();
      Deno.connect({ hostname: options.address, port: options.port, transport: "tcp" }).then(
        (conn) => socket.attach(conn, true),
        (err) => socket.fail(err),
      );
      return socket;
    },

    setTimeout: (callback, ms) => setTimeout(callback, ms),
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    defer: (callback) => void setTimeout(callback, 0),
    now: () => performance.now(),
    wallClock: () => Date.now(),

    // Deno.resolveDns asks DNS servers only; getaddrinfo (node:dns lookup) also reads /etc/hosts.
    async resolve(host: string): Promise<string[]> {
      const found = await lookup(host, { all: true });
      return found.map((entry) => entry.address);
    },
    readTextFile: (path) => Deno.readTextFile(path),
    async openAppendFile(path: string): Promise<AppendFile> {
      // The process's own streams are written as they are, never reopened (a socket cannot be).
      if (path === "/dev/stdout") return new DenoAppendFile(path, Deno.stdout, undefined);
      if (path === "/dev/stderr") return new DenoAppendFile(path, Deno.stderr, undefined);
      try {
        const file = await Deno.open(path, { write: true, append: true, create: true, mode: 0o644 });
        return new DenoAppendFile(path, file, file);
      } catch (err) {
        throw fsError(err);
      }
    },
    onSignal(signal: SignalName, callback: () => void) {
      Deno.addSignalListener(signal, callback);
    },
    log: {
      write(line) {
        const bytes = encoder.encode(line);
        for (let at = 0; at < bytes.length; ) at += Deno.stderr.writeSync(bytes.subarray(at));
      },
    },
    exit: (code) => Deno.exit(code),
    memoryUsage: () => Deno.memoryUsage().rss,
    random: Math.random,
  };
}

// ---- Append-only files (access logs) ---------------------------------------------------

/** Deno names fs errors by class (NotFound, …); the port speaks errno. */
function fsError(err: unknown): PortError {
  const error = toPortError(err);
  const errno: Record<string, string> = { NotFound: "ENOENT", IsADirectory: "EISDIR", AlreadyExists: "EEXIST", WouldBlock: "EAGAIN" };
  return { code: errno[error.code] ?? error.code, message: error.message };
}

const ignore = () => {};

/** Deno's file and stdio writes are async (off the event loop) and may be short: one at a time, to the end. */
class DenoAppendFile implements AppendFile {
  private tail: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    readonly path: string,
    private readonly writer: DenoWriter,
    private readonly owned: DenoFsFile | undefined,
  ) {}

  write(data: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject({ code: "EBADF", message: `${this.path}: file is closed` });
    const done = this.tail.then(() => this.writeAll(data));
    this.tail = done.then(ignore, ignore);
    return done;
  }

  flush(): Promise<void> {
    return this.tail;
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      const owned = this.owned;
      if (owned) {
        this.tail = this.tail.then(() => {
          try {
            owned.close();
          } catch {
            // already closed
          }
        });
      }
    }
    return this.tail;
  }

  private async writeAll(data: Uint8Array): Promise<void> {
    let pause = 1;
    for (let at = 0; at < data.length; ) {
      try {
        at += await this.writer.write(data.subarray(at));
        pause = 1;
      } catch (err) {
        const error = fsError(err);
        if (error.code !== "EAGAIN") throw error;
        await new Promise((resolve) => setTimeout(resolve, pause));
        pause = Math.min(pause * 2, 100);
      }
    }
  }
}
