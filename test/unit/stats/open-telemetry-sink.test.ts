/**
 * envoy.stat_sinks.open_telemetry without sockets (core/stats/otlp-metrics-flusher.ts,
 * open-telemetry-sink.ts): the ExportMetricsServiceRequest a flush makes of a stats store,
 * decoded with @grpc/proto-loader from (a subset of) opentelemetry-proto — the resource,
 * used stats only, gauges, counters as monotonic Sums (cumulative or delta), histograms with
 * explicit bounds (cumulative or delta), tag-extracted names, tags as attributes, the prefix,
 * the points' times by temporality — and the sink: one unary Export per flush, failures
 * dropped, a bound on calls in flight that cancels the oldest and loses none of its deltas,
 * the final flush sent past it; the config's checks and the refusal under worker processes.
 */
import { describe, expect, test } from "vitest";
import { TagExtractor } from "../../../core/admin/tag-extractor.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { Logger } from "../../../core/log.ts";
import type { GrpcUnaryCallbacks } from "../../../core/http/grpc-async-client.ts";
import { DEFAULT_BUCKETS } from "../../../core/stats/histogram.ts";
import { OtlpMetricsFlusher, type OtlpMetricsOptions } from "../../../core/stats/otlp-metrics-flusher.ts";
import { MAX_EXPORTS_IN_FLIGHT, OpenTelemetrySink, OTLP_METRICS_EXPORT_METHOD, toUnixNano } from "../../../core/stats/open-telemetry-sink.ts";
import { OTLP_SINK_RESOURCE } from "../../../core/stats/stats-sinks.ts";
import type { MetricSnapshot } from "../../../core/stats/sink.ts";
import { Counter } from "../../../core/stats/counter.ts";
import { Gauge } from "../../../core/stats/gauge.ts";
import { Histogram } from "../../../core/stats/histogram.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { ProtoWriter } from "../../../core/util/protobuf-wire.ts";
import { findMetric, intValue, metricsOf, otlpMetricsCodec } from "../../support/otlp-metrics-server.ts";

const codec = otlpMetricsCodec();
const OPTIONS: OtlpMetricsOptions = { reportCountersAsDeltas: false, reportHistogramsAsDeltas: false, emitTagsAsAttributes: true, useTagExtractedName: true, prefix: "" };
/** The sink's creation: every CUMULATIVE point's start. */
const CREATED = 1_764_000_000_000_000_000n;
const START = 1_765_000_000_000_000_000n;
const TIME = 1_765_000_005_000_000_000n;

/** What the server's flush hands the sinks: every counter latched. */
function snapshotOf(store: StatsStore): MetricSnapshot {
  const counters: { counter: Counter; delta: number }[] = [];
  const gauges: Gauge[] = [];
  const histograms: Histogram[] = [];
  for (const stat of store.values()) {
    if (stat instanceof Counter) counters.push({ counter: stat, delta: stat.latch() });
    else if (stat instanceof Gauge) gauges.push(stat);
    else histograms.push(stat);
  }
  return { counters, gauges, histograms };
}

const flusherWith = (options: Partial<OtlpMetricsOptions> = {}): OtlpMetricsFlusher => new OtlpMetricsFlusher({ ...OPTIONS, ...options }, new TagExtractor(undefined), OTLP_SINK_RESOURCE);
/** One flush's request at `time`: DELTA points from `deltaStart` (the last flush), CUMULATIVE ones from CREATED. */
const encode = (flusher: OtlpMetricsFlusher, snapshot: MetricSnapshot, deltaStart: bigint, time: bigint): Uint8Array => flusher.flush(snapshot, deltaStart, CREATED, time).request;

describe("OtlpMetricsFlusher: one flush as an ExportMetricsServiceRequest", () => {
  test("one ResourceMetrics with Envoy's resource attributes; used stats only, gauges then counters then histograms", () => {
    const store = new StatsStore();
    store.counter("cluster.backend.upstream_rq_total").inc(3);
    store.counter("cluster.backend.upstream_rq_timeout");
    store.gauge("server.live").set(1);
    store.gauge("cluster.backend.upstream_cx_active");
    store.histogram("cluster.backend.upstream_rq_time").record(7);
    const request = codec.decode(encode(flusherWith(), snapshotOf(store), START, TIME));
    expect(request.resource_metrics).toHaveLength(1);
    expect(request.resource_metrics![0]!.scope_metrics).toHaveLength(1);
    expect(request.resource_metrics![0]!.resource!.attributes).toEqual([
      { key: "telemetry.sdk.language", value: { string_value: "cpp" } },
      { key: "telemetry.sdk.name", value: { string_value: "envoy" } },
      { key: "telemetry.sdk.version", value: { string_value: expect.any(String) } },
    ]);
    const metrics = metricsOf(request);
    expect(metrics.map((m) => m.name)).toEqual(["server.live", "cluster.upstream_rq_total", "cluster.upstream_rq_time"]);
    expect(metrics.map((m) => (m.gauge ? "gauge" : m.sum ? "sum" : m.histogram ? "histogram" : "?"))).toEqual(["gauge", "sum", "histogram"]);
  });

  test("no used stat: an empty request, with no ResourceMetrics (as Envoy's getResourceMetrics)", () => {
    const store = new StatsStore();
    store.counter("cluster.backend.upstream_rq_total");
    store.gauge("server.live");
    expect(encode(flusherWith(), snapshotOf(store), START, TIME)).toEqual(new Uint8Array(0));
  });

  test("counters: monotonic Sums, cumulative by default (every point from the sink's creation), deltas with report_counters_as_deltas (each from the last flush)", () => {
    const store = new StatsStore();
    const rq = store.counter("cluster.backend.upstream_rq_total");
    rq.inc(3);
    const cumulative = flusherWith();
    const deltas = flusherWith({ reportCountersAsDeltas: true });
    let snapshot = snapshotOf(store);
    const first = codec.decode(encode(cumulative, snapshot, START, TIME));
    const firstDelta = codec.decode(encode(deltas, snapshot, START, TIME));
    rq.inc(4);
    snapshot = snapshotOf(store);
    const second = codec.decode(encode(cumulative, snapshot, TIME, TIME + 5n));
    const secondDelta = codec.decode(encode(deltas, snapshot, TIME, TIME + 5n));
    const sum = findMetric(first, "cluster.upstream_rq_total")!.sum!;
    expect(sum.is_monotonic).toBe(true);
    expect(sum.aggregation_temporality).toBe("AGGREGATION_TEMPORALITY_CUMULATIVE");
    // Envoy's setCommonFields: a CUMULATIVE point starts at proxy_start_time_ns_, at every flush
    // (a start that moved would tell the collector the series was reset).
    expect(sum.data_points![0]!.start_time_unix_nano).toBe(CREATED.toString());
    expect(sum.data_points![0]!.time_unix_nano).toBe(TIME.toString());
    expect(findMetric(second, "cluster.upstream_rq_total")!.sum!.data_points![0]).toMatchObject({ start_time_unix_nano: CREATED.toString(), time_unix_nano: (TIME + 5n).toString() });
    expect([intValue(findMetric(first, "cluster.upstream_rq_total")), intValue(findMetric(second, "cluster.upstream_rq_total"))]).toEqual([3, 7]);
    expect(findMetric(firstDelta, "cluster.upstream_rq_total")!.sum!.aggregation_temporality).toBe("AGGREGATION_TEMPORALITY_DELTA");
    expect([intValue(findMetric(firstDelta, "cluster.upstream_rq_total")), intValue(findMetric(secondDelta, "cluster.upstream_rq_total"))]).toEqual([3, 4]);
    expect(findMetric(firstDelta, "cluster.upstream_rq_total")!.sum!.data_points![0]!.start_time_unix_nano).toBe(START.toString());
    expect(findMetric(secondDelta, "cluster.upstream_rq_total")!.sum!.data_points![0]!.start_time_unix_nano).toBe(TIME.toString());
  });

  test("a counter that gained nothing still goes, at 0 (as_int is a oneof member); gauges as Gauge points, with no start time", () => {
    const store = new StatsStore();
    store.counter("cluster.backend.upstream_rq_total").inc(2);
    store.gauge("cluster.backend.upstream_cx_active").set(5);
    const flusher = flusherWith({ reportCountersAsDeltas: true });
    encode(flusher, snapshotOf(store), START, TIME);
    const bytes = encode(flusher, snapshotOf(store), TIME, TIME + 1n);
    const request = codec.decode(bytes);
    const counter = findMetric(request, "cluster.upstream_rq_total")!;
    expect(counter.sum!.data_points![0]!.as_int).toBe("0");
    const gauge = findMetric(request, "cluster.upstream_cx_active")!;
    expect(gauge.gauge!.data_points![0]).toMatchObject({ as_int: "5", time_unix_nano: (TIME + 1n).toString() });
    // Envoy's gauges (AGGREGATION_TEMPORALITY_UNSPECIFIED) carry no start_time_unix_nano: 0, left out on the wire.
    expect(gauge.gauge!.data_points![0]!.start_time_unix_nano).toBeUndefined();
  });

  test("histograms: count, sum, one count per default bucket and one above, explicit bounds; cumulative, or the interval with report_histograms_as_deltas", () => {
    const store = new StatsStore();
    const h = store.histogram("cluster.backend.upstream_rq_time");
    h.record(0.2);
    h.record(7);
    h.record(4_000_000);
    const cumulative = flusherWith();
    const deltas = flusherWith({ reportHistogramsAsDeltas: true });
    let snapshot = snapshotOf(store);
    encode(cumulative, snapshot, START, TIME);
    const firstDelta = codec.decode(encode(deltas, snapshot, START, TIME));
    h.record(7);
    snapshot = snapshotOf(store);
    const second = codec.decode(encode(cumulative, snapshot, TIME, TIME + 1n));
    const secondDelta = codec.decode(encode(deltas, snapshot, TIME, TIME + 1n));
    const expectBuckets = (at: Record<number, number>): string[] => Array.from({ length: DEFAULT_BUCKETS.length + 1 }, (_, i) => String(at[i] ?? 0));
    const point = findMetric(second, "cluster.upstream_rq_time")!.histogram!;
    expect(point.aggregation_temporality).toBe("AGGREGATION_TEMPORALITY_CUMULATIVE");
    expect(point.data_points![0]).toMatchObject({ start_time_unix_nano: CREATED.toString(), time_unix_nano: (TIME + 1n).toString() });
    expect(point.data_points![0]).toMatchObject({ count: "4", sum: 0.2 + 7 + 4_000_000 + 7, explicit_bounds: [...DEFAULT_BUCKETS] });
    // 0.2 ≤ 0.5 (bucket 0), 7 in (5, 10] (bucket 3), 4e6 above 3.6e6 (the last, out of bounds).
    expect(point.data_points![0]!.bucket_counts).toEqual(expectBuckets({ 0: 1, 3: 2, [DEFAULT_BUCKETS.length]: 1 }));
    const d1 = findMetric(firstDelta, "cluster.upstream_rq_time")!.histogram!;
    expect(d1.aggregation_temporality).toBe("AGGREGATION_TEMPORALITY_DELTA");
    expect(d1.data_points![0]!.bucket_counts).toEqual(expectBuckets({ 0: 1, 3: 1, [DEFAULT_BUCKETS.length]: 1 }));
    const d2 = findMetric(secondDelta, "cluster.upstream_rq_time")!.histogram!.data_points![0]!;
    expect(d2).toMatchObject({ count: "1", sum: 7, start_time_unix_nano: TIME.toString() });
    expect(d2.bucket_counts).toEqual(expectBuckets({ 3: 1 }));
  });

  test("tags as attributes under the tag-extracted name (defaults); the full name and no attributes when both are off; the prefix with its dot", () => {
    const store = new StatsStore();
    store.counter("cluster.backend.upstream_rq_total").inc();
    const tagged = codec.decode(encode(flusherWith(), snapshotOf(store), START, TIME));
    expect(findMetric(tagged, "cluster.upstream_rq_total")!.sum!.data_points![0]!.attributes).toEqual([{ key: "envoy.cluster_name", value: { string_value: "backend" } }]);
    const plain = codec.decode(encode(flusherWith({ emitTagsAsAttributes: false, useTagExtractedName: false, prefix: "edge." }), snapshotOf(store), START, TIME));
    expect(metricsOf(plain).map((m) => m.name)).toEqual(["edge.cluster.backend.upstream_rq_total"]);
    expect(findMetric(plain, "edge.cluster.backend.upstream_rq_total")!.sum!.data_points![0]!.attributes).toBeUndefined();
    const attributesOnly = codec.decode(encode(flusherWith({ useTagExtractedName: false }), snapshotOf(store), START, TIME));
    expect(findMetric(attributesOnly, "cluster.backend.upstream_rq_total", "envoy.cluster_name", "backend")).toBeDefined();
  });
});

interface FakeCall {
  message: Uint8Array;
  callbacks: GrpcUnaryCallbacks;
  timeoutMs: number;
  method: string;
  cancelled: boolean;
}

function sinkWith(options: Partial<OtlpMetricsOptions> = {}, timeoutMs = 1000, logLevel: "off" | "info" = "off") {
  const calls: FakeCall[] = [];
  let now = 1_765_000_000_000;
  const client = {
    send(_target: unknown, method: string, message: Uint8Array, callbacks: GrpcUnaryCallbacks, timeout: number) {
      const call: FakeCall = { message, callbacks, timeoutMs: timeout, method, cancelled: false };
      calls.push(call);
      return { cancel: () => void (call.cancelled = true) };
    },
  };
  const target = { clusterName: "otel", authority: "", initialMetadata: [] };
  const runtime = new MemoryRuntime();
  const sink = new OpenTelemetrySink(flusherWith(options), target, timeoutMs, client, () => now, new Logger(runtime, logLevel));
  return { sink, calls, runtime, advance: (ms: number) => void (now += ms), created: toUnixNano(1_765_000_000_000) };
}

describe("OpenTelemetrySink: one unary Export per flush", () => {
  test("each flush is one call of MetricsService/Export with the deadline; cumulative points all start at the sink's creation, delta points at the last flush", () => {
    const store = new StatsStore();
    const rq = store.counter("cluster.backend.upstream_rq_total");
    rq.inc();
    const cumulative = sinkWith();
    const deltas = sinkWith({ reportCountersAsDeltas: true });
    const created = cumulative.created;
    for (const { sink, calls, advance } of [cumulative, deltas]) {
      advance(5000);
      sink.flush(snapshotOf(store));
      calls[0]!.callbacks.onSuccess(new Uint8Array());
      advance(5000);
      sink.flush(snapshotOf(store));
    }
    expect(cumulative.calls.map((c) => [c.method, c.timeoutMs])).toEqual([[OTLP_METRICS_EXPORT_METHOD, 1000], [OTLP_METRICS_EXPORT_METHOD, 1000]]);
    const times = (calls: FakeCall[]) =>
      calls.map((c) => {
        const p = findMetric(codec.decode(c.message), "cluster.upstream_rq_total")!.sum!.data_points![0]!;
        return [p.start_time_unix_nano, p.time_unix_nano];
      });
    expect(times(cumulative.calls)).toEqual([
      [created.toString(), (created + 5_000_000_000n).toString()],
      [created.toString(), (created + 10_000_000_000n).toString()],
    ]);
    expect(times(deltas.calls)).toEqual([
      [created.toString(), (created + 5_000_000_000n).toString()],
      [(created + 5_000_000_000n).toString(), (created + 10_000_000_000n).toString()],
    ]);
  });

  test("a failed export is dropped, not sent again; the next flush is sent on its own", () => {
    const store = new StatsStore();
    const rq = store.counter("cluster.backend.upstream_rq_total");
    rq.inc(2);
    const { sink, calls } = sinkWith({ reportCountersAsDeltas: true });
    sink.flush(snapshotOf(store));
    calls[0]!.callbacks.onFailure(14, "unavailable");
    rq.inc(3);
    sink.flush(snapshotOf(store));
    expect(calls).toHaveLength(2);
    expect(intValue(findMetric(codec.decode(calls[1]!.message), "cluster.upstream_rq_total"))).toBe(3);
  });

  test(`at most ${MAX_EXPORTS_IN_FLIGHT} calls in flight: a flush beyond cancels the oldest (a warning once) and carries its deltas, starting at the last flush`, () => {
    const store = new StatsStore();
    const rq = store.counter("cluster.backend.upstream_rq_total");
    const h = store.histogram("cluster.backend.upstream_rq_time");
    const { sink, calls, advance, runtime } = sinkWith({ reportCountersAsDeltas: true, reportHistogramsAsDeltas: true }, 1000, "info");
    for (let i = 0; i < MAX_EXPORTS_IN_FLIGHT; i++) {
      rq.inc(1);
      h.record(7);
      advance(1000);
      sink.flush(snapshotOf(store));
    }
    const lastSentTime = findMetric(codec.decode(calls.at(-1)!.message), "cluster.upstream_rq_total")!.sum!.data_points![0]!.time_unix_nano;
    rq.inc(10);
    h.record(7);
    advance(1000);
    sink.flush(snapshotOf(store));
    // A collector that never answers still gets this flush: the oldest call is given up on.
    expect(calls).toHaveLength(MAX_EXPORTS_IN_FLIGHT + 1);
    expect(calls.map((c) => c.cancelled)).toEqual([true, false, false, false, false]);
    const fifth = codec.decode(calls.at(-1)!.message);
    const point = findMetric(fifth, "cluster.upstream_rq_total")!.sum!.data_points![0]!;
    // 10, and the cancelled call's 1.
    expect(Number(point.as_int)).toBe(11);
    expect(point.start_time_unix_nano).toBe(lastSentTime);
    expect(findMetric(fifth, "cluster.upstream_rq_time")!.histogram!.data_points![0]).toMatchObject({ count: "2", sum: 14 });
    // A slot freed by an answer: no cancel, the next export carries its own delta only.
    calls[1]!.callbacks.onSuccess(new Uint8Array());
    rq.inc(100);
    advance(1000);
    sink.flush(snapshotOf(store));
    expect(calls.map((c) => c.cancelled)).toEqual([true, false, false, false, false, false]);
    expect(intValue(findMetric(codec.decode(calls.at(-1)!.message), "cluster.upstream_rq_total"))).toBe(100);
    advance(1000);
    sink.flush(snapshotOf(store));
    expect(calls[2]!.cancelled).toBe(true);
    expect(calls).toHaveLength(MAX_EXPORTS_IN_FLIGHT + 3);
    // Warned the first time only (debug after).
    expect(runtime.logLines.filter((l) => l.includes("the oldest cancelled"))).toEqual([expect.stringContaining("[warning] open telemetry stats sink: 4 exports to cluster 'otel' in flight, the oldest cancelled")]);
  });

  test(`the final flush at shutdown is exported with ${MAX_EXPORTS_IN_FLIGHT} calls in flight, and idle() waits for it`, async () => {
    const store = new StatsStore();
    const rq = store.counter("cluster.backend.upstream_rq_total");
    const { sink, calls } = sinkWith({ reportCountersAsDeltas: true });
    for (let i = 0; i < MAX_EXPORTS_IN_FLIGHT; i++) {
      rq.inc(1);
      sink.flush(snapshotOf(store));
    }
    rq.inc(5);
    // The server's shutdown: finalFlush() then drained() (core/server.ts).
    sink.flush(snapshotOf(store));
    let idle = false;
    const done = sink.idle().then(() => void (idle = true));
    expect(calls).toHaveLength(MAX_EXPORTS_IN_FLIGHT + 1);
    expect(intValue(findMetric(codec.decode(calls.at(-1)!.message), "cluster.upstream_rq_total"))).toBe(6);
    for (const call of calls.slice(1, -1)) call.callbacks.onSuccess(new Uint8Array());
    await Promise.resolve();
    expect(idle).toBe(false);
    calls.at(-1)!.callbacks.onSuccess(new Uint8Array());
    await done;
    expect(idle).toBe(true);
  });

  test("idle() waits for the calls in flight; stop() cancels them", async () => {
    const store = new StatsStore();
    store.counter("cluster.backend.upstream_rq_total").inc();
    const { sink, calls } = sinkWith();
    sink.flush(snapshotOf(store));
    let idle = false;
    const done = sink.idle().then(() => void (idle = true));
    await Promise.resolve();
    expect(idle).toBe(false);
    calls[0]!.callbacks.onSuccess(new ProtoWriter().message(1, (p) => p.uint(1, 2).string(2, "two rejected")).finish());
    await done;
    expect(idle).toBe(true);
    sink.flush(snapshotOf(store));
    expect(calls).toHaveLength(1);
    const other = sinkWith();
    other.sink.flush(snapshotOf(store));
    other.sink.stop();
    expect(other.calls[0]!.cancelled).toBe(true);
  });
});

describe("open_telemetry config", () => {
  const TYPE = "type.googleapis.com/envoy.extensions.stat_sinks.open_telemetry.v3.SinkConfig";
  const load = (typed: Record<string, unknown>, name = "envoy.stat_sinks.open_telemetry") =>
    loadBootstrap(
      JSON.stringify({
        stats_sinks: [{ name, typed_config: { "@type": TYPE, ...typed } }],
        static_resources: {
          clusters: [{ name: "otel", type: "STATIC", typed_extension_protocol_options: { "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": { "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions", explicit_http_config: { http2_protocol_options: {} } } }, load_assignment: { cluster_name: "otel", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 9 } } } }] }] } }],
        },
      }),
      "json",
    );
  const problems = (typed: Record<string, unknown>): string[] => {
    try {
      load(typed);
      return [];
    } catch (err) {
      return (err as { problems?: string[] }).problems ?? [String(err)];
    }
  };
  const grpc = { envoy_grpc: { cluster_name: "otel" } };

  test("accepted: the proto's fields, with Envoy's defaults", () => {
    expect(load({ grpc_service: grpc }).statsSinks).toEqual([
      { kind: "open_telemetry", target: { clusterName: "otel", authority: "", initialMetadata: [] }, timeoutMs: undefined, reportCountersAsDeltas: false, reportHistogramsAsDeltas: false, emitTagsAsAttributes: true, useTagExtractedName: true, prefix: "" },
    ]);
    expect(load({ grpc_service: { ...grpc, timeout: "2s" }, report_counters_as_deltas: true, report_histograms_as_deltas: true, emit_tags_as_attributes: false, use_tag_extracted_name: { value: false }, prefix: "edge", resource_detectors: [] }).statsSinks).toEqual([
      { kind: "open_telemetry", target: { clusterName: "otel", authority: "", initialMetadata: [] }, timeoutMs: 2000, reportCountersAsDeltas: true, reportHistogramsAsDeltas: true, emitTagsAsAttributes: false, useTagExtractedName: false, prefix: "edge." },
    ]);
    expect(problems({ grpc_service: { google_grpc: { target_uri: "127.0.0.1:9", stat_prefix: "otel" } } })).toEqual([]);
    // By its legacy name, without @type.
    expect(() => loadBootstrap(JSON.stringify({ stats_sinks: [{ name: "envoy.open_telemetry_stat_sink", typed_config: { grpc_service: { google_grpc: { target_uri: "127.0.0.1:9", stat_prefix: "otel" } } } }], static_resources: {} }), "json")).not.toThrow();
  });

  test("refused, one line each naming the field", () => {
    expect(problems({})).toEqual([expect.stringMatching(/^stats_sinks\[0\]\.typed_config\.grpc_service: value is required/)]);
    expect(problems({ grpc_service: { envoy_grpc: { cluster_name: "nope" } } })).toEqual(["stats_sinks[0].typed_config.grpc_service.envoy_grpc.cluster_name: Unknown gRPC client cluster 'nope'"]);
    expect(problems({ grpc_service: grpc, resource_detectors: [{ name: "envoy.tracers.opentelemetry.resource_detectors.environment" }] })).toEqual([expect.stringMatching(/^stats_sinks\[0\]\.typed_config: `resource_detectors` is an Envoy field that polyvoy does not support yet \(resource detectors/)]);
    expect(problems({ grpc_service: grpc, custom_metric_conversions: {} })).toEqual([expect.stringMatching(/^stats_sinks\[0\]\.typed_config: `custom_metric_conversions` is an Envoy field that polyvoy does not support/)]);
    expect(problems({ grpc_service: grpc, http_service: {} })).toEqual([expect.stringMatching(/^stats_sinks\[0\]\.typed_config: `http_service` is an Envoy field that polyvoy does not support/)]);
    expect(problems({ grpc_service: grpc, max_data_points_per_request: 100 })).toEqual([expect.stringMatching(/^stats_sinks\[0\]\.typed_config: `max_data_points_per_request` is an Envoy field that polyvoy does not support/)]);
    expect(problems({ grpc_service: grpc, emit_tags_as_attributes: "yes" })).toHaveLength(1);
    expect(problems({ grpc_service: grpc, predicate: {} })).toHaveLength(1);
  });
});
