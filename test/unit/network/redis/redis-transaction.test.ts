/**
 * redis_proxy transactions (Envoy's TransactionRequest, command_splitter_impl.cc): MULTI is
 * answered by the proxy, the first keyed command pins the transaction to its key's host on a
 * connection of the client's own with MULTI sent first, EXEC/DISCARD end it and that
 * connection closes once its replies are in; Envoy's error replies word for word. The filter
 * runs over a fake connection and the real splitter; upstream connections are recorded.
 */
import { describe, expect, test } from "vitest";
import type { Connection, ConnectionCallbacks } from "../../../../core/network/connection.ts";
import { ReadBuffer } from "../../../../core/network/read-buffer.ts";
import { CommandSplitter } from "../../../../core/network/redis/command-splitter.ts";
import type { RedisRequestCallbacks } from "../../../../core/network/redis/redis-client.ts";
import type { RedisConnPool } from "../../../../core/network/redis/redis-conn-pool.ts";
import { RedisProxyFilter } from "../../../../core/network/redis/redis-proxy-filter.ts";
import { RedisProxyStats } from "../../../../core/network/redis/redis-proxy-stats.ts";
import { RedisRouter } from "../../../../core/network/redis/redis-router.ts";
import { RespEncoder } from "../../../../core/network/redis/resp-encoder.ts";
import { respArray, respBulkText, respSimple, type RespValue } from "../../../../core/network/redis/resp-value.ts";
import type { Runtime } from "../../../../core/port.ts";
import { StatsStore } from "../../../../core/stats/stats-store.ts";

const bytesOf = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const latin1 = (bytes: Uint8Array) => String.fromCharCode(...bytes);
const command = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${a.length}\r\n${a}\r\n`).join("")}`;
/** A request as the wire carries it, for comparing what went upstream. */
const wire = (value: RespValue) => {
  const encoder = new RespEncoder();
  encoder.encode(value);
  return encoder.take().map(latin1).join("");
};

/** An upstream connection: what was sent on it, who waits for replies, whether it closed. */
class FakeClient {
  readonly sent: string[] = [];
  readonly waiting: RedisRequestCallbacks[] = [];
  active = true;
  draining = false;
  constructor(
    readonly key: string,
    private readonly onClose: (client: never) => void,
  ) {}
  makeRequest(request: RespValue, callbacks: RedisRequestCallbacks) {
    this.sent.push(wire(request));
    this.waiting.push(callbacks);
    return { cancel() {} };
  }
  /** Answer the oldest outstanding request. */
  reply(value: RespValue): void {
    this.waiting.shift()!.onResponse(value);
    if (this.draining && this.waiting.length === 0) this.close();
  }
  drain(): void {
    this.draining = true;
    if (this.waiting.length === 0) this.close();
  }
  close(): void {
    if (!this.active) return;
    this.active = false;
    this.onClose(this as never);
    for (const callbacks of this.waiting.splice(0)) callbacks.onFailure();
  }
}

function harness() {
  const stats = new StatsStore();
  const redisStats = new RedisProxyStats(stats, "r", false);
  const shared: string[] = [];
  const clients: FakeClient[] = [];
  const pool = {
    makeRequest(_key: string, request: RespValue) {
      shared.push(wire(request));
      return { cancel() {} };
    },
    transactionClient(key: string, onClose: (client: never) => void) {
      if (key.startsWith("nohost")) return undefined;
      const client = new FakeClient(key, onClose);
      clients.push(client);
      return client;
    },
  } as unknown as RedisConnPool;
  const runtime = { now: () => 0, wallClock: () => 0 } as unknown as Runtime;
  const router = new RedisRouter([{ prefix: "p:", removePrefix: true, cluster: "c" }], { prefix: "", removePrefix: false, cluster: "c" }, false);
  const splitter = new CommandSplitter(router, new Map([["c", pool]]), redisStats, runtime, false);
  let written = "";
  let callbacks: ConnectionCallbacks | undefined;
  const state = { closed: undefined as string | undefined };
  const connection = {
    write(chunk: Uint8Array) {
      written += latin1(chunk);
    },
    close(type: string) {
      state.closed = type;
      callbacks?.onEvent("LocalClose");
    },
    readDisable() {},
    addConnectionCallbacks(c: ConnectionCallbacks) {
      callbacks = c;
    },
  } as unknown as Connection;
  const filter = new RedisProxyFilter({ stats: redisStats, splitter, downstreamAuthPasswords: [], downstreamAuthUsername: "" }, connection);
  filter.initializeReadFilterCallbacks({ connection } as never);
  filter.onNewConnection();
  const send = (...commands: string[][]) => {
    const buffer = new ReadBuffer();
    buffer.add(bytesOf(commands.map((c) => command(...c)).join("")));
    filter.onData(buffer, false);
  };
  const remoteClose = () => callbacks?.onEvent("RemoteClose");
  return { send, shared, clients, state, remoteClose, written: () => written, counter: (name: string) => stats.counter(`redis.r.${name}`).value };
}

const QUEUED = respSimple("QUEUED");

describe("redis_proxy transactions", () => {
  test("MULTI is answered +OK; the first keyed command opens the client's own connection with MULTI first; every command goes there; EXEC closes it after its reply", () => {
    const h = harness();
    h.send(["MULTI"]);
    expect(h.written()).toBe("+OK\r\n");
    expect(h.clients).toHaveLength(0);
    h.send(["SET", "a", "1"], ["INCR", "elsewhere"], ["EXEC"]);
    expect(h.clients).toHaveLength(1);
    const client = h.clients[0]!;
    expect(client.key).toBe("a");
    expect(client.sent).toEqual([command("MULTI"), command("SET", "a", "1"), command("INCR", "elsewhere"), command("EXEC")]);
    expect(h.shared).toEqual([]);
    client.reply(respSimple("OK")); // MULTI's reply, dropped
    client.reply(QUEUED);
    client.reply(QUEUED);
    expect(client.active).toBe(true);
    client.reply(respArray([respSimple("OK"), respBulkText("2")]));
    expect(h.written()).toBe("+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n$1\r\n2\r\n");
    expect(client.active).toBe(false);
    // After EXEC commands go to the shared connection again.
    h.send(["GET", "a"]);
    expect(h.shared).toEqual([command("GET", "a")]);
    // Inside MULTI every command counts as `multi` (Envoy's handler lookup).
    expect(h.counter("command.multi.total")).toBe(4);
    expect(h.counter("command.set.total")).toBe(0);
    expect(h.counter("command.get.total")).toBe(1);
  });

  test("Envoy's error replies: EXEC/DISCARD without MULTI, nested MULTI, a multi-key command inside; an empty EXEC is *0, an empty DISCARD +OK", () => {
    const h = harness();
    h.send(["EXEC"], ["discard"], ["MULTI"], ["MULTI"], ["MGET", "a", "b"], ["Del", "a"], ["EXEC"], ["MULTI"], ["DISCARD"], ["UNWATCH"]);
    expect(h.written()).toBe(
      "-EXEC without MULTI\r\n-DISCARD without MULTI\r\n+OK\r\n-MULTI calls can not be nested\r\n" +
        "-'MGET' command is not supported within transaction\r\n-'Del' command is not supported within transaction\r\n*0\r\n+OK\r\n+OK\r\n+OK\r\n",
    );
    expect(h.clients).toHaveLength(0);
    expect(h.shared).toEqual([]);
  });

  test("DISCARD goes to the transaction's connection and ends it; local commands (PING) are answered inside", () => {
    const h = harness();
    h.send(["MULTI"], ["LPUSH", "l", "x"], ["PING"], ["DISCARD"]);
    const client = h.clients[0]!;
    expect(client.sent).toEqual([command("MULTI"), command("LPUSH", "l", "x"), command("DISCARD")]);
    client.reply(respSimple("OK"));
    client.reply(QUEUED);
    client.reply(respSimple("OK"));
    expect(h.written()).toBe("+OK\r\n+QUEUED\r\n+PONG\r\n+OK\r\n");
    expect(client.active).toBe(false);
  });

  test("the client's connection closing mid-transaction closes the transaction's connection", () => {
    const h = harness();
    h.send(["MULTI"], ["SET", "a", "1"]);
    const client = h.clients[0]!;
    h.remoteClose();
    expect(client.active).toBe(false);
  });

  test("the transaction's connection lost: what it owed and every later command up to EXEC get -upstream failure, nothing runs outside it", () => {
    const h = harness();
    h.send(["MULTI"], ["SET", "a", "1"]);
    const client = h.clients[0]!;
    client.close();
    h.send(["SET", "b", "2"], ["EXEC"], ["GET", "a"]);
    expect(h.written()).toBe("+OK\r\n-upstream failure\r\n-upstream failure\r\n-upstream failure\r\n");
    expect(h.clients).toHaveLength(1);
    expect(h.shared).toEqual([command("GET", "a")]);
  });

  test("no host for the first key: every command of the transaction, and EXEC, get -no upstream host", () => {
    const h = harness();
    h.send(["MULTI"], ["SET", "nohost", "1"], ["SET", "a", "2"], ["EXEC"], ["MULTI"]);
    expect(h.written()).toBe("+OK\r\n-no upstream host\r\n-no upstream host\r\n-no upstream host\r\n+OK\r\n");
    expect(h.clients).toHaveLength(0);
    expect(h.counter("command.multi.error")).toBe(3);
  });

  test("WATCH opens the transaction's connection, so the EXEC it guards runs where it watched; MULTI then goes upstream", () => {
    const h = harness();
    h.send(["WATCH", "w"], ["MULTI"], ["SET", "w", "1"], ["EXEC"]);
    const client = h.clients[0]!;
    expect(client.key).toBe("w");
    expect(client.sent).toEqual([command("WATCH", "w"), command("MULTI"), command("SET", "w", "1"), command("EXEC")]);
    expect(h.shared).toEqual([]);
    for (const reply of [respSimple("OK"), respSimple("OK"), QUEUED]) client.reply(reply);
    client.reply({ type: "null" } as RespValue);
    expect(h.written()).toBe("+OK\r\n+OK\r\n+QUEUED\r\n$-1\r\n");
    expect(client.active).toBe(false);
  });

  test("UNWATCH after WATCH goes to its connection and ends it; WATCH without a key is Envoy's wrong-arguments error", () => {
    const h = harness();
    h.send(["WATCH", "w"], ["UNWATCH"], ["WATCH"]);
    const client = h.clients[0]!;
    expect(client.sent).toEqual([command("WATCH", "w"), command("UNWATCH")]);
    client.reply(respSimple("OK"));
    client.reply(respSimple("OK"));
    expect(client.active).toBe(false);
    expect(h.written()).toBe("+OK\r\n+OK\r\n-wrong number of arguments for 'WATCH' command\r\n");
  });

  test("a WATCH's connection lost while idle: the watch is not dropped silently; MULTI's commands and EXEC get -upstream failure, then all is as new", () => {
    const h = harness();
    h.send(["WATCH", "w"]);
    h.clients[0]!.reply(respSimple("OK"));
    h.clients[0]!.close();
    h.send(["MULTI"], ["SET", "w", "1"], ["EXEC"]);
    expect(h.written()).toBe("+OK\r\n+OK\r\n-upstream failure\r\n-upstream failure\r\n");
    // Nothing ran unguarded, on a new connection or the shared one.
    expect(h.clients).toHaveLength(1);
    expect(h.shared).toEqual([]);
    h.send(["MULTI"], ["SET", "a", "1"], ["EXEC"]);
    expect(h.clients).toHaveLength(2);
    expect(h.clients[1]!.sent).toEqual([command("MULTI"), command("SET", "a", "1"), command("EXEC")]);
  });

  test("a WATCH's connection lost: a WATCH after it fails too; UNWATCH clears it (+OK)", () => {
    const h = harness();
    h.send(["WATCH", "w"]);
    h.clients[0]!.reply(respSimple("OK"));
    h.clients[0]!.close();
    h.send(["WATCH", "x"], ["UNWATCH"], ["MULTI"], ["SET", "a", "1"]);
    expect(h.written()).toBe("+OK\r\n-upstream failure\r\n+OK\r\n+OK\r\n");
    expect(h.clients).toHaveLength(2);
    expect(h.clients[1]!.sent).toEqual([command("MULTI"), command("SET", "a", "1")]);
  });

  test("nothing pipelined after EXEC or DISCARD is sent until its reply is in: it runs after the transaction (Envoy keeps the transaction until no reply is owed)", () => {
    const h = harness();
    h.send(["MULTI"], ["INCR", "a"], ["EXEC"], ["GET", "a"], ["MULTI"], ["INCR", "b"], ["DISCARD"], ["GET", "b"]);
    const first = h.clients[0]!;
    expect(first.sent).toEqual([command("MULTI"), command("INCR", "a"), command("EXEC")]);
    expect(h.shared).toEqual([]);
    first.reply(respSimple("OK"));
    first.reply(QUEUED);
    expect(h.shared).toEqual([]);
    first.reply(respArray([respSimple("1")]));
    expect(h.shared).toEqual([command("GET", "a")]);
    const second = h.clients[1]!;
    expect(second.sent).toEqual([command("MULTI"), command("INCR", "b"), command("DISCARD")]);
    second.reply(respSimple("OK"));
    second.reply(QUEUED);
    expect(h.shared).toEqual([command("GET", "a")]);
    second.reply(respSimple("OK"));
    expect(h.shared).toEqual([command("GET", "a"), command("GET", "b")]);
  });

  test("remove_prefix applies to the keys of a transaction's commands as outside one", () => {
    const h = harness();
    h.send(["MULTI"], ["SET", "p:a", "1"], ["GET", "p:b"]);
    expect(h.clients[0]!.key).toBe("a");
    expect(h.clients[0]!.sent).toEqual([command("MULTI"), command("SET", "a", "1"), command("GET", "b")]);
  });
});

describe("redis_proxy command stats", () => {
  test("every routed command's command.<cmd>.* stats exist from the start, as Envoy's splitter makes them", () => {
    const stats = new StatsStore();
    const redisStats = new RedisProxyStats(stats, "r", false);
    new CommandSplitter(new RedisRouter([], undefined, false), new Map(), redisStats, { now: () => 0, wallClock: () => 0 } as unknown as Runtime, false);
    for (const name of ["get", "set", "mget", "mset", "del", "eval", "multi", "exec", "watch", "zscore"]) {
      for (const stat of ["total", "success", "error", "latency"]) expect(stats.get(`redis.r.command.${name}.${stat}`), `${name}.${stat}`).toBeDefined();
    }
    // Commands the proxy answers itself, or does not route, have none.
    expect(stats.get("redis.r.command.ping.total")).toBeUndefined();
    expect(stats.get("redis.r.command.keys.total")).toBeUndefined();
  });
});
