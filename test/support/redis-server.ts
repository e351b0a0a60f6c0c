/**
 * A real redis-server (Debian's package) on a free port for a test file, with persistence
 * off, and a raw RESP exchange over a socket: exact bytes out, the reply bytes back once
 * `replies` whole values have come (counted with a minimal RESP reader of its own).
 */
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { freePort } from "./net-helpers.ts";

export interface RedisServer {
  readonly port: number;
  stop(): Promise<void>;
}

/** `extraArgs`: more redis-server options (`--requirepass`). */
export async function startRedisServer(extraArgs: string[] = []): Promise<RedisServer> {
  const port = await freePort();
  const child: ChildProcess = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", ...extraArgs], { stdio: "ignore" });
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      // +PONG, or -NOAUTH with --requirepass: either way it listens.
      if (/^[+-]/.test(await respExchange(port, "*1\r\n$4\r\nPING\r\n", 1))) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`redis-server on port ${port} did not start`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      }),
  };
}

/** How many whole RESP values `text` holds from its start (undefined: a value is cut short). */
export function countRespValues(text: string): number {
  let at = 0;
  let count = 0;
  const value = (): boolean => {
    const end = text.indexOf("\r\n", at);
    if (end < 0) return false;
    const type = text[at];
    const line = text.slice(at + 1, end);
    at = end + 2;
    if (type === "$") {
      const n = Number(line);
      if (n < 0) return true;
      if (text.length < at + n + 2) return false;
      at += n + 2;
      return true;
    }
    if (type === "*") {
      const n = Number(line);
      for (let i = 0; i < n; i++) if (!value()) return false;
    }
    return true;
  };
  while (at < text.length) {
    if (!value()) break;
    count++;
  }
  return count;
}

/**
 * Write `request` (RESP bytes, as latin1 text) and resolve with what came back once
 * `replies` values are in, or when the peer closes; rejects after `timeoutMs`. With
 * `halfClose` the request is followed by a FIN.
 */
export function respExchange(port: number, request: string, replies: number, timeoutMs = 10_000, halfClose = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let received = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no ${replies} replies in ${timeoutMs} ms; got ${JSON.stringify(received)}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(received);
    };
    socket.on("connect", () => (halfClose ? socket.end(Buffer.from(request, "latin1")) : socket.write(Buffer.from(request, "latin1"))));
    socket.on("data", (data) => {
      received += data.toString("latin1");
      if (countRespValues(received) >= replies) done();
    });
    socket.on("close", done);
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** A RESP command: an array of bulk strings. */
export function command(...args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a, "latin1")}\r\n${a}\r\n`).join("")}`;
}

/** One connection for a conversation: each `send` resolves with the next `replies` values. */
export interface RespSession {
  send(request: string, replies: number, timeoutMs?: number): Promise<string>;
  close(): void;
  /** Resolves when the peer closes the connection. */
  readonly closed: Promise<void>;
}

export function respSession(port: number): Promise<RespSession> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let received = "";
    let waiting: { replies: number; resolve: (text: string) => void } | undefined;
    const closed = new Promise<void>((done) => socket.on("close", () => done()));
    const check = () => {
      if (waiting === undefined || countRespValues(received) < waiting.replies) return;
      const { resolve: done } = waiting;
      waiting = undefined;
      const text = received;
      received = "";
      done(text);
    };
    socket.on("data", (data) => {
      received += data.toString("latin1");
      check();
    });
    socket.on("error", reject);
    socket.on("connect", () =>
      resolve({
        send: (request, replies, timeoutMs = 10_000) =>
          new Promise((done, fail) => {
            const timer = setTimeout(() => fail(new Error(`no ${replies} replies in ${timeoutMs} ms; got ${JSON.stringify(received)}`)), timeoutMs);
            waiting = {
              replies,
              resolve: (text) => {
                clearTimeout(timer);
                done(text);
              },
            };
            socket.write(Buffer.from(request, "latin1"));
          }),
        close: () => socket.destroy(),
        closed,
      }),
    );
  });
}
