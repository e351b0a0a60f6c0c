/**
 * redis_proxy's bounds on what one client may make the proxy hold or do (a review's
 * findings): a request is a flat array of bulk strings within its limits, any error in a
 * request closes that connection only, a fan-out request is bounded and weighs its keys,
 * case_insensitive prefixes keep non-ASCII bytes. The filter runs over a fake connection and
 * the real command splitter with a recording pool.
 */
import { describe, expect, test } from "vitest";
import type { Connection, ConnectionCallbacks } from "../../../../core/network/connection.ts";
import { ReadBuffer } from "../../../../core/network/read-buffer.ts";
import { CommandSplitter, MAX_FRAGMENTS_PER_REQUEST } from "../../../../core/network/redis/command-splitter.ts";
import { RedisConnPool as RedisConnPoolImpl, type RedisConnPool } from "../../../../core/network/redis/redis-conn-pool.ts";
import { MAX_OUTSTANDING_REQUESTS, type RedisRequestCallbacks } from "../../../../core/network/redis/redis-client.ts";
import { MAX_HELD_REPLY_BYTES, RedisProxyFilter, type RedisDrainDecision } from "../../../../core/network/redis/redis-proxy-filter.ts";
import { RedisProxyStats } from "../../../../core/network/redis/redis-proxy-stats.ts";
import { RedisRouter } from "../../../../core/network/redis/redis-router.ts";
import { REQUEST_RESP_LIMITS, RespDecoder } from "../../../../core/network/redis/resp-decoder.ts";
import { respBulk, respBulkText, type RespValue } from "../../../../core/network/redis/resp-value.ts";
import type { Runtime } from "../../../../core/port.ts";
import { StatsStore } from "../../../../core/stats/stats-store.ts";
import { loadBootstrap } from "../../../../core/config/load.ts";
import { redisProxyFilterFactory } from "../../../../core/network/redis/redis-proxy-factory.ts";
import type { RedisProxyConfig } from "../../../../core/config/bootstrap.ts";

const bytesOf = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const latin1 = (bytes: Uint8Array) => String.fromCharCode(...bytes);
const command = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${a.length}\r\n${a}\r\n`).join("")}`;

/** A filter over a fake connection; upstream requests are recorded, never answered. */
function harness(splitterOverride?: { makeRequest(v: RespValue, c: unknown): unknown }, drain?: RedisDrainDecision, options: { deferClose?: boolean } = {}) {
  const stats = new StatsStore();
  const redisStats = new RedisProxyStats(stats, "r", false);
  const sent: RespValue[] = [];
  const waiting: RedisRequestCallbacks[] = [];
  const pool = {
    makeRequest(_key: string, request: RespValue, callbacks: RedisRequestCallbacks) {
      sent.push(request);
      waiting.push(callbacks);
      return { cancel() {} };
    },
    /** A transaction's connection: its requests recorded with the others. */
    transactionClient() {
      return { active: true, makeRequest: (request: RespValue, callbacks: RedisRequestCallbacks) => pool.makeRequest("", request, callbacks), drain() {}, close() {} };
    },
  } as unknown as RedisConnPool;
  const runtime = { now: () => 0, wallClock: () => 0 } as unknown as Runtime;
  const splitter = splitterOverride ?? new CommandSplitter(new RedisRouter([], { prefix: "", removePrefix: false, cluster: "c" }, false), new Map([["c", pool]]), redisStats, runtime, false);
  let written = "";
  /** Bytes written the client has not read (it reads nothing unless a test says so). */
  const state = { closed: undefined as string | undefined, readDisabled: 0, unread: 0, reads: false };
  let callbacks: ConnectionCallbacks | undefined;
  const connection = {
    write(chunk: Uint8Array) {
      if (chunk.byteLength <= 64 * 1024) written += latin1(chunk);
      if (!state.reads) state.unread += chunk.byteLength;
    },
    get writeBufferedBytes() {
      return state.unread;
    },
    close(type: string) {
      state.closed = type;
      // A real connection reports a flushing close once its buffer is written, later.
      if (!options.deferClose) callbacks?.onEvent("LocalClose");
    },
    readDisable(disable: boolean) {
      state.readDisabled += disable ? 1 : -1;
    },
    addConnectionCallbacks(c: ConnectionCallbacks) {
      callbacks = c;
    },
  } as unknown as Connection;
  const filter = new RedisProxyFilter({ stats: redisStats, splitter: splitter as CommandSplitter, downstreamAuthPasswords: [], downstreamAuthUsername: "", drain }, connection);
  filter.initializeReadFilterCallbacks({ connection } as never);
  filter.onNewConnection();
  const send = (wire: string | Uint8Array) => {
    const buffer = new ReadBuffer();
    buffer.add(typeof wire === "string" ? bytesOf(wire) : wire);
    filter.onData(buffer, false);
  };
  return { filter, send, sent, waiting, state, written: () => written, counter: (name: string) => stats.counter(`redis.r.${name}`).value, gauge: (name: string) => stats.gauge(`redis.r.${name}`).value };
}

describe("redis_proxy request limits", () => {
  test("a request's array holds bulk strings only: a nested array is a protocol error at its type byte", () => {
    const decoder = new RespDecoder(() => {}, REQUEST_RESP_LIMITS);
    expect(() => decoder.decode(bytesOf("*2\r\n*"))).toThrow("Protocol error: expected '$', got '*'");
    expect(() => new RespDecoder(() => {}, REQUEST_RESP_LIMITS).decode(bytesOf("*1\r\n:1\r\n"))).toThrow("expected '$', got ':'");
    const h = harness();
    h.send(`*2\r\n${"*1048576\r\n".repeat(2)}`);
    expect(h.written()).toBe("-downstream protocol error\r\n");
    expect(h.state.closed).toBe("FlushWrite");
    expect(h.counter("downstream_cx_protocol_error")).toBe(1);
  });

  test("a bulk string over 64 MiB, or an array over 65,536 elements, is refused from its header", () => {
    for (const header of [`*1\r\n$${64 * 1024 * 1024 + 1}\r\n`, `$${512 * 1024 * 1024}\r\n`, "*65537\r\n"]) {
      const h = harness();
      h.send(header);
      expect(h.written()).toBe("-downstream protocol error\r\n");
      expect(h.state.closed).toBe("FlushWrite");
    }
  });

  test("any error while handling a request closes that connection, never escapes onData", () => {
    const h = harness({
      makeRequest() {
        throw new RangeError("Invalid string length");
      },
    });
    expect(() => h.send(command("GET", "k"))).not.toThrow();
    expect(h.written()).toBe("-downstream protocol error\r\n");
    expect(h.state.closed).toBe("FlushWrite");
    expect(h.counter("downstream_cx_protocol_error")).toBe(1);
  });

  test("a command name longer than any command is unsupported without being made a string", () => {
    const h = harness();
    h.send(command("x".repeat(100), "k"));
    expect(h.written()).toBe(`-unsupported command '${"x".repeat(64)}...'\r\n`);
    expect(h.counter("splitter.unsupported_command")).toBe(1);
    expect(h.sent).toHaveLength(0);
  });

  test("MGET/MSET/DEL past MAX_FRAGMENTS_PER_REQUEST keys get an error, no upstream request", () => {
    const keys = Array.from({ length: MAX_FRAGMENTS_PER_REQUEST + 1 }, (_, i) => `k${i}`);
    const h = harness();
    h.send(command("MGET", ...keys));
    h.send(command("DEL", ...keys));
    h.send(command("MSET", ...keys.flatMap((k) => [k, "v"])));
    expect(h.written()).toBe(
      [`'MGET' command: ${keys.length}`, `'DEL' command: ${keys.length}`, `'MSET' command: ${keys.length}`].map((s) => `-too many keys for ${s}, at most ${MAX_FRAGMENTS_PER_REQUEST}\r\n`).join(""),
    );
    expect(h.sent).toHaveLength(0);
    expect(h.counter("command.mget.error")).toBe(1);
    // At the bound, it fans out.
    h.send(command("MGET", ...keys.slice(1)));
    expect(h.sent).toHaveLength(MAX_FRAGMENTS_PER_REQUEST);
  });

  test("a request weighs its arguments: one MGET of 2,000 keys pauses reads as 1,024 GETs would", () => {
    const h = harness();
    h.send(command("MGET", ...Array.from({ length: 2000 }, (_, i) => `k${i}`)));
    expect(h.state.readDisabled).toBe(1);
    const g = harness();
    g.send(command("GET", "k").repeat(1023));
    expect(g.state.readDisabled).toBe(0);
    g.send(command("GET", "k"));
    expect(g.state.readDisabled).toBe(1);
  });

  test("case_insensitive: prefixes lowered as ASCII only, as keys are (absl::AsciiStrToLower)", () => {
    const router = new RedisRouter([{ prefix: "\u00c0B:", removePrefix: false, cluster: "x" }].map((r) => ({ ...r })), undefined, true);
    expect(router.route("\u00c0b:1")?.cluster).toBe("x");
    expect(router.route("\u00e0b:1")).toBeUndefined();
    // The schema's one-route-per-prefix check lowers them the same way: À and à are two prefixes.
    const routes = [{ prefix: "À", cluster: "c" }, { prefix: "à", cluster: "c" }];
    const json = JSON.stringify({
      static_resources: {
        listeners: [{ name: "l", address: { socket_address: { address: "127.0.0.1", port_value: 1 } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.redis_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy", stat_prefix: "r", settings: { op_timeout: "1s" }, prefix_routes: { case_insensitive: true, routes } } }] }] }],
        clusters: [{ name: "c", type: "STATIC", load_assignment: { cluster_name: "c", endpoints: [] } }],
      },
    });
    expect(() => loadBootstrap(json, "json")).not.toThrow();
  });
});

describe("redis_proxy: a client that does not read its replies", () => {
  test("four requests in flight on a new connection, 64 once small replies come; none sent while the client's write buffer is above its high watermark", () => {
    const h = harness();
    h.state.reads = true;
    h.send(command("GET", "k").repeat(1000));
    expect(h.sent).toHaveLength(4);
    const answer = (n: number) => {
      for (const callbacks of h.waiting.splice(0, n)) callbacks.onResponse(respBulkText("v"));
    };
    answer(4);
    expect(h.sent).toHaveLength(68);
    answer(10);
    expect(h.sent).toHaveLength(78);
    h.filter.onAboveWriteBufferHighWatermark();
    answer(64);
    expect(h.sent).toHaveLength(78);
    expect(h.written()).toBe("$1\r\nv\r\n".repeat(78));
    h.filter.onBelowWriteBufferLowWatermark();
    expect(h.sent).toHaveLength(142);
    while (h.waiting.length > 0) answer(h.waiting.length);
    expect(h.sent).toHaveLength(1000);
    expect(h.written()).toBe("$1\r\nv\r\n".repeat(1000));
  });

  test(`GETs of big values: replies in flight, held and buffered kept near ${MAX_HELD_REPLY_BYTES} bytes (four on a new connection, then one at a time), not 64 replies`, () => {
    const h = harness();
    h.send(command("GET", "k").repeat(100));
    const big = respBulk(new Uint8Array(MAX_HELD_REPLY_BYTES / 2));
    // Answered as they are sent, the last first (held behind the others), nothing read.
    let most = 0;
    while (h.waiting.length > 0) {
      const batch = h.waiting.splice(0).reverse();
      for (const callbacks of batch) callbacks.onResponse(big);
      most = Math.max(most, batch.length);
    }
    // The first window (4), then one at a time: the write buffer alone is over the bound (a
    // real connection's high watermark then stops them; this fake has none).
    expect(most).toBe(4);
    expect(h.sent).toHaveLength(100);
    expect(h.state.unread).toBeGreaterThan(100 * (MAX_HELD_REPLY_BYTES / 2));
    const h2 = harness();
    h2.send(command("GET", "k").repeat(1000));
    h2.waiting.splice(0).forEach((callbacks) => callbacks.onResponse(big));
    // A big reply seen, the window is one request.
    expect(h2.waiting).toHaveLength(1);
  });

  test("a transaction's +QUEUED replies do not open the byte window; EXEC weighs the commands it carries", () => {
    const h = harness();
    h.state.reads = true;
    h.send(command("GET", "big"));
    // A reply of 512 KiB, its RESP header included.
    h.waiting.shift()!.onResponse(respBulk(new Uint8Array(MAX_HELD_REPLY_BYTES / 2 - 16)));
    const keys = Array.from({ length: 8 }, (_, i) => `k${i}`);
    h.send(command("MULTI") + keys.map((k) => command("GET", k)).join("") + command("EXEC") + command("GET", "big").repeat(20));
    const exec = (value: RespValue) => value.type === "array" && latin1((value.value[0] as { value: Uint8Array }).value) === "EXEC";
    // Answered one at a time, oldest first: EXEC goes only once nothing else is in flight (8 × 512 KiB > 1 MiB).
    for (let i = 0; i < 100 && !h.sent.some(exec); i++) h.waiting.shift()!.onResponse(respBulkText("QUEUED"));
    expect(h.waiting).toHaveLength(1);
    h.waiting.shift()!.onResponse({ type: "array", value: keys.map(() => respBulk(new Uint8Array(0))) });
    // The estimate is EXEC's half (256 KiB per weight), not halved by each +QUEUED: four GETs of big values in flight, not 20.
    expect(h.waiting).toHaveLength(4);
  });

  test("requests held behind QUIT are never sent", () => {
    const h = harness();
    h.send(command("GET", "k").repeat(100) + command("QUIT") + command("GET", "after"));
    while (h.waiting.length > 0) for (const callbacks of h.waiting.splice(0)) callbacks.onResponse(respBulkText("v"));
    expect(h.sent).toHaveLength(100);
    expect(h.written()).toBe("$1\r\nv\r\n".repeat(100) + "+OK\r\n");
    expect(h.state.closed).toBe("FlushWrite");
  });
});

describe("redis_proxy draining (downstream_cx_drain_close)", () => {
  function draining() {
    const state = { draining: false, targets: new Set<{ onDrainClose(): void }>() };
    const drain: RedisDrainDecision = {
      drainClose: () => state.draining,
      addDrainCloseTarget: (t) => state.targets.add(t),
      removeDrainCloseTarget: (t) => state.targets.delete(t),
    };
    const start = () => {
      state.draining = true;
      for (const target of [...state.targets]) target.onDrainClose();
    };
    return { drain, state, start };
  }

  test("an idle connection closes when the drain starts; one owing replies closes after its last", () => {
    const d = draining();
    const idle = harness(undefined, d.drain);
    const busy = harness(undefined, d.drain);
    busy.send(command("GET", "a") + command("GET", "b"));
    expect(d.state.targets.size).toBe(2);
    d.start();
    expect(idle.state.closed).toBe("FlushWrite");
    expect(idle.counter("downstream_cx_drain_close")).toBe(1);
    expect(busy.state.closed).toBeUndefined();
    busy.waiting.shift()!.onResponse(respBulkText("1"));
    expect(busy.state.closed).toBeUndefined();
    busy.waiting.shift()!.onResponse(respBulkText("2"));
    expect(busy.written()).toBe("$1\r\n1\r\n$1\r\n2\r\n");
    expect(busy.state.closed).toBe("FlushWrite");
    expect(busy.counter("downstream_cx_drain_close")).toBe(1);
    // Closed connections are no drain targets any more.
    expect(d.state.targets.size).toBe(0);
  });

  test("requests decoded in the read that closed the connection for the drain are dropped, and the close counted once", () => {
    const d = draining();
    d.state.draining = true;
    const h = harness(undefined, d.drain, { deferClose: true });
    h.send(command("PING") + command("PING") + command("GET", "k"));
    expect(h.written()).toBe("+PONG\r\n");
    expect(h.state.closed).toBe("FlushWrite");
    expect(h.sent).toHaveLength(0);
    expect(h.counter("downstream_cx_drain_close")).toBe(1);
  });

  test("as Envoy's onResponse: while drainClose() says so, a reply that leaves nothing owed closes the connection", () => {
    const d = draining();
    const h = harness(undefined, d.drain);
    h.send(command("GET", "a"));
    d.state.draining = true;
    h.waiting.shift()!.onResponse(respBulkText("1"));
    expect(h.state.closed).toBe("FlushWrite");
    expect(h.counter("downstream_cx_drain_close")).toBe(1);
    expect(h.gauge("downstream_cx_active")).toBe(0);
  });
});

describe("redis_proxy upstream client", () => {
  /** A pool over one host whose TCP pool answers newStream as `onNewStream` says. */
  function pool(onNewStream: (callbacks: { onPoolFailure(r: string, t: string): void; onPoolReady(c: unknown): void }) => void) {
    const counters = new Map<string, { value: number; inc(): void }>();
    const counter = (name: string) => {
      let c = counters.get(name);
      if (!c) counters.set(name, (c = { value: 0, inc() { this.value++; } }));
      return c;
    };
    const host = {};
    const members: ((added: unknown[], removed: unknown[]) => void)[] = [];
    const prioritySet = { addMemberUpdateCallback: (cb: (added: unknown[], removed: unknown[]) => void) => (members.push(cb), () => members.splice(members.indexOf(cb), 1)) };
    const cluster = {
      prioritySet,
      config: { connectTimeoutMs: 5000 },
      stats: { upstreamCxNoneHealthy: counter("none_healthy"), upstreamCxProtocolError: counter("protocol_error"), upstreamRqTimeout: counter("timeout"), upstreamCxConnectTimeout: counter("connect_timeout") },
      loadBalancer: { chooseHost: () => host },
    };
    /** Every timer made, to fire by hand. */
    const made: { enabled: boolean; ms: number; fire(): void }[] = [];
    const timers = {
      create: (target: { onTimer(t: unknown): void }) => {
        const timer = {
          enabled: false,
          ms: 0,
          enable(ms: number) {
            timer.enabled = true;
            timer.ms = ms;
          },
          disable() {
            timer.enabled = false;
          },
          fire() {
            timer.enabled = false;
            target.onTimer(timer);
          },
        };
        made.push(timer);
        return timer;
      },
    };
    const pools = { shared: 0, unlimited: 0 };
    const tcpPool = (which: "shared" | "unlimited") => () => ({ newStream: (cb: never) => (pools[which]++, onNewStream(cb), { cancel() {} }) });
    const context = {
      clusterManager: { get: () => cluster, tcpConnPool: tcpPool("shared"), unlimitedTcpConnPool: tcpPool("unlimited") },
      timers,
    };
    const removeHost = () => members.forEach((cb) => cb([], [host]));
    return { removeHost, members, timers: made, pools, pool: new RedisConnPoolImpl("c", context as never, { opTimeoutMs: 1000, maxBufferSizeBeforeFlush: 0, bufferFlushTimeoutMs: 0, enableHashtagging: false }), counter };
  }
  const GET = { type: "array", value: [] } as unknown as RespValue;

  test("a request waiting for a connection the TCP pool does not give (circuit breakers) fails at connect_timeout, not never (Envoy's connect_or_op_timer_)", () => {
    const { pool: p, timers, counter } = pool(() => {});
    const got: string[] = [];
    p.makeRequest("k", GET, { onResponse: () => got.push("reply"), onFailure: () => got.push("failure") });
    const timer = timers.find((t) => t.enabled);
    expect(timer?.ms).toBe(5000);
    timer!.fire();
    expect(got).toEqual(["failure"]);
    expect(counter("connect_timeout").value).toBe(1);
    expect(counter("timeout").value).toBe(0);
  });

  test("connected, the timer is op_timeout while requests are outstanding, off when none is", () => {
    let ready: ((c: unknown) => void) | undefined;
    const { pool: p, timers } = pool((cb) => (ready = (c) => cb.onPoolReady(c)));
    p.makeRequest("k", GET, { onResponse() {}, onFailure() {} });
    ready!({ connection: { write() {} }, addUpstreamCallbacks() {}, release() {} });
    expect(timers.filter((t) => t.enabled).map((t) => t.ms)).toEqual([1000]);
    const idle = pool((cb) => (ready = (c) => cb.onPoolReady(c)));
    idle.pool.transactionClient("k", () => {});
    ready!({ connection: { write() {} }, addUpstreamCallbacks() {}, release() {} });
    expect(idle.timers.filter((t) => t.enabled)).toEqual([]);
  });

  test("a transaction's client is a connection of its own, not the shared one, and not the pool's to keep; outside the cluster's circuit breakers", () => {
    let streams = 0;
    const { pool: p, pools } = pool(() => streams++);
    const callbacks = { onResponse() {}, onFailure() {} };
    p.makeRequest("k", GET, callbacks);
    expect(streams).toBe(1);
    const closed: unknown[] = [];
    const client = p.transactionClient("k", (c) => closed.push(c))!;
    expect(streams).toBe(2);
    p.makeRequest("k", GET, callbacks);
    expect(streams).toBe(2);
    // Its own pool, outside max_connections (Envoy's client_factory_.create in makeRequestToHost).
    expect(pools).toEqual({ shared: 1, unlimited: 1 });
    client.close();
    expect(closed).toEqual([client]);
    // The shared client is still there.
    p.makeRequest("k", GET, callbacks);
    expect(streams).toBe(2);
  });

  test("a connection failing at once fails the request (upstream failure), not 'no upstream host'", () => {
    const { pool: p } = pool((cb) => cb.onPoolFailure("Overflow", ""));
    const events: string[] = [];
    const handle = p.makeRequest("k", GET, { onResponse: () => events.push("response"), onFailure: () => events.push("failure") });
    expect(handle).toBeDefined();
    expect(events).toEqual(["failure"]);
  });

  test(`past ${MAX_OUTSTANDING_REQUESTS} outstanding requests on one connection, the next fails at once`, () => {
    const { pool: p } = pool(() => {});
    let failures = 0;
    const callbacks = { onResponse() {}, onFailure: () => failures++ };
    for (let i = 0; i < MAX_OUTSTANDING_REQUESTS; i++) p.makeRequest("k", GET, callbacks);
    expect(failures).toBe(0);
    p.makeRequest("k", GET, callbacks);
    expect(failures).toBe(1);
  });

  test("replies decoded after the connection closed are dropped, not counted as protocol errors", () => {
    let ready: ((c: unknown) => void) | undefined;
    const { pool: p, counter } = pool((cb) => (ready = (c) => cb.onPoolReady(c)));
    let upstream: { onUpstreamData(d: Uint8Array, end: boolean): void } | undefined;
    const connection = { connection: { write() {} }, addUpstreamCallbacks: (c: never) => (upstream = c), release() {} };
    const got: string[] = [];
    p.makeRequest("k", GET, { onResponse: () => got.push("reply"), onFailure: () => got.push("failure") });
    ready!(connection);
    // One read: the reply, then one nobody asked for (closes the connection), then two more.
    upstream!.onUpstreamData(bytesOf("+OK\r\n+extra\r\n+late\r\n+late\r\n"), false);
    expect(got).toEqual(["reply"]);
    expect(counter("protocol_error").value).toBe(1);
  });

  test("a host removed from the cluster has its connection closed once its outstanding replies are in (ThreadLocalPool::onHostsRemoved)", () => {
    let ready: ((c: unknown) => void) | undefined;
    const { pool: p, removeHost, members } = pool((cb) => (ready = (c) => cb.onPoolReady(c)));
    let upstream: { onUpstreamData(d: Uint8Array, end: boolean): void } | undefined;
    let released = 0;
    const connection = { connection: { write() {} }, addUpstreamCallbacks: (c: never) => (upstream = c), release: () => released++ };
    const got: string[] = [];
    p.makeRequest("k", GET, { onResponse: () => got.push("reply"), onFailure: () => got.push("failure") });
    ready!(connection);
    removeHost();
    expect(released).toBe(0);
    upstream!.onUpstreamData(bytesOf("+OK\r\n"), false);
    expect(got).toEqual(["reply"]);
    expect(released).toBe(1);
    p.close();
    expect(members).toHaveLength(0);
  });

  test("the listener destroyed, the filter config's upstream connections are closed", () => {
    const json = JSON.stringify({
      static_resources: {
        listeners: [{ name: "l", address: { socket_address: { address: "127.0.0.1", port_value: 1 } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.redis_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy", stat_prefix: "r", settings: { op_timeout: "1s" }, prefix_routes: { catch_all_route: { cluster: "c" } } } }] }] }],
        clusters: [{ name: "c", type: "STATIC", load_assignment: { cluster_name: "c", endpoints: [] } }],
      },
    });
    const config = loadBootstrap(json, "json").listeners[0]!.filterChains[0]!.filters[0] as unknown as { config: RedisProxyConfig };
    const host = {};
    const cluster = { prioritySet: { addMemberUpdateCallback: () => () => {} }, config: {}, stats: {}, loadBalancer: { chooseHost: () => host } };
    let released = 0;
    const destroyed: (() => void)[] = [];
    const context = {
      clusterManager: { get: () => cluster, tcpConnPool: () => ({ newStream: (cb: { onPoolReady(c: unknown): void }) => (cb.onPoolReady({ connection: { write() {} }, addUpstreamCallbacks() {}, release: () => released++ }), { cancel() {} }) }) },
      timers: { create: () => ({ enabled: false, enable() {}, disable() {} }) },
      stats: new StatsStore(),
      runtime: { now: () => 0, wallClock: () => 0 },
      onListenerDestroyed: (cb: () => void) => destroyed.push(cb),
      drainClose: () => false,
    };
    const factory = redisProxyFilterFactory(config.config, context as never);
    const connection = { write() {}, close() {}, readDisable() {}, addConnectionCallbacks() {} };
    const filter = factory(connection as never) as RedisProxyFilter;
    const buffer = new ReadBuffer();
    buffer.add(bytesOf(command("GET", "k")));
    filter.onData(buffer, false);
    expect(released).toBe(0);
    destroyed.forEach((cb) => cb());
    expect(released).toBe(1);
  });
});
