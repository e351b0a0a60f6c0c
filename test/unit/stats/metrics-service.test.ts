/**
 * envoy.stat_sinks.metrics_service without sockets (core/stats/metrics-flusher.ts,
 * metrics-service-sink.ts): the StreamMetricsMessage a flush makes of a stats store,
 * decoded with @grpc/proto-loader from metrics_service.proto — used stats only, counters
 * cumulative or as deltas, gauges, histograms as summary and/or histogram over the flush
 * interval, tags as labels — and the stream: identifier.node in a stream's first message
 * only, a closed stream reopened by the next flush, flushes held (not lost) while it
 * connects or does not drain; and
 * the config's checks.
 */
import { describe, expect, test } from "vitest";
import { TagExtractor } from "../../../core/admin/tag-extractor.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { Logger } from "../../../core/log.ts";
import { DEFAULT_BUCKETS, QUANTILES } from "../../../core/stats/histogram.ts";
import { MetricsFlusher, type MetricsFlusherOptions } from "../../../core/stats/metrics-flusher.ts";
import { MetricsServiceSink, STREAM_METRICS_METHOD, type MetricsCall, type MetricsCallCallbacks } from "../../../core/stats/metrics-service-sink.ts";
import type { MetricSnapshot } from "../../../core/stats/sink.ts";
import { Counter } from "../../../core/stats/counter.ts";
import { Gauge } from "../../../core/stats/gauge.ts";
import { Histogram } from "../../../core/stats/histogram.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { ProtoWriter } from "../../../core/util/protobuf-wire.ts";
import { Timers } from "../../../core/event/timers.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { metricsCodec, metricValue, type StreamMetricsMessageObject } from "../../support/metrics-service-server.ts";

const codec = metricsCodec();
const NOW = 1_765_000_000_123;
const OPTIONS: MetricsFlusherOptions = { reportCountersAsDeltas: false, emitTagsAsLabels: false, histogramEmitMode: "SUMMARY_AND_HISTOGRAM" };

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

function flushOnce(flusher: MetricsFlusher, store: StatsStore): StreamMetricsMessageObject {
  const writer = new ProtoWriter();
  flusher.flush(writer, 2, snapshotOf(store), NOW);
  return codec.decode(writer.finish());
}

describe("MetricsFlusher: one flush as io.prometheus.client MetricFamily entries", () => {
  test("used counters (cumulative), used gauges, each with the flush's timestamp; unused stats left out", () => {
    const store = new StatsStore();
    store.counter("cluster.backend.upstream_rq_total").inc(3);
    store.counter("cluster.backend.upstream_rq_timeout");
    store.gauge("server.live").set(1);
    store.gauge("cluster.backend.upstream_cx_active");
    store.histogram("cluster.backend.upstream_rq_time");
    const message = flushOnce(new MetricsFlusher(OPTIONS, undefined), store);
    expect(message.identifier).toBeUndefined();
    expect(message.envoy_metrics).toEqual([
      { name: "cluster.backend.upstream_rq_total", type: "COUNTER", metric: [{ counter: { value: 3 }, timestamp_ms: NOW }] },
      { name: "server.live", type: "GAUGE", metric: [{ gauge: { value: 1 }, timestamp_ms: NOW }] },
    ]);
  });

  test("a used counter with nothing new is sent (0 as a delta); report_counters_as_deltas sends the gain since the last flush", () => {
    const store = new StatsStore();
    const rq = store.counter("cluster.backend.upstream_rq_total");
    const deltas = new MetricsFlusher({ ...OPTIONS, reportCountersAsDeltas: true }, undefined);
    rq.inc(2);
    expect(metricValue(flushOnce(deltas, store), "cluster.backend.upstream_rq_total")).toBe(2);
    rq.inc(5);
    expect(metricValue(flushOnce(deltas, store), "cluster.backend.upstream_rq_total")).toBe(5);
    expect(metricValue(flushOnce(deltas, store), "cluster.backend.upstream_rq_total")).toBe(0);
    const cumulative = new MetricsFlusher(OPTIONS, undefined);
    rq.inc(1);
    expect(metricValue(flushOnce(cumulative, store), "cluster.backend.upstream_rq_total")).toBe(8);
  });

  test("a histogram as a SUMMARY then a HISTOGRAM over the interval: Envoy's quantiles and default buckets; SUMMARY and HISTOGRAM alone", () => {
    const store = new StatsStore();
    const time = store.histogram("cluster.backend.upstream_rq_time");
    for (const v of [3, 7, 40]) time.record(v);
    const message = flushOnce(new MetricsFlusher(OPTIONS, undefined), store);
    const [summary, histogram] = message.envoy_metrics!;
    expect(summary!.name).toBe("cluster.backend.upstream_rq_time");
    expect(summary!.type).toBe("SUMMARY");
    expect(summary!.metric![0]!.summary!.sample_count).toBe(3);
    expect(summary!.metric![0]!.summary!.sample_sum).toBe(50);
    expect(summary!.metric![0]!.summary!.quantile!.map((q) => q.quantile)).toEqual([...QUANTILES]);
    expect(summary!.metric![0]!.summary!.quantile![0]!.value).toBe(3);
    expect(summary!.metric![0]!.summary!.quantile!.at(-1)!.value).toBe(40);
    expect(histogram!.type).toBe("HISTOGRAM");
    const buckets = histogram!.metric![0]!.histogram!.bucket!;
    expect(buckets.map((b) => b.upper_bound)).toEqual([...DEFAULT_BUCKETS]);
    // ≤0.5 ≤1 ≤5 ≤10 ≤25 ≤50 …: 3 falls at ≤5, 7 at ≤10, 40 at ≤50.
    expect(buckets.slice(0, 7).map((b) => b.cumulative_count ?? 0)).toEqual([0, 0, 1, 2, 2, 3, 3]);
    expect(histogram!.metric![0]!.timestamp_ms).toBe(NOW);

    // The next interval: only what was recorded since; an empty interval has NaN quantiles and count 0.
    time.record(100);
    const summaryOnly = new MetricsFlusher({ ...OPTIONS, histogramEmitMode: "SUMMARY" }, undefined);
    const first = flushOnce(summaryOnly, store).envoy_metrics!;
    expect(first.map((f) => f.type)).toEqual(["SUMMARY"]);
    expect(first[0]!.metric![0]!.summary!.sample_count).toBe(4);
    const empty = flushOnce(summaryOnly, store).envoy_metrics![0]!.metric![0]!.summary!;
    expect(empty.sample_count ?? 0).toBe(0);
    expect(empty.quantile!.every((q) => Number.isNaN(q.value))).toBe(true);
    time.record(1000);
    const histogramOnly = new MetricsFlusher({ ...OPTIONS, histogramEmitMode: "HISTOGRAM" }, undefined);
    flushOnce(histogramOnly, store);
    time.record(2);
    const second = flushOnce(histogramOnly, store).envoy_metrics!;
    expect(second.map((f) => f.type)).toEqual(["HISTOGRAM"]);
    expect(second[0]!.metric![0]!.histogram!.sample_count).toBe(1);
    expect(second[0]!.metric![0]!.histogram!.sample_sum).toBe(2);
  });

  test("each stat's name and labels are encoded once, at its first flush: the tag extractor is not asked again", () => {
    const store = new StatsStore();
    store.counter("cluster.backend.upstream_rq_200").inc();
    store.histogram("cluster.backend.upstream_rq_time").record(5);
    const tags = new TagExtractor(undefined);
    const asked: string[] = [];
    const extract = tags.extract.bind(tags);
    tags.extract = (name: string) => (asked.push(name), extract(name));
    const flusher = new MetricsFlusher({ ...OPTIONS, emitTagsAsLabels: true }, tags);
    const first = flushOnce(flusher, store);
    const second = flushOnce(flusher, store);
    expect(asked).toEqual(["cluster.backend.upstream_rq_200", "cluster.backend.upstream_rq_time"]);
    expect(second.envoy_metrics!.map((f) => [f.name, f.type, f.metric![0]!.label])).toEqual(first.envoy_metrics!.map((f) => [f.name, f.type, f.metric![0]!.label]));
    expect(second.envoy_metrics![0]).toMatchObject({ name: "cluster.upstream_rq", metric: [{ label: [{ name: "envoy.response_code", value: "200" }, { name: "envoy.cluster_name", value: "backend" }] }] });
  });

  test("emit_tags_as_labels: the tag-extracted name, the tags as labels (stats_config's too)", () => {
    const store = new StatsStore();
    store.counter("cluster.backend.upstream_rq_200").inc();
    const tags = new TagExtractor({ statsTags: [{ tagName: "zone", fixedValue: "eu" }], useAllDefaultTags: true } as never);
    const message = flushOnce(new MetricsFlusher({ ...OPTIONS, emitTagsAsLabels: true }, tags), store);
    expect(message.envoy_metrics).toEqual([
      {
        name: "cluster.upstream_rq",
        type: "COUNTER",
        metric: [{ label: [{ name: "envoy.response_code", value: "200" }, { name: "envoy.cluster_name", value: "backend" }, { name: "zone", value: "eu" }], counter: { value: 1 }, timestamp_ms: NOW }],
      },
    ]);
    // Without it: the full name, no labels.
    expect(flushOnce(new MetricsFlusher(OPTIONS, tags), store).envoy_metrics![0]).toMatchObject({ name: "cluster.backend.upstream_rq_200" });
    expect(flushOnce(new MetricsFlusher(OPTIONS, tags), store).envoy_metrics![0]!.metric![0]!.label).toBeUndefined();
  });
});

/** A call the test drives: what was sent, and the stream's events. */
class FakeCall implements MetricsCall {
  readonly sent: Uint8Array[] = [];
  started: string | undefined;
  halfClosed = false;
  wasReset = false;
  aboveWriteBufferHighWatermark = false;
  constructor(readonly callbacks: MetricsCallCallbacks) {}
  start(clusterName: string, method: string): void {
    this.started = `${clusterName} ${method}`;
  }
  sendMessage(message: Uint8Array): boolean {
    this.sent.push(message);
    return true;
  }
  closeSend(): void {
    this.halfClosed = true;
  }
  closeSendAndDeleteOnRemoteClose(): void {
    this.halfClosed = true;
  }
  reset(): void {
    this.wasReset = true;
  }
}

describe("MetricsServiceSink: the StreamMetrics stream", () => {
  function sinkHarness() {
    const calls: FakeCall[] = [];
    const runtime = new MemoryRuntime();
    const store = new StatsStore();
    store.counter("cluster.backend.upstream_rq_total").inc();
    const sink = new MetricsServiceSink(
      new MetricsFlusher({ ...OPTIONS, reportCountersAsDeltas: true }, undefined),
      { clusterName: "metrics", authority: "", initialMetadata: [] },
      () => ({ id: "node-1", cluster: "fleet" }) as never,
      (callbacks) => {
        const call = new FakeCall(callbacks);
        calls.push(call);
        return call;
      },
      () => NOW,
      new Logger(runtime, "off"),
      new Timers(runtime),
    );
    const flush = () => sink.flush(snapshotOf(store));
    return { calls, store, sink, flush, runtime };
  }

  test("the first flush opens the stream and carries identifier.node; the next ones do not", () => {
    const { calls, flush } = sinkHarness();
    flush();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.started).toBe(`metrics ${STREAM_METRICS_METHOD}`);
    calls[0]!.callbacks.onReady?.();
    flush();
    const [first, second] = calls[0]!.sent.map((m) => codec.decode(m));
    expect(first!.identifier?.node).toMatchObject({ id: "node-1", cluster: "fleet", user_agent_name: "polyvoy" });
    expect(metricValue(first!, "cluster.backend.upstream_rq_total")).toBe(1);
    expect(second!.identifier).toBeUndefined();
    expect(metricValue(second!, "cluster.backend.upstream_rq_total")).toBe(0);
  });

  test("while the stream connects, or does not drain, nothing is sent and nothing is lost: the next message carries the deltas and histogram values; a closed stream is opened again with the node", () => {
    const { calls, flush, store } = sinkHarness();
    const rq = store.counter("cluster.backend.upstream_rq_total");
    const time = store.histogram("cluster.backend.upstream_rq_time");
    time.record(3);
    flush();
    // Connecting: held, not sent.
    rq.inc(2);
    time.record(7);
    flush();
    rq.inc(3);
    flush();
    expect(calls[0]!.sent).toHaveLength(1);
    calls[0]!.callbacks.onReady?.();
    calls[0]!.aboveWriteBufferHighWatermark = true;
    rq.inc(4);
    time.record(40);
    flush();
    expect(calls[0]!.sent).toHaveLength(1);
    calls[0]!.aboveWriteBufferHighWatermark = false;
    rq.inc(5);
    flush();
    expect(calls[0]!.sent).toHaveLength(2);
    const [first, second] = calls[0]!.sent.map((m) => codec.decode(m));
    expect(metricValue(first!, "cluster.backend.upstream_rq_total")).toBe(1);
    // 2 + 3 + 4 + 5: every increment since the first message; the sum the server sees is the counter's.
    expect(metricValue(second!, "cluster.backend.upstream_rq_total")).toBe(14);
    expect(rq.value).toBe(15);
    const summary = (m: StreamMetricsMessageObject) => m.envoy_metrics!.find((f) => f.name === "cluster.backend.upstream_rq_time" && f.type === "SUMMARY")!.metric![0]!.summary!;
    expect(summary(first!).sample_count).toBe(1);
    // The interval of the second message covers the values recorded while held.
    expect(summary(second!).sample_count).toBe(2);
    expect(summary(second!).sample_sum).toBe(47);
    flush();
    expect(metricValue(codec.decode(calls[0]!.sent[2]!), "cluster.backend.upstream_rq_total")).toBe(0);

    calls[0]!.callbacks.onRemoteClose(14, "upstream connect error");
    flush();
    expect(calls).toHaveLength(2);
    expect(codec.decode(calls[1]!.sent[0]!).identifier?.node?.id).toBe("node-1");
  });

  test("at shutdown idle() half-closes the stream and waits for the server to end it; nothing is sent after", async () => {
    const { calls, flush, sink } = sinkHarness();
    flush();
    let idle = false;
    const waiting = sink.idle().then(() => (idle = true));
    expect(calls[0]!.halfClosed).toBe(true);
    await Promise.resolve();
    expect(idle).toBe(false);
    calls[0]!.callbacks.onRemoteClose(0, "");
    await waiting;
    expect(calls[0]!.wasReset).toBe(false);
    flush();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.sent).toHaveLength(1);
  });

  test("at shutdown a server that does not end the half-closed stream has it reset after 1 s: idle() does not wait for the grace period", async () => {
    const { calls, flush, sink, runtime } = sinkHarness();
    flush();
    calls[0]!.callbacks.onReady?.();
    let idle = false;
    const waiting = sink.idle().then(() => (idle = true));
    expect(calls[0]!.halfClosed).toBe(true);
    runtime.advance(999);
    await Promise.resolve();
    expect(idle).toBe(false);
    expect(calls[0]!.wasReset).toBe(false);
    runtime.advance(1);
    await waiting;
    expect(calls[0]!.wasReset).toBe(true);
    // The server's late answer changes nothing; nothing is sent after.
    calls[0]!.callbacks.onRemoteClose(0, "");
    flush();
    expect(calls).toHaveLength(1);
  });

  test("stop half-closes the stream; nothing is sent after", () => {
    const { calls, flush, sink } = sinkHarness();
    flush();
    sink.stop();
    expect(calls[0]!.halfClosed).toBe(true);
    flush();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.sent).toHaveLength(1);
  });
});

describe("metrics_service config", () => {
  const TYPE = "type.googleapis.com/envoy.config.metrics.v3.MetricsServiceConfig";
  const problems = (typed: Record<string, unknown>): string[] => {
    const config = {
      stats_sinks: [{ name: "envoy.stat_sinks.metrics_service", typed_config: { "@type": TYPE, ...typed } }],
      static_resources: {
        clusters: [{ name: "metrics", type: "STATIC", typed_extension_protocol_options: { "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": { "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions", explicit_http_config: { http2_protocol_options: {} } } }, load_assignment: { cluster_name: "metrics", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 9 } } } }] }] } }],
      },
    };
    try {
      loadBootstrap(JSON.stringify(config), "json");
      return [];
    } catch (err) {
      return (err as { problems?: string[] }).problems ?? [String(err)];
    }
  };
  const grpc = { envoy_grpc: { cluster_name: "metrics" } };

  test("accepted: Envoy's fields", () => {
    expect(problems({ grpc_service: grpc, transport_api_version: "V3" })).toEqual([]);
    expect(problems({ grpc_service: grpc, transport_api_version: "V3", report_counters_as_deltas: { value: true }, emit_tags_as_labels: true, histogram_emit_mode: "HISTOGRAM" })).toEqual([]);
    expect(problems({ grpc_service: { google_grpc: { target_uri: "127.0.0.1:9", stat_prefix: "metrics" } }, transport_api_version: "V3" })).toEqual([]);
  });

  test("refused, one line each naming the field", () => {
    expect(problems({ grpc_service: grpc })).toEqual([expect.stringMatching(/^stats_sinks\[0\]\.typed_config\.transport_api_version: must be V3, got unset \(AUTO\)/)]);
    expect(problems({ transport_api_version: "V3" })).toEqual([expect.stringMatching(/^stats_sinks\[0\]\.typed_config\.grpc_service: value is required/)]);
    expect(problems({ grpc_service: { envoy_grpc: { cluster_name: "nope" } }, transport_api_version: "V3" })).toEqual(["stats_sinks[0].typed_config.grpc_service.envoy_grpc.cluster_name: Unknown gRPC client cluster 'nope'"]);
    expect(problems({ grpc_service: { ...grpc, timeout: "1s" }, transport_api_version: "V3" })).toEqual([expect.stringMatching(/^stats_sinks\[0\]\.typed_config\.grpc_service: `timeout` is an Envoy field .*no deadline/)]);
    expect(problems({ grpc_service: grpc, transport_api_version: "V3", histogram_emit_mode: "BOTH" })).toHaveLength(1);
    expect(problems({ grpc_service: grpc, transport_api_version: "V3", predicate: {} })).toHaveLength(1);
  });
});
