/**
 * A PostgreSQL server and client for tests, speaking the protocol's exact bytes
 * (postgres-wire.ts) over node:net — no real postgres needed. The server trusts every
 * user, answers SELECT with one row, other statements with their command tag, "BAD…"
 * with an ERROR, "NOTICE…" with a WARNING notice, and SSLRequest with 'N'.
 */
import net from "node:net";
import * as pg from "./postgres-wire.ts";

export interface PostgresServer {
  port: number;
  /** Every query text received, in order. */
  queries: string[];
  close(): Promise<void>;
}

function answer(sql: string): Uint8Array {
  const word = sql.trim().split(/\s+/)[0]!.toUpperCase();
  if (word.startsWith("BAD")) return pg.concat(pg.errorResponse("ERROR", `syntax error at or near "${word}"`), pg.readyForQuery());
  if (word === "NOTICE") return pg.concat(pg.noticeResponse("WARNING", "careful"), pg.commandComplete("DO"), pg.readyForQuery());
  if (word === "SELECT") return pg.selectResult(["?column?"], [["1"]]);
  const tag = word === "INSERT" ? "INSERT 0 1" : word === "UPDATE" || word === "DELETE" ? `${word} 1` : word === "CREATE" ? "CREATE TABLE" : word;
  return pg.concat(pg.commandComplete(tag), pg.readyForQuery(word === "BEGIN" ? "T" : "I"));
}

export async function postgresServer(): Promise<PostgresServer> {
  const queries: string[] = [];
  const server = net.createServer((socket) => {
    const reader = new pg.MessageReader(true);
    socket.on("error", () => {});
    socket.on("data", (chunk: Buffer) => {
      for (const message of reader.push(chunk)) {
        if (message.type === "SSLRequest") socket.write("N");
        else if (message.type === "Startup") socket.write(pg.serverGreeting());
        else if (message.type === "Q") {
          const sql = new TextDecoder().decode(message.body.subarray(0, message.body.indexOf(0)));
          queries.push(sql);
          socket.write(answer(sql));
        } else if (message.type === "X") socket.end();
      }
    });
    socket.on("end", () => socket.end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    queries,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * A client session: startup as `user` (and `database`), each query in turn waiting for its
 * ReadyForQuery, then Terminate. Returns the message types the server sent per query
 * (the greeting first). `sslRequest`: ask for TLS first (the server says 'N').
 */
export async function postgresSession(port: number, options: { user: string; database?: string; queries: string[]; sslRequest?: boolean }): Promise<string[]> {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const reader = new pg.MessageReader(false);
  const replies: string[] = [];
  let current = "";
  let waiting: (() => void) | undefined;
  let sslAnswer: ((byte: string) => void) | undefined;
  socket.on("data", (chunk: Buffer) => {
    if (sslAnswer !== undefined) {
      const resolve = sslAnswer;
      sslAnswer = undefined;
      resolve(String.fromCharCode(chunk[0]!));
      chunk = chunk.subarray(1);
    }
    for (const message of reader.push(chunk)) {
      current += message.type;
      if (message.type === "Z") {
        replies.push(current);
        current = "";
        waiting?.();
      }
    }
  });
  const closed = new Promise<void>((resolve) =>
    socket.on("close", () => {
      waiting?.();
      resolve();
    }),
  );
  const untilReady = () => new Promise<void>((resolve) => (waiting = resolve));
  const timeout = setTimeout(() => socket.destroy(), 20_000);
  try {
    if (options.sslRequest) {
      const answered = new Promise<string>((resolve) => (sslAnswer = resolve));
      socket.write(pg.sslRequest());
      replies.push(`ssl:${await answered}`);
    }
    const parameters: Record<string, string> = { user: options.user };
    if (options.database !== undefined) parameters.database = options.database;
    let ready = untilReady();
    socket.write(pg.startup(parameters));
    await ready;
    for (const sql of options.queries) {
      ready = untilReady();
      socket.write(pg.query(sql));
      await ready;
    }
    socket.end(pg.terminate());
    await closed;
  } finally {
    clearTimeout(timeout);
  }
  return replies;
}
