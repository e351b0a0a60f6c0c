/**
 * The OpenTelemetry tracer on the memory runtime (deterministic clock and randomness), its
 * spans exported over OTLP/HTTP (http_service) to an in-memory collector: a flush when
 * tracing.opentelemetry.min_flush_spans (5) spans are in, else at
 * tracing.opentelemetry.flush_interval_ms; ids from the runtime's random bytes and the
 * memory wall clock's time in ns; spans_sent and timer_flushed.
 */
import { afterEach, describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import { Logger } from "../../../core/log.ts";
import { Server } from "../../../core/server.ts";
import { OpenTelemetryTracer } from "../../../core/tracing/opentelemetry.ts";
import { SpanKind, StatusCode } from "../../../core/tracing/otlp.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "../../memory/support/http-peers.ts";
import { decodeFields, hex, one, sub, subs, text } from "../../support/protobuf-fields.ts";
import { settleAsyncClient } from "../../support/settle-async-client.ts";

const PROXY = 10000;
const UPSTREAM = 8080;
const COLLECTOR = 4318;

let runtime: MemoryRuntime;
let server: Server;
let peers: MemoryHttpServer[] = [];
let collector: MemoryHttpServer;

afterEach(() => {
  for (const peer of peers) peer.close();
  peers = [];
});

/** The collector answers 200 while true; while false it takes requests and never answers. */
let collectorAnswers = true;

async function setup(layer: Record<string, number> = {}, exportTimeout = "1s"): Promise<void> {
  collectorAnswers = true;
  runtime = new MemoryRuntime({ seed: 7 });
  peers.push(await MemoryHttpServer.listen(runtime, UPSTREAM, (req, res) => res.respond(200, `ok ${req.path}`)));
  collector = await MemoryHttpServer.listen(runtime, COLLECTOR, (_, res) => {
    if (collectorAnswers) res.respond(200);
  });
  peers.push(collector);
  const config = {
    ...(httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [UPSTREAM], otlp: [COLLECTOR] },
      routes: [{ match: { prefix: "/" }, cluster: "backend" }],
      hcm: {
        tracing: {
          provider: {
            name: "envoy.tracers.opentelemetry",
            typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig", http_service: { http_uri: { uri: "http://collector/v1/traces", cluster: "otlp", timeout: exportTimeout } } },
          },
        },
      },
    }) as object),
    ...(Object.keys(layer).length > 0 ? { layered_runtime: { layers: [{ name: "static", static_layer: layer }] } } : {}),
  };
  server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "warn"));
  await server.start();
}

const stat = (name: string): number => (server.stats.get(name) as { value: number } | undefined)?.value ?? 0;

/** Let the tracer's lazily loaded client arrive, and what it sends run. */
const settle = (): Promise<void> => settleAsyncClient(runtime);

function request(path: string, headers: Record<string, string> = {}): MemoryHttpClient {
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request("GET", path, { headers });
  runtime.advance(1);
  return client;
}

/** Each POST's spans: [trace id, span id, start ns]. */
const exported = () =>
  collector.requests.map((post) =>
    subs(sub(subs(decodeFields(post.body), 1)[0]!, 2), 2).map((span) => [hex(one(span, 1)), hex(one(span, 2)), one(span, 7) as bigint, text(one(span, 5))] as const),
  );

describe("opentelemetry tracer", () => {
  test("five spans make one POST: ids as the upstream saw them, start times from the memory wall clock in ns", async () => {
    await setup();
    const clients = [0, 1, 2, 3].map((i) => request(`/r${i}`));
    await settle();
    expect(clients.every((c) => c.responses[0]?.status === 200)).toBe(true);
    expect(collector.requests).toHaveLength(0);
    request("/r4");
    await settle();
    expect(collector.requests).toHaveLength(1);
    const spans = exported()[0]!;
    expect(spans).toHaveLength(5);
    const seen = peers[0]!.requests.map((r) => /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(r.get("traceparent") ?? "")!.slice(1, 3));
    expect(spans.map(([traceId, spanId]) => [traceId, spanId])).toEqual(seen);
    // Every trace is new: five distinct 128-bit ids.
    expect(new Set(spans.map(([traceId]) => traceId)).size).toBe(5);
    // The memory runtime's wall clock starts at 2026-01-01T00:00:00Z.
    expect(spans[0]![2]).toBeGreaterThanOrEqual(BigInt(Date.UTC(2026, 0, 1)) * 1_000_000n);
    expect(spans[0]![3]).toBe("ingress");
    expect([stat("tracing.opentelemetry.spans_sent"), stat("tracing.opentelemetry.timer_flushed")]).toEqual([5, 0]);
  });

  test("fewer than min_flush_spans wait for flush_interval_ms; an empty buffer sends nothing", async () => {
    await setup({ "tracing.opentelemetry.flush_interval_ms": 1000 });
    request("/a");
    request("/b");
    await settle();
    expect(collector.requests).toHaveLength(0);
    runtime.advance(1000);
    await settle();
    expect(exported().map((spans) => spans.length)).toEqual([2]);
    expect([stat("tracing.opentelemetry.timer_flushed"), stat("tracing.opentelemetry.spans_sent")]).toEqual([1, 2]);
    runtime.advance(1000);
    await settle();
    expect(stat("tracing.opentelemetry.timer_flushed")).toBe(2);
    expect(collector.requests).toHaveLength(1);
  });

  test("a collector that never answers: 16 exports in flight, the rest dropped and counted; the default 10 s deadline frees them and exports resume", async () => {
    // http_uri.timeout 0: no deadline configured, the OTLP exporters' default 10 s applies.
    await setup({ "tracing.opentelemetry.min_flush_spans": 1, "tracing.opentelemetry.flush_interval_ms": 60_000 }, "0s");
    collectorAnswers = false;
    for (let i = 0; i < 18; i++) request(`/slow${i}`);
    await settle();
    expect(collector.requests).toHaveLength(16);
    expect([stat("tracing.opentelemetry.spans_sent"), stat("tracing.opentelemetry.spans_dropped")]).toEqual([16, 2]);
    collectorAnswers = true;
    runtime.advance(9_900);
    await settle();
    request("/still-full");
    await settle();
    expect(collector.requests).toHaveLength(16);
    expect(stat("tracing.opentelemetry.spans_dropped")).toBe(3);
    runtime.advance(200);
    await settle();
    request("/recovered");
    await settle();
    expect(collector.requests).toHaveLength(17);
    expect(exported()[16]!.map((span) => span[3])).toEqual(["ingress"]);
    expect([stat("tracing.opentelemetry.spans_sent"), stat("tracing.opentelemetry.spans_dropped")]).toEqual([17, 3]);
  });

  test("a collector that is down: its exports fail and count as sent (handed to the client); once it listens again they arrive", async () => {
    await setup({ "tracing.opentelemetry.min_flush_spans": 1 });
    collector.close();
    peers = peers.filter((peer) => peer !== collector);
    request("/down");
    await settle();
    expect(stat("tracing.opentelemetry.spans_sent")).toBe(1);
    collector = await MemoryHttpServer.listen(runtime, COLLECTOR, (_, res) => res.respond(200));
    peers.push(collector);
    request("/up");
    await settle();
    expect(exported().map((spans) => spans.length)).toEqual([1]);
    expect([stat("tracing.opentelemetry.spans_sent"), stat("tracing.opentelemetry.spans_dropped")]).toEqual([2, 0]);
  });

  test("at most 10,000 spans wait in the buffer: the excess is dropped and counted", async () => {
    await setup({ "tracing.opentelemetry.min_flush_spans": 1_000_000, "tracing.opentelemetry.flush_interval_ms": 60_000 });
    const tracer = new OpenTelemetryTracer(server, { httpService: { cluster: "otlp", authority: "collector", path: "/v1/traces", timeoutMs: 1000, headers: [] }, timeoutMs: 0, serviceName: "s", alwaysOnSampler: false }, false, false);
    const span = { traceId: "1".repeat(32), spanId: "2".repeat(16), parentSpanId: "", traceState: "", name: "n", kind: SpanKind.Server, startTimeUnixNano: 0n, endTimeUnixNano: 0n, attributes: new Map<string, string>(), status: StatusCode.Unset };
    for (let i = 0; i < 10_002; i++) tracer.sendSpan(span);
    expect(tracer.pendingSpans).toBe(10_000);
    expect(stat("tracing.opentelemetry.spans_dropped")).toBe(2);
    await settle();
    tracer.flushSpans();
    await settle();
    expect(exported().map((spans) => spans.length)).toEqual([10_000]);
    expect(stat("tracing.opentelemetry.spans_sent")).toBe(10_000);
    tracer.stop();
  });

  test("a listener from LDS tags its spans with the server's node id and zone (LocalInfo read when the span is made)", async () => {
    runtime = new MemoryRuntime({ seed: 7 });
    peers.push(await MemoryHttpServer.listen(runtime, UPSTREAM, (_, res) => res.respond(200)));
    collector = await MemoryHttpServer.listen(runtime, COLLECTOR, (_, res) => res.respond(200));
    peers.push(collector);
    const base = httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [UPSTREAM], otlp: [COLLECTOR] },
      routes: [{ match: { prefix: "/" }, cluster: "backend" }],
      hcm: {
        tracing: {
          provider: {
            name: "envoy.tracers.opentelemetry",
            typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig", http_service: { http_uri: { uri: "http://collector/v1/traces", cluster: "otlp", timeout: "1s" } } },
          },
        },
      },
    }) as { static_resources: { listeners: object[]; clusters: object[] } };
    const listeners = base.static_resources.listeners.map((l) => ({ "@type": "type.googleapis.com/envoy.config.listener.v3.Listener", ...l }));
    runtime.files.set("/lds.json", JSON.stringify({ resources: listeners }));
    const config = {
      node: { id: "node-7", cluster: "front", locality: { zone: "zone-b" } },
      static_resources: { clusters: base.static_resources.clusters },
      dynamic_resources: { lds_config: { path_config_source: { path: "/lds.json" }, resource_api_version: "V3" } },
      layered_runtime: { layers: [{ name: "static", static_layer: { "tracing.opentelemetry.min_flush_spans": 1 } }] },
    };
    server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "warn"));
    await server.start();
    await settle();
    request("/lds");
    await settle();
    expect(peers[0]!.requests).toHaveLength(1);
    const span = subs(sub(subs(decodeFields(collector.requests[0]!.body), 1)[0]!, 2), 2)[0]!;
    // Span.attributes (9): KeyValue {key 1, value AnyValue {string_value 1}}.
    const attributes = new Map(subs(span, 9).map((kv) => [text(one(kv, 1)), text(one(sub(kv, 2), 1))]));
    expect([attributes.get("node_id"), attributes.get("zone")]).toEqual(["node-7", "zone-b"]);
  });
});
