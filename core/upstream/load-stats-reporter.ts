/**
 * Envoy's load reporting service client (source/common/upstream/load_stats_reporter.cc,
 * LoadStatsReporter), started by cluster_manager.load_stats_config: one bidirectional gRPC
 * stream, envoy.service.load_stats.v3.LoadReportingService/StreamLoadStats
 * (api/envoy/service/load_stats/v3/lrs.proto), to the configured cluster.
 *
 * - A new stream's first LoadStatsRequest carries the node (with the client feature
 *   `envoy.lrs.supports_send_all_clusters`) and the stats of the clusters already tracked
 *   (none on the first stream).
 * - Each LoadStatsResponse starts a load report period: the clusters it names (or, with
 *   send_all_clusters, every cluster) are tracked; a cluster newly tracked has its hosts'
 *   counters latched (its interval starts now), one tracked already keeps its interval
 *   running. After load_reporting_interval a report is sent, and the next period starts
 *   with the same response.
 * - A report has, per tracked cluster that exists, ClusterStats
 *   (api/envoy/config/endpoint/v3/load_report.proto): cluster_name, cluster_service_name
 *   (the EDS service name), per priority and locality an UpstreamLocalityStats with the
 *   success, error and issued requests since the last report (the hosts' rq_success,
 *   rq_error, rq_total, latched) and those in progress (rq_active) — a locality only when
 *   some were issued or are in progress (Envoy's runtime feature
 *   report_load_when_rq_active_is_non_zero, on by default) — each host's own
 *   UpstreamEndpointStats when report_endpoint_granularity; total_dropped_requests (requests
 *   a circuit breaker refused, Envoy's upstream_rq_dropped); load_report_interval, the time
 *   measured since the cluster's last report.
 * - Success and error are the hosts' rq_success / rq_error, as the router charges them
 *   (Envoy's router.cc: headers below 500 a success, a gRPC call's by its grpc-status; a 5xx,
 *   a reset before the headers or a retried response an error).
 * - The stream ending (status OK or not) retries after 5 s (Envoy's RETRY_DELAY_MS), not
 *   backed off. Stats (Envoy's names, whose sense is the server's):
 *   `load_reporter.requests` (responses received), `.responses` (reports sent), `.errors`
 *   (streams failed), `.retries` (streams opened again).
 *
 * Counters are latched here (the value at the last report per host), not in the host:
 * nothing on the request path changes. With --concurrency N each worker process has its own
 * hosts and its own reporter, hence its own stream: the server receives N streams with the
 * same node, each reporting that worker's share; summed they are what Envoy's one stream
 * reports (docs/control-plane.md).
 */
import type { GrpcServiceTarget, NodeConfig } from "../config/bootstrap.ts";
import { encodeNode } from "../config/xds/discovery-node.ts";
import { MAX_XDS_MESSAGE_BYTES, type OpenXdsCall, type XdsCall } from "../config/xds/xds-stream.ts";
import { GrpcStatus } from "../http/grpc-common.ts";
import { GrpcAsyncStream } from "../http/grpc-async-stream.ts";
import type { TimerHandle } from "../port.ts";
import type { ServerContext } from "../server-context.ts";
import type { Counter } from "../stats/counter.ts";
import { ProtoReader, ProtoWriter } from "../util/protobuf-wire.ts";
import { utf8Decode } from "../util/utf8.ts";
import type { LoadReportStats } from "./cluster.ts";
import type { Host, Locality } from "./host.ts";

export const LRS_METHOD = "/envoy.service.load_stats.v3.LoadReportingService/StreamLoadStats";
/** Envoy's LoadStatsReporter::RETRY_DELAY_MS: a fixed delay, no back-off. */
export const LRS_RETRY_DELAY_MS = 5000;
/** Node.client_features Envoy's reporter announces (it honours send_all_clusters). */
const SEND_ALL_CLUSTERS_FEATURE = "envoy.lrs.supports_send_all_clusters";

/** envoy.service.load_stats.v3.LoadStatsResponse, decoded. */
export interface LoadStatsResponse {
  readonly clusters: readonly string[];
  readonly sendAllClusters: boolean;
  /** load_reporting_interval in ms (absent: 0, as Envoy's DurationUtil reads it). */
  readonly intervalMs: number;
  readonly reportEndpointGranularity: boolean;
}

/** A cluster as the reporter reads it (core/upstream/cluster.ts's Cluster). */
export interface ReportedCluster {
  readonly name: string;
  readonly config: { readonly eds?: { readonly serviceName?: string } | undefined };
  readonly prioritySet: { readonly hostSetsPerPriority: readonly { readonly priority: number; readonly hostsPerLocality: readonly (readonly Host[])[]; readonly hosts: readonly Host[] }[] };
  readonly loadReportStats: LoadReportStats;
}

/** What the reporter needs of the server (ServerContext has it all; a unit test fakes it). */
export type LoadStatsContext = Pick<ServerContext, "runtime" | "log" | "stats"> & {
  readonly clusterManager: { get(name: string): ReportedCluster | undefined; all(): readonly ReportedCluster[] };
};

interface HostLatch {
  success: number;
  error: number;
  total: number;
}

export class LoadStatsReporter {
  private call: XdsCall | undefined;
  private retryTimer: TimerHandle | undefined;
  private responseTimer: TimerHandle | undefined;
  /** The last LoadStatsResponse (Envoy's message_): kept across streams. */
  private message: LoadStatsResponse | undefined;
  /** Tracked clusters by name → monotonic ms their measured interval started (Envoy's clusters_). */
  private readonly clusters = new Map<string, number>();
  /** Each host's counters at its last latch (Envoy latches the counters themselves). */
  private readonly hostLatches = new WeakMap<Host, HostLatch>();
  private readonly droppedLatches = new WeakMap<LoadReportStats, number>();
  private stopped = false;
  private readonly requests: Counter;
  private readonly responses: Counter;
  private readonly errors: Counter;
  private readonly retries: Counter;

  constructor(
    private readonly server: LoadStatsContext,
    private readonly target: GrpcServiceTarget,
    private readonly node: NodeConfig | undefined,
    private readonly openCall: OpenXdsCall = (callbacks, maxMessageBytes) => new GrpcAsyncStream(server as ServerContext, callbacks, maxMessageBytes),
  ) {
    const scope = server.stats.scope("load_reporter.");
    this.requests = scope.counter("requests");
    this.responses = scope.counter("responses");
    this.errors = scope.counter("errors");
    this.retries = scope.counter("retries");
  }

  start(): void {
    this.establishNewStream();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer("retryTimer");
    this.clearTimer("responseTimer");
    const call = this.call;
    this.call = undefined;
    call?.reset();
  }

  private establishNewStream(): void {
    if (this.stopped) return;
    this.server.log.debug(`load stats: opening ${LRS_METHOD} to cluster '${this.target.clusterName}'`);
    const call: XdsCall = this.openCall(
      {
        onReceiveMessage: (message) => {
          if (this.call === call) this.onReceiveMessage(message);
        },
        onRemoteClose: (status, message) => {
          if (this.call === call) this.onRemoteClose(status, message);
        },
      },
      MAX_XDS_MESSAGE_BYTES,
    );
    this.call = call;
    call.start(this.target.clusterName, LRS_METHOD, this.target.authority, this.target.initialMetadata, this.target.google);
    // Failed at once (no such cluster, no healthy host): onRemoteClose set the retry.
    if (this.call !== call) return;
    this.sendLoadStatsRequest();
  }

  /** A report of every tracked cluster that exists, then (after a response came) the next period. */
  private sendLoadStatsRequest(): void {
    this.responseTimer = undefined;
    const call = this.call;
    if (call === undefined) return;
    // A server that stopped reading: no report is built while the stream's write buffer is
    // above its high watermark, so nothing queues without limit; the counters run on and the
    // next report sent covers the skipped periods (its load_report_interval says how long).
    if (call.aboveWriteBufferHighWatermark === true) {
      if (this.server.log.debugOn) this.server.log.debug("load stats: the stream is not draining; this period's report is skipped");
      if (this.message !== undefined) this.startLoadReportPeriod();
      return;
    }
    const now = this.server.runtime.now();
    const granular = this.message?.reportEndpointGranularity === true;
    const writer = new ProtoWriter();
    writer.message(1, (node) => {
      encodeNode(node, this.node);
      node.string(10, SEND_ALL_CLUSTERS_FEATURE);
    });
    for (const [name, since] of this.clusters) {
      const cluster = this.server.clusterManager.get(name);
      if (cluster === undefined) {
        if (this.server.log.debugOn) this.server.log.debug(`load stats: cluster '${name}' does not exist`);
        continue;
      }
      writer.message(2, (stats) => this.writeClusterStats(stats, cluster, granular, now - since));
      this.clusters.set(name, now);
    }
    call.sendMessage(writer.finish());
    this.responses.inc();
    // A new stream's first request goes before any response: no period yet.
    if (this.message !== undefined) this.startLoadReportPeriod();
  }

  /** envoy.config.endpoint.v3.ClusterStats: cluster_name 1, upstream_locality_stats 2, total_dropped_requests 3, load_report_interval 4, cluster_service_name 6. */
  private writeClusterStats(writer: ProtoWriter, cluster: ReportedCluster, granular: boolean, intervalMs: number): void {
    writer.string(1, cluster.name);
    writer.string(6, cluster.config.eds?.serviceName ?? "");
    for (const set of cluster.prioritySet.hostSetsPerPriority) {
      for (const hosts of set.hostsPerLocality) {
        if (hosts.length === 0) continue;
        let success = 0;
        let error = 0;
        let active = 0;
        let issued = 0;
        const endpoints: Uint8Array[] = [];
        for (const host of hosts) {
          const latched = this.latch(host);
          const hostActive = host.stats.rqActive;
          // Envoy's endpoint_has_updates: a host with nothing to say is left out.
          if (latched.success + latched.error + latched.total + hostActive === 0) continue;
          success += latched.success;
          error += latched.error;
          active += hostActive;
          issued += latched.total;
          // UpstreamEndpointStats: address 1, total_successful_requests 2, total_requests_in_progress 3, total_error_requests 4, total_issued_requests 7.
          if (granular) {
            endpoints.push(
              new ProtoWriter()
                .message(1, (address) => address.message(1, (socket) => socket.string(2, host.address).uint(3, host.port)))
                .uint(2, latched.success)
                .uint(3, hostActive)
                .uint(4, latched.error)
                .uint(7, latched.total)
                .finish(),
            );
          }
        }
        if (issued === 0 && active === 0) continue;
        // UpstreamLocalityStats: locality 1, total_successful_requests 2, total_requests_in_progress 3, total_error_requests 4, priority 6, upstream_endpoint_stats 7, total_issued_requests 8.
        writer.message(2, (locality) => {
          locality.message(1, (l) => writeLocality(l, hosts[0]!.locality));
          locality.uint(2, success).uint(3, active).uint(4, error).uint(6, set.priority);
          for (const endpoint of endpoints) locality.bytesField(7, endpoint);
          locality.uint(8, issued);
        });
      }
    }
    writer.uint(3, this.latchDropped(cluster.loadReportStats));
    writer.message(4, (duration) => writeDuration(duration, intervalMs));
  }

  private onReceiveMessage(bytes: Uint8Array): void {
    let message: LoadStatsResponse;
    try {
      message = decodeLoadStatsResponse(bytes);
    } catch (err) {
      // Not a LoadStatsResponse: Envoy's codec fails the stream; so does this.
      this.server.log.warn(`load stats: a LoadStatsResponse that cannot be decoded: ${err instanceof Error ? err.message : String(err)}`);
      const call = this.call!;
      call.reset();
      this.onRemoteClose(GrpcStatus.Internal, "LoadStatsResponse decode error");
      return;
    }
    this.server.log.debug(`load stats: new load report epoch: ${message.sendAllClusters ? "all clusters" : `clusters [${message.clusters.join(", ")}]`}, every ${message.intervalMs} ms`);
    this.message = message;
    this.startLoadReportPeriod();
    this.requests.inc();
  }

  /**
   * Track what the last response asks for. A cluster tracked before keeps its interval
   * and its counters run on ("to avoid racing between request/response"); a new one is
   * latched, its interval starting now. The report follows after load_reporting_interval.
   */
  private startLoadReportPeriod(): void {
    const message = this.message!;
    const names = message.sendAllClusters ? this.server.clusterManager.all().map((c) => c.name) : message.clusters;
    const existing = new Map<string, number>();
    for (const name of names) {
      const since = this.clusters.get(name);
      if (since !== undefined) existing.set(name, since);
    }
    this.clusters.clear();
    const now = this.server.runtime.now();
    for (const name of names) {
      const since = existing.get(name);
      this.clusters.set(name, since ?? now);
      if (since !== undefined) continue;
      const cluster = this.server.clusterManager.get(name);
      if (cluster === undefined) continue;
      for (const set of cluster.prioritySet.hostSetsPerPriority) for (const host of set.hosts) this.latch(host);
      this.latchDropped(cluster.loadReportStats);
    }
    this.clearTimer("responseTimer");
    this.responseTimer = this.server.runtime.setTimeout(() => this.sendLoadStatsRequest(), message.intervalMs);
  }

  private onRemoteClose(status: number, message: string): void {
    this.clearTimer("responseTimer");
    this.call = undefined;
    if (this.stopped) return;
    if (status !== GrpcStatus.Ok) {
      this.server.log.warn(`load stats: ${LRS_METHOD} to cluster '${this.target.clusterName}' closed: gRPC status ${status}${message ? ` ${message}` : ""}`);
      this.errors.inc();
    } else {
      this.server.log.debug(`load stats: ${LRS_METHOD} closed gracefully${message ? `: ${message}` : ""}`);
    }
    this.server.log.info(`load stats: the stream will retry in ${LRS_RETRY_DELAY_MS} ms`);
    this.retryTimer = this.server.runtime.setTimeout(() => {
      this.retryTimer = undefined;
      this.retries.inc();
      this.establishNewStream();
    }, LRS_RETRY_DELAY_MS);
  }

  /** The host's success, error and issued requests since its last latch (Envoy's Counter::latch). */
  private latch(host: Host): HostLatch {
    const stats = host.stats;
    const last = this.hostLatches.get(host);
    const delta = { success: stats.rqSuccess - (last?.success ?? 0), error: stats.rqError - (last?.error ?? 0), total: stats.rqTotal - (last?.total ?? 0) };
    if (last === undefined) this.hostLatches.set(host, { success: stats.rqSuccess, error: stats.rqError, total: stats.rqTotal });
    else {
      last.success = stats.rqSuccess;
      last.error = stats.rqError;
      last.total = stats.rqTotal;
    }
    return delta;
  }

  private latchDropped(stats: LoadReportStats): number {
    const delta = stats.upstreamRqDropped - (this.droppedLatches.get(stats) ?? 0);
    this.droppedLatches.set(stats, stats.upstreamRqDropped);
    return delta;
  }

  private clearTimer(which: "retryTimer" | "responseTimer"): void {
    const timer = this[which];
    if (timer !== undefined) this.server.runtime.clearTimeout(timer);
    this[which] = undefined;
  }
}

/** envoy.config.core.v3.Locality: region 1, zone 2, sub_zone 3. */
function writeLocality(writer: ProtoWriter, locality: Locality): void {
  writer.string(1, locality.region).string(2, locality.zone).string(3, locality.subZone);
}

/** google.protobuf.Duration (seconds 1, nanos 2), to the microsecond as Envoy's MicrosecondsToDuration. */
function writeDuration(writer: ProtoWriter, ms: number): void {
  const micros = Math.max(0, Math.round(ms * 1000));
  writer.uint(1, Math.floor(micros / 1_000_000)).uint(2, (micros % 1_000_000) * 1000);
}

/** envoy.service.load_stats.v3.LoadStatsResponse: clusters 1, load_reporting_interval 2, report_endpoint_granularity 3, send_all_clusters 4. */
export function decodeLoadStatsResponse(bytes: Uint8Array): LoadStatsResponse {
  const clusters: string[] = [];
  let sendAllClusters = false;
  let intervalMs = 0;
  let reportEndpointGranularity = false;
  const reader = new ProtoReader(bytes);
  while (reader.next()) {
    switch (reader.field) {
      case 1:
        clusters.push(utf8Decode(reader.lengthDelimited()));
        break;
      case 2:
        intervalMs = decodeDurationMs(reader.lengthDelimited());
        break;
      case 3:
        reportEndpointGranularity = reader.bool();
        break;
      case 4:
        sendAllClusters = reader.bool();
        break;
      default:
        reader.skip();
    }
  }
  return { clusters, sendAllClusters, intervalMs, reportEndpointGranularity };
}

/** google.protobuf.Duration in ms (Envoy's DurationUtil::durationToMilliseconds; a negative one is refused as there). */
function decodeDurationMs(bytes: Uint8Array): number {
  let seconds = 0n;
  let nanos = 0;
  const reader = new ProtoReader(bytes);
  while (reader.next()) {
    if (reader.field === 1 && reader.wire === 0) seconds = BigInt.asIntN(64, reader.varint64());
    else if (reader.field === 2 && reader.wire === 0) nanos = reader.int32();
    else reader.skip();
  }
  if (seconds < 0n || nanos < 0) throw new Error("load_reporting_interval: a negative duration");
  return Number(seconds) * 1000 + Math.floor(nanos / 1_000_000);
}
