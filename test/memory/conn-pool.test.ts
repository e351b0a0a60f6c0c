/**
 * The connection-pool base (core/upstream/conn-pool-base.ts) through its two users on the
 * memory runtime: the HTTP/1 pool, driven by the router through a whole proxy (circuit
 * breakers queueing as Envoy's, typed failures, the replay rule on reused connections),
 * and the TCP pool, driven directly (connect, hand-out, pending queue, cancel, failures).
 */
import { afterEach, describe, expect, test } from "vitest";
import { loadBootstrap } from "../../core/config/load.ts";
import { Timers } from "../../core/event/timers.ts";
import { Logger } from "../../core/log.ts";
import type { ServerContext } from "../../core/server-context.ts";
import type { Server } from "../../core/server.ts";
import { StatsStore } from "../../core/stats/stats-store.ts";
import { Cluster } from "../../core/upstream/cluster.ts";
import { PoolFailureReason } from "../../core/upstream/pool-failure.ts";
import { TcpConnPool, type TcpConnectionData, type TcpPoolCallbacks } from "../../core/upstream/tcp-conn-pool.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer, type UpstreamHandler, type UpstreamResponse } from "./support/http-peers.ts";
import { pooledConnections, resourceCounters, startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;
const RESET_BEFORE_HEADERS = "upstream connect error or disconnect/reset before headers. reset reason: ";

let runtime: MemoryRuntime;
let server: Server;
let upstream: MemoryHttpServer | undefined;

afterEach(() => {
  upstream?.close();
  upstream = undefined;
});

async function proxy(handler: UpstreamHandler, clusterExtra: Record<string, unknown> = {}, seed = 1): Promise<void> {
  runtime = new MemoryRuntime({ seed });
  upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, handler);
  server = await startProxy(
    runtime,
    httpProxyConfig({ listenPort: PROXY, clusters: { backend: [UPSTREAM] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], clusterExtra }),
  );
}

function stat(name: string): number | undefined {
  return (server.stats.get(name) as { value: number } | undefined)?.value;
}

function expectNoLeaks(): void {
  runtime.runUntilIdle();
  expect(pooledConnections(server, "backend")).toBe(0);
  expect(resourceCounters(server, "backend")).toEqual({ connections: 0, pendingRequests: 0, requests: 0 });
  expect([...runtime.openSockets].map((s) => `S${s.id} (${s.role})`)).toEqual([]);
}

describe("HTTP/1 pool on the pool base", () => {
  test("with every connection busy, requests wait in the pending queue (Envoy), not 503: max_connections 2, max_requests 2, five slow requests all get 200", async () => {
    const held: UpstreamResponse[] = [];
    await proxy((_req, res) => held.push(res), { circuit_breakers: { thresholds: [{ max_connections: 2, max_requests: 2, max_pending_requests: 10 }] } });
    const clients = [0, 1, 2, 3, 4].map(() => new MemoryHttpClient(runtime, PROXY));
    // Warm the pool first: two idle connections (a cold pool queues everything while connecting).
    clients[0]!.request("GET", "/warm");
    clients[1]!.request("GET", "/warm");
    runtime.runDue();
    for (const res of held.splice(0)) res.respond(200, "ok");
    runtime.runDue();
    expect(pooledConnections(server, "backend")).toBe(2);
    for (const [i, client] of clients.entries()) client.request("GET", `/slow/${i}`);
    runtime.runDue();
    expect(held).toHaveLength(2);
    expect(resourceCounters(server, "backend")).toEqual({ connections: 2, pendingRequests: 3, requests: 2 });
    expect(stat("cluster.backend.upstream_rq_pending_active")).toBe(3);
    expect(stat("cluster.backend.circuit_breakers.default.cx_open")).toBe(1);
    expect(stat("cluster.backend.circuit_breakers.default.rq_open")).toBe(1);
    expect(stat("cluster.backend.circuit_breakers.default.rq_pending_open")).toBe(0);
    // Envoy's ResourceManagers make HIGH's *_open gauges too, at cluster creation; no route is HIGH.
    for (const name of ["cx_open", "rq_pending_open", "rq_open", "rq_retry_open"]) expect([name, stat(`cluster.backend.circuit_breakers.high.${name}`)]).toEqual([name, 0]);
    expect(stat("cluster.backend.circuit_breakers.high.remaining_cx")).toBeUndefined();
    // Each answer frees a connection: the oldest waiting request takes it.
    while (held.length > 0) {
      held.shift()!.respond(200, "ok");
      runtime.runDue();
    }
    expect(clients.map((c) => c.responses.at(-1)?.status)).toEqual([200, 200, 200, 200, 200]);
    expect(upstream!.requests.map((r) => r.path).filter((p) => p !== "/warm").sort()).toEqual(["/slow/0", "/slow/1", "/slow/2", "/slow/3", "/slow/4"]);
    expect(upstream!.accepted).toBe(2);
    expect(stat("cluster.backend.upstream_rq_pending_total")).toBe(5); // 2 while warming up, then 3
    expect(stat("cluster.backend.upstream_rq_pending_overflow")).toBe(0);
    expect(stat("cluster.backend.upstream_cx_overflow")).toBeGreaterThan(0);
    expect(stat("cluster.backend.circuit_breakers.default.cx_open")).toBe(1);
    expect(stat("cluster.backend.circuit_breakers.default.rq_open")).toBe(0);
    for (const client of clients) client.socket.close();
    expectNoLeaks();
    expect(stat("cluster.backend.circuit_breakers.default.cx_open")).toBe(0);
  });

  test("past max_pending_requests a request is refused at once: 503 overflow (UO) with x-envoy-overloaded", async () => {
    const held: UpstreamResponse[] = [];
    await proxy((_req, res) => held.push(res), { circuit_breakers: { thresholds: [{ max_connections: 1, max_requests: 1, max_pending_requests: 1 }] } });
    const clients = [0, 1, 2].map(() => new MemoryHttpClient(runtime, PROXY));
    for (const client of clients) client.request("GET", "/");
    runtime.runDue();
    // The clients reach the proxy in an order the seed picks: whichever came last is refused.
    const refused = clients.flatMap((c) => c.responses);
    expect(refused.map((r) => [r.status, r.text(), r.get("x-envoy-overloaded")])).toEqual([[503, `${RESET_BEFORE_HEADERS}overflow`, "true"]]);
    expect(stat("cluster.backend.upstream_rq_pending_overflow")).toBe(1);
    expect(stat("cluster.backend.circuit_breakers.default.rq_pending_open")).toBe(1);
    while (held.length > 0) {
      held.shift()!.respond(200, "ok");
      runtime.runDue();
    }
    expect(clients.map((c) => c.responses[0]?.status).sort()).toEqual([200, 200, 503]);
    for (const client of clients) client.socket.close();
    expectNoLeaks();
  });

  test("a GET on a reused connection that got part of a status line before the close is not replayed: 503, the upstream saw it once", async () => {
    await proxy((req, res) => {
      if (req.path === "/first") return res.respond(200, "first");
      res.writeRaw("HTTP/1.1 2");
      res.finish(true);
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/first");
    runtime.runDue();
    client.request("GET", "/second");
    runtime.runDue();
    expect(client.responses.map((r) => r.status)).toEqual([200, 503]);
    expect(client.responses[1]!.text()).toMatch(new RegExp(`^${RESET_BEFORE_HEADERS.replace(/[.]/g, "\\.")}`));
    expect(upstream!.requests.map((r) => r.path)).toEqual(["/first", "/second"]);
    expect(stat("cluster.backend.upstream_rq_retry")).toBe(0);
    client.socket.close();
    expectNoLeaks();
  });

  test("a GET on a reused connection closed before any response byte is still sent again, once", async () => {
    let served = 0;
    await proxy((req, res) => {
      served++;
      if (req.path === "/second" && served === 2) return res.finish(true); // closes with no byte of a response
      res.respond(200, req.path);
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/first");
    runtime.runDue();
    client.request("GET", "/second");
    runtime.runDue();
    expect(client.responses.map((r) => `${r.status} ${r.text()}`)).toEqual(["200 /first", "200 /second"]);
    expect(stat("cluster.backend.upstream_rq_retry")).toBe(1);
    client.socket.close();
    expectNoLeaks();
  });

  test("typed failures: a refused connect is 503 'remote connection failure' with Envoy's transport failure reason in the details and access log, not the body (Envoy 1.39)", async () => {
    runtime = new MemoryRuntime({ seed: 1 });
    const config = httpProxyConfig({ listenPort: PROXY, clusters: { backend: [UPSTREAM] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }) as {
      static_resources: { listeners: { filter_chains: { filters: { typed_config: Record<string, unknown> }[] }[] }[] };
    };
    config.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config.access_log = [
      {
        name: "envoy.access_loggers.file",
        typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
          path: "/dev/stdout",
          log_format: { text_format_source: { inline_string: "%RESPONSE_FLAGS% %RESPONSE_FLAGS_LONG% %RESPONSE_CODE_DETAILS% %UPSTREAM_TRANSPORT_FAILURE_REASON%\n" } },
        },
      },
    ];
    server = await startProxy(runtime, config);
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runDue();
    expect(client.responses[0]!.text()).toBe(`${RESET_BEFORE_HEADERS}remote connection failure`);
    client.socket.close();
    runtime.runUntilIdle();
    expect(runtime.stdoutText).toBe(
      "UF UpstreamConnectionFailure upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_Connection_refused} delayed_connect_error:_Connection_refused\n",
    );
    expect(stat("cluster.backend.upstream_cx_connect_fail")).toBe(1);
  });

  test("connect timeout: 503 'connection timeout'; counted as connect_timeout and connect_fail, as Envoy", async () => {
    await proxy((_req, res) => res.respond(200, "ok"), { connect_timeout: "0.25s" });
    runtime.setFaults({ port: UPSTREAM }, { connect: "blackhole" });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.advance(250);
    expect(client.responses.map((r) => r.text())).toEqual([`${RESET_BEFORE_HEADERS}connection timeout`]);
    client.socket.close();
    expectNoLeaks();
    expect(stat("cluster.backend.upstream_cx_connect_timeout")).toBe(1);
    expect(stat("cluster.backend.upstream_cx_connect_fail")).toBe(1);
  });

  test("idle connections are closed after the pool's idle timeout (upstream_cx_idle_timeout)", async () => {
    await proxy((_req, res) => res.respond(200, "ok", { "keep-alive": "timeout=3" }));
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runDue();
    expect(pooledConnections(server, "backend")).toBe(1);
    runtime.advance(2000);
    expect(pooledConnections(server, "backend")).toBe(0);
    expect(stat("cluster.backend.upstream_cx_idle_timeout")).toBe(1);
    client.socket.close();
    expectNoLeaks();
  });
});

// ---------------------------------------------------------------- the TCP pool, driven directly

interface Harness {
  pool: TcpConnPool;
  cluster: Cluster;
  stats: StatsStore;
}

async function tcpPool(thresholds: Record<string, number> = {}, connectTimeout = "1s"): Promise<Harness> {
  runtime = new MemoryRuntime({ seed: 1 });
  upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, () => {});
  const bootstrap = loadBootstrap(
    JSON.stringify(
      httpProxyConfig({
        listenPort: PROXY,
        clusters: { backend: [UPSTREAM] },
        routes: [{ match: { prefix: "/" }, cluster: "backend" }],
        clusterExtra: { connect_timeout: connectTimeout, circuit_breakers: { thresholds: [thresholds] } },
      }),
    ),
    "json",
  );
  const stats = new StatsStore();
  const cluster = new Cluster(bootstrap.clusters[0]!, stats);
  const context = { runtime, timers: new Timers(runtime), log: new Logger(runtime, "warn"), stats } as unknown as ServerContext;
  return { pool: new TcpConnPool(cluster, cluster.hosts[0]!, context, 60_000), cluster, stats };
}

class Owner implements TcpPoolCallbacks {
  connection: TcpConnectionData | undefined;
  failure: [PoolFailureReason, string] | undefined;
  onPoolReady(connection: TcpConnectionData): void {
    this.connection = connection;
  }
  onPoolFailure(reason: PoolFailureReason, transportFailureReason: string): void {
    this.failure = [reason, transportFailureReason];
  }
}

describe("TCP pool on the pool base", () => {
  test("hands out a connected connection; release closes it; counts as Envoy", async () => {
    const { pool, cluster, stats } = await tcpPool();
    const owner = new Owner();
    const handle = pool.newStream(owner);
    expect(handle).toBeDefined();
    expect(pool.pendingCount).toBe(1);
    runtime.runDue();
    expect(owner.connection).toBeDefined();
    expect(pool.pendingCount).toBe(0);
    expect(cluster.resources.requests.count).toBe(1);
    owner.connection!.release("FlushWrite");
    runtime.runUntilIdle();
    expect(pool.connectionCount).toBe(0);
    expect(cluster.resources.connections.count).toBe(0);
    expect(cluster.resources.requests.count).toBe(0);
    expect((stats.get("cluster.backend.upstream_cx_total") as { value: number }).value).toBe(1);
    expect((stats.get("cluster.backend.upstream_cx_active") as { value: number }).value).toBe(0);
    expect((stats.get("cluster.backend.upstream_cx_destroy_local") as { value: number }).value).toBe(1);
  });

  test("max_connections 1: the second owner waits for a connection, max_requests is not checked for TCP", async () => {
    const { pool, cluster } = await tcpPool({ max_connections: 1, max_requests: 1 });
    const first = new Owner();
    const second = new Owner();
    pool.newStream(first);
    pool.newStream(second);
    runtime.runDue();
    expect(first.connection).toBeDefined();
    expect(second.connection).toBeUndefined();
    expect(second.failure).toBeUndefined();
    expect(pool.connectionCount).toBe(1);
    first.connection!.release("FlushWrite");
    runtime.runDue();
    expect(second.connection).toBeDefined();
    expect(cluster.resources.connections.count).toBe(1);
    second.connection!.release("FlushWrite");
    runtime.runUntilIdle();
    expect(cluster.resources.connections.count).toBe(0);
  });

  test("a cancelled pending request closes the connection opened for it (Envoy's CloseExcess) and counts upstream_rq_cancelled", async () => {
    const { pool, cluster } = await tcpPool();
    runtime.setFaults({ port: UPSTREAM }, { connectDelayMs: 100 });
    const owner = new Owner();
    const handle = pool.newStream(owner)!;
    expect(pool.connectionCount).toBe(1);
    handle.cancel();
    expect(pool.connectionCount).toBe(0);
    runtime.runUntilIdle();
    expect(owner.connection).toBeUndefined();
    expect(owner.failure).toBeUndefined();
    expect(cluster.resources.connections.count).toBe(0);
    expect(cluster.resources.pendingRequests.count).toBe(0);
    expect(cluster.stats.upstreamRqCancelled.value).toBe(1);
  });

  test("failures are typed: refused → RemoteConnectionFailure with 'delayed connect error: Connection refused'; blackholed → Timeout at connect_timeout", async () => {
    const { pool } = await tcpPool({}, "0.5s");
    runtime.setFaults({ port: UPSTREAM }, { connect: "refuse" });
    const refused = new Owner();
    pool.newStream(refused);
    runtime.runDue();
    expect(refused.failure).toEqual([PoolFailureReason.RemoteConnectionFailure, "delayed connect error: Connection refused"]);
    runtime.setFaults({ port: UPSTREAM }, { connect: "blackhole" });
    const timedOut = new Owner();
    pool.newStream(timedOut);
    runtime.advance(499);
    expect(timedOut.failure).toBeUndefined();
    runtime.advance(1);
    expect(timedOut.failure).toEqual([PoolFailureReason.Timeout, ""]);
    runtime.runUntilIdle();
    expect(pool.connectionCount).toBe(0);
  });

  test("max_pending_requests: a request past it fails at once with Overflow", async () => {
    const { pool, stats } = await tcpPool({ max_connections: 1, max_pending_requests: 2 });
    const owners = [new Owner(), new Owner(), new Owner()];
    for (const owner of owners) pool.newStream(owner);
    expect(owners.map((o) => o.failure?.[0])).toEqual([undefined, undefined, PoolFailureReason.Overflow]);
    expect((stats.get("cluster.backend.upstream_rq_pending_overflow") as { value: number }).value).toBe(1);
    runtime.runDue();
    owners[0]!.connection!.release("Abort");
    runtime.runDue();
    owners[1]!.connection!.release("Abort");
    runtime.runUntilIdle();
    expect(pool.connectionCount).toBe(0);
  });

  test("drain: an idle connection closes at once, a busy one when its owner is done", async () => {
    const { pool } = await tcpPool({ max_connections: 1, max_pending_requests: 1 });
    const owner = new Owner();
    pool.newStream(owner);
    runtime.runDue();
    pool.drainConnections();
    expect(pool.connectionCount).toBe(1);
    owner.connection!.release("FlushWrite");
    expect(pool.connectionCount).toBe(0);
    runtime.runUntilIdle();
  });
});
