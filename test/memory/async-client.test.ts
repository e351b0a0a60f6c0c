/** The async HTTP client (core/http/async-client.ts): requests to a cluster from inside the proxy, on the memory runtime. */
import { afterEach, describe, expect, test } from "vitest";
import { AsyncClient, type AsyncFailureReason, type AsyncRequestCallbacks, type AsyncResponse } from "../../core/http/async-client.ts";
import { RequestHeaders } from "../../core/http/message.ts";
import { coreRetryPolicy } from "../../core/config/core-retry-policy-schema.ts";
import { filterProxy, UPSTREAM_PORT, type FilterProxy } from "./support/filter-proxy.ts";

let proxy: FilterProxy | undefined;
afterEach(() => {
  proxy?.close();
  proxy = undefined;
});

class Recorder implements AsyncRequestCallbacks {
  responses: AsyncResponse[] = [];
  failures: AsyncFailureReason[] = [];
  onSuccess(_request: unknown, response: AsyncResponse): void {
    this.responses.push(response);
  }
  onFailure(_request: unknown, reason: AsyncFailureReason): void {
    this.failures.push(reason);
  }
}

function get(path: string): RequestHeaders {
  const headers = new RequestHeaders();
  headers.method = "POST";
  headers.path = path;
  headers.authority = "backend";
  return headers;
}

describe("AsyncClient", () => {
  test("a request with a body reaches the cluster's host and its complete response comes back; the connection is kept for the next one", async () => {
    proxy = await filterProxy([]);
    proxy.upstream.handler = (req, res) => res.respond(201, `got ${req.text()}`, { "x-answer": "yes" });
    const client = new AsyncClient(proxy.server);
    const recorder = new Recorder();
    expect(client.send("backend", get("/a"), new TextEncoder().encode("hello"), recorder, { timeoutMs: 1000 })).toBeDefined();
    await proxy.runtime.settle();
    client.send("backend", get("/b"), undefined, recorder, { timeoutMs: 1000 });
    await proxy.runtime.settle();
    expect(recorder.responses.map((r) => [r.headers.status, new TextDecoder().decode(r.body), r.headers.get("x-answer"), r.details])).toEqual([
      [201, "got hello", "yes", ""],
      [201, "got ", "yes", ""],
    ]);
    expect(proxy.counter("cluster.backend.upstream_cx_total")).toBe(1);
    expect(proxy.counter("cluster.backend.upstream_rq_201")).toBe(2);
  });

  test("an unknown cluster fails before send returns; a response over maxResponseBytes fails with ExceedResponseBufferLimit", async () => {
    proxy = await filterProxy([]);
    proxy.upstream.handler = (_req, res) => res.respond(200, "x".repeat(100));
    const client = new AsyncClient(proxy.server);
    const recorder = new Recorder();
    expect(client.send("nowhere", get("/"), undefined, recorder, { timeoutMs: 0 })).toBeUndefined();
    expect(recorder.failures).toEqual(["reset"]);
    client.send("backend", get("/"), undefined, recorder, { timeoutMs: 0, maxResponseBytes: 99 });
    await proxy.runtime.settle();
    expect(recorder.failures).toEqual(["reset", "exceed_response_buffer_limit"]);
    expect(recorder.responses).toHaveLength(0);
  });

  test("the timeout answers 504 upstream request timeout; a connection failure 503; cancel calls nothing back", async () => {
    proxy = await filterProxy([], { clusters: { dead: [UPSTREAM_PORT + 1] } });
    proxy.upstream.handler = () => {};
    const client = new AsyncClient(proxy.server);
    const recorder = new Recorder();
    client.send("backend", get("/"), undefined, recorder, { timeoutMs: 300 });
    await proxy.runtime.settle(299);
    expect(recorder.responses).toHaveLength(0);
    await proxy.runtime.settle(1);
    expect(recorder.responses.map((r) => [r.headers.status, new TextDecoder().decode(r.body), r.details])).toEqual([[504, "upstream request timeout", "upstream_response_timeout"]]);
    client.send("dead", get("/"), undefined, recorder, { timeoutMs: 0 });
    await proxy.runtime.settle(100);
    expect(recorder.responses[1]!.headers.status).toBe(503);
    expect(new TextDecoder().decode(recorder.responses[1]!.body)).toMatch(/^upstream connect error or disconnect\/reset before headers\. reset reason: remote connection failure$/);
    const request = client.send("backend", get("/"), undefined, recorder, { timeoutMs: 300 })!;
    await proxy.runtime.settle();
    request.cancel();
    await proxy.runtime.settle(1000);
    expect(recorder.responses).toHaveLength(2);
    expect(recorder.failures).toHaveLength(0);
  });
});

/**
 * The host's rq_success / rq_error for the async client's requests: Envoy's async client runs
 * a router filter (AsyncStreamImpl's Router::ProdFilter), so the router's rules apply
 * (core/http/host-response-charge.ts), not the pool's "a complete response below 500".
 */
describe("AsyncClient: the host's rq_success / rq_error, as the router charges them", () => {
  const hostStats = (): { rqSuccess: number; rqError: number } => {
    const stats = proxy!.server.clusterManager.get("backend")!.hosts[0]!.stats;
    return { rqSuccess: stats.rqSuccess, rqError: stats.rqError };
  };

  test("a response cut after its headers stays the success its headers made it", async () => {
    proxy = await filterProxy([]);
    proxy.upstream.handler = (_req, res) => {
      res.writeHead(200, {});
      res.write("abc");
      proxy!.runtime.setTimeout(() => res.reset(), 1);
    };
    const recorder = new Recorder();
    new AsyncClient(proxy.server).send("backend", get("/"), undefined, recorder, { timeoutMs: 1000 });
    await proxy.runtime.settle(100);
    expect(recorder.failures).toEqual(["reset"]);
    expect(hostStats()).toEqual({ rqSuccess: 1, rqError: 0 });
  });

  test("a 409 retried by retriable_status_codes, then a 200: one rq_error (onUpstreamHeaders), one rq_success", async () => {
    proxy = await filterProxy([]);
    let seen = 0;
    // A bodyless 409: complete with its headers, a success by the pool's rule.
    proxy.upstream.handler = (_req, res) => res.respond(seen++ === 0 ? 409 : 200, "");
    const recorder = new Recorder();
    new AsyncClient(proxy.server).send("backend", get("/"), undefined, recorder, {
      timeoutMs: 5000,
      retryPolicy: { ...coreRetryPolicy(0).parse({ retry_on: "retriable-status-codes", num_retries: 1, retry_back_off: { base_interval: "0.01s" } }), retriableStatusCodes: [409] },
    });
    await proxy.runtime.settle(1000);
    expect(recorder.responses.map((r) => r.headers.status)).toEqual([200]);
    expect(hostStats()).toEqual({ rqSuccess: 1, rqError: 1 });
  });

  test("the request's timeout before any answer: an rq_error (chargeUpstreamAbort, 504)", async () => {
    proxy = await filterProxy([]);
    proxy.upstream.handler = () => {};
    const recorder = new Recorder();
    new AsyncClient(proxy.server).send("backend", get("/"), undefined, recorder, { timeoutMs: 100 });
    await proxy.runtime.settle(500);
    expect(recorder.responses.map((r) => r.headers.status)).toEqual([504]);
    expect(hostStats()).toEqual({ rqSuccess: 0, rqError: 1 });
  });
});
