/**
 * Retries and request mirroring through the whole proxy on the memory runtime: routes
 * with retry_policy over several in-memory upstreams that fail on demand (503s, refused
 * connects, resets, hangs), in virtual time, with the stats Envoy keeps.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig, type HttpProxyOptions } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer, type UpstreamHandler } from "./support/http-peers.ts";
import { activeDownstreamConnections, pooledConnections, resourceCounters, startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const PORTS = [8081, 8082, 8083];
const DEAD = 8099;
const LOG_FORMAT = "%RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_REQUEST_ATTEMPT_COUNT% %RESPONSE_CODE_DETAILS%\n";
const ACCESS_LOG = {
  name: "envoy.access_loggers.file",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
    path: "/dev/stdout",
    log_format: { text_format_source: { inline_string: LOG_FORMAT } },
  },
};

/**
 * A request an internal hop forwarded (one internal x-forwarded-for address): only such
 * requests keep the x-envoy-* headers that steer retries and timeouts, as in Envoy.
 */
const FROM_INTERNAL = { "x-forwarded-for": "10.1.2.3" };

let runtime: MemoryRuntime;
let server: Server;
let upstreams: MemoryHttpServer[] = [];

interface Setup {
  /** One handler per live upstream, on PORTS in order. */
  handlers: UpstreamHandler[];
  /** The cluster's ports (default: the live ones). */
  ports?: number[];
  retryPolicy?: Record<string, unknown>;
  routeExtra?: Record<string, unknown>;
  /** Fields of the route itself (beside match and route). */
  routeFields?: Record<string, unknown>;
  vhostExtra?: Record<string, unknown>;
  proxy?: Partial<HttpProxyOptions>;
  mirror?: UpstreamHandler;
}

async function setup(options: Setup): Promise<void> {
  // Seed 8: round robin starts at a random host, as Envoy's; from this seed it starts at the
  // first upstream, which these scenarios expect to answer first.
  runtime = new MemoryRuntime({ seed: 8 });
  upstreams = [];
  for (let i = 0; i < options.handlers.length; i++) upstreams.push(await MemoryHttpServer.listen(runtime, PORTS[i]!, options.handlers[i]!));
  const clusters: Record<string, number[]> = { backend: options.ports ?? PORTS.slice(0, options.handlers.length) };
  if (options.mirror) {
    upstreams.push(await MemoryHttpServer.listen(runtime, 9000, options.mirror));
    clusters.mirror = [9000];
  }
  const route = {
    match: { prefix: "/" },
    action: { route: { cluster: "backend", ...(options.retryPolicy ? { retry_policy: options.retryPolicy } : {}), ...options.routeExtra } },
  };
  const config = httpProxyConfig({
    listenPort: PROXY,
    clusters,
    routes: [],
    virtualHosts: [{ name: "backend", domains: ["*"], routes: [{ match: route.match, ...route.action, ...options.routeFields }], ...options.vhostExtra }],
    ...options.proxy,
    hcm: { access_log: [ACCESS_LOG], ...options.proxy?.hcm },
  });
  server = await startProxy(runtime, config);
}

function stat(name: string): number {
  return (server.stats.get(name) as { value: number } | undefined)?.value ?? 0;
}

/** The access log lines so far: code, flags, attempts, details. */
function accessLog(): string[] {
  return runtime.stdoutText.split("\n").filter(Boolean);
}

function expectNoLeaks(): void {
  runtime.runUntilIdle();
  expect(activeDownstreamConnections(server)).toBe(0);
  expect(pooledConnections(server, "backend")).toBe(0);
  expect(resourceCounters(server, "backend")).toEqual({ connections: 0, pendingRequests: 0, requests: 0 });
  expect(runtime.pendingTimers).toBe(0);
}

function closeAll(...clients: MemoryHttpClient[]): void {
  for (const client of clients) client.socket.close();
  for (const upstream of upstreams) for (const connection of upstream.connections) connection.socket.close();
}

afterEach(() => {
  for (const upstream of upstreams) upstream.close();
});

const ok: UpstreamHandler = (req, res) => res.respond(200, `ok from ${req.get("host")}`);
const unavailable: UpstreamHandler = (_req, res) => res.respond(503, "busy");

describe("retry_policy through the proxy", () => {
  test("retry_on 5xx: a 503 is retried on the next host; the client sees the 200 and the attempt count", async () => {
    await setup({ handlers: [unavailable, ok, ok], retryPolicy: { retry_on: "5xx", num_retries: 2 }, vhostExtra: { include_attempt_count_in_response: true, include_request_attempt_count: true } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/x");
    runtime.runUntilIdle();
    const response = client.responses[0]!;
    expect(response.status).toBe(200);
    expect(response.get("x-envoy-attempt-count")).toBe("2");
    expect(upstreams[0]!.requests.map((r) => r.get("x-envoy-attempt-count"))).toEqual(["1"]);
    expect(upstreams[1]!.requests.map((r) => r.get("x-envoy-attempt-count"))).toEqual(["2"]);
    expect(stat("cluster.backend.upstream_rq_retry")).toBe(1);
    expect(stat("cluster.backend.upstream_rq_retry_success")).toBe(1);
    expect(stat("cluster.backend.upstream_rq_retry_backoff_exponential")).toBe(1);
    expect(stat("cluster.backend.retry.upstream_rq_503")).toBe(1);
    expect(stat("cluster.backend.retry.upstream_rq_5xx")).toBe(1);
    // Envoy's chargeBasicResponseStat under retry.: the retried response is a completed one there.
    expect(stat("cluster.backend.retry.upstream_rq_completed")).toBe(1);
    // The retried 503 is not counted as a response the client got.
    expect(stat("cluster.backend.upstream_rq_503")).toBe(0);
    expect(stat("cluster.backend.upstream_rq_200")).toBe(1);
    expect(server.clusterManager.get("backend")!.resources.retries.count).toBe(0);
    expect(accessLog()).toEqual(["200 - 2 via_upstream"]);
    closeAll(client);
    expectNoLeaks();
  });

  // Envoy's Filter::onUpstreamHeaders (router.cc): a response that is retried counts an
  // rq_error on its host whatever its status (a 409 too); the one passed on counts as usual.
  test.each([
    ["a 503 retried on 5xx", 503, { retry_on: "5xx" }],
    ["a 409 retried on retriable_status_codes", 409, { retry_on: "retriable-status-codes", retriable_status_codes: [409] }],
    ["an empty 409 retried on retriable-4xx", 409, { retry_on: "retriable-4xx" }],
  ])("host counters: %s is an rq_error of its host, never an rq_success", async (_name, status, retryPolicy) => {
    const refuse: UpstreamHandler = (_req, res) => res.respond(status, status === 503 ? "busy" : "");
    await setup({ handlers: [refuse, ok], retryPolicy });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(200);
    const hosts = server.clusterManager.get("backend")!.hosts;
    const counters = (port: number) => {
      const stats = hosts.find((h) => String(h).endsWith(`:${port}`))!.stats;
      return { rqError: stats.rqError, rqSuccess: stats.rqSuccess };
    };
    expect(counters(PORTS[0]!)).toEqual({ rqError: 1, rqSuccess: 0 });
    expect(counters(PORTS[1]!)).toEqual({ rqError: 0, rqSuccess: 1 });
    expect(stat("cluster.backend.upstream_rq_retry")).toBe(1);
    closeAll(client);
    expectNoLeaks();
  });

  test("without retry_policy a 503 goes to the client as it is", async () => {
    await setup({ handlers: [unavailable, ok] });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(503);
    expect(upstreams[1]!.requests).toHaveLength(0);
    expect(stat("cluster.backend.upstream_rq_retry")).toBe(0);
    closeAll(client);
    expectNoLeaks();
  });

  test("retries used up: the last 503 is passed on, flagged URX, upstream_rq_retry_limit_exceeded", async () => {
    await setup({ handlers: [unavailable, unavailable, unavailable], retryPolicy: { retry_on: "5xx", num_retries: 2 } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(503);
    expect(client.responses[0]!.text()).toBe("busy");
    expect(upstreams.map((u) => u.requests.length)).toEqual([1, 1, 1]);
    expect(stat("cluster.backend.upstream_rq_retry")).toBe(2);
    expect(stat("cluster.backend.upstream_rq_retry_limit_exceeded")).toBe(1);
    expect(stat("cluster.backend.upstream_rq_retry_success")).toBe(0);
    expect(accessLog()).toEqual(["503 URX 3 via_upstream"]);
    closeAll(client);
    expectNoLeaks();
  });

  test("connect-failure: a refused connect is retried on a live host", async () => {
    await setup({ handlers: [ok], ports: [DEAD, PORTS[0]!], retryPolicy: { retry_on: "connect-failure" } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(200);
    expect(stat("cluster.backend.upstream_cx_connect_fail")).toBe(1);
    expect(stat("cluster.backend.upstream_rq_retry")).toBe(1);
    closeAll(client);
    expectNoLeaks();
  });

  test("connect-failure alone does not retry a 503", async () => {
    await setup({ handlers: [unavailable, ok], retryPolicy: { retry_on: "connect-failure" } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(503);
    closeAll(client);
    expectNoLeaks();
  });

  test("all hosts refuse: 503 UF whose body says it retried", async () => {
    await setup({ handlers: [], ports: [DEAD, DEAD + 1], retryPolicy: { retry_on: "connect-failure", num_retries: 1 } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(503);
    expect(client.responses[0]!.text()).toBe(
      "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure",
    );
    expect(stat("cluster.backend.upstream_rq_retry_limit_exceeded")).toBe(1);
    expect(accessLog()).toEqual(["503 URX,UF 2 upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_Connection_refused}"]);
    closeAll(client);
    expectNoLeaks();
  });

  test("per_try_timeout: a hanging attempt is cut and retried (a per-try timeout is a reset: 5xx covers it)", async () => {
    const hung: UpstreamHandler = () => {};
    await setup({ handlers: [hung, ok], retryPolicy: { retry_on: "5xx", per_try_timeout: "0.5s" } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.advance(499);
    expect(upstreams[1]!.requests).toHaveLength(0);
    runtime.advance(1);
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(200);
    expect(upstreams[0]!.requests[0]!.get("x-envoy-expected-rq-timeout-ms")).toBe("500");
    expect(stat("cluster.backend.upstream_rq_per_try_timeout")).toBe(1);
    expect(stat("cluster.backend.upstream_rq_timeout")).toBe(0);
    closeAll(client);
    expectNoLeaks();
  });

  test("per_try_timeout without a retry condition for it: 504 UT after the per-try timeout, not the route's", async () => {
    await setup({ handlers: [() => {}], retryPolicy: { retry_on: "retriable-4xx", per_try_timeout: "1s" } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.advance(1000);
    runtime.runDue();
    expect(client.responses[0]!.status).toBe(504);
    expect(client.responses[0]!.text()).toBe("upstream request timeout");
    closeAll(client);
    expectNoLeaks();
    expect(accessLog()).toEqual(["504 UT 1 upstream_per_try_timeout"]);
  });

  test("per_try_idle_timeout: an attempt that goes quiet before its headers is retried", async () => {
    await setup({ handlers: [() => {}, ok], retryPolicy: { retry_on: "reset", per_try_idle_timeout: "0.2s" } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.advance(199);
    expect(upstreams[1]!.requests).toHaveLength(0);
    runtime.advance(1);
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(200);
    expect(stat("cluster.backend.upstream_rq_per_try_idle_timeout")).toBe(1);
    closeAll(client);
    expectNoLeaks();
  });

  test("per_try_idle_timeout after the headers went out: the stalled response is cut, not retried", async () => {
    let first = true;
    await setup({
      handlers: [
        (_req, res) => {
          if (!first) return res.respond(200, "second");
          first = false;
          res.writeHead(200, { "content-length": "10" });
          res.write("abc");
        },
        ok,
      ],
      retryPolicy: { retry_on: "reset", per_try_idle_timeout: "0.2s" },
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.advance(250);
    runtime.runDue();
    // Headers went downstream: no retry; the stream is cut.
    expect(stat("cluster.backend.upstream_rq_per_try_idle_timeout")).toBe(1);
    expect(upstreams[1]!.requests).toHaveLength(0);
    runtime.runUntilIdle();
    expect(client.closed).toBe(true);
    closeAll(client);
    expectNoLeaks();
  });

  test("no retry once response headers went downstream: a reset mid-body resets the client", async () => {
    await setup({
      handlers: [
        (_req, res) => {
          res.writeHead(200, { "content-length": "100" });
          res.write("partial");
          res.reset();
        },
        ok,
      ],
      retryPolicy: { retry_on: "5xx,reset", num_retries: 3 },
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runUntilIdle();
    expect(client.responses).toHaveLength(0);
    expect(client.closed).toBe(true);
    expect(upstreams[1]!.requests).toHaveLength(0);
    expect(stat("cluster.backend.upstream_rq_retry")).toBe(0);
    closeAll(client);
    expectNoLeaks();
  });

  test("reset before headers with retry_on reset: retried", async () => {
    await setup({ handlers: [(_req, res) => res.reset(), ok], retryPolicy: { retry_on: "reset" } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(200);
    closeAll(client);
    expectNoLeaks();
  });

  test("reset-before-request does not retry a reset after the request went upstream", async () => {
    await setup({ handlers: [(_req, res) => res.reset(), ok], retryPolicy: { retry_on: "reset-before-request" } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(503);
    expect(upstreams[1]!.requests).toHaveLength(0);
    closeAll(client);
    expectNoLeaks();
  });

  test("a POST body is replayed intact to the next host (Envoy retries any method the policy matches)", async () => {
    const body = "x".repeat(5000) + "end";
    await setup({ handlers: [unavailable, (req, res) => res.respond(200, `got ${req.body.byteLength}`)], retryPolicy: { retry_on: "5xx" } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("POST", "/upload", { body });
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(200);
    expect(new TextDecoder().decode(upstreams[0]!.requests[0]!.body)).toBe(body);
    expect(new TextDecoder().decode(upstreams[1]!.requests[0]!.body)).toBe(body);
    closeAll(client);
    expectNoLeaks();
  });

  test("a chunked POST with trailers is replayed with its trailers", async () => {
    await setup({ handlers: [unavailable, ok], retryPolicy: { retry_on: "5xx" } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("POST", "/", { body: "abc", chunked: true });
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(200);
    expect(new TextDecoder().decode(upstreams[1]!.requests[0]!.body)).toBe("abc");
    closeAll(client);
    expectNoLeaks();
  });

  test("a body over per_request_buffer_limit_bytes is not kept: no retry, retry_or_shadow_abandoned", async () => {
    await setup({ handlers: [unavailable, ok], retryPolicy: { retry_on: "5xx" }, vhostExtra: { per_request_buffer_limit_bytes: 1024 } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("POST", "/", { body: "y".repeat(2000) });
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(503);
    expect(upstreams[1]!.requests).toHaveLength(0);
    expect(stat("cluster.backend.retry_or_shadow_abandoned")).toBe(1);
    closeAll(client);
    expectNoLeaks();
  });

  test("the body outgrows the retry buffer while a retry backs off: 507, as Envoy", async () => {
    await setup({ handlers: [unavailable, ok], retryPolicy: { retry_on: "5xx", retry_back_off: { base_interval: "10s" } }, vhostExtra: { per_request_buffer_limit_bytes: 1024 } });
    // The first host answers 503 from the request's head, before its body.
    upstreams[0]!.earlyHandler = (_head, res) => {
      res.respond(503, "early");
      return true;
    };
    const client = new MemoryHttpClient(runtime, PROXY);
    client.send("POST / HTTP/1.1\r\nhost: example.com\r\ncontent-length: 2000\r\n\r\n" + "a".repeat(100));
    runtime.advance(10);
    expect(client.responses).toHaveLength(0);
    client.send("b".repeat(1900));
    runtime.advance(10);
    expect(client.responses[0]!.status).toBe(507);
    expect(client.responses[0]!.text()).toBe("exceeded request buffer limit while retrying upstream");
    expect(stat("cluster.backend.retry_or_shadow_abandoned")).toBe(1);
    expect(upstreams[1]!.requests).toHaveLength(0);
    closeAll(client);
    expectNoLeaks();
  });

  test("include_is_timeout_retry_header: x-envoy-is-timeout-retry says whether a retry followed a per-try timeout", async () => {
    let calls = 0;
    await setup({
      handlers: [
        (_req, res) => {
          if (calls++ === 0) return; // hangs: per-try timeout
          res.respond(503);
        },
        (_req, res) => res.respond(503),
        ok,
      ],
      retryPolicy: { retry_on: "5xx", num_retries: 3, per_try_timeout: "0.1s" },
      vhostExtra: { include_is_timeout_retry_header: true },
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.advance(2000);
    expect(client.responses[0]!.status).toBe(200);
    const seen = upstreams.flatMap((u) => u.requests).map((r) => r.get("x-envoy-is-timeout-retry"));
    expect(seen).toEqual([undefined, "true", "false"]);
    closeAll(client);
    expectNoLeaks();
  });

  test("x-envoy-upstream-rq-timeout-alt-response: a timeout answers 204 instead of 504", async () => {
    await setup({ handlers: [() => {}], routeExtra: { timeout: "1s" } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/", { headers: { ...FROM_INTERNAL, "x-envoy-upstream-rq-timeout-alt-response": "" } });
    runtime.advance(1000);
    expect(client.responses[0]!.status).toBe(204);
    expect(upstreams[0]!.requests[0]?.get("x-envoy-upstream-rq-timeout-alt-response")).toBeUndefined();
    closeAll(client);
    expectNoLeaks();
  });

  test("the route's per_request_buffer_limit_bytes wins over the virtual host's", async () => {
    await setup({
      handlers: [unavailable, ok],
      retryPolicy: { retry_on: "5xx" },
      vhostExtra: { per_request_buffer_limit_bytes: 100 },
      routeFields: { per_request_buffer_limit_bytes: 4096 },
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("POST", "/", { body: "z".repeat(2000) });
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(200);
    expect(stat("cluster.backend.retry_or_shadow_abandoned")).toBe(0);
    closeAll(client);
    expectNoLeaks();
  });

  test("x-envoy-retry-on and x-envoy-max-retries that reach the router turn retries on; the headers are consumed", async () => {
    await setup({ handlers: [unavailable, unavailable, ok] });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/", { headers: { ...FROM_INTERNAL, "x-envoy-retry-on": "gateway-error", "x-envoy-max-retries": "2" } });
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(200);
    expect(upstreams.map((u) => u.requests.length)).toEqual([1, 1, 1]);
    expect(upstreams[0]!.requests[0]!.get("x-envoy-retry-on")).toBeUndefined();
    expect(upstreams[0]!.requests[0]!.get("x-envoy-max-retries")).toBeUndefined();
    closeAll(client);
    expectNoLeaks();
  });

  test("an external request's x-envoy-retry-on is removed, and its own x-envoy-internal not believed (Envoy's cleanInternalHeaders)", async () => {
    await setup({ handlers: [unavailable, ok] });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/", { headers: { "x-envoy-retry-on": "5xx", "x-envoy-internal": "true", "x-forwarded-for": "10.1.2.3, 203.0.113.9" } });
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(503);
    expect(upstreams.map((u) => u.requests.length)).toEqual([1, 0]);
    expect(upstreams[0]!.requests[0]!.get("x-envoy-retry-on")).toBeUndefined();
    expect(upstreams[0]!.requests[0]!.get("x-envoy-internal")).toBeUndefined();
    closeAll(client);
    expectNoLeaks();
  });

  test("x-envoy-retry-on alone gets the default one retry", async () => {
    await setup({ handlers: [unavailable, unavailable, ok] });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/", { headers: { ...FROM_INTERNAL, "x-envoy-retry-on": "5xx" } });
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(503);
    expect(upstreams.map((u) => u.requests.length)).toEqual([1, 1, 0]);
    closeAll(client);
    expectNoLeaks();
  });

  test("x-envoy-max-retries: 0 takes precedence over the policy's num_retries", async () => {
    await setup({ handlers: [unavailable, ok], retryPolicy: { retry_on: "5xx", num_retries: 3 } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/", { headers: { ...FROM_INTERNAL, "x-envoy-max-retries": "0" } });
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(503);
    expect(upstreams.map((u) => u.requests.length)).toEqual([1, 0]);
    expect(stat("cluster.backend.upstream_rq_retry_limit_exceeded")).toBe(1);
    closeAll(client);
    expectNoLeaks();
  });

  test("x-envoy-upstream-rq-timeout-ms overrides the route timeout; x-envoy-upstream-rq-per-try-timeout-ms the per-try one", async () => {
    await setup({ handlers: [() => {}, ok], retryPolicy: { retry_on: "5xx" } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/", { headers: { ...FROM_INTERNAL, "x-envoy-upstream-rq-timeout-ms": "3000", "x-envoy-upstream-rq-per-try-timeout-ms": "200" } });
    runtime.advance(200);
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(200);
    const first = upstreams[0]!.requests[0]!;
    expect(first.get("x-envoy-expected-rq-timeout-ms")).toBe("200");
    expect(first.get("x-envoy-upstream-rq-timeout-ms")).toBeUndefined();
    expect(first.get("x-envoy-upstream-rq-per-try-timeout-ms")).toBeUndefined();
    closeAll(client);
    expectNoLeaks();
  });

  test("retriable-status-codes and retriable_headers", async () => {
    await setup({
      handlers: [(_req, res) => res.respond(429, "slow down"), (_req, res) => res.respond(200, "", { "x-try-again": "1" }), ok],
      retryPolicy: {
        retry_on: "retriable-status-codes,retriable-headers",
        num_retries: 3,
        retriable_status_codes: [429],
        retriable_headers: [{ name: "x-try-again" }],
      },
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(200);
    expect(client.responses[0]!.get("x-try-again")).toBeUndefined();
    expect(upstreams.map((u) => u.requests.length)).toEqual([1, 1, 1]);
    closeAll(client);
    expectNoLeaks();
  });

  test("retriable_request_headers: only matching requests are retried", async () => {
    await setup({ handlers: [unavailable, ok, unavailable], retryPolicy: { retry_on: "5xx", retriable_request_headers: [{ name: ":method", string_match: { exact: "GET" } }] } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("POST", "/", { body: "b" });
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(503);
    expect(upstreams[1]!.requests).toHaveLength(0);
    closeAll(client);
    expectNoLeaks();
  });

  test("circuit breakers max_retries: 0 → no retry, flag UO, upstream_rq_retry_overflow; the 503 passes", async () => {
    await setup({
      handlers: [unavailable, ok],
      retryPolicy: { retry_on: "5xx" },
      proxy: { clusterExtra: { circuit_breakers: { thresholds: [{ max_retries: 0 }] } } },
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(503);
    expect(stat("cluster.backend.upstream_rq_retry_overflow")).toBe(1);
    expect(stat("cluster.backend.circuit_breakers.default.rq_retry_open")).toBe(1);
    expect(accessLog()).toEqual(["503 UO 1 via_upstream"]);
    closeAll(client);
    expectNoLeaks();
  });

  test("retry_budget: min_retry_concurrency retries at once, whatever max_retries says", async () => {
    const held: (() => void)[] = [];
    let calls = 0;
    await setup({
      handlers: [
        (_req, res) => {
          calls++;
          res.respond(503);
        },
        (_req, res) => held.push(() => res.respond(200, "late")),
      ],
      retryPolicy: { retry_on: "5xx", retry_back_off: { base_interval: "0.001s" }, retry_host_predicate: [{ name: "envoy.retry_host_predicates.previous_hosts" }] },
      proxy: { clusterExtra: { circuit_breakers: { thresholds: [{ max_retries: 0, retry_budget: { budget_percent: { value: 0 }, min_retry_concurrency: 2 } }] } } },
    });
    // Round robin: requests 1, 3, 5 go to the failing host first; previous_hosts sends their retries to the holding one.
    const clients = [0, 1, 2, 3, 4, 5].map(() => new MemoryHttpClient(runtime, PROXY));
    for (const client of clients) client.request("GET", "/");
    runtime.advance(50);
    runtime.runDue();
    expect(calls).toBe(3);
    expect(stat("cluster.backend.upstream_rq_retry")).toBe(2);
    expect(stat("cluster.backend.upstream_rq_retry_overflow")).toBe(1);
    for (const answer of held.splice(0)) answer();
    runtime.runUntilIdle();
    for (const answer of held.splice(0)) answer();
    runtime.runUntilIdle();
    expect(clients.map((c) => c.responses[0]?.status).sort()).toEqual([200, 200, 200, 200, 200, 503]);
    closeAll(...clients);
    expectNoLeaks();
  });

  test("the route's retry_policy wins over the virtual host's", async () => {
    await setup({ handlers: [unavailable, ok], retryPolicy: { retry_on: "retriable-4xx" }, vhostExtra: { retry_policy: { retry_on: "5xx" } } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(503);
    closeAll(client);
    expectNoLeaks();
  });

  test("the virtual host's retry_policy applies to routes without one", async () => {
    await setup({ handlers: [unavailable, ok], vhostExtra: { retry_policy: { retry_on: "5xx" } } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(200);
    closeAll(client);
    expectNoLeaks();
  });

  test("the route timeout covers the retries: a retry still backing off ends in 504", async () => {
    await setup({
      handlers: [unavailable, unavailable],
      retryPolicy: { retry_on: "5xx", num_retries: 5, retry_back_off: { base_interval: "10s" } },
      routeExtra: { timeout: "1s" },
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.advance(1000);
    runtime.runDue();
    expect(client.responses[0]?.status).toBe(504);
    closeAll(client);
    expectNoLeaks();
  });
});

describe("request_mirror_policies", () => {
  test("the mirror gets a copy with -shadow on its host; its response is dropped", async () => {
    await setup({
      handlers: [ok],
      routeExtra: { request_mirror_policies: [{ cluster: "mirror" }] },
      mirror: (_req, res) => res.respond(500, "mirror says no"),
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("POST", "/m", { body: "payload" });
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(200);
    expect(client.responses[0]!.text()).toBe("ok from example.com");
    const mirror = upstreams.at(-1)!;
    expect(mirror.requests).toHaveLength(1);
    expect(mirror.requests[0]!.get("host")).toBe("example.com-shadow");
    expect(mirror.requests[0]!.path).toBe("/m");
    expect(new TextDecoder().decode(mirror.requests[0]!.body)).toBe("payload");
    expect(stat("cluster.mirror.upstream_rq_500")).toBe(1);
    closeAll(client);
    expectNoLeaks();
  });

  test("a hanging mirror neither delays nor fails the request; it is given up at the route timeout", async () => {
    await setup({ handlers: [ok], routeExtra: { timeout: "2s", request_mirror_policies: [{ cluster: "mirror" }] }, mirror: () => {} });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runDue();
    expect(client.responses[0]!.status).toBe(200);
    runtime.advance(2000);
    runtime.runDue();
    expect(stat("cluster.mirror.upstream_rq_timeout")).toBe(1);
    closeAll(client);
    expectNoLeaks();
  });

  test("a mirror's failure is a debug line of the router component (--component-log-level router:debug)", async () => {
    await setup({ handlers: [ok], routeExtra: { timeout: "2s", request_mirror_policies: [{ cluster: "mirror" }] }, mirror: () => {} });
    server.log.setComponentLevel("router", "debug");
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.advance(2000);
    runtime.runDue();
    expect(runtime.logLines.filter((line) => line.includes("shadow request"))).toEqual([expect.stringMatching(/\[debug\] shadow request to 'mirror' failed: timeout$/)]);
    closeAll(client);
    expectNoLeaks();
  });

  test("a port in the authority stays after -shadow; disable_shadow_host_suffix_append keeps the host", async () => {
    await setup({
      handlers: [ok],
      routeExtra: { request_mirror_policies: [{ cluster: "mirror" }, { cluster: "mirror", disable_shadow_host_suffix_append: true }] },
      mirror: ok,
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/", { headers: {} });
    client.send("GET /p HTTP/1.1\r\nhost: api.local:8080\r\n\r\n");
    runtime.runUntilIdle();
    const hosts = upstreams.at(-1)!.requests.map((r) => r.get("host")).sort();
    expect(hosts).toEqual(["api.local-shadow:8080", "api.local:8080", "example.com", "example.com-shadow"]);
    closeAll(client);
    expectNoLeaks();
  });

  test("runtime_fraction 0 %: nothing is mirrored", async () => {
    await setup({ handlers: [ok], routeExtra: { request_mirror_policies: [{ cluster: "mirror", runtime_fraction: { default_value: { numerator: 0 } } }] }, mirror: ok });
    const client = new MemoryHttpClient(runtime, PROXY);
    for (let i = 0; i < 5; i++) client.request("GET", "/");
    runtime.runUntilIdle();
    expect(upstreams.at(-1)!.requests).toHaveLength(0);
    closeAll(client);
    expectNoLeaks();
  });

  test("a body over the buffer limit is not mirrored (retry_or_shadow_abandoned); the request still goes through", async () => {
    await setup({ handlers: [ok], routeExtra: { request_mirror_policies: [{ cluster: "mirror" }] }, vhostExtra: { per_request_buffer_limit_bytes: 10 }, mirror: ok });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("POST", "/", { body: "0123456789ABC" });
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(200);
    expect(upstreams.at(-1)!.requests).toHaveLength(0);
    expect(stat("cluster.backend.retry_or_shadow_abandoned")).toBe(1);
    closeAll(client);
    expectNoLeaks();
  });
});
