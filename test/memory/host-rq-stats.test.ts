/**
 * A host's rq_success / rq_error as Envoy's router charges them (source/common/router/router.cc:
 * onUpstreamHeaders → chargeUpstreamCode and handleNon5xxResponseHeaders, onUpstreamData,
 * onUpstreamTrailers, chargeUpstreamAbort), through a whole proxy on the memory runtime with an
 * HTTP/1 and an HTTP/2 upstream. A response is judged by its headers: below 500 it is a
 * success, then and there — a reset after them changes nothing — but a gRPC call's success
 * waits for its grpc-status (trailers-only headers, else the trailers), and a reset before
 * those is an rq_error (with the router's rq_reset_after_downstream_response_started).
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { HCM_WITH_TRAILERS, HTTP1_CLUSTER_WITH_TRAILERS, httpProxyConfig } from "../support/configs.ts";
import { type H2Exchange, MemoryH2Server } from "./support/h2-peers.ts";
import { MemoryHttpClient, MemoryHttpServer, type UpstreamResponse } from "./support/http-peers.ts";
import { startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;
const GRPC = { "content-type": "application/grpc" };
const HTTP2_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const HTTP2_CLUSTER = {
  typed_extension_protocol_options: {
    [HTTP2_OPTIONS]: { "@type": `type.googleapis.com/${HTTP2_OPTIONS}`, explicit_http_config: { http2_protocol_options: {} } },
  },
};

/** How the upstream answers, the same on either protocol. */
type Answer =
  | { kind: "reset-after-headers"; status: number }
  | { kind: "complete"; status: number; headers?: Record<string, string>; trailers?: Record<string, string> }
  | { kind: "data-end"; status: number };

let runtime: MemoryRuntime;
let server: Server;
let closeUpstream: (() => void) | undefined;

afterEach(() => {
  closeUpstream?.();
  closeUpstream = undefined;
});

async function proxy(protocol: "http1" | "http2", answer: Answer): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  if (protocol === "http1") {
    const upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (_req, res) => answerHttp1(res, answer));
    closeUpstream = () => upstream.close();
  } else {
    const upstream = await MemoryH2Server.listen(runtime, UPSTREAM, {});
    upstream.onRequest = (ex) => {
      const headers = [":status", String(answer.status), ...Object.entries(answer.kind === "complete" ? (answer.headers ?? {}) : {}).flat()];
      if (answer.kind === "reset-after-headers") {
        ex.stream.sendHeaders(headers, false);
        ex.stream.sendData(new TextEncoder().encode("abc"), false);
        runtime.setTimeout(() => ex.stream.reset(), 1);
      } else if (answer.kind === "data-end") {
        ex.stream.sendHeaders(headers, false);
        ex.stream.sendData(new TextEncoder().encode("abc"), true);
      } else if (answer.trailers !== undefined) {
        ex.stream.sendHeaders(headers, false);
        ex.stream.sendData(new TextEncoder().encode("abc"), false);
        ex.stream.sendTrailers(Object.entries(answer.trailers).flat());
      } else {
        ex.stream.sendHeaders(headers, true);
      }
    };
    closeUpstream = () => upstream.close();
  }
  const clusterExtra = protocol === "http1" ? HTTP1_CLUSTER_WITH_TRAILERS : HTTP2_CLUSTER;
  server = await startProxy(runtime, httpProxyConfig({ listenPort: PROXY, clusters: { backend: [UPSTREAM] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], clusterExtra, hcm: HCM_WITH_TRAILERS }));
}

function answerHttp1(res: UpstreamResponse, answer: Answer): void {
  if (answer.kind === "reset-after-headers") {
    res.writeHead(answer.status, { ...GRPC });
    res.write("abc");
    runtime.setTimeout(() => res.reset(), 1);
  } else if (answer.kind === "data-end") {
    res.writeHead(answer.status, { ...GRPC, "content-length": "3" });
    res.end("abc");
  } else if (answer.trailers !== undefined) {
    res.writeHead(answer.status, { ...GRPC, ...answer.headers });
    res.write("abc");
    res.end(undefined, answer.trailers);
  } else {
    res.respond(answer.status, "", { ...GRPC, ...answer.headers });
  }
}

/** One call through the proxy, gRPC or not by its content-type; the host's counters after it. */
function call(grpc: boolean): { rqSuccess: number; rqError: number } {
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request("POST", "/svc/Method", { headers: grpc ? { ...GRPC, te: "trailers" } : {}, body: "x" });
  runtime.advance(50);
  const stats = server.clusterManager.get("backend")!.hosts[0]!.stats;
  return { rqSuccess: stats.rqSuccess, rqError: stats.rqError };
}

function resetAfterStarted(): number | undefined {
  return (server.stats.get("http.ingress_http.rq_reset_after_downstream_response_started") as { value: number } | undefined)?.value;
}

describe.each(["http1", "http2"] as const)("a host's rq_success / rq_error, as Envoy's router charges them (%s upstream)", (protocol) => {
  test("a gRPC call reset after its response headers, before its trailers: an rq_error (chargeUpstreamAbort, grpcRqSuccessDeferred)", async () => {
    await proxy(protocol, { kind: "reset-after-headers", status: 200 });
    expect(call(true)).toEqual({ rqSuccess: 0, rqError: 1 });
    expect(resetAfterStarted()).toBe(1);
  });

  test("any other response reset after its headers stays the success its headers made it (handleNon5xxResponseHeaders)", async () => {
    await proxy(protocol, { kind: "reset-after-headers", status: 200 });
    expect(call(false)).toEqual({ rqSuccess: 1, rqError: 0 });
    expect(resetAfterStarted()).toBe(0);
  });

  test("a 5xx reset after its headers: one rq_error, for its code (chargeUpstreamCode)", async () => {
    await proxy(protocol, { kind: "reset-after-headers", status: 503 });
    expect(call(false)).toEqual({ rqSuccess: 0, rqError: 1 });
  });

  test("a gRPC call ended by its body without trailers: an rq_error (onUpstreamData)", async () => {
    await proxy(protocol, { kind: "data-end", status: 200 });
    expect(call(true)).toEqual({ rqSuccess: 0, rqError: 1 });
  });

  test.each([
    ["0 (OK)", "0", { rqSuccess: 1, rqError: 0 }],
    ["5 (NOT_FOUND, a 404)", "5", { rqSuccess: 1, rqError: 0 }],
    ["14 (UNAVAILABLE, a 503)", "14", { rqSuccess: 0, rqError: 1 }],
    ["13 (INTERNAL, a 500)", "13", { rqSuccess: 0, rqError: 1 }],
  ])("a gRPC call's trailers carrying grpc-status %s (onUpstreamTrailers)", async (_name, status, expected) => {
    await proxy(protocol, { kind: "complete", status: 200, trailers: { "grpc-status": status } });
    expect(call(true)).toEqual(expected);
  });

  test.each([
    ["0", "0", { rqSuccess: 1, rqError: 0 }],
    ["14", "14", { rqSuccess: 0, rqError: 1 }],
  ])("a trailers-only gRPC answer with grpc-status %s (handleNon5xxResponseHeaders)", async (_name, status, expected) => {
    await proxy(protocol, { kind: "complete", status: 200, headers: { "grpc-status": status } });
    expect(call(true)).toEqual(expected);
  });
});

/**
 * The router's charges for attempts that end without an answer (router.cc: onUpstreamReset →
 * chargeUpstreamAbort, maybeRetryReset, onResponseTimeout, onPerTryTimeoutCommon) and its
 * dynamic_stats switch (chargeUpstreamCode). `answers` says, per request the upstream sees,
 * whether it answers with a status, resets the connection, or hangs.
 */
describe("a host's rq_success / rq_error for attempts that end without an answer", () => {
  const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

  async function failingProxy(options: {
    answers?: Array<number | "reset" | "hang">;
    route?: Record<string, unknown>;
    dynamicStats?: boolean;
  }): Promise<void> {
    runtime = new MemoryRuntime({ seed: 1 });
    if (options.answers !== undefined) {
      let seen = 0;
      const answers = options.answers;
      const upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (_req, res) => {
        const answer = answers[Math.min(seen++, answers.length - 1)]!;
        if (answer === "reset") res.reset();
        else if (answer !== "hang") res.respond(answer, "ok");
      });
      closeUpstream = () => upstream.close();
    }
    // use_remote_address: the memory client's loopback address makes its requests internal,
    // which keep their x-envoy-upstream-rq-timeout-alt-response (cleanInternalHeaders).
    const hcm = {
      use_remote_address: true,
      ...(options.dynamicStats === false ? { http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER, dynamic_stats: false } }] } : {}),
    };
    server = await startProxy(
      runtime,
      httpProxyConfig({
        listenPort: PROXY,
        clusters: { backend: [UPSTREAM] },
        routes: [{ match: { prefix: "/" }, cluster: "backend", action: { route: { cluster: "backend", ...options.route } } }],
        hcm,
      }),
    );
  }

  function get(headers: Record<string, string> = {}): { rqSuccess: number; rqError: number } {
    new MemoryHttpClient(runtime, PROXY).request("GET", "/", { headers });
    runtime.advance(3000);
    const stats = server.clusterManager.get("backend")!.hosts[0]!.stats;
    return { rqSuccess: stats.rqSuccess, rqError: stats.rqError };
  }

  test("a refused connection: an rq_error (onUpstreamReset → chargeUpstreamAbort, 503)", async () => {
    await failingProxy({});
    expect(get()).toEqual({ rqSuccess: 0, rqError: 1 });
  });

  test("a reset retried by retry_on: reset, then a 200: one rq_error (maybeRetryReset), one rq_success", async () => {
    await failingProxy({ answers: ["reset", 200], route: { retry_policy: { retry_on: "reset", num_retries: 1 } } });
    expect(get()).toEqual({ rqSuccess: 1, rqError: 1 });
  });

  test("a per-try timeout retried, then a 200: one rq_error (maybeRetryReset), one rq_success", async () => {
    await failingProxy({ answers: ["hang", 200], route: { retry_policy: { retry_on: "reset", num_retries: 1, per_try_timeout: "0.1s" } } });
    expect(get()).toEqual({ rqSuccess: 1, rqError: 1 });
  });

  test("the route timeout, answered 504: an rq_error (onResponseTimeout → chargeUpstreamAbort)", async () => {
    await failingProxy({ answers: ["hang"], route: { timeout: "0.1s" } });
    expect(get()).toEqual({ rqSuccess: 0, rqError: 1 });
  });

  test("the route timeout answered with the alternative 204, dynamic stats off: still an rq_error (chargeUpstreamAbort: a code below 500)", async () => {
    await failingProxy({ answers: ["hang"], route: { timeout: "0.1s" }, dynamicStats: false });
    expect(get({ "x-envoy-upstream-rq-timeout-alt-response": "true" })).toEqual({ rqSuccess: 0, rqError: 1 });
  });

  test("a 503 with dynamic stats off: neither (chargeUpstreamCode charges rq_error only with the dynamic stats)", async () => {
    await failingProxy({ answers: [503], dynamicStats: false });
    expect(get()).toEqual({ rqSuccess: 0, rqError: 0 });
  });

  test("a reused keep-alive connection cut under a GET, sent again on a new one: the cut attempt an rq_error (as maybeRetryReset)", async () => {
    await failingProxy({ answers: [200, "reset", 200] });
    expect(get()).toEqual({ rqSuccess: 1, rqError: 0 });
    expect(get()).toEqual({ rqSuccess: 2, rqError: 1 });
    expect(server.clusterManager.get("backend")!.hosts[0]!.stats.rqTotal).toBe(3);
    expect((server.stats.get("cluster.backend.upstream_rq_retry") as { value: number }).value).toBe(1);
  });

  test("a 503 with dynamic stats on: an rq_error", async () => {
    await failingProxy({ answers: [503] });
    expect(get()).toEqual({ rqSuccess: 0, rqError: 1 });
  });
});

/**
 * A mirror's host is charged by the router's rules too (Envoy's shadow runs through the async
 * client's router filter): the routed host and the mirrored one count the same answer alike.
 */
describe("a mirror's host rq_success / rq_error, as the router charges them", () => {
  const SHADOW = 8081;

  async function mirrored(answer: (stream: H2Exchange["stream"]) => void): Promise<void> {
    runtime = new MemoryRuntime({ seed: 1 });
    const peers: MemoryH2Server[] = [];
    for (const port of [UPSTREAM, SHADOW]) {
      const upstream = await MemoryH2Server.listen(runtime, port, {});
      upstream.onRequest = (ex) => answer(ex.stream);
      peers.push(upstream);
    }
    closeUpstream = () => peers.forEach((peer) => peer.close());
    server = await startProxy(
      runtime,
      httpProxyConfig({
        listenPort: PROXY,
        clusters: { backend: [UPSTREAM], shadow: [SHADOW] },
        routes: [{ match: { prefix: "/" }, cluster: "backend", action: { route: { cluster: "backend", request_mirror_policies: [{ cluster: "shadow" }] } } }],
        clusterExtra: HTTP2_CLUSTER,
        hcm: HCM_WITH_TRAILERS,
      }),
    );
  }

  function counts(grpc: boolean): Record<string, { rqSuccess: number; rqError: number }> {
    new MemoryHttpClient(runtime, PROXY).request("POST", "/svc/Method", { headers: grpc ? { ...GRPC, te: "trailers" } : {}, body: "x" });
    runtime.advance(50);
    const of = (cluster: string) => {
      const stats = server.clusterManager.get(cluster)!.hosts[0]!.stats;
      return { rqSuccess: stats.rqSuccess, rqError: stats.rqError };
    };
    return { backend: of("backend"), shadow: of("shadow") };
  }

  test("a gRPC 200 whose trailers carry grpc-status 14: an rq_error on both", async () => {
    await mirrored((stream) => {
      stream.sendHeaders([":status", "200", "content-type", "application/grpc"], false);
      stream.sendData(new TextEncoder().encode("abc"), false);
      stream.sendTrailers(["grpc-status", "14"]);
    });
    expect(counts(true)).toEqual({ backend: { rqSuccess: 0, rqError: 1 }, shadow: { rqSuccess: 0, rqError: 1 } });
  });

  test("a response reset after its headers: the success its headers made it, on both", async () => {
    await mirrored((stream) => {
      stream.sendHeaders([":status", "200"], false);
      stream.sendData(new TextEncoder().encode("abc"), false);
      runtime.setTimeout(() => stream.reset(), 1);
    });
    expect(counts(false)).toEqual({ backend: { rqSuccess: 1, rqError: 0 }, shadow: { rqSuccess: 1, rqError: 0 } });
  });
});
