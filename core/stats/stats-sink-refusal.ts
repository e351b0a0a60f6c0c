import type { StatsSinkConfig } from "../config/bootstrap.ts";
import type { Runtime } from "../port.ts";

/**
 * Why stats sink `i` cannot run here, or undefined: a UDP sink needs the port's UDP sockets;
 * the TCP sink needs the node's id and cluster (Envoy's Config::Utility::checkLocalInfo("tcp
 * statsd", …)), the config's or --service-node/--service-cluster's. Start and validate both ask.
 */
export function statsSinkRefusal(config: StatsSinkConfig, i: number, runtime: Runtime, node: { readonly id?: string; readonly cluster?: string } | undefined): string | undefined {
  if (config.kind === "statsd_tcp") {
    if ((node?.id ?? "") !== "" && (node?.cluster ?? "") !== "") return undefined;
    return `stats_sinks[${i}]: tcp statsd: node 'id' and 'cluster' are required. Set it either in 'node' config or via --service-node and --service-cluster options.`;
  }
  // The metrics service's stream and the OpenTelemetry sink's calls go through the cluster manager, as every gRPC client's.
  if (config.kind === "metrics_service" || config.kind === "open_telemetry" || runtime.udp !== undefined) return undefined;
  return `stats_sinks[${i}]: ${config.kind === "dog_statsd" ? "envoy.stat_sinks.dog_statsd" : "envoy.stat_sinks.statsd"} sends UDP datagrams, and polyvoy on ${runtime.name} has no UDP sockets`;
}
