/**
 * Envoy's redis_proxy network filter on every runtime, in front of two real redis-servers
 * (Debian's package, one per test file each) and the real redis-cli, and raw sockets
 * writing exact RESP bytes: SET/GET, pipelined commands answered in order, MSET/MGET split
 * across the two servers (each key on one), PING answered locally, Envoy's error replies
 * for an unknown command and an inline command, op_timeout against an upstream that never
 * answers, an upstream that is down, remove_prefix, and Envoy's stat names.
 */
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort, tcpServer, type TcpServer } from "../support/net-helpers.ts";
import { adminStats } from "../support/tls-probe.ts";
import { command, respExchange, respSession, startRedisServer, type RedisServer, type RespSession } from "../support/redis-server.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const run = promisify(execFile);
const OP_TIMEOUT_MS = 500;

function cluster(name: string, ports: number[], lbPolicy = "MAGLEV"): object {
  return {
    name,
    connect_timeout: "1s",
    type: "STATIC",
    lb_policy: lbPolicy,
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: ports.map((port) => ({ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } })) }] },
  };
}

/** A second listener: AUTH required (a password, and a username for the ACL form), hashtagging, case-insensitive prefixes. */
function authListener(listenPort: number): object {
  return {
    name: "redis_auth",
    address: { socket_address: { address: "127.0.0.1", port_value: listenPort } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.redis_proxy",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy",
              stat_prefix: "auth_redis",
              settings: { op_timeout: "5s", enable_hashtagging: true },
              downstream_auth_passwords: [{ inline_string: "s3cret" }],
              downstream_auth_username: { inline_string: "alice" },
              prefix_routes: { case_insensitive: true, routes: [{ prefix: "only_a:", cluster: "only_a" }], catch_all_route: { cluster: "redis_cluster" } },
            },
          },
        ],
      },
    ],
  };
}

function redisConfig(listenPort: number, adminPort: number, a: number, b: number, silent: number, dead: number, authPort: number, locked: number): object {
  return {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
    static_resources: {
      listeners: [
        {
          name: "redis_listener",
          address: { socket_address: { address: "127.0.0.1", port_value: listenPort } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.redis_proxy",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy",
                    stat_prefix: "egress_redis",
                    settings: { op_timeout: `${OP_TIMEOUT_MS / 1000}s` },
                    prefix_routes: {
                      routes: [
                        { prefix: "slow:", cluster: "silent" },
                        { prefix: "dead:", cluster: "dead" },
                        { prefix: "strip:", remove_prefix: true, cluster: "only_a" },
                        { prefix: "locked:", cluster: "locked" },
                        { prefix: "badpass:", cluster: "badpass" },
                        { prefix: "limited:", cluster: "limited" },
                      ],
                      catch_all_route: { cluster: "redis_cluster" },
                    },
                  },
                },
              ],
            },
          ],
        },
        authListener(authPort),
      ],
      clusters: [cluster("redis_cluster", [a, b]), cluster("only_a", [a], "ROUND_ROBIN"), cluster("silent", [silent], "ROUND_ROBIN"), cluster("dead", [dead], "ROUND_ROBIN"),
        // RedisProtocolOptions: the proxy authenticates to a redis-server with --requirepass (by the extension's name, and by the type's).
        { ...cluster("locked", [locked], "ROUND_ROBIN"), typed_extension_protocol_options: { "envoy.filters.network.redis_proxy": { "@type": "type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProtocolOptions", auth_password: { inline_string: "upstream-pw" } } } },
        // One connection allowed: transactions' connections are outside it, as Envoy's.
        { ...cluster("limited", [a], "ROUND_ROBIN"), circuit_breakers: { thresholds: [{ max_connections: 1 }] } },
        { ...cluster("badpass", [locked], "ROUND_ROBIN"), typed_extension_protocol_options: { "envoy.extensions.filters.network.redis_proxy.v3.RedisProtocolOptions": { auth_password: { inline_string: "wrong" } } } },
      ],
    },
  };
}

describe.each(RUNTIMES)("redis_proxy on %s", (runtime) => {
  let a: RedisServer;
  let b: RedisServer;
  let locked: RedisServer;
  let silent: TcpServer;
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;
  let authPort: number;

  beforeAll(async () => {
    [a, b, locked] = await Promise.all([startRedisServer(), startRedisServer(), startRedisServer(["--requirepass", "upstream-pw"])]);
    // Accepts and reads, never answers: op_timeout's upstream.
    silent = await tcpServer((socket) => socket.on("data", () => {}));
    const dead = await freePort();
    port = await freePort();
    adminPort = await freePort();
    authPort = await freePort();
    proxy = await ProxyProcess.start(runtime, redisConfig(port, adminPort, a.port, b.port, silent.port, dead, authPort, locked.port));
  }, 60_000);

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([a?.stop(), b?.stop(), locked?.stop(), silent?.close()]);
  });

  test("redis-cli: SET then GET through the proxy", async () => {
    const cli = (...args: string[]) => run("redis-cli", ["-p", String(port), ...args]).then((r) => r.stdout);
    expect(await cli("SET", "greeting", "hello world")).toBe("OK\n");
    expect(await cli("GET", "greeting")).toBe("hello world\n");
    expect(await cli("PING")).toBe("PONG\n");
  });

  test("pipelined commands are answered in order, each with Envoy's reply", async () => {
    const request = command("PING") + command("SET", "pipe", "1") + command("INCR", "pipe") + command("GET", "pipe") + command("FOOBAR", "x") + command("GET", "nokey") + command("ECHO", "hi");
    expect(await respExchange(port, request, 7)).toBe("+PONG\r\n+OK\r\n:2\r\n$1\r\n2\r\n-unsupported command 'FOOBAR'\r\n$-1\r\n$2\r\nhi\r\n");
  });

  test("MSET and MGET are split per key across the two servers; DEL sums", async () => {
    const keys = Array.from({ length: 20 }, (_, i) => `user:${i}`);
    expect(await respExchange(port, command("MSET", ...keys.flatMap((k) => [k, `v-${k}`])), 1)).toBe("+OK\r\n");
    let onA = 0;
    for (const key of keys) {
      const [fromA, fromB] = await Promise.all([respExchange(a.port, command("GET", key), 1), respExchange(b.port, command("GET", key), 1)]);
      const expected = `$${`v-${key}`.length}\r\nv-${key}\r\n`;
      // Each key on exactly one server.
      expect([fromA, fromB].sort()).toEqual([expected, "$-1\r\n"].sort());
      if (fromA === expected) onA++;
    }
    expect(onA).toBeGreaterThan(0);
    expect(onA).toBeLessThan(keys.length);
    const mget = await respExchange(port, command("MGET", "user:0", "missing", "user:19"), 1);
    expect(mget).toBe("*3\r\n$8\r\nv-user:0\r\n$-1\r\n$9\r\nv-user:19\r\n");
    expect(await respExchange(port, command("DEL", "user:0", "user:1", "missing"), 1)).toBe(":2\r\n");
    expect(await respExchange(port, command("MSET", "odd"), 1)).toBe("-wrong number of arguments for 'MSET' command\r\n");
  });

  test("an inline command is a downstream protocol error and the connection closes", async () => {
    expect(await respExchange(port, "PING\r\n", 1)).toBe("-downstream protocol error\r\n");
  });

  test("op_timeout: an upstream that never answers fails the command with upstream failure", async () => {
    const started = Date.now();
    expect(await respExchange(port, command("GET", "slow:key") + command("PING"), 2)).toBe("-upstream failure\r\n+PONG\r\n");
    expect(Date.now() - started).toBeGreaterThanOrEqual(OP_TIMEOUT_MS - 50);
    expect((await adminStats(adminPort)).get("cluster.silent.upstream_rq_timeout")).toBe(1);
  });

  test("an upstream that is down: upstream failure; MGET puts the error in the key's place", async () => {
    expect(await respExchange(port, command("GET", "dead:key"), 1)).toBe("-upstream failure\r\n");
    expect(await respExchange(port, command("MGET", "dead:key", "greeting"), 1)).toBe("*2\r\n-upstream failure\r\n$11\r\nhello world\r\n");
  });

  test("remove_prefix: the key goes upstream without the route's prefix", async () => {
    expect(await respExchange(port, command("SET", "strip:plain", "x"), 1)).toBe("+OK\r\n");
    expect(await respExchange(a.port, command("GET", "plain"), 1)).toBe("$1\r\nx\r\n");
  });

  test("RedisProtocolOptions: AUTH with auth_password goes first on the upstream connection; a wrong one shows as NOAUTH", async () => {
    expect(await respExchange(port, command("SET", "locked:k", "v") + command("GET", "locked:k"), 2)).toBe("+OK\r\n$1\r\nv\r\n");
    expect(await respExchange(port, command("GET", "badpass:k"), 1)).toBe("-NOAUTH Authentication required.\r\n");
  });

  test("QUIT: +OK after every earlier reply, then the proxy closes the connection", async () => {
    expect(await respExchange(port, command("SET", "q", "1") + command("QUIT") + command("GET", "q"), 3)).toBe("+OK\r\n+OK\r\n");
  });

  test("a client that half-closes after its commands gets every reply, then the proxy closes", async () => {
    // Waits for the close (more replies than come): the replies are all there when it does.
    expect(await respExchange(port, command("SET", "hc", "1") + command("GET", "hc"), 3, 10_000, true)).toBe("+OK\r\n$1\r\n1\r\n");
  });

  test("downstream auth: NOAUTH until AUTH with the password, Envoy's refusals, the username form", async () => {
    expect(await respExchange(authPort, command("GET", "k"), 1)).toBe("-NOAUTH Authentication required.\r\n");
    expect(await respExchange(authPort, command("AUTH", "wrong") + command("PING"), 2)).toBe("-ERR invalid password\r\n-NOAUTH Authentication required.\r\n");
    expect(await respExchange(authPort, command("AUTH", "s3cret") + command("PING"), 2)).toBe("+OK\r\n+PONG\r\n");
    expect(await respExchange(authPort, command("AUTH", "bob", "s3cret") + command("PING"), 2)).toBe("-WRONGPASS invalid username-password pair\r\n-NOAUTH Authentication required.\r\n");
    expect(await respExchange(authPort, command("AUTH", "alice", "s3cret") + command("PING"), 2)).toBe("+OK\r\n+PONG\r\n");
    // On the listener without passwords, AUTH is Envoy's error.
    expect(await respExchange(port, command("AUTH", "x"), 1)).toBe("-ERR Client sent AUTH, but no password is set\r\n");
  });

  test("enable_hashtagging: keys sharing a {tag} land on one server; case_insensitive prefixes", async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `{tagged}.${i}`);
    const auth = command("AUTH", "s3cret");
    expect(await respExchange(authPort, auth + command("MSET", ...keys.flatMap((k) => [k, "v"])), 2)).toBe("+OK\r\n+OK\r\n");
    const holders = new Set<number>();
    for (const key of keys) {
      const onA = (await respExchange(a.port, command("EXISTS", key), 1)) === ":1\r\n";
      const onB = (await respExchange(b.port, command("EXISTS", key), 1)) === ":1\r\n";
      expect(onA !== onB).toBe(true);
      holders.add(onA ? a.port : b.port);
    }
    expect(holders.size).toBe(1);
    // ONLY_A: matches the route "only_a:" whatever the case, so it is on server a.
    expect(await respExchange(authPort, auth + command("SET", "ONLY_A:x", "1"), 2)).toBe("+OK\r\n+OK\r\n");
    expect(await respExchange(a.port, command("GET", "ONLY_A:x"), 1)).toBe("$1\r\n1\r\n");
  });

  test("MULTI/EXEC: Envoy's replies, every command on the first key's server (wherever its own key hashes), in one connection of the client's own closed after EXEC", async () => {
    const connected = async () => {
      const count = async (p: number) => Number(/connected_clients:(\d+)/.exec(await respExchange(p, command("INFO", "clients"), 1))![1]) - 1;
      return (await count(a.port)) + (await count(b.port));
    };
    const session = await respSession(port);
    try {
      expect(await session.send(command("PING"), 1)).toBe("+PONG\r\n");
      const before = await connected();
      const keys = Array.from({ length: 10 }, (_, i) => `tx:${i}`);
      expect(await session.send(command("MULTI"), 1)).toBe("+OK\r\n");
      expect(await session.send(command("SET", keys[0]!, "0"), 1)).toBe("+QUEUED\r\n");
      // MULTI went first on a new connection to the first key's server.
      expect(await connected()).toBe(before + 1);
      const queued = keys.slice(1).map((k) => command("SET", k, "1")).join("") + command("INCR", keys[0]!);
      expect(await session.send(queued, keys.length)).toBe("+QUEUED\r\n".repeat(keys.length));
      expect(await session.send(command("EXEC"), 1)).toBe(`*${keys.length + 1}\r\n${"+OK\r\n".repeat(keys.length)}:1\r\n`);
      // All on one server, though maglev spreads tx:0..9 over both outside a transaction.
      const holders = await Promise.all(keys.map(async (key) => ((await respExchange(a.port, command("EXISTS", key), 1)) === ":1\r\n" ? "a" : "b")));
      expect(new Set(holders).size).toBe(1);
      for (let i = 0; i < 50 && (await connected()) !== before; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await connected()).toBe(before);
      // Outside a transaction again: the shared connection, by each key's own hash.
      // (Half of them are not where their own hash looks: nil.)
      expect(await session.send(command("MGET", ...keys), 1)).toMatch(new RegExp(`^\\*${keys.length}\r\n`));
    } finally {
      session.close();
    }
  });

  test("transactions' connections are outside the cluster's max_connections: idle MULTIs cannot starve the shared connection, nor each other", async () => {
    const sessions = await Promise.all([respSession(port), respSession(port), respSession(port)]);
    try {
      const [shared, first, second] = sessions as [RespSession, RespSession, RespSession];
      expect(await shared.send(command("SET", "limited:k", "0"), 1)).toBe("+OK\r\n");
      // max_connections 1 is the shared connection's; each transaction opens one of its own all the same.
      for (const session of [first, second]) expect(await session.send(command("MULTI") + command("INCR", "limited:k"), 2, 3000)).toBe("+OK\r\n+QUEUED\r\n");
      expect(await shared.send(command("GET", "limited:k"), 1, 3000)).toBe("$1\r\n0\r\n");
      expect(await first.send(command("EXEC"), 1)).toBe("*1\r\n:1\r\n");
      expect(await second.send(command("EXEC"), 1)).toBe("*1\r\n:2\r\n");
      const stats = await adminStats(adminPort);
      expect(stats.get("cluster.limited.upstream_cx_overflow")).toBe(0);
      // Counted in upstream_cx_* as Envoy's Redis client counts its connections.
      expect(stats.get("cluster.limited.upstream_cx_total")).toBe(3);
    } finally {
      for (const session of sessions) session.close();
    }
  });

  test("a command pipelined after EXEC runs after the transaction (EXEC's reply is in before it is sent)", async () => {
    for (let i = 0; i < 20; i++) {
      const request = command("SET", "after-exec", "1") + command("MULTI") + command("INCR", "after-exec") + command("EXEC") + command("GET", "after-exec");
      expect(await respExchange(port, request, 5)).toBe("+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n:2\r\n$1\r\n2\r\n");
    }
  });

  test("transactions: Envoy's error replies, an empty EXEC, DISCARD, and a client gone mid-transaction runs nothing", async () => {
    const replies = [
      [command("EXEC"), "-EXEC without MULTI\r\n"],
      [command("DISCARD"), "-DISCARD without MULTI\r\n"],
      [command("MULTI"), "+OK\r\n"],
      [command("MULTI"), "-MULTI calls can not be nested\r\n"],
      [command("MGET", "a", "b"), "-'MGET' command is not supported within transaction\r\n"],
      [command("EXEC"), "*0\r\n"],
      [command("MULTI"), "+OK\r\n"],
      [command("SET", "discarded", "1"), "+QUEUED\r\n"],
      [command("DISCARD"), "+OK\r\n"],
      [command("GET", "discarded"), "$-1\r\n"],
    ];
    expect(await respExchange(port, replies.map(([request]) => request).join(""), replies.length)).toBe(replies.map(([, reply]) => reply).join(""));
    expect(await respExchange(port, command("MULTI") + command("SET", "abandoned", "1"), 2)).toBe("+OK\r\n+QUEUED\r\n");
    expect(await respExchange(port, command("GET", "abandoned"), 1)).toBe("$-1\r\n");
  });

  test("WATCH guards the EXEC: a watched key changed meanwhile aborts the transaction (nil), unchanged it runs; redis-cli", async () => {
    const session = await respSession(port);
    try {
      expect(await session.send(command("SET", "watched", "0"), 1)).toBe("+OK\r\n");
      expect(await session.send(command("WATCH", "watched"), 1)).toBe("+OK\r\n");
      // Another client changes it, straight on whichever server holds it.
      for (const server of [a, b]) if ((await respExchange(server.port, command("EXISTS", "watched"), 1)) === ":1\r\n") await respExchange(server.port, command("SET", "watched", "other"), 1);
      expect(await session.send(command("MULTI") + command("SET", "watched", "mine") + command("EXEC"), 3)).toBe("+OK\r\n+QUEUED\r\n$-1\r\n"); // Redis's null array, re-encoded as Envoy's one null ($-1)
      expect(await session.send(command("GET", "watched"), 1)).toBe("$5\r\nother\r\n");
      expect(await session.send(command("WATCH", "watched") + command("MULTI") + command("SET", "watched", "mine") + command("EXEC"), 4)).toBe("+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n");
    } finally {
      session.close();
    }
    const cli = spawn("redis-cli", ["-p", String(port)], { stdio: ["pipe", "pipe", "inherit"] });
    cli.stdin.end("MULTI\nINCR cli:tx\nINCR cli:tx\nEXEC\n");
    let out = "";
    cli.stdout.on("data", (d: Buffer) => (out += d.toString()));
    await new Promise((r) => cli.on("close", r));
    expect(out).toBe("OK\nQUEUED\nQUEUED\n1\n2\n");
  });

  test("Envoy's stat names under redis.<stat_prefix>.", async () => {
    const stats = await adminStats(adminPort);
    expect(stats.get("redis.egress_redis.downstream_cx_total")).toBeGreaterThan(0);
    expect(stats.get("redis.egress_redis.downstream_rq_total")).toBeGreaterThan(0);
    expect(stats.get("redis.egress_redis.downstream_cx_protocol_error")).toBe(1);
    // FOOBAR, and one redis-cli sends before the commands it reads from stdin (the WATCH test's).
    expect(stats.get("redis.egress_redis.splitter.unsupported_command")).toBe(2);
    expect(stats.get("redis.egress_redis.command.get.total")).toBeGreaterThan(0);
    expect(stats.get("redis.egress_redis.command.mset.success")).toBe(1);
    expect(stats.get("redis.egress_redis.command.mset.error")).toBe(1);
    // Every routed command's stats from the start, used or not.
    expect(stats.get("redis.egress_redis.command.zrevrangebyscore.total")).toBe(0);
    // Nothing unread by an idle client.
    expect(stats.get("redis.egress_redis.downstream_cx_tx_bytes_buffered")).toBe(0);
    expect(stats.get("redis.egress_redis.downstream_cx_rx_bytes_buffered")).toBe(0);
  });

  // Last: it drains the listeners.
  test("draining: with health checks failing a reply that leaves nothing owed closes the connection; /drain_listeners?graceful closes idle ones (downstream_cx_drain_close)", async () => {
    const admin = (path: string) => fetch(`http://127.0.0.1:${adminPort}${path}`, { method: "POST" }).then((r) => r.text());
    const busy = await respSession(port);
    const idle = await respSession(port);
    expect(await idle.send(command("PING"), 1)).toBe("+PONG\r\n");
    await admin("/healthcheck/fail");
    expect(await busy.send(command("GET", "greeting"), 1)).toBe("$11\r\nhello world\r\n");
    await busy.closed;
    await admin("/healthcheck/ok");
    expect((await adminStats(adminPort)).get("redis.egress_redis.downstream_cx_drain_close")).toBe(1);
    await admin("/drain_listeners?graceful");
    await idle.closed;
    expect((await adminStats(adminPort)).get("redis.egress_redis.downstream_cx_drain_close")).toBe(2);
  });
});
