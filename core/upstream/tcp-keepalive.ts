/**
 * A cluster's upstream_connection_options.tcp_keepalive on this runtime: every field the
 * config sets must be one the runtime's sockets can set (Runtime.tcpKeepalive), else the
 * cluster is refused when built, naming the runtime, rather than run with the kernel's
 * value in its place. An empty `tcp_keepalive: {}` (SO_KEEPALIVE alone) needs only the capability.
 */
import type { ClusterConfig, LocalityLbEndpointsConfig } from "../config/bootstrap.ts";
import type { Runtime, TcpKeepaliveField, TcpKeepaliveOptions } from "../port.ts";

const FIELDS: readonly [TcpKeepaliveField, keyof TcpKeepaliveOptions][] = [
  ["keepalive_probes", "probes"],
  ["keepalive_time", "timeSec"],
  ["keepalive_interval", "intervalSec"],
];

/** Why `keepalive` cannot be applied on `runtime` (one line), or undefined when it can. */
export function tcpKeepaliveRefusal(keepalive: TcpKeepaliveOptions, runtime: Runtime): string | undefined {
  const capability = runtime.tcpKeepalive;
  if (capability === undefined) return `upstream_connection_options.tcp_keepalive is not supported on ${runtime.name}: its sockets cannot set SO_KEEPALIVE`;
  for (const [field, key] of FIELDS) {
    if (keepalive[key] === undefined) continue;
    const reason = capability.unsupported(field);
    if (reason !== undefined) return `upstream_connection_options.tcp_keepalive.${field} is not supported on ${runtime.name}: ${reason}`;
  }
  return undefined;
}

/**
 * The refusal for a cluster's config, naming the cluster, or undefined. Checked where a
 * cluster is taken — its start (Cluster.initialize), a CDS update (refused, so NACKed,
 * before it is built) and `--mode validate` — so none of them accepts what serving refuses.
 */
export function clusterTcpKeepaliveRefusal(config: ClusterConfig, runtime: Runtime): string | undefined {
  const keepalive = config.tcpKeepalive;
  const refusal = keepalive === undefined ? undefined : tcpKeepaliveRefusal(keepalive, runtime);
  return refusal === undefined ? undefined : `cluster '${config.name}': ${refusal}`;
}

/**
 * The keepalive timers are TCP options (IPPROTO_TCP TCP_KEEP*, Envoy's buildBaseSocketOptions
 * in upstream_impl.cc) a Unix socket does not have: on a pipe host they would not apply, so
 * a cluster that sets one is refused with a pipe endpoint — static ones by the schema, an
 * EDS update's rejected (NACKed). SO_KEEPALIVE alone (`tcp_keepalive: {}`) is not refused.
 */
export const PIPE_KEEPALIVE_REFUSAL = "keepalive_probes, keepalive_time and keepalive_interval are TCP's: they cannot apply to the cluster's pipe (Unix socket) endpoints";

/** The refusal of an EDS update giving the cluster `config` the hosts `endpoints` (PIPE_KEEPALIVE_REFUSAL, naming the first pipe), or undefined. */
export function pipeEndpointKeepaliveRefusal(config: ClusterConfig, endpoints: readonly LocalityLbEndpointsConfig[]): string | undefined {
  const keepalive = config.tcpKeepalive;
  if (keepalive === undefined || Object.keys(keepalive).length === 0) return undefined;
  for (const group of endpoints) {
    const pipe = group.lbEndpoints.find((e) => e.address.pipe !== undefined);
    if (pipe !== undefined) return `cluster '${config.name}': upstream_connection_options.tcp_keepalive: ${PIPE_KEEPALIVE_REFUSAL} (${pipe.address.address})`;
  }
  return undefined;
}
