/**
 * The bootstrap's stats_sinks made into sinks (Envoy's statsd, dog_statsd, metrics_service
 * and open_telemetry factories, source/extensions/stat_sinks/statsd/config.cc,
 * dog_statsd/config.cc, metrics_service/config.cc, open_telemetry/config.cc). Loaded only when the bootstrap has
 * stats_sinks.
 */
import { TagExtractor } from "../admin/tag-extractor.ts";
import type { MetricsServiceSinkConfig, NodeConfig, OpenTelemetrySinkConfig, StatsConfig, StatsSinkConfig } from "../config/bootstrap.ts";
import { GrpcAsyncStream } from "../http/grpc-async-stream.ts";
import { GrpcAsyncClient } from "../http/grpc-async-client.ts";
import { VERSION } from "../version.ts";
import type { Runtime } from "../port.ts";
import type { ServerContext } from "../server-context.ts";
import type { ClusterManager } from "../upstream/cluster-manager.ts";
import type { StatsSink } from "./sink.ts";
import type { StatsStore } from "./stats-store.ts";
import { TcpStatsdSink } from "./tcp-statsd-sink.ts";
import { UdpStatsdSink } from "./udp-statsd-sink.ts";
import { MetricsFlusher } from "./metrics-flusher.ts";
import { MetricsServiceSink } from "./metrics-service-sink.ts";
import { OtlpMetricsFlusher } from "./otlp-metrics-flusher.ts";
import { DEFAULT_EXPORT_TIMEOUT_MS, OpenTelemetrySink } from "./open-telemetry-sink.ts";
import { statsSinkRefusal } from "./stats-sink-refusal.ts";

export interface StatsSinkContext {
  readonly runtime: Runtime;
  readonly stats: StatsStore;
  readonly clusterManager: ClusterManager;
  readonly localNodeId: string;
  readonly localClusterName: string;
}

/** What the metrics service sink's gRPC stream needs besides: the server, and the bootstrap's node for identifier.node. */
export interface GrpcSinkContext {
  readonly server: ServerContext;
  readonly node: () => NodeConfig | undefined;
}

/** The sinks, in config order; throws one line naming the sink that cannot be made. */
export function createStatsSinks(configs: readonly StatsSinkConfig[], context: StatsSinkContext, statsConfig: StatsConfig | undefined, grpc?: GrpcSinkContext): StatsSink[] {
  return configs.map((config, i): StatsSink => {
    const refusal = statsSinkRefusal(config, i, context.runtime, { id: context.localNodeId, cluster: context.localClusterName });
    if (refusal !== undefined) throw new Error(refusal);
    if (config.kind === "metrics_service") {
      if (grpc === undefined) throw new Error(`stats_sinks[${i}]: the metrics service sink needs the server's gRPC client`);
      return metricsServiceSink(config, grpc, statsConfig);
    }
    if (config.kind === "open_telemetry") {
      if (grpc === undefined) throw new Error(`stats_sinks[${i}]: the OpenTelemetry sink needs the server's gRPC client`);
      return openTelemetrySink(config, grpc, statsConfig);
    }
    if (config.kind === "statsd_tcp") {
      return new TcpStatsdSink(context.runtime, context.clusterManager, config.clusterName, config.prefix, context.stats.counter("statsd.cx_overflow"));
    }
    const txErrors = context.stats.counter("statsd.udp_tx_errors");
    const target = config.address;
    if (config.kind === "statsd") return new UdpStatsdSink(context.runtime, context.runtime.udp!, { target, prefix: config.prefix, bufferSize: 0, txErrors });
    return new UdpStatsdSink(context.runtime, context.runtime.udp!, { target, prefix: config.prefix, bufferSize: config.maxBytesPerDatagram, txErrors, tags: new TagExtractor(statsConfig) });
  });
}

function metricsServiceSink(config: MetricsServiceSinkConfig, grpc: GrpcSinkContext, statsConfig: StatsConfig | undefined): MetricsServiceSink {
  const server = grpc.server;
  const flusher = new MetricsFlusher(config, config.emitTagsAsLabels ? new TagExtractor(statsConfig) : undefined);
  return new MetricsServiceSink(flusher, config.target, grpc.node, (callbacks, maxMessageBytes) => new GrpcAsyncStream(server, callbacks, maxMessageBytes), () => server.runtime.wallClock(), server.log, server.timers);
}

/**
 * The resource's attributes as Envoy's ResourceProviderImpl::getResource gives the sink
 * (tracers/opentelemetry/resource_detectors/resource_provider.cc, with no service name and
 * no detectors): telemetry.sdk.language "cpp" and telemetry.sdk.name "envoy" as Envoy's
 * (so a collector's rules written for Envoy match), telemetry.sdk.version polyvoy's version.
 */
export const OTLP_SINK_RESOURCE: ReadonlyMap<string, string> = new Map([
  ["telemetry.sdk.language", "cpp"],
  ["telemetry.sdk.name", "envoy"],
  ["telemetry.sdk.version", VERSION],
]);

function openTelemetrySink(config: OpenTelemetrySinkConfig, grpc: GrpcSinkContext, statsConfig: StatsConfig | undefined): OpenTelemetrySink {
  const server = grpc.server;
  const flusher = new OtlpMetricsFlusher(config, new TagExtractor(statsConfig), OTLP_SINK_RESOURCE);
  // Unset or 0s (Envoy: no deadline): our bound, so every export ends.
  return new OpenTelemetrySink(flusher, config.target, config.timeoutMs || DEFAULT_EXPORT_TIMEOUT_MS, new GrpcAsyncClient(server), () => server.runtime.wallClock(), server.log);
}
