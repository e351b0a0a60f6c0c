/** The supervisor's merge of its workers' stats and /clusters (core/admin/worker-stats.ts), over real stores. */
import { describe, expect, test } from "vitest";
import { HistogramIntervals } from "../../core/admin/histogram-intervals.ts";
import { statsAsText } from "../../core/admin/stats-render.ts";
import { gaugeIsSummed, mergeClustersJson, mergeClustersText, mergeWorkerStats, workerStatsSnapshot, type WorkerStatsSnapshot } from "../../core/admin/worker-stats.ts";
import { Counter } from "../../core/stats/counter.ts";
import { Gauge } from "../../core/stats/gauge.ts";
import { Histogram } from "../../core/stats/histogram.ts";
import { StatsStore } from "../../core/stats/stats-store.ts";

function snapshotOf(store: StatsStore, intervals = new HistogramIntervals()): WorkerStatsSnapshot {
  return JSON.parse(workerStatsSnapshot(store.all(), intervals)) as WorkerStatsSnapshot;
}

describe("mergeWorkerStats", () => {
  test("counters and share gauges summed, copy gauges once, histograms' buckets summed", () => {
    const a = new StatsStore();
    const b = new StatsStore();
    a.counter("http.ingress.downstream_rq_total").inc(3);
    b.counter("http.ingress.downstream_rq_total").inc(4);
    a.gauge("http.ingress.downstream_cx_active").set(2);
    b.gauge("http.ingress.downstream_cx_active").set(5);
    a.gauge("cluster.backend.membership_total").set(3);
    b.gauge("cluster.backend.membership_total").set(3);
    a.gauge("server.concurrency").set(2);
    b.gauge("server.concurrency").set(2);
    b.counter("only.in.b").inc();
    for (const v of [1, 2, 3]) a.histogram("http.ingress.downstream_rq_time").record(v);
    for (const v of [100, 200]) b.histogram("http.ingress.downstream_rq_time").record(v);

    const { stats } = mergeWorkerStats([snapshotOf(a), snapshotOf(b)]);
    const byName = new Map(stats.map((s) => [s.name, s]));
    expect((byName.get("http.ingress.downstream_rq_total") as Counter).value).toBe(7);
    expect((byName.get("http.ingress.downstream_cx_active") as Gauge).value).toBe(7);
    expect((byName.get("cluster.backend.membership_total") as Gauge).value).toBe(3);
    expect((byName.get("server.concurrency") as Gauge).value).toBe(2);
    expect((byName.get("only.in.b") as Counter).value).toBe(1);
    const h = byName.get("http.ingress.downstream_rq_time") as Histogram;
    expect([h.count, h.sum, h.min, h.max]).toEqual([5, 306, 1, 200]);
    expect(h.quantile(1)).toBe(200);
    // Sorted by name, as the admin prints them.
    expect(stats.map((s) => s.name)).toEqual([...stats.map((s) => s.name)].sort());
  });

  test("counters of what every worker repeats (config load, xDS, reloads) are shown once, as Envoy's main thread counts them", () => {
    const a = new StatsStore();
    const b = new StatsStore();
    for (const s of [a, b]) {
      s.counter("cluster_manager.cluster_added").inc();
      s.counter("listener_manager.listener_added").inc();
      s.counter("listener_manager.listener_create_success").inc();
      s.counter("runtime.load_success").inc();
      s.counter("cluster.backend.membership_change").inc();
      s.counter("cluster.backend.upstream_cx_total").inc();
      s.counter("cluster_manager.cds.update_success").inc();
      s.counter("config_reload.update_attempt").inc();
    }
    const byName = new Map(mergeWorkerStats([snapshotOf(a), snapshotOf(b)]).stats.map((s) => [s.name, (s as Counter).value]));
    expect(byName.get("cluster_manager.cluster_added")).toBe(1);
    expect(byName.get("listener_manager.listener_added")).toBe(1);
    expect(byName.get("runtime.load_success")).toBe(1);
    expect(byName.get("cluster.backend.membership_change")).toBe(1);
    expect(byName.get("cluster_manager.cds.update_success")).toBe(1);
    expect(byName.get("config_reload.update_attempt")).toBe(1);
    // Envoy counts a listener's creation once per worker (addListenerToWorker), and traffic is a share.
    expect(byName.get("listener_manager.listener_create_success")).toBe(2);
    expect(byName.get("cluster.backend.upstream_cx_total")).toBe(2);
  });

  test("a counter counted once shows the highest worker's value; the patterns reach sds, rds, lds and dotted cluster names", () => {
    const a = new StatsStore();
    const b = new StatsStore();
    const names = ["sds.server_cert.update_success", "http.ingress.rds.local_route.update_success", "listener_manager.lds.update_success", "cluster.a.b.update_success"];
    for (const name of names) {
      a.counter(name).inc(1);
      b.counter(name).inc(3);
    }
    const byName = new Map(mergeWorkerStats([snapshotOf(a), snapshotOf(b)]).stats.map((s) => [s.name, (s as Counter).value]));
    for (const name of names) expect(byName.get(name), name).toBe(3);
  });

  test("gauges one health checker or xDS stream keeps are shown once, not multiplied by the workers", () => {
    const a = new StatsStore();
    const b = new StatsStore();
    for (const s of [a, b]) {
      s.gauge("cluster.backend.health_check.healthy").set(3);
      s.gauge("cluster.backend.health_check.degraded").set(1);
      s.gauge("control_plane.connected_state").set(1);
    }
    const byName = new Map(mergeWorkerStats([snapshotOf(a), snapshotOf(b)]).stats.map((s) => [s.name, (s as Gauge).value]));
    expect(byName.get("cluster.backend.health_check.healthy")).toBe(3);
    expect(byName.get("cluster.backend.health_check.degraded")).toBe(1);
    expect(byName.get("control_plane.connected_state")).toBe(1);
  });

  test("a circuit breaker's *_open gauges are 0 or 1: open when any worker's is, never summed", () => {
    const a = new StatsStore();
    const b = new StatsStore();
    const c = new StatsStore();
    const names = ["cx_open", "rq_pending_open", "rq_open", "rq_retry_open", "cx_pool_open"].flatMap((g) => [`cluster.a.b.circuit_breakers.default.${g}`, `cluster.a.b.circuit_breakers.high.${g}`]);
    for (const name of names) {
      a.gauge(name).set(0);
      b.gauge(name).set(1);
      c.gauge(name).set(1);
    }
    const byName = new Map(mergeWorkerStats([snapshotOf(a), snapshotOf(b), snapshotOf(c)]).stats.map((s) => [s.name, (s as Gauge).value]));
    for (const name of names) expect(byName.get(name), name).toBe(1);
    const closed = new Map(mergeWorkerStats([snapshotOf(a), snapshotOf(a)]).stats.map((s) => [s.name, (s as Gauge).value]));
    for (const name of names) expect(closed.get(name), name).toBe(0);
    // The remaining_* gauges are not 0/1 flags.
    expect(gaugeIsSummed("cluster.a.circuit_breakers.default.remaining_cx")).toBe(true);
  });

  test("the interval quantiles come from the workers' summed interval buckets", () => {
    const a = new StatsStore();
    const intervals = new HistogramIntervals();
    a.histogram("h").record(7);
    intervals.flush([a.histogram("h")]);
    const merged = mergeWorkerStats([snapshotOf(a, intervals), snapshotOf(a, intervals)]);
    const text = statsAsText(merged.stats, { usedOnly: false, filter: undefined }, merged.intervals);
    expect(text).toMatch(/^h: P0\(7,7\) /m);
    // Before a flush there is no interval: nan, as in one process.
    const fresh = mergeWorkerStats([snapshotOf(a)]);
    expect(statsAsText(fresh.stats, { usedOnly: false, filter: undefined }, fresh.intervals)).toMatch(/^h: P0\(nan,7\) /m);
  });

  test("a gauge is a share unless it is a copy of one value", () => {
    expect(gaugeIsSummed("cluster.a.upstream_cx_active")).toBe(true);
    expect(gaugeIsSummed("server.memory_allocated")).toBe(true);
    expect(gaugeIsSummed("cluster.a.b.membership_healthy")).toBe(false);
    expect(gaugeIsSummed("server.live")).toBe(false);
    // Every worker reads the same xDS files: their times and versions are copies.
    expect(gaugeIsSummed("cluster_manager.cds.update_time")).toBe(false);
    expect(gaugeIsSummed("http.ingress.rds.local_route.version")).toBe(false);
    expect(gaugeIsSummed("cluster.backend.update_time")).toBe(false);
  });
});

describe("mergeClusters", () => {
  test("text: host stats summed, everything else the first worker's", () => {
    const one = "b::observability_name::b\nb::default_priority::max_connections::1024\nb::127.0.0.1:80::rq_total::3\nb::127.0.0.1:80::cx_active::1\nb::127.0.0.1:80::health_flags::healthy\n";
    const two = "b::observability_name::b\nb::default_priority::max_connections::1024\nb::127.0.0.1:80::rq_total::4\nb::127.0.0.1:80::cx_active::2\nb::127.0.0.1:80::health_flags::/failed_active_hc\n";
    expect(mergeClustersText([one, two])).toBe(
      "b::observability_name::b\nb::default_priority::max_connections::1024\nb::127.0.0.1:80::rq_total::7\nb::127.0.0.1:80::cx_active::3\nb::127.0.0.1:80::health_flags::healthy\n",
    );
  });

  test("json: values summed as proto3 strings, zero left out", () => {
    const worker = (rq: number, cx?: number) =>
      JSON.stringify({
        cluster_statuses: [
          {
            name: "b",
            host_statuses: [
              { address: { socket_address: { address: "127.0.0.1", port_value: 80 } }, stats: [{ name: "rq_total", ...(rq ? { value: String(rq) } : {}) }, { name: "cx_active", ...(cx ? { value: String(cx) } : {}), type: "GAUGE" }] },
            ],
          },
        ],
      });
    const merged = JSON.parse(mergeClustersJson([worker(0), worker(5, 0)])) as { cluster_statuses: { host_statuses: { stats: unknown[] }[] }[] };
    expect(merged.cluster_statuses[0]!.host_statuses[0]!.stats).toEqual([{ name: "rq_total", value: "5" }, { name: "cx_active", type: "GAUGE" }]);
  });
});
