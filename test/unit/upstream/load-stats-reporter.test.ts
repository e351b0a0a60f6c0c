/**
 * load-stats-reporter.ts on the memory runtime (its timers and clock), as Envoy's
 * test/common/upstream/load_stats_reporter_test.cc covers LoadStatsReporter: the first
 * request (node only, the send_all_clusters client feature), a report per
 * load_reporting_interval with the counters latched since the last one, localities and
 * priorities, endpoint granularity, send_all_clusters, a cluster kept tracked across
 * responses, dropped requests, the measured interval, and the retry after a stream ends.
 * The gRPC call is xds-stream.ts's XdsCall seam; the messages are decoded and encoded with
 * proto-loader from Envoy's lrs.proto.
 */
import { describe, expect, test } from "vitest";
import type { GrpcServiceTarget } from "../../../core/config/bootstrap.ts";
import type { XdsCall } from "../../../core/config/xds/xds-stream.ts";
import type { GrpcStreamCallbacks } from "../../../core/http/grpc-async-stream.ts";
import { Logger } from "../../../core/log.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { Host, type Locality } from "../../../core/upstream/host.ts";
import { PrioritySet } from "../../../core/upstream/host-set.ts";
import { LoadStatsReporter, LRS_METHOD, LRS_RETRY_DELAY_MS, type LoadStatsContext, type ReportedCluster } from "../../../core/upstream/load-stats-reporter.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { type LoadStatsRequestObject, type LoadStatsResponseObject, lrsCodec } from "../../support/lrs-server.ts";

const codec = lrsCodec();

class FakeCall implements XdsCall {
  readonly sent: LoadStatsRequestObject[] = [];
  method = "";
  cluster = "";
  wasReset = false;
  aboveWriteBufferHighWatermark = false;
  constructor(readonly callbacks: GrpcStreamCallbacks) {}
  start(cluster: string, method: string): void {
    this.cluster = cluster;
    this.method = method;
  }
  sendMessage(message: Uint8Array): boolean {
    this.sent.push(codec.decodeRequest(message));
    return true;
  }
  reset(): void {
    this.wasReset = true;
  }
  respond(response: LoadStatsResponseObject): void {
    this.callbacks.onReceiveMessage(codec.encodeResponse(response));
  }
}

const zone = (z: string): Locality => ({ region: "r", zone: z, subZone: "" });

function cluster(name: string, hosts: { address: string; priority?: number; locality?: Locality }[], serviceName?: string): ReportedCluster & { hosts: Host[] } {
  const prioritySet = new PrioritySet();
  const made = hosts.map((h) => new Host(h.address, 80, { priority: h.priority ?? 0, locality: h.locality ?? zone("a") }));
  const levels = Math.max(...made.map((h) => h.priority)) + 1;
  for (let p = 0; p < levels; p++) prioritySet.getOrCreateHostSet(p).setHosts(made.filter((h) => h.priority === p));
  return { name, config: serviceName === undefined ? {} : { eds: { serviceName } }, prioritySet, loadReportStats: { upstreamRqDropped: 0 }, hosts: made };
}

/** `n` requests through `host`: success, 5xx/reset errors, or left in progress. */
function requests(host: Host, counts: { success?: number; error?: number; active?: number }): void {
  const { success = 0, error = 0, active = 0 } = counts;
  host.stats.rqTotal += success + error + active;
  host.stats.rqSuccess += success;
  host.stats.rqError += error;
  host.stats.rqActive += active;
}

function harness(clusters: ReportedCluster[]) {
  const runtime = new MemoryRuntime({ seed: 1 });
  const stats = new StatsStore();
  const byName = new Map(clusters.map((c) => [c.name, c]));
  const server: LoadStatsContext = { runtime, log: new Logger(runtime, "off"), stats, clusterManager: { get: (n) => byName.get(n), all: () => [...byName.values()] } };
  const target: GrpcServiceTarget = { clusterName: "lrs", authority: "", initialMetadata: [] };
  const calls: FakeCall[] = [];
  const reporter = new LoadStatsReporter(server, target, { id: "node-1", cluster: "c" } as never, (callbacks) => {
    const call = new FakeCall(callbacks);
    calls.push(call);
    return call;
  });
  reporter.start();
  const call = (): FakeCall => calls[calls.length - 1]!;
  const counter = (name: string) => stats.scope("load_reporter.").counter(name).value;
  return { runtime, reporter, calls, call, counter, byName };
}

const interval = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 });

describe("LoadStatsReporter", () => {
  test("the first request carries the node and no stats; each interval a report of the counts since the last", () => {
    const backend = cluster("backend", [{ address: "10.0.0.1" }, { address: "10.0.0.2" }]);
    const h = harness([backend]);
    expect(h.call().method).toBe(LRS_METHOD);
    expect(h.call().cluster).toBe("lrs");
    expect(h.call().sent).toEqual([{ node: { id: "node-1", cluster: "c", user_agent_name: "polyvoy", user_agent_version: expect.any(String), client_features: ["envoy.lrs.supports_send_all_clusters"] } }]);
    expect(h.counter("responses")).toBe(1);

    // Counted before the response: latched away when the cluster starts being tracked.
    requests(backend.hosts[0]!, { success: 7 });
    h.call().respond({ clusters: ["backend"], load_reporting_interval: interval(1000) });
    expect(h.counter("requests")).toBe(1);
    requests(backend.hosts[0]!, { success: 3, error: 1 });
    requests(backend.hosts[1]!, { success: 2, active: 1 });
    h.runtime.advance(999);
    expect(h.call().sent).toHaveLength(1);
    h.runtime.advance(1);
    expect(h.call().sent).toHaveLength(2);
    const report = h.call().sent[1]!;
    expect(report.node?.id).toBe("node-1");
    expect(report.cluster_stats).toEqual([
      {
        cluster_name: "backend",
        upstream_locality_stats: [{ locality: { region: "r", zone: "a" }, total_successful_requests: 5, total_error_requests: 1, total_requests_in_progress: 1, total_issued_requests: 7 }],
        load_report_interval: { seconds: 1 },
      },
    ]);
    expect(h.counter("responses")).toBe(2);

    // The next interval: only what came since (the request still in progress stays reported).
    requests(backend.hosts[1]!, { error: 2 });
    h.runtime.advance(1000);
    expect(h.call().sent[2]!.cluster_stats).toEqual([
      {
        cluster_name: "backend",
        upstream_locality_stats: [{ locality: { region: "r", zone: "a" }, total_error_requests: 2, total_requests_in_progress: 1, total_issued_requests: 2 }],
        load_report_interval: { seconds: 1 },
      },
    ]);
    // Nothing issued and nothing in progress: the cluster without localities.
    backend.hosts[1]!.stats.rqActive = 0;
    h.runtime.advance(1000);
    expect(h.call().sent[3]!.cluster_stats).toEqual([{ cluster_name: "backend", load_report_interval: { seconds: 1 } }]);
  });

  test("a server that stopped reading: no report is built while the stream is above its high watermark; the next one sent covers the skipped periods", () => {
    const backend = cluster("backend", [{ address: "10.0.0.1" }]);
    const h = harness([backend]);
    h.call().respond({ clusters: ["backend"], load_reporting_interval: interval(1000) });
    requests(backend.hosts[0]!, { success: 2 });
    h.call().aboveWriteBufferHighWatermark = true;
    h.runtime.advance(3000);
    expect(h.call().sent).toHaveLength(1);
    expect(h.counter("responses")).toBe(1);
    requests(backend.hosts[0]!, { error: 1 });
    h.call().aboveWriteBufferHighWatermark = false;
    h.runtime.advance(1000);
    expect(h.call().sent).toHaveLength(2);
    expect(h.call().sent[1]!.cluster_stats).toEqual([
      {
        cluster_name: "backend",
        upstream_locality_stats: [{ locality: { region: "r", zone: "a" }, total_successful_requests: 2, total_error_requests: 1, total_issued_requests: 3 }],
        load_report_interval: { seconds: 4 },
      },
    ]);
  });

  test("localities and priorities each their own UpstreamLocalityStats; endpoint granularity lists the hosts with something to report; the EDS service name", () => {
    const backend = cluster(
      "backend",
      [
        { address: "10.0.0.1", locality: zone("a") },
        { address: "10.0.0.2", locality: zone("b") },
        { address: "10.0.0.3", locality: zone("b") },
        { address: "10.0.1.1", priority: 1, locality: zone("a") },
      ],
      "backend-eds",
    );
    const h = harness([backend]);
    h.call().respond({ clusters: ["backend"], load_reporting_interval: interval(500), report_endpoint_granularity: true });
    requests(backend.hosts[0]!, { success: 1 });
    requests(backend.hosts[1]!, { success: 2 });
    requests(backend.hosts[3]!, { error: 4 });
    h.runtime.advance(500);
    const [stats] = h.call().sent[1]!.cluster_stats!;
    expect(stats!.cluster_service_name).toBe("backend-eds");
    expect(stats!.load_report_interval).toEqual({ nanos: 500_000_000 });
    expect(stats!.upstream_locality_stats).toEqual([
      {
        locality: { region: "r", zone: "a" },
        total_successful_requests: 1,
        total_issued_requests: 1,
        upstream_endpoint_stats: [{ address: { socket_address: { address: "10.0.0.1", port_value: 80 } }, total_successful_requests: 1, total_issued_requests: 1 }],
      },
      {
        locality: { region: "r", zone: "b" },
        total_successful_requests: 2,
        total_issued_requests: 2,
        upstream_endpoint_stats: [{ address: { socket_address: { address: "10.0.0.2", port_value: 80 } }, total_successful_requests: 2, total_issued_requests: 2 }],
      },
      {
        locality: { region: "r", zone: "a" },
        priority: 1,
        total_error_requests: 4,
        total_issued_requests: 4,
        upstream_endpoint_stats: [{ address: { socket_address: { address: "10.0.1.1", port_value: 80 } }, total_error_requests: 4, total_issued_requests: 4 }],
      },
    ]);
  });

  test("send_all_clusters reports every cluster; a cluster tracked before keeps its interval and counts across a new response; an unknown one is left out", () => {
    const a = cluster("a", [{ address: "10.0.0.1" }]);
    const b = cluster("b", [{ address: "10.0.0.2" }]);
    const h = harness([a, b]);
    h.call().respond({ clusters: ["a", "nope"], load_reporting_interval: interval(1000) });
    requests(a.hosts[0]!, { success: 1 });
    h.runtime.advance(600);
    requests(a.hosts[0]!, { success: 1 });
    requests(b.hosts[0]!, { success: 5 });
    // A new response 600 ms into the period: "a" keeps counting from its start, "b" starts now.
    h.call().respond({ send_all_clusters: true, load_reporting_interval: interval(1000) });
    requests(b.hosts[0]!, { error: 1 });
    h.runtime.advance(1000);
    const report = h.call().sent[1]!.cluster_stats!;
    expect(report.map((s) => s.cluster_name)).toEqual(["a", "b"]);
    expect(report[0]).toMatchObject({ upstream_locality_stats: [{ total_successful_requests: 2, total_issued_requests: 2 }], load_report_interval: { seconds: 1, nanos: 600_000_000 } });
    expect(report[1]).toMatchObject({ upstream_locality_stats: [{ total_error_requests: 1, total_issued_requests: 1 }], load_report_interval: { seconds: 1 } });
    expect(report[1]!.upstream_locality_stats![0]!.total_successful_requests).toBeUndefined();
  });

  test("requests a circuit breaker dropped: total_dropped_requests, latched", () => {
    const backend = cluster("backend", [{ address: "10.0.0.1" }]);
    const h = harness([backend]);
    backend.loadReportStats.upstreamRqDropped = 2;
    h.call().respond({ clusters: ["backend"], load_reporting_interval: interval(1000) });
    backend.loadReportStats.upstreamRqDropped += 3;
    h.runtime.advance(1000);
    expect(h.call().sent[1]!.cluster_stats![0]!.total_dropped_requests).toBe(3);
    h.runtime.advance(1000);
    expect(h.call().sent[2]!.cluster_stats![0]!.total_dropped_requests).toBeUndefined();
  });

  test("a stream that ends is opened again after 5 s, its first request with the clusters still tracked; errors counts failures, not an OK end", () => {
    const backend = cluster("backend", [{ address: "10.0.0.1" }]);
    const h = harness([backend]);
    h.call().respond({ clusters: ["backend"], load_reporting_interval: interval(1000) });
    requests(backend.hosts[0]!, { success: 1 });
    h.call().callbacks.onRemoteClose(14, "unavailable");
    expect(h.counter("errors")).toBe(1);
    // No report while there is no stream.
    h.runtime.advance(LRS_RETRY_DELAY_MS - 1);
    expect(h.calls).toHaveLength(1);
    expect(h.calls[0]!.sent).toHaveLength(1);
    h.runtime.advance(1);
    expect(h.calls).toHaveLength(2);
    expect(h.counter("retries")).toBe(1);
    // The new stream's first request: the node, and what was counted since.
    expect(h.call().sent[0]!.node?.id).toBe("node-1");
    expect(h.call().sent[0]!.cluster_stats).toMatchObject([{ cluster_name: "backend", upstream_locality_stats: [{ total_successful_requests: 1 }], load_report_interval: { seconds: 5 } }]);
    // An OK end is no error, and retried the same way.
    h.call().callbacks.onRemoteClose(0, "");
    expect(h.counter("errors")).toBe(1);
    h.runtime.advance(LRS_RETRY_DELAY_MS);
    expect(h.calls).toHaveLength(3);
    expect(h.counter("retries")).toBe(2);
  });

  test("a response that is not a LoadStatsResponse fails the stream; a stream that cannot start is retried", () => {
    const h = harness([]);
    h.call().callbacks.onReceiveMessage(new Uint8Array([0xff, 0xff]));
    expect(h.call().wasReset).toBe(true);
    expect(h.counter("errors")).toBe(1);
    h.runtime.advance(LRS_RETRY_DELAY_MS);
    expect(h.calls).toHaveLength(2);
    h.reporter.stop();
    expect(h.call().wasReset).toBe(true);
    h.runtime.advance(60_000);
    expect(h.calls).toHaveLength(2);
  });
});
