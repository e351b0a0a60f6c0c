/**
 * The zipkin tracer on the memory runtime (deterministic clock and randomness): the JSON
 * v2 span as Envoy's JsonV2Serializer writes it, and the reporter's flushes (min_flush_spans,
 * the flush timer), the collector's answers as tracing.zipkin.* stats.
 */
import { afterEach, describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import { Logger } from "../../../core/log.ts";
import { Server } from "../../../core/server.ts";
import { createReadFilterFactory } from "../../../core/network/network-filter-registry.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "../../memory/support/http-peers.ts";
import { settleAsyncClient } from "../../support/settle-async-client.ts";

const PROXY = 10000;
const UPSTREAM = 8080;
const COLLECTOR = 9411;

let runtime: MemoryRuntime;
let server: Server;
let peers: MemoryHttpServer[] = [];
let collector: MemoryHttpServer | undefined;

afterEach(() => {
  for (const peer of peers) peer.close();
  peers = [];
  collector = undefined;
});

async function setup(options: { collectorStatus?: number; collectorSilent?: boolean; runtime?: Record<string, number>; zipkin?: Record<string, unknown> } = {}): Promise<void> {
  runtime = new MemoryRuntime({ seed: 7 });
  peers.push(await MemoryHttpServer.listen(runtime, UPSTREAM, (req, res) => res.respond(200, `ok ${req.path}`)));
  if (options.collectorStatus !== undefined) {
    const status = options.collectorStatus;
    collector = await MemoryHttpServer.listen(runtime, COLLECTOR, (_, res) => res.respond(status));
    peers.push(collector);
  }
  if (options.collectorSilent) {
    // Takes each report and never answers.
    collector = await MemoryHttpServer.listen(runtime, COLLECTOR, () => {});
    peers.push(collector);
  }
  const config = {
    ...(httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [UPSTREAM], zipkin: [COLLECTOR] },
      routes: [{ match: { prefix: "/" }, cluster: "backend" }],
      hcm: {
        tracing: {
          provider: {
            name: "envoy.tracers.zipkin",
            typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig", collector_cluster: "zipkin", collector_endpoint: "/api/v2/spans", collector_endpoint_version: "HTTP_JSON", ...options.zipkin },
          },
        },
      },
    }) as object),
    node: { id: "n1", cluster: "svc" },
    ...(options.runtime ? { layered_runtime: { layers: [{ name: "static", static_layer: options.runtime }] } } : {}),
  };
  server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "warn"));
  await server.start();
}

const stat = (name: string): number => (server.stats.get(name) as { value: number } | undefined)?.value ?? 0;

/** Let the reporter's lazily loaded async client arrive, and what it sends run. */
const settle = (): Promise<void> => settleAsyncClient(runtime);

function request(path: string, headers: Record<string, string> = {}): MemoryHttpClient {
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request("GET", path, { headers });
  runtime.advance(1);
  return client;
}

const posted = () => (collector?.requests ?? []).map((r) => JSON.parse(r.text()) as Record<string, unknown>[]);

describe("zipkin reporter", () => {
  test("a span's JSON: ids from the runtime's random bytes, µs from its clocks, Envoy's tags; five spans make a POST", async () => {
    await setup({ collectorStatus: 202 });
    const clients = [0, 1, 2, 3, 4].map((i) => request(`/r${i}`, { "x-request-id": `0000000${i}-0000-4000-8000-000000000000`, "user-agent": "ua" }));
    expect(clients.every((c) => c.responses[0]?.status === 200)).toBe(true);
    await settle();
    expect(collector!.requests).toHaveLength(1);
    const post = collector!.requests[0]!;
    expect([post.method, post.path, post.get("content-type"), post.get("host")]).toEqual(["POST", "/api/v2/spans", "application/json", "zipkin"]);
    const spans = posted()[0]!;
    expect(spans).toHaveLength(5);
    const first = spans[0]!;
    const upstreamSaw = peers[0]!.requests[0]!;
    expect(first).toMatchObject({ traceId: upstreamSaw.get("x-b3-traceid"), id: upstreamSaw.get("x-b3-spanid"), kind: "SERVER", shared: true, name: "example.com", localEndpoint: { serviceName: "svc" } });
    expect(first.id).toMatch(/^[0-9a-f]{16}$/);
    expect(Number.isInteger(first.timestamp) && Number.isInteger(first.duration)).toBe(true);
    // The memory runtime's wall clock starts at 2026-01-01T00:00:00Z.
    expect(first.timestamp).toBeGreaterThanOrEqual(Date.UTC(2026, 0, 1) * 1000);
    // The SS annotation finishing adds (span_buffer.cc keeps it; SR became kind and timestamp).
    expect(first.annotations).toEqual([{ timestamp: (first.timestamp as number) + (first.duration as number), value: "ss" }]);
    expect(first.tags).toEqual({
      component: "proxy",
      downstream_cluster: "-",
      "guid:x-request-id": "00000000-0000-a000-8000-000000000000",
      "http.method": "GET",
      "http.protocol": "HTTP/1.1",
      "http.status_code": "200",
      "http.url": "http://example.com/r0",
      node_id: "n1",
      "peer.address": expect.any(String),
      request_size: "0",
      response_flags: "-",
      response_size: "6",
      upstream_address: `127.0.0.1:${UPSTREAM}`,
      upstream_cluster: "backend",
      "upstream_cluster.name": "backend",
      user_agent: "ua",
    });
    expect([stat("tracing.zipkin.spans_sent"), stat("tracing.zipkin.reports_sent"), stat("tracing.zipkin.timer_flushed")]).toEqual([5, 1, 0]);
  });

  test("fewer than min_flush_spans wait for the flush timer (flush_interval_ms); a collector's non-202 counts reports_dropped", async () => {
    await setup({ collectorStatus: 500, runtime: { "tracing.zipkin.flush_interval_ms": 1000 } });
    request("/a");
    request("/b");
    await settle();
    expect(collector!.requests).toHaveLength(0);
    runtime.advance(1000);
    await settle();
    expect(posted().map((spans) => spans.length)).toEqual([2]);
    expect([stat("tracing.zipkin.timer_flushed"), stat("tracing.zipkin.spans_sent"), stat("tracing.zipkin.reports_dropped"), stat("tracing.zipkin.reports_sent")]).toEqual([1, 2, 1, 0]);
    // The timer goes on: an empty buffer sends nothing.
    runtime.advance(1000);
    await settle();
    expect(stat("tracing.zipkin.timer_flushed")).toBe(2);
    expect(collector!.requests).toHaveLength(1);
  });

  test("a collector that never answers: 16 reports in flight, the rest dropped and counted; request_timeout (a 504, dropped) frees them and reports resume", async () => {
    await setup({ collectorSilent: true, runtime: { "tracing.zipkin.min_flush_spans": 1 } });
    // The first report also waits for the HTTP client's load (what is flushed meanwhile goes with it).
    request("/first");
    await settle();
    for (let i = 0; i < 17; i++) request(`/slow${i}`);
    await settle();
    expect(collector!.requests).toHaveLength(16);
    expect([stat("tracing.zipkin.spans_sent"), stat("tracing.zipkin.reports_dropped")]).toEqual([16, 2]);
    runtime.advance(5000);
    await settle();
    // The async client's timeout is a 504 answer (Envoy's AsyncStreamImpl): reports_dropped.
    expect([stat("cluster.zipkin.upstream_rq_timeout"), stat("tracing.zipkin.reports_dropped")]).toEqual([16, 18]);
    request("/recovered");
    await settle();
    expect(collector!.requests).toHaveLength(17);
    expect(stat("tracing.zipkin.spans_sent")).toBe(17);
  });

  test("not sampled (x-b3-sampled: 0): propagated, never reported", async () => {
    await setup({ collectorStatus: 202, runtime: { "tracing.zipkin.min_flush_spans": 1 } });
    request("/quiet", { "x-b3-traceid": "463ac35c9f6413ad", "x-b3-spanid": "a2fb4a1d1a96d312", "x-b3-sampled": "0" });
    await settle();
    expect(peers[0]!.requests[0]!.get("x-b3-sampled")).toBe("0");
    expect(collector!.requests).toHaveLength(0);
    expect(stat("tracing.zipkin.spans_sent")).toBe(0);
  });

  test("a listener removed: the spans its HCM left are sent at once and its flush timer stops", async () => {
    await setup({ collectorStatus: 202, runtime: { "tracing.zipkin.flush_interval_ms": 10_000_000 } });
    request("/a").socket.close();
    request("/b").socket.close();
    await settle();
    expect(collector!.requests).toHaveLength(0);
    (server as unknown as { listenerManager: { removeListener(name: string): boolean } }).listenerManager.removeListener("http");
    runtime.advance(1_000_000);
    await settle();
    expect(posted().map((spans) => spans.length)).toEqual([2]);
    runtime.advance(20_000_000);
    await settle();
    expect(stat("tracing.zipkin.timer_flushed")).toBe(0);
  });

  test("spans finished while the async client is still loading are all sent (min_flush_spans 1: none dropped for a full buffer)", async () => {
    await setup({ collectorStatus: 202, runtime: { "tracing.zipkin.min_flush_spans": 1 } });
    request("/a");
    request("/b");
    request("/c");
    await settle();
    expect(posted().flat()).toHaveLength(3);
    expect(stat("tracing.zipkin.spans_sent")).toBe(3);
  });

  test("a 5xx is an error: a connection refused upstream gives error, response_flags UF and http.status_code 503", async () => {
    await setup({ collectorStatus: 202, runtime: { "tracing.zipkin.min_flush_spans": 1 } });
    peers[0]!.close();
    request("/down");
    runtime.advance(100);
    await settle();
    const [span] = posted().flat();
    expect(span!.tags).toMatchObject({ error: "true", response_flags: "UF", "http.status_code": "503", upstream_cluster: "backend" });
  });

  test("an HCM built later (LDS) whose collector_cluster does not exist is refused, as Envoy's Driver checks it (a static one is refused at load)", async () => {
    await setup({ collectorStatus: 202 });
    const listener = server.bootstrap.listeners[0]!;
    const hcm = listener.filterChains[0]!.filters[0]!;
    if (hcm.type !== "envoy.filters.network.http_connection_manager" || hcm.config.tracing?.zipkin === undefined) throw new Error("no zipkin HCM");
    expect(() => createReadFilterFactory(hcm, server)).not.toThrow();
    const other = { ...hcm, config: { ...hcm.config, tracing: { ...hcm.config.tracing, zipkin: { ...hcm.config.tracing.zipkin, collectorCluster: "nope" } } } };
    expect(() => createReadFilterFactory(other, server)).toThrow("envoy.tracers.zipkin: unknown cluster 'nope'");
  });
});
