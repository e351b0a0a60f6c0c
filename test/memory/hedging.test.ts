/**
 * Request hedging (route hedge_policy, hedge_on_per_try_timeout) through the whole proxy on
 * the memory runtime, in virtual time: a per-try timeout leaves the attempt running and sends
 * a retry beside it; the first response headers win and the other attempt is reset. Stats,
 * flags and the access log's UPSTREAM_HOST as Envoy's router.cc (onSoftPerTryTimeout,
 * resetOtherUpstreams) keeps them.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer, type UpstreamHandler, type UpstreamResponse } from "./support/http-peers.ts";
import { activeDownstreamConnections, pooledConnections, resourceCounters, startProxy } from "./support/proxy.ts";
import { H2Client } from "./support/h2-client.ts";

const PROXY = 10000;
const PORTS = [8081, 8082];
/** A port nothing listens on. */
const DEAD = 8099;
const LOG_FORMAT = "%RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_REQUEST_ATTEMPT_COUNT% %UPSTREAM_HOST% %RESPONSE_CODE_DETAILS%\n";
/** The retry back-off's most (base 25 ms, first retry: up to 24 ms) and then some. */
const BACKOFF = 30;
/** A request an internal hop forwarded: its x-envoy-* headers reach the router. */
const FROM_INTERNAL = { "x-forwarded-for": "10.1.2.3" };

let runtime: MemoryRuntime;
let server: Server;
let upstreams: MemoryHttpServer[] = [];

interface Setup {
  handlers: UpstreamHandler[];
  /** The cluster's ports (default: the live ones). */
  ports?: number[];
  /** Fields of the route itself (beside match and route). */
  routeFields?: Record<string, unknown>;
  retryPolicy?: Record<string, unknown>;
  /** The route action's hedge_policy (absent: none). */
  hedgePolicy?: Record<string, unknown>;
  routeExtra?: Record<string, unknown>;
  vhostExtra?: Record<string, unknown>;
  /** The access log's format (default LOG_FORMAT). */
  logFormat?: string;
}

async function setup(options: Setup): Promise<void> {
  // Seed 8: round robin starts at the first upstream (as retries.test.ts).
  runtime = new MemoryRuntime({ seed: 8 });
  upstreams = [];
  for (let i = 0; i < options.handlers.length; i++) upstreams.push(await MemoryHttpServer.listen(runtime, PORTS[i]!, options.handlers[i]!));
  const action = {
    cluster: "backend",
    retry_policy: options.retryPolicy ?? { retry_on: "5xx", num_retries: 1, per_try_timeout: "0.5s" },
    ...(options.hedgePolicy ? { hedge_policy: options.hedgePolicy } : {}),
    ...options.routeExtra,
  };
  const config = httpProxyConfig({
    listenPort: PROXY,
    clusters: { backend: options.ports ?? PORTS.slice(0, options.handlers.length) },
    routes: [],
    virtualHosts: [{ name: "backend", domains: ["*"], routes: [{ match: { prefix: "/" }, route: action, ...options.routeFields }], ...options.vhostExtra }],
    hcm: {
      access_log: [
        {
          name: "envoy.access_loggers.file",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            path: "/dev/stdout",
            log_format: { text_format_source: { inline_string: options.logFormat ?? LOG_FORMAT } },
          },
        },
      ],
    },
  });
  server = await startProxy(runtime, config);
}

function stat(name: string): number {
  return (server.stats.get(name) as { value: number } | undefined)?.value ?? 0;
}

function accessLog(): string[] {
  return runtime.stdoutText.split("\n").filter(Boolean);
}

/** The host's rq_error and rq_success (admin /clusters). */
function hostCounters(port: number): { rqError: number; rqSuccess: number } {
  const stats = server.clusterManager.get("backend")!.hosts.find((h) => String(h).endsWith(`:${port}`))!.stats;
  return { rqError: stats.rqError, rqSuccess: stats.rqSuccess };
}

function expectNoLeaks(): void {
  runtime.runUntilIdle();
  expect(activeDownstreamConnections(server)).toBe(0);
  expect(pooledConnections(server, "backend")).toBe(0);
  expect(resourceCounters(server, "backend")).toEqual({ connections: 0, pendingRequests: 0, requests: 0 });
  expect(server.clusterManager.get("backend")!.resources.retries.count).toBe(0);
  expect(runtime.pendingTimers).toBe(0);
}

function closeAll(...clients: MemoryHttpClient[]): void {
  for (const client of clients) client.socket.close();
  for (const upstream of upstreams) for (const connection of upstream.connections) connection.socket.close();
}

afterEach(() => {
  for (const upstream of upstreams) upstream.close();
});

/** Answers 200 `name` after `ms` of virtual time; keeps the response so a test can see it reset. */
function answerAfter(ms: number, name: string, seen: UpstreamResponse[] = [], status = 200): UpstreamHandler {
  return (_req, res) => {
    seen.push(res);
    runtime.setTimeout(() => res.respond(status, name), ms);
  };
}

const HEDGE = { hedge_on_per_try_timeout: true };

describe("hedge_policy: hedge_on_per_try_timeout", () => {
  test("the hedge answers first: the client gets its response, the slow attempt is reset; no per-try timeout counted", async () => {
    const slow: UpstreamResponse[] = [];
    await setup({
      handlers: [answerAfter(2000, "slow", slow), answerAfter(0, "fast")],
      hedgePolicy: HEDGE,
      vhostExtra: { include_request_attempt_count: true, include_attempt_count_in_response: true },
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("POST", "/x", { body: "payload" });
    runtime.advance(499);
    expect(upstreams[1]!.requests).toHaveLength(0);
    runtime.advance(1 + BACKOFF);
    runtime.runDue();
    // The hedge went out with the whole body; the first attempt was not reset by the per-try timeout.
    expect(upstreams[1]!.requests.map((r) => [r.method, r.text(), r.get("x-envoy-attempt-count")])).toEqual([["POST", "payload", "2"]]);
    expect(client.responses.map((r) => [r.status, r.text(), r.get("x-envoy-attempt-count")])).toEqual([[200, "fast", "2"]]);
    // Long before the slow one would have answered; its stream is reset (the connection closed).
    expect(runtime.now()).toBeLessThan(2000);
    expect(slow[0]!.closed).toBe(true);
    // Hedging: the upstream may use the whole route timeout, not just the per-try one.
    expect(upstreams[0]!.requests[0]!.get("x-envoy-expected-rq-timeout-ms")).toBe("15000");
    expect(stat("cluster.backend.upstream_rq_per_try_timeout")).toBe(0);
    expect(stat("cluster.backend.upstream_rq_retry")).toBe(1);
    expect(stat("cluster.backend.upstream_rq_retry_success")).toBe(1);
    expect(stat("cluster.backend.upstream_rq_timeout")).toBe(0);
    expect(stat("cluster.backend.upstream_rq_200")).toBe(1);
    expect(stat("cluster.backend.upstream_rq_completed")).toBe(1);
    // The losing attempt is charged nothing on its host (Envoy's resetOtherUpstreams).
    expect(hostCounters(PORTS[0]!)).toEqual({ rqError: 0, rqSuccess: 0 });
    expect(hostCounters(PORTS[1]!)).toEqual({ rqError: 0, rqSuccess: 1 });
    closeAll(client);
    expectNoLeaks();
    expect(accessLog()).toEqual(["200 - 2 127.0.0.1:8082 via_upstream"]);
  });

  test("the first attempt answers after its per-try timeout, before the hedge does: it wins, the hedge is reset", async () => {
    const hedge: UpstreamResponse[] = [];
    await setup({ handlers: [answerAfter(700, "first"), answerAfter(1000, "second", hedge)], hedgePolicy: HEDGE });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/x");
    runtime.advance(500 + BACKOFF);
    expect(upstreams[1]!.requests).toHaveLength(1);
    runtime.advance(700 - 500 - BACKOFF);
    runtime.runDue();
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[200, "first"]]);
    expect(hedge[0]!.closed).toBe(true);
    expect(stat("cluster.backend.upstream_rq_retry")).toBe(1);
    // Envoy judges a hedged attempt's response without shouldRetry: no retry success.
    expect(stat("cluster.backend.upstream_rq_retry_success")).toBe(0);
    expect(stat("cluster.backend.upstream_rq_200")).toBe(1);
    closeAll(client);
    expectNoLeaks();
    // The access log names the winner's host, though the hedge went to another.
    expect(accessLog()).toEqual(["200 - 2 127.0.0.1:8081 via_upstream"]);
  });

  test("no retries left: the per-try timeout flags URX and the attempt goes on to answer; nothing else is sent", async () => {
    await setup({ handlers: [answerAfter(2000, "late"), answerAfter(0, "never")], hedgePolicy: HEDGE, retryPolicy: { retry_on: "5xx", num_retries: 0, per_try_timeout: "0.5s" } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/x");
    runtime.advance(2000);
    runtime.runDue();
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[200, "late"]]);
    expect(upstreams[1]!.requests).toHaveLength(0);
    expect(stat("cluster.backend.upstream_rq_retry_limit_exceeded")).toBe(1);
    expect(stat("cluster.backend.upstream_rq_per_try_timeout")).toBe(0);
    closeAll(client);
    expectNoLeaks();
    expect(accessLog()).toEqual(["200 URX 1 127.0.0.1:8081 via_upstream"]);
  });

  test("a 5xx from the hedge that cannot be retried waits for the first attempt, which answers", async () => {
    await setup({ handlers: [answerAfter(1000, "first"), answerAfter(0, "busy", [], 503)], hedgePolicy: HEDGE });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/x");
    runtime.advance(500 + BACKOFF);
    expect(upstreams[1]!.requests).toHaveLength(1);
    expect(client.responses).toHaveLength(0);
    runtime.advance(1000 - 500 - BACKOFF);
    runtime.runDue();
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[200, "first"]]);
    expect(stat("cluster.backend.upstream_rq_503")).toBe(0);
    expect(stat("cluster.backend.upstream_rq_200")).toBe(1);
    expect(stat("cluster.backend.upstream_rq_retry_limit_exceeded")).toBe(1);
    closeAll(client);
    expectNoLeaks();
    expect(accessLog()).toEqual(["200 URX 2 127.0.0.1:8081 via_upstream"]);
  });

  test("the hedge's connect fails with no retry left: charged as its 503, the client waits for the first attempt", async () => {
    await setup({ handlers: [answerAfter(1000, "first")], ports: [PORTS[0]!, DEAD], hedgePolicy: HEDGE });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/x");
    runtime.advance(500 + BACKOFF);
    runtime.runDue();
    expect(stat("cluster.backend.upstream_cx_connect_fail")).toBe(1);
    expect(client.responses).toHaveLength(0);
    runtime.advance(1000 - 500 - BACKOFF);
    runtime.runDue();
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[200, "first"]]);
    // Envoy's onUpstreamReset charges the failed attempt before it waits for the other.
    expect(stat("cluster.backend.upstream_rq_503")).toBe(1);
    expect(stat("cluster.backend.upstream_rq_200")).toBe(1);
    closeAll(client);
    expectNoLeaks();
    expect(accessLog()).toEqual(["200 URX 2 127.0.0.1:8081 via_upstream"]);
  });

  test("a body over per_request_buffer_limit_bytes gives up hedging with retries: the per-try timeout passes unhedged", async () => {
    await setup({ handlers: [answerAfter(1000, "first"), answerAfter(0, "never")], routeFields: { per_request_buffer_limit_bytes: 4 }, hedgePolicy: HEDGE });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("POST", "/x", { body: "more than four bytes" });
    runtime.advance(1000);
    runtime.runDue();
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[200, "first"]]);
    expect(upstreams[1]!.requests).toHaveLength(0);
    expect(stat("cluster.backend.retry_or_shadow_abandoned")).toBe(1);
    expect(stat("cluster.backend.upstream_rq_retry")).toBe(0);
    closeAll(client);
    expectNoLeaks();
  });

  test("the route timeout still applies: both attempts are reset at it, each counted; 504 UT", async () => {
    const seen: UpstreamResponse[] = [];
    const hang: UpstreamHandler = (_req, res) => void seen.push(res);
    await setup({ handlers: [hang, hang], hedgePolicy: HEDGE, routeExtra: { timeout: "2s" } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/x");
    runtime.advance(1999);
    expect(seen).toHaveLength(2);
    expect(client.responses).toHaveLength(0);
    runtime.advance(1);
    runtime.runDue();
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[504, "upstream request timeout"]]);
    expect(seen.map((r) => r.closed)).toEqual([true, true]);
    // Envoy's onResponseTimeout: per attempt in flight.
    expect(stat("cluster.backend.upstream_rq_timeout")).toBe(2);
    expect(stat("cluster.backend.upstream_rq_504")).toBe(2);
    closeAll(client);
    expectNoLeaks();
    // The hedge's own per-try timeout found no retry left (URX), as in Envoy's onSoftPerTryTimeout.
    expect(accessLog()).toEqual(["504 URX,UT 2 127.0.0.1:8082 upstream_response_timeout"]);
  });

  test("the route's hedge_policy wins whole over the virtual host's; without hedging the per-try timeout resets", async () => {
    const slow: UpstreamResponse[] = [];
    await setup({ handlers: [answerAfter(2000, "slow", slow), answerAfter(0, "fast")], hedgePolicy: {}, vhostExtra: { hedge_policy: HEDGE } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/x");
    runtime.advance(500);
    runtime.runDue();
    expect(slow[0]!.closed).toBe(true);
    runtime.advance(BACKOFF);
    expect(client.responses.map((r) => r.text())).toEqual(["fast"]);
    expect(stat("cluster.backend.upstream_rq_per_try_timeout")).toBe(1);
    expect(upstreams[0]!.requests[0]!.get("x-envoy-expected-rq-timeout-ms")).toBe("500");
    closeAll(client);
    expectNoLeaks();
  });

  test("the virtual host's hedge_policy applies to a route without one", async () => {
    const slow: UpstreamResponse[] = [];
    await setup({ handlers: [answerAfter(2000, "slow", slow), answerAfter(0, "fast")], vhostExtra: { hedge_policy: HEDGE } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/x");
    runtime.advance(500);
    runtime.runDue();
    expect(slow[0]!.closed).toBe(false);
    runtime.advance(BACKOFF);
    expect(client.responses.map((r) => r.text())).toEqual(["fast"]);
    expect(slow[0]!.closed).toBe(true);
    closeAll(client);
    expectNoLeaks();
  });

  test("x-envoy-hedge-on-per-try-timeout from an internal hop turns hedging on, and is consumed", async () => {
    const slow: UpstreamResponse[] = [];
    await setup({ handlers: [answerAfter(2000, "slow", slow), answerAfter(0, "fast")] });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/x", { headers: { ...FROM_INTERNAL, "x-envoy-hedge-on-per-try-timeout": "true" } });
    runtime.advance(500 + BACKOFF);
    runtime.runDue();
    expect(client.responses.map((r) => r.text())).toEqual(["fast"]);
    expect(upstreams.map((u) => u.requests[0]!.get("x-envoy-hedge-on-per-try-timeout"))).toEqual([undefined, undefined]);
    expect(stat("cluster.backend.upstream_rq_per_try_timeout")).toBe(0);
    closeAll(client);
    expectNoLeaks();
  });
});

describe("hedge_policy: more than one attempt in flight", () => {
  test("a slow HTTP/2 client pauses every attempt: the one hedged while paused is resumed, and its response delivered", async () => {
    runtime = new MemoryRuntime({ seed: 8 });
    const big: UpstreamHandler = (_req, res) => {
      res.writeHead(200, { "content-length": String(8 * 1024 * 1024) });
      const chunk = new Uint8Array(64 * 1024);
      for (let sent = 0; sent < 8 * 1024 * 1024; sent += chunk.length) res.write(chunk);
      res.end();
    };
    const handlers: UpstreamHandler[] = [answerAfter(1000, "first"), () => {}, big];
    upstreams = [];
    for (let i = 0; i < handlers.length; i++) upstreams.push(await MemoryHttpServer.listen(runtime, 8081 + i, handlers[i]!));
    server = await startProxy(
      runtime,
      httpProxyConfig({
        listenPort: PROXY,
        clusters: { backend: [8081, 8082], big: [8083] },
        routes: [],
        virtualHosts: [
          {
            name: "v",
            domains: ["*"],
            routes: [
              { match: { prefix: "/big" }, route: { cluster: "big" } },
              { match: { prefix: "/" }, route: { cluster: "backend", timeout: "3s", retry_policy: { retry_on: "5xx", num_retries: 1, per_try_timeout: "0.5s" }, hedge_policy: HEDGE } },
            ],
          },
        ],
      }),
    );
    const client = new H2Client(runtime, PROXY, { initialStreamWindowSize: 16 * 1024 * 1024 });
    const hedged = client.request([":path", "/h"]);
    runtime.advance(10);
    // The client stops reading while a large response comes on the same connection: the
    // proxy's write buffer goes over its limit and /h's attempt is paused.
    client.socket.readDisable(true);
    const large = client.request([":path", "/big"]);
    // /h's attempt hedges at its per-try timeout (500 ms) while paused; the hedge never answers.
    runtime.advance(590);
    expect(upstreams[1]!.requests).toHaveLength(1);
    client.socket.readDisable(false);
    runtime.advance(2400);
    expect([hedged.headers.map((f) => f[1]), hedged.text]).toEqual([["200"], "first"]);
    expect(large.ended).toBe(true);
    expect(large.body).toBe(8 * 1024 * 1024);
    expect(stat("cluster.backend.upstream_rq_timeout")).toBe(0);
    client.socket.close();
    for (const upstream of upstreams) for (const connection of upstream.connections) connection.socket.close();
    runtime.runUntilIdle();
    expect(activeDownstreamConnections(server)).toBe(0);
  });

  test("route timeout after the hedge's connect failed (no retry left): the one attempt in flight is charged one 504", async () => {
    await setup({ handlers: [() => {}], ports: [PORTS[0]!, DEAD], hedgePolicy: HEDGE, routeExtra: { timeout: "2s" } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/x");
    runtime.advance(2000);
    runtime.runDue();
    expect(client.responses.map((r) => r.status)).toEqual([504]);
    // Envoy: the failed hedge's 503 (onUpstreamReset), the hedged attempt's 504 (onResponseTimeout); onUpstreamTimeoutAbort charges nothing.
    expect([stat("cluster.backend.upstream_rq_503"), stat("cluster.backend.upstream_rq_504"), stat("cluster.backend.upstream_rq_completed")]).toEqual([1, 1, 2]);
    expect(stat("cluster.backend.upstream_rq_timeout")).toBe(1);
    closeAll(client);
    expectNoLeaks();
  });

  test("route timeout during the hedge's back-off: only the hedged attempt is charged", async () => {
    await setup({
      handlers: [() => {}, answerAfter(0, "b")],
      hedgePolicy: HEDGE,
      retryPolicy: { retry_on: "5xx", num_retries: 1, per_try_timeout: "0.5s", retry_back_off: { base_interval: "2s", max_interval: "2s" } },
      routeExtra: { timeout: "1s" },
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/x");
    runtime.advance(1000);
    runtime.runDue();
    expect(client.responses.map((r) => r.status)).toEqual([504]);
    expect(upstreams[1]!.requests).toHaveLength(0);
    expect([stat("cluster.backend.upstream_rq_504"), stat("cluster.backend.upstream_rq_completed"), stat("cluster.backend.upstream_rq_timeout")]).toEqual([1, 1, 1]);
    closeAll(client);
    expectNoLeaks();
  });

  test("route timeout during a plain retry's back-off, no attempt in flight: 504 to the client, nothing charged to the cluster", async () => {
    await setup({
      handlers: [answerAfter(0, "busy", [], 503), answerAfter(0, "b")],
      retryPolicy: { retry_on: "5xx", num_retries: 1, retry_back_off: { base_interval: "2s", max_interval: "2s" } },
      routeExtra: { timeout: "1s" },
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/x");
    runtime.advance(1000);
    runtime.runDue();
    expect(client.responses.map((r) => r.status)).toEqual([504]);
    // Envoy's onResponseTimeout charges per upstream request, of which there is none.
    expect([stat("cluster.backend.upstream_rq_504"), stat("cluster.backend.upstream_rq_timeout")]).toEqual([0, 0]);
    closeAll(client);
    expectNoLeaks();
    expect(accessLog()).toEqual(["504 UT 1 127.0.0.1:8081 upstream_response_timeout"]);
  });

  test("the winner's upstream info is logged, not the failed hedge's connect error", async () => {
    await setup({ handlers: [answerAfter(1000, "first")], ports: [PORTS[0]!, DEAD], hedgePolicy: HEDGE, logFormat: "%RESPONSE_CODE% %UPSTREAM_HOST% tfr=%UPSTREAM_TRANSPORT_FAILURE_REASON%\n" });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/x");
    runtime.advance(1000);
    runtime.runDue();
    expect(client.responses.map((r) => r.status)).toEqual([200]);
    closeAll(client);
    expectNoLeaks();
    expect(accessLog()).toEqual(["200 127.0.0.1:8081 tfr=-"]);
  });

  test("the winner's request timing is logged, not the losing hedge's", async () => {
    await setup({ handlers: [answerAfter(700, "first"), () => {}], hedgePolicy: HEDGE, logFormat: "%RESPONSE_CODE% %UPSTREAM_HOST% tx=%REQUEST_TX_DURATION%\n" });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/x");
    runtime.advance(700);
    runtime.runDue();
    expect(upstreams[1]!.requests).toHaveLength(1);
    expect(client.responses.map((r) => r.status)).toEqual([200]);
    closeAll(client);
    expectNoLeaks();
    expect(accessLog()).toEqual(["200 127.0.0.1:8081 tx=0"]);
  });
});
