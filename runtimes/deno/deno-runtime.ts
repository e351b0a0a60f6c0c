import { lookup } from "node:dns/promises";
import type { ConnectOptions, Listener, ListenOptions, Runtime, SignalName, Socket } from "../../core/port.ts";
import { toPortError } from "../../core/adapter-kit/errors.ts";
import { Deno, type DenoListener } from "./deno-api.ts";
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
    onAccept(socket);
    socket.attach(conn, false);
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
  };
}
