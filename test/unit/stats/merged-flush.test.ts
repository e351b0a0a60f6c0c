/**
 * The merged stats flush of worker processes (core/stats/merged-flush.ts, merged-snapshot.ts):
 * counter deltas from each worker's totals across flushes (a worker left out, a worker
 * restarted), gauges and histograms merged once, and the flushing worker's snapshot.
 */
import { describe, expect, test } from "vitest";
import { HistogramIntervals } from "../../../core/admin/histogram-intervals.ts";
import { workerStatsSnapshot, type WorkerStatsSnapshot } from "../../../core/admin/worker-stats.ts";
import { MergedFlushState, type SinkFlushMessage, type WorkerFlushAnswer } from "../../../core/stats/merged-flush.ts";
import { MergedSnapshotMirror } from "../../../core/stats/merged-snapshot.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { MetricsFlusher } from "../../../core/stats/metrics-flusher.ts";
import { ProtoWriter } from "../../../core/util/protobuf-wire.ts";
import { metricsCodec } from "../../support/metrics-service-server.ts";

/** A worker: its store, and its admin's intervals closed at each snapshot (flush=sinks: the admin's display only). */
class FakeWorker {
  readonly store = new StatsStore();
  readonly intervals = new HistogramIntervals();
  constructor(
    readonly index: number,
    public pid: number,
  ) {}

  answer(): WorkerFlushAnswer {
    this.intervals.flush(this.store.all().flatMap((s) => ("counts" in s ? [s] : [])));
    return { index: this.index, pid: this.pid, snapshot: JSON.parse(workerStatsSnapshot(this.store.all(), this.intervals)) as WorkerStatsSnapshot };
  }
}

const RQ = "cluster.backend.upstream_rq_total";
const RQ_TIME = "cluster.backend.upstream_rq_time";

/** The old API's shape: each counter's delta in the merged message. */
class MergedCounterDeltas {
  readonly state = new MergedFlushState();
  deltas(answers: WorkerFlushAnswer[]): Map<string, number> {
    return new Map(this.state.message(answers).counters.map((c) => [c.name, c.delta]));
  }
}

function sinkFlushMessage(answers: WorkerFlushAnswer[], deltas: MergedCounterDeltas): SinkFlushMessage {
  return deltas.state.message(answers);
}

describe("MergedCounterDeltas", () => {
  test("each flush's delta is what both workers counted since the last", () => {
    const deltas = new MergedCounterDeltas();
    const [a, b] = [new FakeWorker(0, 100), new FakeWorker(1, 101)];
    a.store.counter(RQ).inc(3);
    b.store.counter(RQ).inc(4);
    expect(deltas.deltas([a.answer(), b.answer()]).get(RQ)).toBe(7);
    a.store.counter(RQ).inc(1);
    expect(deltas.deltas([a.answer(), b.answer()]).get(RQ)).toBe(1);
    expect(deltas.deltas([a.answer(), b.answer()]).get(RQ)).toBe(0);
  });

  test("a worker left out of one flush has its counts sent with the next it answers, not lost or twice", () => {
    const deltas = new MergedCounterDeltas();
    const [a, b] = [new FakeWorker(0, 100), new FakeWorker(1, 101)];
    a.store.counter(RQ).inc(5);
    b.store.counter(RQ).inc(5);
    expect(deltas.deltas([a.answer(), b.answer()]).get(RQ)).toBe(10);
    a.store.counter(RQ).inc(1);
    b.store.counter(RQ).inc(2);
    // b did not answer in time: only a's increment now (the merged total went down to 6: no negative or whole-total delta).
    expect(deltas.deltas([a.answer()]).get(RQ)).toBe(1);
    expect(deltas.deltas([a.answer(), b.answer()]).get(RQ)).toBe(2);
  });

  test("a restarted worker (new pid, counters from 0) counts as new: its delta is its value", () => {
    const deltas = new MergedCounterDeltas();
    const [a, b] = [new FakeWorker(0, 100), new FakeWorker(1, 101)];
    a.store.counter(RQ).inc(50);
    b.store.counter(RQ).inc(50);
    expect(deltas.deltas([a.answer(), b.answer()]).get(RQ)).toBe(100);
    const restarted = new FakeWorker(1, 202);
    restarted.store.counter(RQ).inc(2);
    expect(deltas.deltas([a.answer(), restarted.answer()]).get(RQ)).toBe(2);
    // The same pid whose counter went down (/reset_counters): its new value, never negative.
    a.store.counter(RQ).reset();
    a.store.counter(RQ).inc(3);
    expect(deltas.deltas([a.answer(), restarted.answer()]).get(RQ)).toBe(3);
  });

  test("a counter every worker counts the same events on (config loads) is counted once", () => {
    const deltas = new MergedCounterDeltas();
    const [a, b] = [new FakeWorker(0, 100), new FakeWorker(1, 101)];
    a.store.counter("cluster_manager.cluster_added").inc(2);
    b.store.counter("cluster_manager.cluster_added").inc(2);
    expect(deltas.deltas([a.answer(), b.answer()]).get("cluster_manager.cluster_added")).toBe(2);
    expect(deltas.deltas([b.answer()]).get("cluster_manager.cluster_added")).toBe(0);
    b.store.counter("cluster_manager.cluster_added").inc(1);
    expect(deltas.deltas([a.answer(), b.answer()]).get("cluster_manager.cluster_added")).toBe(1);
  });
});

describe("MergedFlushState: cumulative values never go backwards", () => {
  const counter = (m: SinkFlushMessage) => m.counters.find((c) => c.name === RQ)!;
  const histogram = (m: SinkFlushMessage) => m.histograms.find((h) => h.name === RQ_TIME)!;

  test("a worker left out of a flush, then restarted: the counter's value and the histogram's count, sum and buckets only grow", () => {
    const state = new MergedFlushState();
    const [a, b] = [new FakeWorker(0, 100), new FakeWorker(1, 101)];
    a.store.counter(RQ).inc(100);
    b.store.counter(RQ).inc(100);
    a.store.histogram(RQ_TIME).record(5);
    b.store.histogram(RQ_TIME).record(5);
    const values: number[][] = [];
    const seen = (m: SinkFlushMessage) => values.push([counter(m).value, counter(m).delta, histogram(m).count, histogram(m).sum, histogram(m).counts.reduce((x, y) => x + y, 0)]);
    seen(state.message([a.answer(), b.answer()]));
    a.store.counter(RQ).inc(1);
    a.store.histogram(RQ_TIME).record(5);
    // b missed this flush.
    seen(state.message([a.answer()]));
    b.store.counter(RQ).inc(1);
    seen(state.message([a.answer(), b.answer()]));
    // b restarted (new pid), from 0.
    const restarted = new FakeWorker(1, 202);
    restarted.store.counter(RQ).inc(1);
    restarted.store.histogram(RQ_TIME).record(5);
    seen(state.message([a.answer(), restarted.answer()]));
    expect(values).toEqual([
      [200, 200, 2, 10, 2],
      [201, 1, 3, 15, 3],
      [202, 1, 3, 15, 3],
      [203, 1, 4, 20, 4],
    ]);
  });

  test("a histogram's interval from the worker's cumulative counts: an answer the flush left out is in the next one's interval", () => {
    const state = new MergedFlushState();
    const [a, b] = [new FakeWorker(0, 100), new FakeWorker(1, 101)];
    a.store.histogram(RQ_TIME).record(3);
    b.store.histogram(RQ_TIME).record(30);
    const sampled = (m: SinkFlushMessage) => [histogram(m).interval.reduce((x, y) => x + y, 0), histogram(m).intervalSum];
    expect(sampled(state.message([a.answer(), b.answer()]))).toEqual([2, 33]);
    b.store.histogram(RQ_TIME).record(7);
    // b answered late (its snapshot was taken, then dropped): its value is not lost.
    b.answer();
    expect(sampled(state.message([a.answer()]))).toEqual([0, 0]);
    expect(sampled(state.message([a.answer(), b.answer()]))).toEqual([1, 7]);
  });
});

describe("sinkFlushMessage and MergedSnapshotMirror", () => {
  test("gauges summed once (copies once), histograms' intervals summed, deltas carried; the flushing worker's snapshot", () => {
    const [a, b] = [new FakeWorker(0, 100), new FakeWorker(1, 101)];
    a.store.gauge("http.ingress.downstream_cx_active").set(3);
    b.store.gauge("http.ingress.downstream_cx_active").set(5);
    a.store.gauge("server.concurrency").set(2);
    b.store.gauge("server.concurrency").set(2);
    a.store.counter(RQ).inc(3);
    b.store.counter(RQ).inc(4);
    a.store.histogram("cluster.backend.upstream_rq_time").record(3);
    b.store.histogram("cluster.backend.upstream_rq_time").record(30);
    b.store.histogram("cluster.backend.upstream_rq_time").record(300);
    const deltas = new MergedCounterDeltas();
    const answers = [a.answer(), b.answer()];
    const message = sinkFlushMessage(answers, deltas);
    // Through JSON, as between the processes.
    const mirror = new MergedSnapshotMirror();
    const snapshot = mirror.snapshot(JSON.parse(JSON.stringify(message)));
    expect(snapshot.gauges.map((g) => [g.name, g.value])).toEqual([
      ["http.ingress.downstream_cx_active", 8],
      ["server.concurrency", 2],
    ]);
    expect(snapshot.counters.map(({ counter, delta }) => [counter.name, counter.value, delta])).toEqual([[RQ, 7, 7]]);
    const histogram = snapshot.histograms[0]!;
    expect([histogram.count, histogram.sum, histogram.min, histogram.max]).toEqual([3, 333, 3, 300]);
    expect(snapshot.intervals!.get(histogram)).toMatchObject({ sampleCount: 3, sampleSum: 333 });

    // The next flush: the same objects (a sink's per-stat caches hold), the new interval only.
    b.store.histogram("cluster.backend.upstream_rq_time").record(7);
    b.store.counter(RQ).inc(1);
    const next = [a.answer(), b.answer()];
    const second = mirror.snapshot(JSON.parse(JSON.stringify(sinkFlushMessage(next, deltas))));
    expect(second.histograms[0]).toBe(histogram);
    expect(second.counters[0]!.counter).toBe(snapshot.counters[0]!.counter);
    expect(second.counters[0]!.delta).toBe(1);
    expect(second.intervals!.get(histogram)).toMatchObject({ sampleCount: 1, sampleSum: 7 });
  });

  test("the metrics service sends the workers' intervals, not its own: a flushing worker that changed sends this interval only", () => {
    const [a, b] = [new FakeWorker(0, 100), new FakeWorker(1, 101)];
    a.store.histogram("cluster.backend.upstream_rq_time").record(3);
    b.store.histogram("cluster.backend.upstream_rq_time").record(30);
    const deltas = new MergedCounterDeltas();
    const first = [a.answer(), b.answer()];
    sinkFlushMessage(first, deltas);
    // The next flush goes through another worker (the first exited): its sink has seen none before.
    b.store.histogram("cluster.backend.upstream_rq_time").record(7);
    const next = [b.answer()];
    const snapshot = new MergedSnapshotMirror().snapshot(JSON.parse(JSON.stringify(sinkFlushMessage(next, deltas))));
    const writer = new ProtoWriter();
    new MetricsFlusher({ reportCountersAsDeltas: true, emitTagsAsLabels: false, histogramEmitMode: "HISTOGRAM" }, undefined).flush(writer, 2, snapshot, 0);
    const family = metricsCodec().decode(writer.finish()).envoy_metrics!.find((f) => f.name === "cluster.backend.upstream_rq_time")!;
    expect(family.metric![0]!.histogram).toMatchObject({ sample_count: 1, sample_sum: 7 });
  });

  test("a body that is not a merged flush is refused", () => {
    expect(() => new MergedSnapshotMirror().snapshot({} as never)).toThrow(/not a merged stats flush/);
  });
});

describe("running totals of a stat only one worker has", () => {
  // A lazily made stat (a 503 counter, a host's histogram) on worker 1 alone: worker 1 missing
  // one flush must not restart its cumulative value from 0 at the next.
  test("continue across a flush that worker missed", () => {
    const state = new MergedFlushState();
    const a = new FakeWorker(0, 100);
    const b = new FakeWorker(1, 101);
    a.store.counter(RQ).inc(1);
    const only = b.store.counter("cluster.backend.upstream_rq_503");
    only.inc(10);
    const time = b.store.histogram(RQ_TIME, "milliseconds");
    for (let i = 0; i < 10; i++) time.record(5);
    const values = (m: SinkFlushMessage): [number | undefined, number | undefined] => [
      m.counters.find((c) => c.name === "cluster.backend.upstream_rq_503")?.value,
      m.histograms.find((h) => h.name === RQ_TIME)?.count,
    ];
    expect(values(state.message([a.answer(), b.answer()]))).toEqual([10, 10]);
    expect(values(state.message([a.answer()]))).toEqual([undefined, undefined]);
    only.inc(2);
    time.record(5);
    time.record(5);
    expect(values(state.message([a.answer(), b.answer()]))).toEqual([12, 12]);
  });
});
