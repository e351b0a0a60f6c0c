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
            log_format: { text_format_source: { inline_string: LOG_FORMAT } },
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
