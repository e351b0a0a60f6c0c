/**
 * A MySQL server and client for tests, speaking the protocol's exact bytes (mysql-wire.ts)
 * over node:net — no real mysqld needed. The server greets, takes every login but user
 * "denied" (ERR 1045) and "switch" (an auth switch first, then OK), answers SELECT with a
 * one-row result set, "BAD…" with ERR 1064 and anything else with OK; to an SSL request
 * it records it and stops answering (the client's TLS would follow).
 */
import net from "node:net";
import * as my from "./mysql-wire.ts";

export interface MySQLServer {
  port: number;
  /** Every COM_QUERY received, in order. */
  queries: string[];
  sslRequests: number;
  close(): Promise<void>;
}

function answer(sql: string): Uint8Array {
  const word = sql.trim().split(/\s+/)[0]!.toUpperCase();
  if (word.startsWith("BAD")) return my.err(1, 1064, "42000", `You have an error in your SQL syntax near '${word}'`);
  if (word === "SELECT") return my.resultSet(["c"], [["1"]]);
  return my.ok(1);
}

export async function mysqlServer(): Promise<MySQLServer> {
  const state = { queries: [] as string[], sslRequests: 0 };
  const server = net.createServer((socket) => {
    const reader = new my.PacketReader();
    let phase: "login" | "switch" | "command" | "ssl" = "login";
    socket.on("error", () => {});
    socket.write(my.greeting());
    socket.on("data", (chunk: Buffer) => {
      if (phase === "ssl") return;
      for (const [seq, payload] of reader.push(chunk)) {
        if (phase === "login") {
          const caps = payload[0]! | (payload[1]! << 8);
          if ((caps & my.CLIENT_SSL) !== 0 && payload.byteLength === 32) {
            state.sslRequests++;
            phase = "ssl";
            return;
          }
          const user = new TextDecoder().decode(payload.subarray(32, payload.indexOf(0, 32)));
          if (user === "denied") {
            socket.end(my.err(seq + 1, 1045, "28000", `Access denied for user '${user}'`));
            return;
          }
          if (user === "switch") {
            phase = "switch";
            socket.write(my.authSwitch(seq + 1));
          } else {
            phase = "command";
            socket.write(my.ok(seq + 1));
          }
        } else if (phase === "switch") {
          phase = "command";
          socket.write(my.ok(seq + 1));
        } else if (payload[0] === 0x03) {
          const sql = new TextDecoder().decode(payload.subarray(1));
          state.queries.push(sql);
          socket.write(answer(sql));
        } else if (payload[0] === 0x01) {
          socket.end();
        }
      }
    });
    socket.on("end", () => socket.end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get queries() {
      return state.queries;
    },
    get sslRequests() {
      return state.sslRequests;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** What a reply's first packet is: the greeting, OK, ERR, an auth switch, or a result set. */
function kind(payload: Uint8Array): string {
  if (payload[0] === 10) return "greeting";
  if (payload[0] === 0x00) return "ok";
  if (payload[0] === 0xff) return "err";
  if (payload[0] === 0xfe) return "switch";
  return "rows";
}

/**
 * A client session: the greeting, a login as `user` (the auth switch answered), each query
 * in turn waiting for its whole reply, then COM_QUIT. Returns each reply's kind (the
 * greeting first). `sslRequest`: send an SSL request and a TLS-looking record instead of
 * the login, then close.
 */
export async function mysqlSession(port: number, options: { user: string; database?: string; queries?: string[]; sslRequest?: boolean }): Promise<string[]> {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  const reader = new my.PacketReader();
  const replies: string[] = [];
  const packets: [number, Uint8Array][] = [];
  let wake: (() => void) | undefined;
  socket.on("data", (chunk: Buffer) => {
    packets.push(...reader.push(chunk));
    wake?.();
  });
  let closed = false;
  socket.on("close", () => {
    closed = true;
    wake?.();
  });
  const next = async (): Promise<[number, Uint8Array] | undefined> => {
    while (packets.length === 0 && !closed) await new Promise<void>((resolve) => (wake = resolve));
    return packets.shift();
  };
  /** A reply: one packet, or a whole result set (up to its second EOF). */
  const reply = async (): Promise<[number, string] | undefined> => {
    const first = await next();
    if (first === undefined) return undefined;
    const k = kind(first[1]);
    if (k === "rows") for (let eofs = 0; eofs < 2; ) if ((await next())?.[1][0] === 0xfe) eofs++;
    replies.push(k);
    return [first[0], k];
  };
  const timeout = setTimeout(() => socket.destroy(), 20_000);
  try {
    await reply();
    if (options.sslRequest) {
      socket.write(my.sslRequest());
      socket.end(Uint8Array.from([0x16, 3, 1, 0, 4, 1, 0, 0, 0]));
      while (!closed) await new Promise<void>((resolve) => (wake = resolve));
      return replies;
    }
    socket.write(my.login(options.user, { database: options.database }));
    let answer = await reply();
    if (answer?.[1] === "switch") {
      socket.write(my.authData(answer[0] + 1));
      answer = await reply();
    }
    if (answer?.[1] !== "ok") return replies;
    for (const sql of options.queries ?? []) {
      socket.write(my.query(sql));
      await reply();
    }
    socket.end(my.quit());
    while (!closed) await new Promise<void>((resolve) => (wake = resolve));
  } finally {
    clearTimeout(timeout);
    socket.destroy();
  }
  return replies;
}
